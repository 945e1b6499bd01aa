// test_vscode.mjs: VS Code's "Existing Jupyter Server" sequence, call for call: the password
// probe (GET / following redirects, GET /tree? without), the two validation GETs with the token in
// a header, the kernel picker's three lists, POST /api/sessions with a -jvsc- path, the websocket
// with the v1 subprotocol AND both the Authorization header and &token=, wait for idle, execute,
// interrupt and restart through REST, and DELETE of the session.
import WebSocket from 'ws';
import { startRelay, check, skipUnlessReady, watchdog, encodeV1, decodeV1, makeMsg } from './relay.mjs';

skipUnlessReady();
let relay;
const dog = watchdog(60_000, () => relay);
relay = await startRelay();
const base = relay.base.replace(/\/$/, '');
const H = { Authorization: `token ${relay.token}`, 'Content-Type': 'application/json' };

const root = await fetch(base + '/', { redirect: 'follow' });
check(!root.url.includes('/login'), 'GET / does not end at /login');
const tree = await fetch(base + '/tree?', { redirect: 'manual' });
check(tree.status === 404 || tree.status === 200, `GET /tree? -> ${tree.status} (no password)`);
for (const p of ['/api/kernels', '/api/kernelspecs']) {
  const r = await fetch(base + p + '?' + Date.now(), { headers: H });
  check(r.status === 200, `validation GET ${p} -> 200`);
}
for (const p of ['/api/kernels', '/api/kernelspecs', '/api/sessions'])
  check((await fetch(base + p, { headers: H })).status === 200, `picker GET ${p}`);

const u = () => crypto.randomUUID().replace(/-/g, '');
const path = `/work/analysis-jvsc-${u()}${u()}.ipynb`;
const r = await fetch(base + '/api/sessions', { method: 'POST', headers: H,
  body: JSON.stringify({ path, name: 'analysis.ipynb', type: 'notebook', kernel: { name: 'tandem-lua' } }) });
const session = await r.json();
check(r.status === 201 && r.headers.get('location') === `/api/sessions/${session.id}` && session.kernel?.id, 'POST /api/sessions -> 201 + Location');
const again = await (await fetch(base + '/api/sessions', { method: 'POST', headers: H, body: JSON.stringify({ path, type: 'notebook', name: 'x', kernel: { name: 'tandem-lua' } }) })).json();
check(again.id === session.id && again.kernel.id === session.kernel.id, 'same path -> same session and kernel');

const sid = crypto.randomUUID();
const ws = new WebSocket(`${relay.wsBase}api/kernels/${session.kernel.id}/channels?session_id=${sid}&token=${relay.token}`,
                         ['v1.kernel.websocket.jupyter.org'], { headers: { Authorization: `token ${relay.token}` } });
const got = [];
ws.on('message', (d) => got.push(decodeV1(d)));
await new Promise((res, rej) => { ws.on('open', res); ws.on('error', rej); });
check(ws.protocol === 'v1.kernel.websocket.jupyter.org', 'websocket v1 with header + query token');
const until = async (pred, ms = 10000) => { const t = Date.now(); while (!pred()) { if (Date.now() - t > ms) return false; await new Promise((q) => setTimeout(q, 30)); } return true; };
const send = (type, content, ch = 'shell') => { const m = makeMsg(type, content, sid); ws.send(encodeV1(ch, [m.header, {}, {}, content])); return m.header.msg_id; };
const ki = send('kernel_info_request', {});
check(await until(() => got.some((m) => m.parent_header.msg_id === ki && m.header.msg_type === 'status' && m.content.execution_state === 'idle')), 'kernel_info: busy/idle seen (idle wait)');
const ex = send('execute_request', { code: 'print(1+1)', silent: false, store_history: true, user_expressions: {}, allow_stdin: true, stop_on_error: true });
check(await until(() => got.some((m) => m.parent_header.msg_id === ex && m.header.msg_type === 'execute_reply')), 'execute_reply');
check(got.some((m) => m.parent_header.msg_id === ex && m.header.msg_type === 'stream' && m.content.text === '2\n'), 'stream 2');
const busy = send('execute_request', { code: 'while true do end', silent: false, store_history: true, user_expressions: {}, allow_stdin: true, stop_on_error: true });
await new Promise((q) => setTimeout(q, 300));
check((await fetch(`${base}/api/kernels/${session.kernel.id}/interrupt`, { method: 'POST', headers: H })).status === 204, 'interrupt -> 204');
check(await until(() => got.some((m) => m.parent_header.msg_id === busy && m.header.msg_type === 'execute_reply' && m.content.status === 'error')), 'interrupted run replies error');
const rs = await fetch(`${base}/api/kernels/${session.kernel.id}/restart`, { method: 'POST', headers: H });
const rsm = await rs.json();
check(rs.status === 200 && rsm.id === session.kernel.id && rsm.execution_state === 'idle', 'restart -> 200 with an idle model');
const sessions = await (await fetch(base + '/api/sessions', { headers: H })).json();
check(sessions.some((s) => s.id === session.id && s.kernel.connections === 1), 'session listed with 1 connection');
ws.close();
check((await fetch(`${base}/api/sessions/${session.id}`, { method: 'DELETE', headers: H })).status === 204, 'DELETE session -> 204');
await new Promise((q) => setTimeout(q, 300));
const ks = await (await fetch(base + '/api/kernels', { headers: H })).json();
check(ks.length === 0, 'last session gone -> kernel shut down');
const stop = await relay.stop();
check(stop.code === 0 && stop.leftover.length === 0, 'relay exits cleanly');
clearTimeout(dog);
process.exit(0);
