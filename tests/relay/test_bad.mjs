// test_bad.mjs: every kind of bad input gets its exact status or close code, and nothing else is
// harmed: no token / wrong token (403, REST and websocket), malformed JSON (400), unknown ids
// (404), path escapes in kernelspec resources (404), garbage websocket frames (the 22-byte v1
// frame that spins stock jupyter_server, legacy garbage, v1 text, an oversized message: that one
// socket closed with a reason), and afterwards the same kernel still executes for another client.
import WebSocket from 'ws';
import { writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startRelay, check, skipUnlessReady, watchdog, encodeV1, decodeV1, makeMsg } from './relay.mjs';

skipUnlessReady();
let relay;
const dog = watchdog(90_000, () => relay);
const cfg = join(tmpdir(), `tandem-cfg-${process.pid}.json`);
writeFileSync(cfg, JSON.stringify({ max_ws_message: 65536 }));
relay = await startRelay({ args: ['--config', cfg] });
const raw = (method, path, headers = {}, body) =>
  fetch(relay.base.replace(/\/$/, '') + path, { method, headers, body }).then(async (r) => ({ status: r.status, text: await r.text() }));

// Authentication.
check((await raw('GET', '/api')).status === 200, 'GET /api needs no token');
for (const p of ['/api/kernels', '/api/status', '/api/sessions', '/api/kernelspecs', '/api/me', '/kernelspecs/tandem-lua/logo-64x64.png']) {
  const r = await raw('GET', p);
  check(r.status === 403 && JSON.parse(r.text).message === 'Forbidden', `no token: ${p} -> 403`);
}
check((await raw('GET', '/api/kernels', { Authorization: 'token wrong' })).status === 403, 'wrong token -> 403');
check((await raw('GET', '/api/kernels?token=wrong')).status === 403, 'wrong ?token= -> 403');
check((await raw('GET', '/api/kernels', { Authorization: 'Basic abc' })).status === 403, 'other scheme -> 403');
check((await raw('POST', '/api/kernels', { 'Content-Type': 'application/json' }, '{"name":"tandem-lua"}')).status === 403, 'POST without token -> 403');
check((await relay.api('GET', '/api/kernels?1700000000000')).status === 200, 'cache-buster query ignored');
check((await raw('GET', `/api/kernels?1700000000000&token=${relay.token}`)).status === 200, 'cache-buster + token in query');
check((await raw('GET', '/')).status === 404 && (await raw('GET', '/tree?')).status === 404, '/ and /tree are 404 (no password)');
check((await raw('OPTIONS', '/api/kernels')).status === 204, 'CORS preflight unauthenticated 204');

// Malformed bodies and unknown ids.
check((await relay.api('POST', '/api/kernels', '{"name": ')).status === 400, 'POST /api/kernels malformed JSON -> 400');
check((await relay.api('POST', '/api/kernels', '[1,2]')).status === 400, 'POST /api/kernels non-object -> 400');
check((await relay.api('POST', '/api/kernels', { name: 'no-such-spec' })).status === 404, 'unknown kernelspec -> 404');
check((await relay.api('POST', '/api/sessions', 'nonsense')).status === 400, 'POST /api/sessions malformed -> 400');
check((await relay.api('POST', '/api/sessions', { type: 'notebook' })).status === 400, 'session without path -> 400');
const s501 = await relay.api('POST', '/api/sessions', { path: 'x.ipynb', type: 'notebook', kernel: { name: 'nope' } });
check(s501.status === 501 && s501.json.short_message, 'session with unknown spec -> 501');
const uuid = '00000000-1111-2222-3333-444444444444';
for (const [m, p] of [['GET', `/api/kernels/${uuid}`], ['DELETE', `/api/kernels/${uuid}`], ['POST', `/api/kernels/${uuid}/interrupt`],
                      ['POST', `/api/kernels/${uuid}/restart`], ['GET', `/api/sessions/${uuid}`], ['DELETE', `/api/sessions/${uuid}`],
                      ['GET', '/api/kernelspecs/nope'], ['GET', '/api/nothing']]) {
  const r = await relay.api(m, p, m === 'POST' ? {} : undefined);
  check(r.status === 404 && typeof r.json?.message === 'string' && 'reason' in r.json, `${m} ${p} -> 404 JSON error`);
}
check((await relay.api('PUT', '/api/kernels')).status === 405, 'PUT /api/kernels -> 405');
for (const p of ['/kernelspecs/tandem-lua/../kernel.json', '/kernelspecs/tandem-lua/%2e%2e%2f%2e%2e%2fpasswd',
                 '/kernelspecs/tandem-lua/.hidden', '/kernelspecs/..%2f..%2fetc/passwd', '/kernelspecs/tandem-lua/%2fetc%2fpasswd']) {
  const r = await relay.api('GET', p);
  check(r.status === 404 && !r.text.includes('root:'), `path escape ${p} -> 404`);
}
const logo = await relay.api('GET', '/kernelspecs/tandem-lua/logo-64x64.png');
check(logo.status === 200 && logo.headers.get('content-type') === 'image/png', 'logo served as image/png');

