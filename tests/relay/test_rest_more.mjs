// test_rest_more.mjs: REST behaviour beyond the happy path, checked as the clients see it.
// - PATCH /api/sessions/ID: path/name/type; kernel by name starts a new kernel (the old one, no
//   longer used, is shut down); kernel by id attaches; an unknown kernel id is 400.
// - CORS: an OPTIONS preflight is answered unauthenticated with the allowed headers/methods and,
//   with --allow-origin, the origin; token-authenticated requests echo Origin.
// - Websocket Origin: none is fine (Node), same host is fine, a foreign one is 403 unless allowed.
// - Culling (--cull-idle-timeout / --cull-interval): an idle kernel without connections goes away
//   with its session; a connected one stays (cull_connected off).
import http from 'node:http';
import WebSocket from 'ws';
import { startRelay, check, skipUnlessReady, watchdog } from './relay.mjs';
import { KClient, until, sleep } from './kws.mjs';

skipUnlessReady();
let relay;
const dog = watchdog(60_000, () => relay);
relay = await startRelay({ args: ['--allow-origin', 'https://ui.example', '--cull-idle-timeout', '1.5',
                                  '--cull-interval', '0.5'] });

// ---- PATCH /api/sessions ------------------------------------------------------------------
const s = (await relay.api('POST', '/api/sessions', { path: 'a.ipynb', type: 'notebook', name: 'a', kernel: { name: 'tandem-lua' } })).json;
const K1 = s.kernel.id;
const W = await new KClient(relay, K1).open(); // keeps K1 from being culled
let p = await relay.api('PATCH', `/api/sessions/${s.id}`, { path: 'b.ipynb', name: 'b', type: 'console' });
check(p.status === 200 && p.json.path === 'b.ipynb' && p.json.name === 'b' && p.json.type === 'console' &&
      p.json.kernel.id === K1, 'PATCH path/name/type -> 200, same kernel');
check((await relay.api('GET', `/api/sessions/${s.id}`)).json.path === 'b.ipynb', 'GET shows the new path');
p = await relay.api('PATCH', `/api/sessions/${s.id}`, { kernel: { id: '00000000-0000-0000-0000-000000000000' } });
check(p.status === 400 && /No such kernel/.test(p.json.message), 'PATCH unknown kernel id -> 400');
const other = (await relay.api('POST', '/api/kernels', { name: 'tandem-lua' })).json;
const W2 = await new KClient(relay, other.id).open();
p = await relay.api('PATCH', `/api/sessions/${s.id}`, { kernel: { id: other.id } });
check(p.status === 200 && p.json.kernel.id === other.id, 'PATCH kernel by id attaches to it');
await until(async () => false, 300);
check(!(await relay.api('GET', '/api/kernels')).json.some((k) => k.id === K1), 'the unused old kernel is shut down');
p = await relay.api('PATCH', `/api/sessions/${s.id}`, { kernel: { name: 'tandem-lua' } });
check(p.status === 200 && p.json.kernel.id !== other.id && p.json.kernel.name === 'tandem-lua',
      'PATCH kernel by name starts a new kernel');
const K3 = p.json.kernel.id;
const W3 = await new KClient(relay, K3).open();
p = await relay.api('PATCH', `/api/sessions/${s.id}`, { kernel: { name: 'no-such-spec' } });
check(p.status === 501 && p.json.short_message, 'PATCH unknown kernel name -> 501');
p = await relay.api('PATCH', `/api/sessions/${s.id}`, 'not json');
check(p.status === 400, 'PATCH invalid JSON -> 400');

// ---- CORS ---------------------------------------------------------------------------------
const base = relay.base.replace(/\/$/, '');
let r = await fetch(base + '/api/kernels', { method: 'OPTIONS', headers: { Origin: 'https://ui.example',
  'Access-Control-Request-Method': 'POST', 'Access-Control-Request-Headers': 'authorization, content-type' } });
