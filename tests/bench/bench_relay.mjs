// bench_relay.mjs: tandem-relay against direct ZMQ and Debian's jupyter_server 1.23, all driving
// tandem-lua. Not a test: it prints a markdown table.
//   TANDEM_BUILD=build node tests/bench/bench_relay.mjs [--quick]
// Both servers are measured with the same clients, v1 protocol. Which client each figure uses:
// - kernel_info RTT, "C" rows: tests/bench/bench_flood in rtt mode (C, one websocket, epoll) for
//   both servers, and tests/bench/bench_client (C, libzmq) for direct ZMQ on the relay kernel's
//   connection file. Both C clients time send -> matching kernel_info_reply with CLOCK_MONOTONIC
//   and wait (untimed) for the request's status idle before the next one, so the figures compare.
//   The relay overhead is relay C-ws p50 - direct ZMQ C p50, each the median over ROUNDS runs
//   alternated on one kernel of the same relay (so load on a shared machine hits both alike).
// - kernel_info RTT, "Node ws" rows, and kernel starts: a Node `ws` client (tests/relay/kws.mjs);
//   its RTT includes Node's own cost (about 0.2 ms more than the C client on the same relay).
// - floods: C (tests/bench/bench_flood, one epoll loop for all its websockets) so that the server
//   is what is measured: 20 Node `ws` clients in one Node process saturated Node itself (8 s of
//   Node CPU for 1 M messages, the relay 2.9 s).
// Measures:
// - kernel_info round trip p50/p90/p99 (sequential requests on one websocket)
// - an IOPub flood of N display() calls (N separate display_data messages) to 1 and to 20
//   clients, rate limiting off: delivered messages/s (execute_request sent to last display_data
//   received), messages lost, and the server's CPU seconds (/proc utime + stime) during the flood.
//   N is 20 000 with --quick and 100 000 otherwise (2 M deliveries to 20 clients).
// - 10 concurrent kernel starts (POST + websocket + kernel_info reply) until all are ready
// - RSS of the server process idle (one kernel) and per connected client
import { spawn, execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join, dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const BUILD = resolve(process.env.TANDEM_BUILD || join(here, '../../build'));
process.env.TANDEM_RELAY ||= join(BUILD, 'relay/tandem-relay');
process.env.TANDEM_BUILD = BUILD;
process.chdir(join(here, '../relay')); // node_modules (ws) live there
const { startRelay } = await import('../relay/relay.mjs');
const { KClient, until, sleep } = await import('../relay/kws.mjs');
const FLOOD_BIN = join(BUILD, 'tests/bench_flood');
const QUICK = process.argv.includes('--quick');
const FLOOD = QUICK ? 20000 : 100000, RTT_N = QUICK ? 300 : 2000, JS_RTT_N = 200;
const ROUNDS = QUICK ? 3 : 5; // alternated C-ws / ZMQ runs for the relay overhead

const pct = (a, p) => { const s = [...a].sort((x, y) => x - y); return s[Math.min(s.length - 1, Math.floor(p / 100 * s.length))]; };
const rss = (pid) => Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))[1]) / 1024; // MiB
const TICK = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' })) || 100;
const cpu = (pid) => { // utime + stime of a process, seconds (fields 14 and 15 of /proc/PID/stat)
  const f = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
  return (Number(f[11]) + Number(f[12])) / TICK;
};
const freePort = () => new Promise((res) => { const s = createServer().listen(0, '127.0.0.1', () => { const p = s.address().port; s.close(() => res(p)); }); });

async function rtt(server, kid, n) {
  const c = await new KClient(server, kid).open();
  await c.reply(c.send('kernel_info_request', {}), 30000);
  const t = [];
  let wake = null;
  c.onmsg = (m) => { if (m.header.msg_type === 'kernel_info_reply' && wake) wake(m); };
  for (let i = 0; i < n; i++) {
    const t0 = process.hrtime.bigint();
    const got = new Promise((r) => { wake = r; });
    c.send('kernel_info_request', {});
    await got; // resolved from the message event itself: no polling in the measured path
    t.push(Number(process.hrtime.bigint() - t0) / 1e3);
    c.msgs.length = 0;
  }
  await c.close();
  return { p50: pct(t, 50) / 1e3, p99: pct(t, 99) / 1e3 }; // ms
}