// Websockets.
const k = (await relay.api('POST', '/api/kernels', { name: 'tandem-lua' })).json;
const url = (sid, tok = relay.token) => `${relay.wsBase}api/kernels/${k.id}/channels?session_id=${sid}` + (tok ? `&token=${tok}` : '');
const refused = (u, opts = {}) => new Promise((res) => {
  const ws = new WebSocket(u, ['v1.kernel.websocket.jupyter.org'], opts);
  ws.on('unexpected-response', (_, r) => res(r.statusCode));
  ws.on('open', () => { ws.close(); res(101); });
  ws.on('error', () => res(-1));
});
check(await refused(url('a', null)) === 403, 'websocket without token -> 403');
check(await refused(url('a', 'bad')) === 403, 'websocket with a bad token -> 403');
check(await refused(`${relay.wsBase}api/kernels/${uuid}/channels?token=${relay.token}`) === 404, 'websocket to an unknown kernel -> 404');
check(await refused(url('a'), { headers: { Origin: 'http://evil.example' } }) === 403, 'cross-origin websocket -> 403');
check(await refused(url('a'), { headers: { Authorization: `token ${relay.token}` } }) === 101, 'websocket with header token and no Origin -> 101');

async function closeAfter(payload, protocols = ['v1.kernel.websocket.jupyter.org'], opts) {
  const ws = new WebSocket(url('bad-' + Math.random()), protocols);
  await new Promise((r) => ws.on('open', r));
  const closed = new Promise((r) => ws.on('close', (code, reason) => r({ code, reason: reason.toString() })));
  ws.send(payload, opts);
  return Promise.race([closed, new Promise((r) => setTimeout(() => r({ code: 'none' }), 5000))]);
}
let c = await closeAfter(Buffer.from('06000000000000003800000000000000000000000000', 'hex'));
check(c.code === 1002 && c.reason.includes('malformed'), `22-byte v1 frame -> 1002 (${c.reason})`);
c = await closeAfter(encodeV1('nochannel', ['{}', '{}', '{}', '{}']));
check(c.code === 1002, 'v1 unknown channel -> 1002');
c = await closeAfter(encodeV1('shell', ['not json', '{}', '{}', '{}']));
check(c.code === 1002, 'v1 header not JSON -> 1002');
c = await closeAfter('{"header": {"msg_type": "kernel_info_request"}}');
check(c.code === 1003, 'text frame on v1 -> 1003');
c = await closeAfter('{"header": nope', []);
check(c.code === 1002, 'legacy garbage text -> 1002');
c = await closeAfter(Buffer.from([0, 0, 0, 9, 1, 2]), [], { binary: true });
check(c.code === 1002, 'legacy binary garbage -> 1002');
c = await closeAfter(Buffer.alloc(200000, 7));
check(c.code === 1009, 'oversized message -> 1009');

// The relay and the kernel are unharmed: a fresh client executes.
const ws = new WebSocket(url('good'), ['v1.kernel.websocket.jupyter.org']);
const got = [];
ws.on('message', (d) => got.push(decodeV1(d)));
await new Promise((r) => ws.on('open', r));
const ex = makeMsg('execute_request', { code: 'print(2+3)', silent: false, store_history: true, user_expressions: {}, allow_stdin: false, stop_on_error: true }, 'good');
ws.send(encodeV1('shell', [ex.header, {}, {}, ex.content]));
const t0 = Date.now();
while (!got.some((m) => m.header.msg_type === 'execute_reply') && Date.now() - t0 < 10000) await new Promise((r) => setTimeout(r, 50));
check(got.some((m) => m.header.msg_type === 'stream' && m.content.text === '5\n'), 'kernel still executes after all the garbage');
ws.close();
const st = await relay.api('GET', '/api/status');
check(st.status === 200 && st.json.kernels === 1, 'relay alive, one kernel');
const stop = await relay.stop();
check(stop.code === 0 && stop.leftover.length === 0, 'relay exits cleanly');
clearTimeout(dog);
process.exit(0);
