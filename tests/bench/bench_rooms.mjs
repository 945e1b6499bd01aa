// bench_rooms.mjs: tandem-relay's collaboration rooms against the y-websocket 1.5.4 reference server
// (its bundled bin/server.js, i.e. setupWSConnection), under the same load from the same client
// processes. Not a test: it prints a markdown table. Every phase starts a fresh server process.
//   (cd tests/bench && npm ci)
//   node tests/bench/bench_rooms.mjs [--quick] [--clients 10,100,1000] [--relay build/relay/tandem-relay]
//        [--duration S] [--rounds R] [--workers W] [--typists N] [--servers yws,relay] [--nice N] ...
//   (--help lists every option; a full run takes about 2.5 minutes, --quick about 1)
//
// 1. Fan-out: one room (a text file, Y.Text 'source', seeded with one line per typist) with N
//    clients. Every client is a raw `ws` socket that syncs like a y-websocket client (SyncStep1 with
//    an empty state vector; answers the server's SyncStep1 with an empty SyncStep2) and decodes every
//    update it receives with lib0 + Y.parseUpdateMeta. T of them ("typists") hold a real Y.Doc and
//    type one character at the end of their own line every 200 ms (5/s, random phase), sending the
//    update their Y.Doc emits ([0,2,update]). An update is identified by its (clientID, clock); its
//    latency is the receiver's CLOCK_MONOTONIC time minus the sender's. The clients live in W forked
//    worker processes. Reported: fan-out latency p50/p99 over all (update, receiver) pairs of the
//    sampled receivers (pairs never delivered count as infinite); server CPU (utime+stime from
//    /proc) per 1,000 delivered updates, delivered = updates x (N-1) (those that arrived within the
//    window plus a drain of at most 5 s); server RSS per client, (RSS with N connected - RSS
//    before)/N; connect time; the share of expected deliveries that arrived.
// 2. Notebook open: a 1,000-cell notebook with 20 MB of outputs (gen_notebook.mjs).
//    relay: PUT /api/collaboration/session → y-websocket WebsocketProvider + @jupyter/ydoc YNotebook
//    'synced', with the room cold (loaded from the .ipynb) and warm (already open); also a raw ws
//    SyncStep1 → SyncStep2 on the warm room, and the server-side open from the relay's log.
//    y-websocket cannot read .ipynb: a loader client parses the file into a YNotebook and pushes it
//    (the server's answer to a SyncStep1 sent after the push is the ack); then a fresh provider joins.
// 3. Memory of the loaded notebook room: server RSS delta against the file size.
import { fork, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { cpus, setPriority, tmpdir } from 'node:os';
import { join, dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import WebSocket from 'ws';
import * as Y from 'yjs';
import * as encoding from 'lib0/encoding';
import * as decoding from 'lib0/decoding';

const here = dirname(fileURLToPath(import.meta.url));
const REPO = resolve(here, '../..');
const now = () => Number(process.hrtime.bigint()) / 1e6; // CLOCK_MONOTONIC ms, same in every process
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// ---- wire helpers (y-protocols framing, hand-made) ----
const frame = (...parts) => {
  const e = encoding.createEncoder();
  for (const [kind, v] of parts) kind === 'u' ? encoding.writeVarUint(e, v) : encoding.writeVarUint8Array(e, v);
  return encoding.toUint8Array(e);
};
const STEP1_EMPTY = frame(['u', 0], ['u', 0], ['a', Uint8Array.of(0)]);      // [0,0,1,0]
const STEP2_EMPTY = frame(['u', 0], ['u', 1], ['a', Uint8Array.of(0, 0)]);   // [0,1,2,0,0]
const updateFrame = (u) => frame(['u', 0], ['u', 2], ['a', u]);

// =====================================================================================
// Worker: hosts a share of the clients of one room.
// =====================================================================================
async function worker() {
  let clients = [];
  let measuring = false;
  let sends = [], recvs = [];
  let got = 0, echoes = 0, sent = 0, badMsgs = 0, closedEarly = 0, tMeasure = 0;
  let cpu0 = process.cpuUsage();
  const timers = new Set();

  const onUpdate = (c, u) => {
    if (!measuring) return;
    const t = now();
    let meta;
    try { meta = Y.parseUpdateMeta(u); } catch { badMsgs++; return; }
    for (const [client, from] of meta.from) {
      const to = meta.to.get(client);
      if (client === c.id) { echoes += to - from; continue; }
      got += to - from;
      if (c.sampled) for (let k = from; k < to; k++) recvs.push(client, k, t);
    }
  };
  const onMessage = (c, buf) => {
    try {
      const d = decoding.createDecoder(buf);
      const type = decoding.readVarUint(d);
      if (type !== 0) return; // awareness, RAW: not part of this load
      const sub = decoding.readVarUint(d);
      if (sub === 0) { c.ws.send(STEP2_EMPTY); return; }
      const u = decoding.readVarUint8Array(d);
      if (sub === 1) {
        if (c.doc) Y.applyUpdate(c.doc, u, 'server');
        if (!c.synced) { c.synced = true; c.onSynced(); }
        return;
      }
      if (sub === 2) onUpdate(c, u);
    } catch { badMsgs++; }
  };

  function open(url, spec) {
    return new Promise((res, rej) => {
      const ws = new WebSocket(url);
      const c = { ws, id: spec.id, sampled: spec.sampled, typist: spec.typist, line: spec.line, synced: false };
      const t = setTimeout(() => rej(new Error(`client ${spec.id}: not synced in 60 s`)), 60000);
      c.onSynced = () => { clearTimeout(t); res(c); };
      ws.on('open', () => ws.send(STEP1_EMPTY));
      ws.on('message', (b) => onMessage(c, b));
      ws.on('error', (e) => { clearTimeout(t); rej(new Error(`client ${spec.id}: ${e.message}`)); });
      ws.on('close', (code, reason) => {
        if (!c.closing) { closedEarly++; c.closeInfo = `${code} ${reason}`; }
        clearTimeout(t); if (!c.synced) rej(new Error(`client ${spec.id}: closed ${code} ${reason}`));
      });
      if (spec.typist) {
        c.doc = new Y.Doc();
        c.doc.clientID = spec.id;
        c.text = c.doc.getText('source');
        c.doc.on('update', (u) => { c.pending = u; });
      }
    });
  }

  // A typist types at the end of its own line of the seeded text: its doc holds the seed and its
  // own characters, which is all a fully synced client would see around that spot, so the update is
  // the one a real client makes (origin = the previous character, right origin = the line's '\n').
  const type = (c) => {
    const clock = Y.getState(c.doc.store, c.id);
    if (c.pos === undefined) {
      const s = c.text.toString();
      let p = -1;
      for (let k = 0; k <= c.line; k++) p = s.indexOf('\n', p + 1);
      if (p < 0) throw new Error(`typist ${c.id}: line ${c.line} is not in the room's text`);
      c.pos = p;
    }
    c.text.insert(c.pos++, 'x');
    const t = now();
    c.ws.send(updateFrame(c.pending));
    sends.push(c.id, clock, t);
    sent++;
    c.sent = (c.sent || 0) + 1;
  };

  process.on('message', async (m) => {
    try {
      if (m.cmd === 'connect') {
        const specs = m.specs;
        for (let i = 0; i < specs.length; i += 50) {
          clients.push(...await Promise.all(specs.slice(i, i + 50).map((s) => open(m.url, s))));
        }
        process.send({ cmd: 'connected', n: clients.length, ext: clients[0]?.ws.extensions || '' });
      } else if (m.cmd === 'start') {
        sends = []; recvs = []; got = 0; echoes = 0; sent = 0; badMsgs = 0;
        for (const c of clients) c.sent = 0;
        measuring = true; tMeasure = now(); cpu0 = process.cpuUsage();
        const period = 1000 / m.rate, end = m.t0 + m.duration;
        for (const c of clients) {
          if (!c.typist) continue;
          const phase = Math.random() * period;
          let k = 0;
          const next = () => {
            const tt = m.t0 + phase + k * period;
            if (tt >= end) return;
            const h = setTimeout(() => { timers.delete(h); if (c.ws.readyState === 1) type(c); k++; next(); },
              Math.max(0, tt - now()));
            timers.add(h);
          };
          next();
        }
        process.send({ cmd: 'started' });
      } else if (m.cmd === 'count') {
        process.send({ cmd: 'count', sent, got, echoes });
      } else if (m.cmd === 'collect') {
        measuring = false;
        const cpu = process.cpuUsage(cpu0);
        const sampled = clients.filter((c) => c.sampled);
        process.send({ cmd: 'collect', sends: Float64Array.from(sends), recvs: Float64Array.from(recvs),
          nSampled: sampled.length, sentBySampled: sampled.reduce((a, c) => a + (c.sent || 0), 0),
          sent, got, echoes, badMsgs, closedEarly,
          cpuPct: (cpu.user + cpu.system) / 1e3 / (now() - tMeasure) * 100,
          closeInfo: clients.filter((c) => c.closeInfo).slice(0, 3).map((c) => c.closeInfo) });
      } else if (m.cmd === 'close') {
        for (const h of timers) clearTimeout(h);
        timers.clear();
        await Promise.all(clients.map((c) => new Promise((r) => {
          c.closing = true;
          if (c.ws.readyState === 3) return r();
          c.ws.once('close', r); c.ws.close(); setTimeout(() => { c.ws.terminate(); r(); }, 3000);
        })));
        clients = []; sends = []; recvs = []; closedEarly = 0;
        process.send({ cmd: 'closed' });
      } else if (m.cmd === 'exit') process.exit(0);
    } catch (e) {
      process.send({ cmd: 'error', error: String(e?.stack || e) });
    }
  });
  process.send({ cmd: 'ready' });
}


// =====================================================================================
// Orchestrator
// =====================================================================================
function parseArgs() {
  const a = process.argv.slice(2);
  const get = (k, d) => { const i = a.indexOf(k); return i >= 0 && i + 1 < a.length ? a[i + 1] : d; };
  const quick = a.includes('--quick');
  if (a.includes('--help') || a.includes('-h')) {
    console.log('usage: node tests/bench/bench_rooms.mjs [--quick] [--clients 10,100,1000] [--relay PATH]\n' +
      '  [--duration S (10; quick 3)] [--rounds R (1)] [--workers W (2)] [--typists N|auto] [--rate 5]\n' +
      '  [--budget DELIVERIES_PER_S (50000)] [--servers yws,relay] [--nb-mb 20] [--nb-cells 1000]\n' +
      '  [--copies K (3; quick 1)] [--no-notebook] [--no-fanout] [--nice N] [--verbose]');
    process.exit(0);
  }
  return {
    quick,
    clients: a.includes('--no-fanout') ? [] : get('--clients', '10,100,1000').split(',').map(Number).filter((n) => n >= 2),
    relay: resolve(get('--relay', join(REPO, 'build/relay/tandem-relay'))),
    duration: Number(get('--duration', quick ? 3 : 10)) * 1000,
    rounds: Number(get('--rounds', 1)),
    workers: Number(get('--workers', 2)),
    typists: get('--typists', 'auto'),
    rate: Number(get('--rate', 5)),
    budget: Number(get('--budget', 50000)),
    servers: get('--servers', 'yws,relay').split(','),
    nbMb: Number(get('--nb-mb', 20)),
    nbCells: Number(get('--nb-cells', 1000)),
    copies: Number(get('--copies', quick ? 1 : 3)),
    notebook: !a.includes('--no-notebook'),
    verbose: a.includes('--verbose'),
    nice: a.includes('--nice') ? Number(get('--nice', -5)) : null,
  };
}

const pct = (s, p) => (s.length ? s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))] : NaN);
const median = (a) => { const s = a.filter((x) => !Number.isNaN(x) && x !== undefined && x !== null).sort((x, y) => x - y); return s.length ? pct(s, 50) : NaN; };
const rssKiB = (pid) => Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))[1]);
const cpuMs = (pid) => { // utime + stime of the whole process (all threads), in ms
  const f = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
  return (Number(f[11]) + Number(f[12])) * 10; // fields 14, 15; CLK_TCK = 100
};
const machine = () => { // jiffies since boot: [busy, total] over all CPUs
  const f = readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/).slice(1, 9).map(Number);
  const idle = f[3] + f[4];
  const total = f.reduce((a, b) => a + b, 0);
  return [total - idle, total];
};
const freePort = () => new Promise((res) => { const s = createServer().listen(0, '127.0.0.1', () => { const p = s.address().port; s.close(() => res(p)); }); });