// kernel_info round trips with bench_flood's rtt mode (C, one websocket): p50/p90/p99 in ms.
function crtt(server, kid, n) {
  const out = execFileSync(FLOOD_BIN, [server.base, server.token, kid, 'rtt', String(n), 'v1'],
    { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] });
  const r = JSON.parse(out);
  return { p50: r.p50_ms, p90: r.p90_ms, p99: r.p99_ms };
}

// kernel_info round trips with bench_client (C, libzmq) on a kernel's connection file, in ms.
function zrtt(cf, n) {
  const t = JSON.parse(execFileSync(join(BUILD, 'tests/bench_client'), [cf, String(n)], { encoding: 'utf8' })).kernel_info_reply;
  return { p50: pct(t, 50) / 1e3, p90: pct(t, 90) / 1e3, p99: pct(t, 99) / 1e3 };
}
const median = (a) => pct(a, 50);

// Floods FLOOD display_data to nclients with bench_flood (C); it ends when every client has all of
// them and the execute_reply, or after 3 s without traffic. Spawned, not execFileSync'd, so that
// this process keeps draining the relay's stderr pipe meanwhile.
async function flood(server, pid, kid, nclients) {
  const cpu0 = cpu(pid);
  const p = spawn(FLOOD_BIN, [server.base, server.token, kid, String(nclients), String(FLOOD), 'v1'],
    { stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
  p.stdout.on('data', (d) => { out += d; });
  const code = await new Promise((r) => p.on('exit', r));
  if (code !== 0) throw new Error(`bench_flood exited ${code}`);
  const r = JSON.parse(out);
  return { ...r, serverCpu: cpu(pid) - cpu0, kernelRate: r.execute_reply_s ? FLOOD / r.execute_reply_s : 0 };
}

async function starts(server, n = 10) {
  const t0 = performance.now();
  await Promise.all(Array.from({ length: n }, async () => {
    const k = (await server.api('POST', '/api/kernels', { name: 'tandem-lua' })).json;
    const c = await new KClient(server, k.id).open();
    for (const t0 = Date.now(); !(await c.reply(c.send('kernel_info_request', {}), 1000));)
      if (Date.now() - t0 > 60000) throw new Error(`kernel ${k.id} not ready after 60 s`);
    c.ws.terminate();
  }));
  return (performance.now() - t0) / 1e3;
}

async function memory(server, pid, kid) {
  await sleep(300);
  const idle = rss(pid);
  const cs = [];
  for (let i = 0; i < 20; i++) cs.push(await new KClient(server, kid).open());
  await cs[0].reply(cs[0].send('kernel_info_request', {}), 30000);
  await sleep(300);
  const with20 = rss(pid);
  for (const c of cs) c.ws.terminate();
  return { idle, perClient: (with20 - idle) / 20 * 1024 }; // MiB, KiB
}

async function measure(server, pid, label) {
  const k = (await server.api('POST', '/api/kernels', { name: 'tandem-lua' })).json;
  const mem = await memory(server, pid, k.id);
  const r = await rtt(server, k.id, label === 'relay' ? RTT_N : JS_RTT_N);
  console.error(`${label}: rtt (Node ws) p50 ${r.p50.toFixed(3)} ms`);
  const c = crtt(server, k.id, RTT_N);
  console.error(`${label}: rtt (C ws) p50 ${c.p50.toFixed(3)} ms`);
  const f1 = await flood(server, pid, k.id, 1);
  console.error(`${label}: flood x1 ${f1.rate.toFixed(0)} msg/s, lost ${f1.lost}, execute_reply after ${f1.kernelRate.toFixed(0)} msg/s, server cpu ${f1.serverCpu.toFixed(2)} s`);
  const f20 = await flood(server, pid, k.id, 20);
  console.error(`${label}: flood x20 ${f20.rate.toFixed(0)} msg/s, lost ${f20.lost}, server cpu ${f20.serverCpu.toFixed(2)} s, client cpu ${f20.client_cpu_s.toFixed(2)} s`);
  await server.api('DELETE', `/api/kernels/${k.id}`);
  const s10 = await starts(server);
  console.error(`${label}: 10 starts ${s10.toFixed(2)} s`);
  return { ...r, c, f1, f20, s10, mem, kid: k.id };
}

// ---- the relay -------------------------------------------------------------------------------
const relay = await startRelay({ args: ['--no-rate-limit', '--log-level', 'warn'] });
const R = await measure(relay, relay.proc.pid, 'relay');

// ---- direct ZMQ (C client on a relay kernel's connection file) --------------------------------
// ROUNDS alternated runs on one kernel: bench_flood rtt through the relay, then bench_client on
// the kernel's own sockets. D is the median over the ZMQ runs, OV the relay overhead.
const k = (await relay.api('POST', '/api/kernels', { name: 'tandem-lua' })).json;
await sleep(500);
const cf = join(relay.root, '.tandem/runtime', readdirSync(join(relay.root, '.tandem/runtime')).find((f) => f.includes(k.id)));
const alt = [];
for (let i = 0; i < ROUNDS; i++) {
  const ws = crtt(relay, k.id, RTT_N), z = zrtt(cf, RTT_N);
  alt.push({ ws, z });
  console.error(`round ${i + 1}: relay C ws p50 ${ws.p50.toFixed(3)} ms, direct ZMQ C p50 ${z.p50.toFixed(3)} ms, difference ${((ws.p50 - z.p50) * 1e3).toFixed(0)} us`);
}
const D = Object.fromEntries(['p50', 'p90', 'p99'].map((q) => [q, median(alt.map((a) => a.z[q]))]));
const RW = Object.fromEntries(['p50', 'p90', 'p99'].map((q) => [q, median(alt.map((a) => a.ws[q]))]));
const OV = RW.p50 - D.p50;
await relay.stop();

// ---- jupyter_server 1.23 (stock: no TCP_NODELAY) ----------------------------------------------
const root = mkdtempSync(join(tmpdir(), 'bench-js-'));
const port = await freePort();
const js = spawn('/usr/bin/python3', ['-m', 'jupyter_server', '--allow-root', '--ServerApp.ip=127.0.0.1', `--ServerApp.port=${port}`,
  '--ServerApp.token=benchtok', '--ServerApp.open_browser=False', `--ServerApp.root_dir=${root}`,
  '--ServerApp.iopub_msg_rate_limit=0', '--ServerApp.iopub_data_rate_limit=0'],
  { env: { ...process.env, JUPYTER_PATH: join(BUILD, 'share/jupyter'), JUPYTER_RUNTIME_DIR: join(root, 'rt'),
           JUPYTER_CONFIG_DIR: join(root, 'cfg') }, stdio: ['ignore', 'ignore', 'ignore'] });
const jbase = `http://127.0.0.1:${port}/`;
for (let t = Date.now(); ; await sleep(200)) {
  try { if ((await fetch(jbase + 'api')).ok) break; } catch { /* starting */ }
  if (Date.now() - t > 30000) throw new Error('jupyter_server did not start');
}
const jserver = {
  base: jbase, wsBase: jbase.replace(/^http/, 'ws'), token: 'benchtok', root,
  async api(method, path, body) {
    const r = await fetch(jbase.replace(/\/$/, '') + path, { method, headers: { Authorization: 'token benchtok', 'Content-Type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body) });
    const text = await r.text();
    return { status: r.status, json: text ? JSON.parse(text) : null };
  },
};
const J = await measure(jserver, js.pid, 'jupyter_server');
for (const kk of (await jserver.api('GET', '/api/kernels')).json) await jserver.api('DELETE', `/api/kernels/${kk.id}`);
js.kill('SIGTERM');
await new Promise((r) => js.on('exit', r));
rmSync(root, { recursive: true, force: true });

// ---- table -------------------------------------------------------------------------------------
const f = (x, d = 2) => (x === undefined ? 'n/a' : x.toFixed(d));
const ratio = (a, b) => (a && b ? `${(a / b).toFixed(1)}x` : 'n/a');
console.log(`\n## tandem-relay benchmark (tandem-lua, ${FLOOD} display messages per flood, loopback, rate limits off)\n`);
console.log('RTT "C": bench_flood rtt (C websocket) for the servers, bench_client (C libzmq) for direct ZMQ. ' +
  'RTT "Node ws" and starts: Node ws v1 client. Floods: C client (bench_flood), v1.\n');
console.log('| measure | direct ZMQ (C client) | tandem-relay | jupyter_server 1.23 stock | relay vs jupyter_server |');
console.log('|---|---|---|---|---|');
for (const q of ['p50', 'p90', 'p99'])
  console.log(`| kernel_info RTT ${q} (ms), C | ${f(D[q], 3)} | ${f(R.c[q], 3)} | ${f(J.c[q], 3)} | ${ratio(J.c[q], R.c[q])} faster |`);
console.log(`| kernel_info RTT p50 (ms), Node ws | n/a | ${f(R.p50, 3)} | ${f(J.p50, 3)} | ${ratio(J.p50, R.p50)} faster |`);
console.log(`| kernel_info RTT p99 (ms), Node ws | n/a | ${f(R.p99, 3)} | ${f(J.p99, 3)} | ${ratio(J.p99, R.p99)} faster |`);
console.log(`| flood to 1 client (msg/s delivered) | n/a | ${f(R.f1.rate, 0)} | ${f(J.f1.rate, 0)} | ${ratio(R.f1.rate, J.f1.rate)} |`);
console.log(`| flood to 1 client: lost | n/a | ${R.f1.lost} | ${J.f1.lost} | |`);
console.log(`| flood: kernel production rate seen (FLOOD / time to execute_reply) | n/a | ${f(R.f1.kernelRate, 0)} | ${f(J.f1.kernelRate, 0)} | |`);
console.log(`| flood to 20 clients (msg/s total) | n/a | ${f(R.f20.rate, 0)} | ${f(J.f20.rate, 0)} | ${ratio(R.f20.rate, J.f20.rate)} |`);
console.log(`| flood to 20 clients: lost | n/a | ${R.f20.lost} | ${J.f20.lost} | |`);
console.log(`| flood to 20 clients: fewest received by one client | n/a | ${R.f20.per_client_min} | ${J.f20.per_client_min} | |`);
console.log(`| server CPU during the 1-client flood (s) | n/a | ${f(R.f1.serverCpu)} | ${f(J.f1.serverCpu)} | ${ratio(J.f1.serverCpu, R.f1.serverCpu)} less |`);
console.log(`| server CPU during the 20-client flood (s) | n/a | ${f(R.f20.serverCpu)} | ${f(J.f20.serverCpu)} | ${ratio(J.f20.serverCpu, R.f20.serverCpu)} less |`);
console.log(`| flood client CPU, 20 clients (s) | n/a | ${f(R.f20.client_cpu_s)} | ${f(J.f20.client_cpu_s)} | |`);
console.log(`| 10 concurrent kernel starts until ready (s) | n/a | ${f(R.s10)} | ${f(J.s10)} | ${ratio(J.s10, R.s10)} faster |`);
console.log(`| server RSS idle, 1 kernel (MiB) | n/a | ${f(R.mem.idle, 1)} | ${f(J.mem.idle, 1)} | ${ratio(J.mem.idle, R.mem.idle)} smaller |`);
console.log(`| server RSS per connected client (KiB) | n/a | ${f(R.mem.perClient, 0)} | ${f(J.mem.perClient, 0)} | |`);
console.log(`\nrelay overhead over direct ZMQ at p50: ${f(OV * 1e3, 0)} us (relay C-ws p50 ${f(RW.p50, 3)} ms - direct ZMQ C p50 ${f(D.p50, 3)} ms, ` +
  `medians of ${ROUNDS} alternated runs of ${RTT_N} round trips on one kernel); per run: ${alt.map((a) => ((a.ws.p50 - a.z.p50) * 1e3).toFixed(0)).join(', ')} us, ` +
  `median ${f(median(alt.map((a) => a.ws.p50 - a.z.p50)) * 1e3, 0)} us`);
process.exit(0);