check(r.status === 204 || r.status === 200, `preflight unauthenticated -> ${r.status}`);
check(/authorization/.test(r.headers.get('access-control-allow-headers') || '') &&
      /PATCH/.test(r.headers.get('access-control-allow-methods') || ''), 'preflight allows authorization and PATCH');
check(r.headers.get('access-control-allow-origin') === 'https://ui.example', 'preflight: configured origin allowed');
r = await fetch(base + '/api/kernels', { method: 'OPTIONS', headers: { Origin: 'https://evil.example' } });
check(!r.headers.get('access-control-allow-origin'), 'preflight: other origin not allowed');
r = await fetch(base + '/api/kernels', { headers: { Origin: 'https://ui.example', Authorization: `token ${relay.token}` } });
check(r.status === 200 && r.headers.get('access-control-allow-origin') === 'https://ui.example', 'token request echoes Origin');
r = await fetch(base + '/api/kernels', { headers: { Origin: 'https://ui.example' } });
check(r.status === 403, 'no token -> 403 even with an allowed Origin');

// ---- websocket Origin -----------------------------------------------------------------------
async function wsStatus(headers) {
  const ws = new WebSocket(`${relay.wsBase}api/kernels/${K3}/channels?token=${relay.token}`, { headers });
  return new Promise((res) => {
    ws.on('open', () => { ws.close(); res(101); });
    ws.on('unexpected-response', (_, resp) => res(resp.statusCode));
    ws.on('error', () => res(-1));
  });
}
const host = new URL(relay.base).host;
check(await wsStatus({}) === 101, 'ws without Origin accepted');
check(await wsStatus({ Origin: `http://${host}` }) === 101, 'ws with same-host Origin accepted');
check(await wsStatus({ Origin: 'https://ui.example' }) === 101, 'ws with allowed Origin accepted');
check(await wsStatus({ Origin: 'https://evil.example' }) === 403, 'ws with foreign Origin -> 403');

// ---- Host (the relay listens on 127.0.0.1: only loopback Host names, against DNS rebinding) ---
async function hostStatus(hostHeader) {
  const u = new URL(relay.base);
  return new Promise((res) => {
    const req = http.request({ host: u.hostname, port: u.port, path: '/api/status', headers: { Host: hostHeader, Authorization: `token ${relay.token}` } },
      (resp) => { resp.resume(); res(resp.statusCode); });
    req.on('error', () => res(-1));
    req.end();
  });
}
check(await hostStatus(`localhost:${new URL(relay.base).port}`) === 200, 'Host localhost accepted');
check(await hostStatus(host) === 200, 'Host 127.0.0.1 accepted');
check(await hostStatus('rebind.evil.example') === 403, 'Host of a foreign name -> 403 (DNS rebinding)');
check(await hostStatus('127.evil.example') === 403, 'Host of a name that only starts like a loopback address -> 403');
check(await wsStatus({ Host: 'rebind.evil.example' }) === 403, 'ws with a foreign Host -> 403');

// ---- culling ------------------------------------------------------------------------------
const idle = (await relay.api('POST', '/api/sessions', { path: 'idle.ipynb', type: 'notebook', kernel: { name: 'tandem-lua' } })).json;
check(await until(() => false, 3500) || true, 'waited past the idle timeout');
const left = (await relay.api('GET', '/api/kernels')).json.map((k) => k.id);
check(!left.includes(idle.kernel.id), 'idle kernel without connections culled');
check(!(await relay.api('GET', '/api/sessions')).json.some((x) => x.id === idle.id), "its session is gone too");
check(left.includes(K3), 'a connected idle kernel is kept');
check(/culling kernel/.test(relay.stderr()), 'culling logged');

for (const c of [W, W2, W3]) c.ws.close();
const stop = await relay.stop();
check(stop.code === 0 && stop.leftover.length === 0, 'relay exits cleanly');
clearTimeout(dog);
process.exit(0);