// ---- servers ----
async function startYws() {
  const port = await freePort();
  const proc = spawn(process.execPath, [join(here, 'node_modules/y-websocket/bin/server.js')],
    { env: { ...process.env, HOST: '127.0.0.1', PORT: String(port) }, stdio: ['ignore', 'pipe', 'pipe'] });
  let log = '';
  proc.stderr.on('data', (d) => { log += d; });
  await new Promise((res, rej) => {
    let out = '';
    const t = setTimeout(() => rej(new Error('y-websocket server did not start: ' + log)), 10000);
    proc.stdout.on('data', (d) => { out += d; if (/running at/.test(out)) { clearTimeout(t); res(); } });
    proc.on('exit', (c) => rej(new Error('y-websocket server exited ' + c + ': ' + log)));
  });
  const ver = JSON.parse(readFileSync(join(here, 'node_modules/y-websocket/package.json'), 'utf8')).version;
  let wsVer = '?';
  for (const d of ['node_modules/y-websocket/node_modules/ws', 'node_modules/ws']) {
    try { wsVer = JSON.parse(readFileSync(join(here, d, 'package.json'), 'utf8')).version; break; } catch { /* next */ }
  }
  const base = `ws://127.0.0.1:${port}`;
  return {
    name: `y-websocket ${ver}`, detail: `bin/server.js on ws ${wsVer}, node ${process.version}`, key: 'yws', pid: proc.pid, log: () => log,
    // y-websocket has no files: a seeding client pushes the text and stays connected (the server
    // drops a room when its last connection closes).
    async openTextRoom(name, seed) {
      const url = `${base}/${name}`;
      const doc = new Y.Doc();
      doc.clientID = 999;
      doc.getText('source').insert(0, seed);
      const ws = await new Promise((res, rej) => {
        const w = new WebSocket(url);
        const t = setTimeout(() => rej(new Error('seeder: no ack in 10 s')), 10000);
        w.on('open', () => {
          w.send(frame(['u', 0], ['u', 1], ['a', Y.encodeStateAsUpdate(doc)]));
          w.send(frame(['u', 0], ['u', 0], ['a', Y.encodeStateVector(doc)]));
        });
        w.on('message', (b) => { if (b[0] === 0 && b[1] === 1) { clearTimeout(t); res(w); } });
        w.on('error', rej);
      });
      return { url, close: () => ws.close() };
    },
    wsUrl: base,
    roomUrl: (name) => `${base}/${name}`,
    async stop() { proc.kill('SIGTERM'); await new Promise((r) => proc.once('exit', r)); },
  };
}

async function startRelay(path) {
  const root = mkdtempSync(join(tmpdir(), 'tandem-bench-rooms-'));
  const token = 'bench-' + Math.random().toString(36).slice(2);
  const proc = spawn(path, ['--root', root, '--port', '0', '--token', token, '--log-level', 'info'], {
    env: { ...process.env, JUPYTER_PATH: join(REPO, 'build/share/jupyter'), PYDEVD_DISABLE_FILE_VALIDATION: '1' },
    stdio: ['ignore', 'pipe', 'pipe'] });
  let log = '';
  proc.stderr.on('data', (d) => { log += d; if (log.length > 4e6) log = log.slice(-2e6); });
  const exited = new Promise((r) => proc.once('exit', (code, sig) => r({ code, sig })));
  const base = await new Promise((res, rej) => {
    let out = '';
    const t = setTimeout(() => rej(new Error('relay did not start: ' + log)), 10000);
    proc.stdout.on('data', (d) => { out += d; const m = out.match(/http:\/\/[^/\s]+\//); if (m) { clearTimeout(t); res(m[0]); } });
    proc.on('exit', (c) => rej(new Error('relay exited ' + c + ': ' + log)));
  });
  const wsBase = base.replace(/^http/, 'ws');
  const put = async (file, format, type) => {
    const r = await fetch(`${base}api/collaboration/session/${encodeURIComponent(file)}`, {
      method: 'PUT', headers: { Authorization: `token ${token}`, 'Content-Type': 'application/json' },
      body: JSON.stringify({ format, type }) });
    const text = await r.text();
    if (!r.ok) throw new Error(`session PUT ${file} -> ${r.status} ${text.slice(0, 200)}`);
    return JSON.parse(text);
  };
  return {
    name: 'tandem-relay', key: 'relay', pid: proc.pid, root, token, base, wsBase, put,
    log: () => log, exited,
    async openTextRoom(name, seed) {
      writeFileSync(join(root, `${name}.txt`), seed);
      const s = await put(`${name}.txt`, 'text', 'file');
      return { url: `${wsBase}api/collaboration/room/text:file:${s.fileId}?sessionId=${encodeURIComponent(s.sessionId)}&token=${token}` };
    },
    async stop() {
      proc.kill('SIGTERM');
      const r = await Promise.race([exited, sleep(10000).then(() => null)]);
      if (!r) { proc.kill('SIGKILL'); await exited; }
      rmSync(root, { recursive: true, force: true });
    },
  };
}

// ---- worker pool ----
function startWorkers(n) {
  return Promise.all(Array.from({ length: n }, () => new Promise((res, rej) => {
    const w = fork(fileURLToPath(import.meta.url), ['--worker'], { serialization: 'advanced', stdio: 'inherit' });
    const waiters = [];
    w.on('message', (m) => {
      if (m.cmd === 'error') { console.error('worker error:', m.error); }
      const i = waiters.findIndex((x) => x.cmd === m.cmd || m.cmd === 'error');
      if (i >= 0) { const [x] = waiters.splice(i, 1); m.cmd === 'error' ? x.rej(new Error(m.error)) : x.res(m); }
    });
    w.on('exit', (c) => { for (const x of waiters.splice(0)) x.rej(new Error('worker exited ' + c)); });
    w.ask = (msg, reply, ms = 120000) => new Promise((res2, rej2) => {
      const t = setTimeout(() => rej2(new Error(`worker: no '${reply}' in ${ms} ms`)), ms);
      waiters.push({ cmd: reply, res: (m) => { clearTimeout(t); res2(m); }, rej: (e) => { clearTimeout(t); rej2(e); } });
      w.send(msg);
    });
    waiters.push({ cmd: 'ready', res: () => res(w), rej });
  })));
}

function typistsFor(n, opt) {
  if (opt.typists !== 'auto') return Math.min(n, Number(opt.typists));
  // every client types at 5/s while the delivered rate stays within the budget (the client
  // processes share the 2 cores with the server); at 1,000 clients 10 of them type.
  return Math.max(1, Math.min(n, Math.floor(opt.budget / (opt.rate * (n - 1)))));
}

async function fanout(server, workers, n, opt, round) {
  const T = typistsFor(n, opt);
  let seed = '';
  for (let k = 0; k < T; k++) seed += `line ${k}: \n`;
  const room = await server.openTextRoom(`fan-${n}-r${round}-${Math.random().toString(36).slice(2, 8)}`, seed);
  const typistStride = n / T;
  const sampleEvery = n > 200 ? Math.ceil(n / 100) : 1; // at 1,000 clients, latency from 100 receivers
  const specs = workers.map(() => []);
  for (let i = 0; i < n; i++) {
    specs[i % workers.length].push({ id: 1000000 + i, typist: false, sampled: i % sampleEvery === 0 });
  }
  // exactly T typists, spread evenly over the index range (and so over the workers)
  for (let k = 0; k < T; k++) {
    const i = Math.floor(k * typistStride);
    Object.assign(specs[i % workers.length].find((s) => s.id === 1000000 + i), { typist: true, line: k });
  }
  await sleep(300);
  const rss0 = rssKiB(server.pid);
  const tc0 = now();
  const con = await Promise.all(workers.map((w, k) => w.ask({ cmd: 'connect', url: room.url, specs: specs[k] }, 'connected')));
  const connectMs = now() - tc0;
  await sleep(1000);
  const rssConn = rssKiB(server.pid);
  const cpu0 = cpuMs(server.pid);
  const m0 = machine(), me0 = process.cpuUsage();
  const t0 = now() + 200;
  await Promise.all(workers.map((w) => w.ask({ cmd: 'start', t0, duration: opt.duration, rate: opt.rate }, 'started')));
  await sleep(Math.max(0, t0 + opt.duration - now()));
  // drain: until every expected delivery has arrived, or 5 s
  let sent = 0, got = 0;
  const tEnd = now();
  for (;;) {
    const cs = await Promise.all(workers.map((w) => w.ask({ cmd: 'count' }, 'count')));
    sent = cs.reduce((a, c) => a + c.sent, 0);
    got = cs.reduce((a, c) => a + c.got, 0);
    if (got >= sent * (n - 1) || now() - tEnd > 5000) break;
    await sleep(50);
  }
  const cpu1 = cpuMs(server.pid);
  const m1 = machine(), me = process.cpuUsage(me0);
  const wall = now() - t0;
  const rssEnd = rssKiB(server.pid);
  const res = await Promise.all(workers.map((w) => w.ask({ cmd: 'collect' }, 'collect')));
  await Promise.all(workers.map((w) => w.ask({ cmd: 'close' }, 'closed')));
  room.close?.();
  // join sends and receives by (clientID, clock)
  const sendT = new Map();
  for (const r of res) for (let i = 0; i < r.sends.length; i += 3) sendT.set(r.sends[i] * 1e6 + r.sends[i + 1], r.sends[i + 2]);
  const lat = [];
  let unmatched = 0;
  for (const r of res) {
    for (let i = 0; i < r.recvs.length; i += 3) {
      const ts = sendT.get(r.recvs[i] * 1e6 + r.recvs[i + 1]);
      if (ts === undefined) unmatched++; else lat.push(r.recvs[i + 2] - ts);
    }
  }
  sent = res.reduce((a, r) => a + r.sent, 0);
  // sampled (update, receiver) pairs that never arrived count as infinitely late
  const pairs = res.reduce((a, r) => a + r.nSampled * sent - r.sentBySampled, 0);
  const missing = Math.max(0, pairs - lat.length);
  for (let i = 0; i < missing; i++) lat.push(Infinity);
  const lat64 = Float64Array.from(lat).sort();
  got = res.reduce((a, r) => a + r.got, 0);
  const expected = sent * (n - 1);
  const out = {
    n, T, sent, expected, got, unmatched, connectMs,
    echoes: res.reduce((a, r) => a + r.echoes, 0),
    bad: res.reduce((a, r) => a + r.badMsgs, 0),
    closedEarly: res.reduce((a, r) => a + r.closedEarly, 0),
    closeInfo: res.flatMap((r) => r.closeInfo),
    p50: pct(lat64, 50), p99: pct(lat64, 99), max: lat64[lat64.length - 1], samples: lat64.length, missing,
    cpuPer1k: got ? (cpu1 - cpu0) / (got / 1000) : NaN, // per update actually delivered in the window
    cpuPct: (cpu1 - cpu0) / wall * 100,
    rssPerClient: (rssConn - rss0) / n, rssEndPerClient: (rssEnd - rss0) / n,
    delivered: expected ? got / expected : NaN,
    clientCpuPct: Math.max(...res.map((r) => r.cpuPct)),
    // CPU of everything else on the machine during the phase, in % of one core
    otherPct: ((m1[0] - m0[0]) / (m1[1] - m0[1]) * cpus().length * 100) - (cpu1 - cpu0) / wall * 100 -
      res.reduce((a, r) => a + r.cpuPct, 0) - (me.user + me.system) / 1e3 / wall * 100,
    ext: con[0].ext,
  };
  if (opt.verbose) console.error(server.key, JSON.stringify({ ...out }));
  await sleep(500);
  return out;
}

// ---- notebook open ----
function quietWarn() {
  const warn = console.warn;
  console.warn = (...a) => { if (!String(a[0]).includes('Invalid access')) warn(...a); };
}

async function providerJoin(WebsocketProvider, YNotebook, serverUrl, room, params, t0) {
  const nb = new YNotebook();
  const provider = new WebsocketProvider(serverUrl, room, nb.ydoc,
    { params, awareness: nb.awareness, WebSocketPolyfill: WebSocket, disableBc: true });
  let closeInfo = null;
  provider.on('connection-close', (ev) => { if (ev) closeInfo = `${ev.code} ${ev.reason}`; });
  await new Promise((ok, fail) => {
    const t = setTimeout(() => fail(new Error(`provider not synced within 60 s${closeInfo ? ' (closed ' + closeInfo + ')' : ''}`)), 60000);
    provider.on('sync', (s) => { if (s) { clearTimeout(t); ok(); } });
  });
  const ms = now() - t0;
  return { ms, nb, provider, close: () => { provider.destroy(); nb.dispose(); } };
}

function rawJoin(url) { // SyncStep1 (empty) → the server's SyncStep2 fully received
  return new Promise((res, rej) => {
    const t0 = now();
    const ws = new WebSocket(url);
    const t = setTimeout(() => { ws.terminate(); rej(new Error('raw join: no SyncStep2 in 60 s')); }, 60000);
    ws.on('open', () => ws.send(STEP1_EMPTY));
    ws.on('message', (b) => {
      if (b[0] === 0 && b[1] === 0) ws.send(STEP2_EMPTY);
      if (b[0] === 0 && b[1] === 1) { clearTimeout(t); const ms = now() - t0; ws.close(); res({ ms, bytes: b.length }); }
    });
    ws.on('error', (e) => { clearTimeout(t); rej(e); });
  });
}

function sameContent(nb, expectCells) {
  const got = nb.toJSON().cells;
  if (got.length !== expectCells.length) return `cells: ${got.length}, expected ${expectCells.length}`;
  for (let i = 0; i < got.length; i++) {
    const g = got[i], e = expectCells[i];
    if (g.id !== e.id) return `cell ${i}: id ${g.id} != ${e.id}`;
    if (g.source !== e.source) return `cell ${i}: source differs`;
    if (JSON.stringify(g.outputs) !== JSON.stringify(e.outputs)) return `cell ${i}: outputs differ: ${JSON.stringify(g.outputs).slice(0, 160)}`;
    if (g.execution_count !== e.execution_count) return `cell ${i}: execution_count ${g.execution_count}`;
  }
  return null;
}

// The relay's log line for a room open: "<ISO time>Z INFO relay.room: <path>: loaded (...)". If the
// line carries a duration ("… 12.3 ms") that is used; otherwise the line's time minus the wall time
// at which the client started the websocket that made the relay load the room.
function relayOpenFromLog(logText, file, wallStart) {
  for (const l of logText.split('\n')) {
    if (!l.includes(`${file}: loaded`)) continue;
    const d = /([0-9.]+)\s*ms/.exec(l);
    if (d) return { ms: Number(d[1]), line: l.trim(), how: 'duration in the log line' };
    const m = /^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d+Z)/.exec(l);
    if (m) return { ms: Date.parse(m[1]) - wallStart, line: l.trim(), how: "log line time - client's ws start (wall clock, ms resolution)" };
  }
  return null;
}

async function notebookPhase(server, opt, nbText, nbCells, Ymods) {
  const { WebsocketProvider, YNotebook } = Ymods;
  const out = { cold: [], warmProvider: [], warmRaw: [], rssDelta: [], serverOpen: [], push: [], build: [], join: [], raw: [],
    check: null, logLines: [] };
  for (let k = 0; k < opt.copies; k++) {
    await sleep(500);
    if (server.key === 'relay') {
      const file = `nb-${k}.ipynb`;
      writeFileSync(join(server.root, file), nbText);
      const rss0 = rssKiB(server.pid);
      const logMark = server.log().length;
      const t0 = now();
      const s = await server.put(file, 'json', 'notebook');
      const room = `json:notebook:${s.fileId}`;
      const params = { sessionId: s.sessionId, token: server.token };
      const wallWs = Date.now();
      const j = await providerJoin(WebsocketProvider, YNotebook, `${server.wsBase}api/collaboration/room`, room, params, t0);
      out.cold.push(j.ms);
      if (k === 0) out.check = sameContent(j.nb, nbCells);
      await sleep(1000);
      out.rssDelta.push(rssKiB(server.pid) - rss0);
      const so = relayOpenFromLog(server.log().slice(logMark), file, wallWs);
      if (so) { out.serverOpen.push(so.ms); out.logLines.push(so.line); out.openHow = so.how; }
      // warm: the room is open (j still connected)
      const tr = now();
      const s2 = await server.put(file, 'json', 'notebook');
      const r = await rawJoin(`${server.wsBase}api/collaboration/room/${room}?sessionId=${encodeURIComponent(s2.sessionId)}&token=${server.token}`);
      out.warmRaw.push(now() - tr);
      out.rawBytes = r.bytes;
      const tw = now();
      const s3 = await server.put(file, 'json', 'notebook');
      const j2 = await providerJoin(WebsocketProvider, YNotebook, `${server.wsBase}api/collaboration/room`, room,
        { sessionId: s3.sessionId, token: server.token }, tw);
      out.warmProvider.push(j2.ms);
      j2.close();
      j.close();
    } else {
      const room = `nb-${k}-${Math.random().toString(36).slice(2, 8)}`;
      const rss0 = rssKiB(server.pid);
      // loader: parse the file as the contents API would hand it over, build a YNotebook, push it
      const tb = now();
      const json = JSON.parse(nbText);
      const nb = YNotebook.create({ data: { ...json, cells: nbCells } });
      const update = Y.encodeStateAsUpdate(nb.ydoc);
      const sv = Y.encodeStateVector(nb.ydoc);
      out.build.push(now() - tb);
      const tp = now();
      const loader = await new Promise((res, rej) => {
        const ws = new WebSocket(server.roomUrl(room));
        const t = setTimeout(() => rej(new Error('loader: no ack in 60 s')), 60000);
        ws.on('open', () => { ws.send(frame(['u', 0], ['u', 1], ['a', update])); ws.send(frame(['u', 0], ['u', 0], ['a', sv])); });
        ws.on('message', (b) => {
          if (b[0] === 0 && b[1] === 1) { clearTimeout(t); out.push.push(now() - tp); res(ws); }
        });
        ws.on('error', rej);
      });
      nb.dispose();
      // a fresh provider joins the room the server now holds; the loader stays connected until
      // then, since the y-websocket server drops a room when its last connection closes
      const tj = now();
      const j = await providerJoin(WebsocketProvider, YNotebook, server.wsUrl, room, {}, tj);
      out.join.push(j.ms);
      loader.close();
      if (k === 0) out.check = sameContent(j.nb, nbCells);
      await sleep(1000);
      out.rssDelta.push(rssKiB(server.pid) - rss0);
      const r = await rawJoin(server.roomUrl(room));
      out.raw.push(r.ms);
      out.rawBytes = r.bytes;
      j.close();
    }
  }
  return out;
}

async function main() {
  const opt = parseArgs();
  const tStart = now();
  const results = {}; // key -> { fan: {n: [round results]}, nb }
  const notes = [];
  // Every phase gets a fresh server process: RSS and CPU baselines are clean and no room of an
  // earlier phase is still loaded. The relay is probed once for rooms.
  const kinds = [];
  // --nice N: the servers, the client workers and this process run at that priority (to keep
  // other work on a shared machine from skewing the numbers)
  const prio = async (p) => { const srv = await p; if (opt.nice !== null) setPriority(srv.pid, opt.nice); return srv; };
  if (opt.nice !== null) setPriority(process.pid, opt.nice);
  if (opt.servers.includes('yws')) kinds.push({ key: 'yws', start: () => prio(startYws()) });
  if (opt.servers.includes('relay')) kinds.push({ key: 'relay', start: () => prio(startRelay(opt.relay)) });
  const servers = [];
  for (const k of kinds) {
    let srv = null;
    try {
      srv = await k.start();
      if (k.key === 'relay') {
        writeFileSync(join(srv.root, 'probe.txt'), '');
        await srv.put('probe.txt', 'text', 'file');
      }
      servers.push({ ...k, name: srv.name, detail: srv.detail });
    } catch (e) {
      notes.push(k.key === 'relay' ? `tandem-relay (${opt.relay}) not run: ${e.message}` : `y-websocket not run: ${e.message}`);
    }
    await srv?.stop().catch(() => {});
  }
  if (!servers.length) { console.error(notes.join('\n')); process.exit(1); }
  for (const s of servers) results[s.key] = { name: s.name, detail: s.detail, fan: {}, nb: null };

  const workers = await startWorkers(opt.workers);
  if (opt.nice !== null) for (const w of workers) setPriority(w.pid, opt.nice);
  try {
    for (let round = 0; round < opt.rounds; round++) {
      for (const n of opt.clients) {
        // alternate the order between rounds so that neither server always goes first
        const order = round % 2 ? [...servers].reverse() : servers;
        for (const s of order) {
          process.stderr.write(`round ${round + 1}/${opt.rounds}: ${s.name}, ${n} clients ... `);
          let srv = null;
          try {
            srv = await s.start();
            const r = await fanout(srv, workers, n, opt, round);
            (results[s.key].fan[n] ||= []).push(r);
            process.stderr.write(`p50 ${r.p50?.toFixed(2)} ms, p99 ${r.p99?.toFixed(2)} ms, ${r.cpuPer1k.toFixed(1)} ms CPU/1k, ` +
              `delivered ${(r.delivered * 100).toFixed(1)}%, busiest client worker ${r.clientCpuPct.toFixed(0)}%, other processes ${r.otherPct.toFixed(0)}%\n`);
            if (r.closedEarly) notes.push(`${s.name}, ${n} clients: ${r.closedEarly} clients closed by the server during the phase (${r.closeInfo.join('; ')})`);
            if (r.unmatched) notes.push(`${s.name}, ${n} clients: ${r.unmatched} received updates matched no send`);
            if (r.bad) notes.push(`${s.name}, ${n} clients: ${r.bad} undecodable messages`);
          } catch (e) {
            process.stderr.write(`failed: ${e.message}\n`);
            notes.push(`${s.name}, ${n} clients: failed: ${e.message}`);
            await Promise.all(workers.map((w) => w.ask({ cmd: 'close' }, 'closed').catch(() => {})));
          }
          await srv?.stop().catch(() => {});
        }
      }
    }
  } finally {
    for (const w of workers) w.send({ cmd: 'exit' });
  }

  let nbBytes = 0;
  if (opt.notebook) {
    const { makeNotebook, joinedCells } = await import('./gen_notebook.mjs');
    const nbObj = makeNotebook({ cells: opt.nbCells, mb: opt.nbMb });
    const nbText = JSON.stringify(nbObj, null, 1) + '\n';
    nbBytes = Buffer.byteLength(nbText);
    const nbCells = joinedCells(nbObj);
    quietWarn();
    const { WebsocketProvider } = await import('y-websocket');
    const { YNotebook } = await import('@jupyter/ydoc');
    // the client's own share: applying the whole document to a fresh YNotebook
    {
      const nb = YNotebook.create({ data: { ...nbObj, cells: nbCells } });
      const u = Y.encodeStateAsUpdate(nb.ydoc);
      nb.dispose();
      const ts = [];
      for (let i = 0; i < 3; i++) { const d = new Y.Doc(); const t = now(); Y.applyUpdate(d, u); ts.push(now() - t); d.destroy(); }
      results.clientApply = { ms: median(ts), bytes: u.length };
    }
    for (const s of servers) {
      process.stderr.write(`${s.name}: ${opt.nbCells}-cell notebook, ${(nbBytes / 1e6).toFixed(1)} MB ... `);
      let srv = null;
      try {
        srv = await s.start();
        const r = await notebookPhase(srv, opt, nbText, nbCells, { WebsocketProvider, YNotebook });
        results[s.key].nb = r;
        process.stderr.write('done\n');
        if (r.check) notes.push(`${s.name}: the notebook a fresh client received differs from the file: ${r.check}`);
      } catch (e) {
        process.stderr.write(`failed: ${e.message}\n`);
        notes.push(`${s.name}, notebook: failed: ${e.message}`);
      }
      await srv?.stop().catch(() => {});
    }
  }
  report(opt, results, servers, notes, nbBytes, now() - tStart);
  process.exit(0);
}

function report(opt, results, servers, notes, nbBytes, totalMs) {
  const R = results.relay, W = results.yws;
  const f = (x, d = 2) => (x === Infinity ? '∞' : Number.isFinite(x) ? x.toFixed(d) : '–');
  const ratio = (a, b) => (Number.isFinite(a) && Number.isFinite(b) && a > 0 ? `${(b / a).toFixed(b / a < 10 ? 1 : 0)}×` : '–');
  const med = (arr, k) => median((arr || []).map((r) => r[k]));
  const rows = [];
  const row = (measure, rel, yws, rat, target = '') => rows.push(`| ${measure} | ${rel} | ${yws} | ${rat} | ${target} |`);
  for (const n of opt.clients) {
    const r = R?.fan[n], w = W?.fan[n];
    const T = (r || w)?.[0]?.T;
    const lab = `${n} clients (${T} typing at ${opt.rate}/s)`;
    const tgt = n <= 100 ? 'p99 < 20 ms' : n >= 1000 ? 'p99 < 100 ms' : '';
    row(`fan-out latency p50, ${lab}`, `${f(med(r, 'p50'))} ms`, `${f(med(w, 'p50'))} ms`, ratio(med(r, 'p50'), med(w, 'p50')));
    row(`fan-out latency p99, ${lab}`, `${f(med(r, 'p99'))} ms`, `${f(med(w, 'p99'))} ms`, ratio(med(r, 'p99'), med(w, 'p99')), tgt);
    row(`server CPU (utime+stime) per 1,000 delivered updates, ${n} clients`, `${f(med(r, 'cpuPer1k'))} ms`, `${f(med(w, 'cpuPer1k'))} ms`,
      ratio(med(r, 'cpuPer1k'), med(w, 'cpuPer1k')), '≥ 5× less');
    row(`server CPU load, ${n} clients`, `${f(med(r, 'cpuPct'), 0)} %`, `${f(med(w, 'cpuPct'), 0)} %`, '');
    row(`server RSS per connected client, ${n} clients`, `${f(med(r, 'rssPerClient'), 1)} KiB`, `${f(med(w, 'rssPerClient'), 1)} KiB`,
      ratio(med(r, 'rssPerClient'), med(w, 'rssPerClient')));
    row(`connect + initial sync of ${n} clients (wall)`, `${f(med(r, 'connectMs'), 0)} ms`, `${f(med(w, 'connectMs'), 0)} ms`,
      ratio(med(r, 'connectMs'), med(w, 'connectMs')));
    row(`delivered / expected, ${n} clients`, `${f(med(r, 'delivered') * 100, 2)} %`, `${f(med(w, 'delivered') * 100, 2)} %`, '');
    row(`  (machine: busiest client worker / other processes, % of a core)`, `${f(med(r, 'clientCpuPct'), 0)} / ${f(med(r, 'otherPct'), 0)}`,
      `${f(med(w, 'clientCpuPct'), 0)} / ${f(med(w, 'otherPct'), 0)}`, '');
  }
  if (opt.notebook) {
    const rn = R?.nb, wn = W?.nb;
    const mb = (nbBytes / 1e6).toFixed(1);
    row(`notebook (${opt.nbCells} cells, ${mb} MB file): PUT → provider synced, cold (relay loads the .ipynb)`,
      `${f(median(rn?.cold || []), 0)} ms`, `build ${f(median(wn?.build || []), 0)} + push ${f(median(wn?.push || []), 0)} + join ${f(median(wn?.join || []), 0)} ms`,
      ratio(median(rn?.cold || []), median(wn?.build || []) + median(wn?.push || []) + median(wn?.join || [])));
    row('notebook: join a loaded room, PUT → provider synced (client applies the doc)', `${f(median(rn?.warmProvider || []), 0)} ms`,
      `${f(median(wn?.join || []), 0)} ms`, ratio(median(rn?.warmProvider || []), median(wn?.join || [])));
    row('notebook: join a loaded room, raw SyncStep1 → SyncStep2 received', `${f(median(rn?.warmRaw || []), 0)} ms`,
      `${f(median(wn?.raw || []), 0)} ms`, ratio(median(rn?.warmRaw || []), median(wn?.raw || [])));
    row('notebook: server-side open (relay log)', rn?.serverOpen?.length ? `${f(median(rn.serverOpen), 0)} ms` : 'not logged', '–', '', '< 200 ms');
    const rd = median(rn?.rssDelta || []) * 1024, wd = median(wn?.rssDelta || []) * 1024;
    row('notebook: server RSS delta of the loaded room', `${f(rd / 1e6, 1)} MB (${f(rd / nbBytes, 2)}× file)`,
      `${f(wd / 1e6, 1)} MB (${f(wd / nbBytes, 2)}× file)`, ratio(rd, wd), '≤ 3× file');
  }
  const relayName = servers.find((s) => s.key === 'relay') ? 'tandem-relay' : 'tandem-relay (not run)';
  console.log(`\n## Collaboration rooms: ${relayName} vs ${W ? `${W.name} (${W.detail})` : 'y-websocket (not run)'}\n`);
  console.log(`${opt.duration / 1000} s per fan-out phase, ${opt.rounds} round(s), medians over rounds; ${opt.workers} client worker processes; ` +
    (opt.nice !== null ? `nice ${opt.nice}; ` : '') +
    `${(totalMs / 1000).toFixed(0)} s in all. Ratio = y-websocket / tandem-relay (> 1: the relay is better).\n`);
  console.log('| measure | tandem-relay | y-websocket | ratio | target |');
  console.log('|---|---|---|---|---|');
  for (const r of rows) console.log(r);
  console.log('');
  const cc = Math.max(...Object.values(results).flatMap((x) => Object.values(x.fan || {}).flat().map((r) => r.clientCpuPct)).filter(Number.isFinite));
  console.log(`- Clients: raw ws + lib0 + Y.parseUpdateMeta receivers; typists hold a Y.Doc and send what it emits for a 1-char insert. ` +
    `At 1,000 clients latency is sampled at every ${Math.ceil(1000 / 100)}th receiver; all receivers count deliveries. ` +
    `Busiest client worker: ${f(cc, 0)} % of a core (the clients share the 2 cores with the server).`);
  console.log('- Typists: every client types at 5/s as long as the delivered rate stays ≤ ' +
    `${opt.budget}/s (--budget); above that only enough clients to stay at the budget type (--typists to override).`);
  console.log('- y-websocket also echoes each update to its sender (not counted as delivered); ws permessage-deflate ' +
    'is offered by the clients as browsers do.');
  if (opt.notebook && results.clientApply)
    console.log(`- Notebook: the document update is ${(results.clientApply.bytes / 1e6).toFixed(1)} MB; a fresh Y.Doc applies it in ` +
      `${f(results.clientApply.ms, 0)} ms on the client, which is part of every "provider synced" time. y-websocket cannot open a .ipynb: ` +
      'its cold row is the loader client (JSON.parse + YNotebook.create = build; push until the server answers a later SyncStep1) ' +
      'plus a fresh provider join. The comparable rows are the two joins of a room already in memory. RSS deltas include what ' +
      'each server has not yet returned (V8 heap for y-websocket).');
  if (R?.nb?.logLines?.length) console.log(`- Server-side open = ${R.nb.openHow}; the line: \`${R.nb.logLines[0]}\``);
  for (const n of notes) console.log(`- NOTE: ${n}`);
}

if (process.argv.includes('--worker')) {
  await worker();
} else {
  await main();
}
