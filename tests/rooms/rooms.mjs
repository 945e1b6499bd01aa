// rooms.mjs: shared helpers for the collaboration-room tests. Start, kill -9, restart and stop a
// tandem-relay on a scratch root (the same root across restarts with {root}); open rooms the way
// @jupyter/docprovider does (session PUT, then y-websocket 1.5 + @jupyter/ydoc); hand-made frames
// (RAW save, garbage) on plain `ws` sockets; canonical document comparison; nbformat validation.
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, existsSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import WebSocket from 'ws';
import * as Y from 'yjs';
import { WebsocketProvider } from 'y-websocket';
import { YNotebook, YFile } from '@jupyter/ydoc';
import * as encoding from 'lib0/encoding';
import * as decoding from 'lib0/decoding';
import * as awarenessProtocol from 'y-protocols/awareness';

export { Y, WebSocket, WebsocketProvider, YNotebook, YFile, encoding, decoding, awarenessProtocol };
process.setMaxListeners(100);   // each WebsocketProvider adds an 'exit' listener
export const RELAY = process.env.TANDEM_RELAY;
export const BUILD = process.env.TANDEM_BUILD;
// Scale factor for counts (TD_ROOMS_CYCLES overrides the kill test's cycle count directly).
export const SLOW = Number(process.env.TD_ROOMS_SLOW || (/asan/i.test(RELAY || '') ? 3 : 1));

// yjs logs a harmless warning when @jupyter/ydoc reads prelim types (real-clients.md §2).
const warn = console.warn;
console.warn = (...a) => { if (!String(a[0]).includes('Invalid access')) warn(...a); };

// @jupyter/ydoc 4.2.0's YCodeCell.getChanges throws (caught and logged by yjs) when a remote
// transaction both sets and overwrites execution_count; client-side and harmless: counted, not shown.
let ydocNoise = 0;
const error = console.error;
console.error = (...a) => {
  if (String(a[0]).startsWith('Caught error while handling a Yjs update') && String(a[1]?.stack).includes('getChanges')) { ydocNoise++; return; }
  error(...a);
};
process.on('exit', () => { if (ydocNoise) console.log(`note: @jupyter/ydoc getChanges TypeError in a client observer x${ydocNoise} (client-side, harmless)`); });

export function skipUnlessReady() {
  if (!RELAY || !existsSync(RELAY)) { console.log('SKIP: TANDEM_RELAY not set or missing'); process.exit(77); }
}

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

export function check(cond, what) {
  if (!cond) throw new Error('check failed: ' + what);
  console.log('ok -', what);
}

// Polls cond() until true; throws with `what` (and detail(), if given) after ms.
export async function waitFor(cond, ms, what, detail) {
  const t0 = Date.now();
  for (;;) {
    if (await cond()) return Date.now() - t0;
    if (Date.now() - t0 > ms) throw new Error(`timed out after ${ms} ms: ${what}` + (detail ? '\n' + detail() : ''));
    await sleep(10);
  }
}

let current = null;   // the relay the watchdog and the failure handler print the stderr of
export function watchdog(ms, relay) {
  const t = setTimeout(() => {
    console.error('timed out after ' + ms + ' ms');
    const r = relay?.() || current;
    if (r) console.error(r.stderr().slice(-20000));
    process.exit(2);
  }, ms);
  t.unref?.();
  return t;
}

// Runs the test body; on an exception prints it with the relay's stderr tail and exits 1.
export async function main(fn) {
  try {
    await fn();
    process.exit(0);
  } catch (e) {
    console.error('FAIL:', e?.stack || e);
    if (current) console.error('--- relay stderr (tail) ---\n' + current.stderr().slice(-20000));
    process.exit(1);
  }
}

// Starts a relay. {root} reuses a root (restart on the same store); otherwise a fresh scratch root
// that stop() removes. kill9() SIGKILLs and waits for the exit; stop() SIGTERMs and waits.
export async function startRelay(opts = {}) {
  // A binary being relinked by a concurrent build cannot be spawned for a moment (EACCES,
  // ETXTBSY): retry for a few seconds rather than fail a 100-restart test on it.
  for (let i = 0; ; i++) {
    try { return await startRelayOnce(opts); } catch (e) {
      if (i >= 25 || !/EACCES|ETXTBSY|ENOENT/.test(e.message)) throw e;
      await sleep(200);
    }
  }
}

async function startRelayOnce({ token = 'tok-' + Math.random().toString(36).slice(2), args = [], env = {}, root = null } = {}) {
  const ownsRoot = !root;
  root ||= mkdtempSync(join(tmpdir(), 'tandem-rooms-'));
  const proc = spawn(RELAY, ['--root', root, '--port', '0', '--token', token, ...args], {
    env: { ...process.env, JUPYTER_PATH: join(BUILD || '', 'share/jupyter'), PYDEVD_DISABLE_FILE_VALIDATION: '1', ...env },
    stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  proc.stderr.on('data', (d) => {
    stderr += d;
    if (stderr.length > 400000) stderr = stderr.slice(-200000);
    if (process.env.TD_VERBOSE) process.stderr.write(d);
  });
  const exited = new Promise((resolve) => proc.on('exit', (code, sig) => resolve({ code, sig })));
  let base;
  try {
    base = await new Promise((resolve, reject) => {
      let out = '';
      const t = setTimeout(() => { proc.kill('SIGKILL'); reject(new Error('relay did not start within 20 s: ' + stderr)); }, 20000);
      proc.stdout.on('data', (d) => {
        out += d;
        const m = out.match(/http:\/\/[^/\s]+\//);
        if (m) { clearTimeout(t); resolve(m[0]); }
      });
      proc.on('exit', (c, s) => { clearTimeout(t); reject(new Error(`relay exited ${c ?? s} at start: ` + stderr)); });
      proc.on('error', (e) => { clearTimeout(t); reject(new Error(`cannot start ${RELAY}: ${e.message}`)); });
    });
  } catch (e) {
    if (ownsRoot) rmSync(root, { recursive: true, force: true });
    throw e;
  }
  proc.stdout.resume();
  let dead = null;
  exited.then((r) => { dead = r; });
  const relay = {
    base, token, root, proc,
    wsBase: base.replace(/^http/, 'ws'),
    stderr: () => stderr,
    exited: () => dead,
    async api(method, path, body, headers = {}, timeout = 60000 * SLOW) {
      let r;
      try {
        r = await fetch(base.replace(/\/$/, '') + path, {
          method, headers: { Authorization: `token ${token}`, 'Content-Type': 'application/json', ...headers },
          body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body), signal: AbortSignal.timeout(timeout) });
      } catch (e) {
        throw new Error(`${method} ${path}: no answer within ${timeout} ms (${e.name}: ${e.message})`);
      }
      const text = await r.text();
      let json = null;
      try { json = text ? JSON.parse(text) : null; } catch { /* not JSON */ }
      return { status: r.status, json, text, headers: r.headers };
    },
    // PUT /api/collaboration/session/{path}: the room identity, as requestDocSession asks for it.
    session(path, body = { format: 'json', type: 'notebook' }, headers) {
      return this.api('PUT', '/api/collaboration/session/' + encodeURIComponent(path), body, headers);
    },
    roomUrl: () => base.replace(/^http/, 'ws') + 'api/collaboration/room',
    async kill9() {
      proc.kill('SIGKILL');
      const res = await Promise.race([exited, sleep(10000).then(() => null)]);
      if (!res) throw new Error('relay did not exit within 10 s of SIGKILL');
      return res;
    },
    async stop({ keep = false } = {}) {
      const t0 = Date.now();
      if (!dead) proc.kill('SIGTERM');
      const res = await Promise.race([exited, sleep(15000).then(() => null)]);
      if (!res) { proc.kill('SIGKILL'); throw new Error('relay did not exit within 15 s of SIGTERM'); }
      if (ownsRoot && !keep) rmSync(root, { recursive: true, force: true });
      return { ...res, ms: Date.now() - t0 };
    },
  };
  current = relay;
  return relay;
}

// ---- documents ----------------------------------------------------------------------------------

// Canonical JSON: object keys sorted (Y.Map key order depends on integration order).
export function canon(v) {
  if (Array.isArray(v)) return '[' + v.map(canon).join(',') + ']';
  if (v && typeof v === 'object') return '{' + Object.keys(v).sort().map((k) => JSON.stringify(k) + ':' + canon(v[k])).join(',') + '}';
  return JSON.stringify(v ?? null);
}

// The whole shared document of a notebook room, canonical (state, meta and cells).
export function docJSON(ydoc) {
  return canon({ state: ydoc.getMap('state').toJSON(), meta: ydoc.getMap('meta').toJSON(), cells: ydoc.getArray('cells').toJSON() });
}

const joinText = (s) => Array.isArray(s) ? s.join('') : s;

// An nbformat notebook (from disk or from YNotebook.toJSON()) reduced to what a save must keep.
export function nbContent(nb) {
  return canon({
    metadata: nb.metadata ?? {},
    nbformat: nb.nbformat, nbformat_minor: nb.nbformat_minor,
    cells: nb.cells.map((c) => {
      const o = { id: c.id, cell_type: c.cell_type, source: joinText(c.source), metadata: c.metadata ?? {} };
      if (c.cell_type === 'code') {
        o.execution_count = c.execution_count ?? null;
        o.outputs = (c.outputs || []).map((out) => {
          const x = { ...out };
          if ('text' in x) x.text = joinText(x.text);
          if (x.data) x.data = Object.fromEntries(Object.entries(x.data).map(([k, v]) => [k, typeof v === 'string' || Array.isArray(v) ? (k.includes('json') ? v : joinText(v)) : v]));
          return x;
        });
      }
      if (c.attachments) o.attachments = c.attachments;
      return o;
    }),
  });
}

export function readNotebook(file) { return JSON.parse(readFileSync(file, 'utf8')); }

// nbformat's own validator (Debian's python3-nbformat); returns '' when valid, else the error.
export function nbformatErrors(file) {
  const r = spawnSync('/usr/bin/python3', ['-c', 'import nbformat,sys; nbformat.validate(nbformat.read(sys.argv[1], as_version=4))', file],
    { encoding: 'utf8', timeout: 60000 });
  return r.status === 0 ? '' : (r.stderr || r.stdout || `exit ${r.status}`).trim().split('\n').slice(-5).join('\n');
}

export function makeNotebook(cells, metadata = {}) {
  return {
    metadata: { kernelspec: { name: 'python3', display_name: 'Python 3', language: 'python' }, language_info: { name: 'python' }, ...metadata },
    nbformat: 4, nbformat_minor: 5,
    cells: cells.map((c, i) => {
      const cell = { id: c.id ?? `cell-${i}`, cell_type: c.cell_type ?? 'code', metadata: c.metadata ?? {}, source: c.source ?? '' };
      if (cell.cell_type === 'code') { cell.outputs = c.outputs ?? []; cell.execution_count = c.execution_count ?? null; }
      return cell;
    }),
  };
}

// ---- clients ------------------------------------------------------------------------------------

let nextUser = 0;
export function userState(name) {
  return { username: name, name, display_name: name, initials: name.slice(0, 2).toUpperCase(), color: '#2a9d8f', avatar_url: null };
}

// One JupyterLab-like client of a room: session PUT, then a WebsocketProvider (disableBc, params
// {sessionId, token}, awareness of the shared model) over `ws`. kind 'notebook' or 'file'.
export class RoomClient {
  // passive: no document_id write and no awareness state (an observer that changes nothing).
  constructor(relay, path, { kind = 'notebook', user = 'user' + (++nextUser), autosave = false, token, maxBackoffTime = 2500, session, passive = false } = {}) {
    this.relay = relay; this.path = path; this.kind = kind; this.user = user; this.autosave = autosave; this.passive = passive;
    this.token = token ?? relay.token; this.maxBackoffTime = maxBackoffTime; this.sessionInfo = session;
    this.closes = [];       // connection-close events {code, reason}
    this.received = 0;      // updates applied from the server
  }

  get ydoc() { return this.model.ydoc; }
  get roomname() { return `${this.sessionInfo.format}:${this.sessionInfo.type}:${this.sessionInfo.fileId}`; }

  async open({ wait = true, timeout = 10000 * SLOW } = {}) {
    if (!this.sessionInfo) {
      const body = this.kind === 'notebook' ? { format: 'json', type: 'notebook' } : { format: 'text', type: 'file' };
      const r = await this.relay.session(this.path, body, this.token !== this.relay.token ? { Authorization: `token ${this.token}` } : {});
      if (r.status !== 200 && r.status !== 201) throw new Error(`session PUT ${this.path} -> ${r.status} ${r.text}`);
      this.sessionInfo = r.json;
    }
    this.model = this.model || (this.kind === 'notebook' ? new YNotebook() : new YFile());
    this.ydoc.on('update', (_u, origin) => { if (origin === this.provider) this.received++; });
    this.provider = new WebsocketProvider(this.relay.roomUrl(), this.roomname, this.ydoc, {
      params: { sessionId: this.sessionInfo.sessionId, token: this.token }, awareness: this.model.awareness,
      WebSocketPolyfill: WebSocket, disableBc: true, maxBackoffTime: this.maxBackoffTime });
    // Every update the relay sends (step2 answers and fanned-out updates), as raw bytes, to
    // onServerUpdate listeners (the update events of the local doc would mix in local context).
    this.serverUpdateListeners = [];
    const sync = this.provider.messageHandlers[0];
    this.provider.messageHandlers[0] = (encoder, decoder, ...rest) => {
      const peek = decoding.createDecoder(decoder.arr.subarray(decoder.pos));
      const step = decoding.readVarUint(peek);
      if (step === 1 || step === 2) { const u = decoding.readVarUint8Array(peek); for (const f of this.serverUpdateListeners) f(u); }
      return sync(encoder, decoder, ...rest);
    };
    this.provider.on('connection-close', (ev) => { if (ev) this.closes.push({ code: ev.code, reason: String(ev.reason ?? '') }); });
    // yprovider.ts _onSync: after the first sync, state.document_id = roomname (server-side execution uses it).
    const first = (s) => { if (s) { this.provider.off('sync', first); this.ydoc.getMap('state').set('document_id', this.roomname); } };
    if (this.passive) this.model.awareness.setLocalState(null);
    else {
      this.provider.on('sync', first);
      this.model.awareness.setLocalStateField('user', userState(this.user));
      if (this.autosave) this.model.awareness.setLocalStateField('autosave', true);
    }
    if (wait) await this.synced(timeout);
    return this;
  }

  synced(timeout = 10000 * SLOW) {
    const p = this.provider;
    if (p.synced) return Promise.resolve();
    return new Promise((ok, fail) => {
      const t = setTimeout(() => { p.off('sync', h); fail(new Error(`${this.user}: no SyncStep2 within ${timeout} ms (${this.path}); closes ${JSON.stringify(this.closes)}`)); }, timeout);
      const h = (s) => { if (s) { clearTimeout(t); p.off('sync', h); ok(); } };
      p.on('sync', h);
    });
  }

  // Point the provider at another relay (a restart on a new port) and reconnect: what a page does
  // when the server comes back (the Y.Doc and its local edits stay).
  reconnectTo(relay) {
    this.relay = relay;
    this.provider.disconnect();
    const params = new URLSearchParams({ sessionId: this.sessionInfo.sessionId, token: this.token });
    this.provider.url = `${relay.roomUrl()}/${this.roomname}?${params}`;
    this.provider.connect();
  }

  get connected() { return this.provider.wsconnected; }

  // RAW save (jupyter-collaboration yprovider.save): [2, "save", id]; resolves with the reply JSON.
  save(id, timeout = 15000 * SLOW) {
    const ws = this.provider.ws;
    if (!ws || ws.readyState !== WebSocket.OPEN) return Promise.reject(new Error('save: socket not open'));
    return new Promise((ok, fail) => {
      const t = setTimeout(() => { ws.removeEventListener('message', h); fail(new Error(`no RAW save reply for id ${id} within ${timeout} ms`)); }, timeout);
      const h = (ev) => {
        if (typeof ev.data === 'string') return;
        const d = decoding.createDecoder(new Uint8Array(ev.data));
        if (decoding.readVarUint(d) !== 2) return;
        let j;
        try { j = JSON.parse(decoding.readVarString(d)); } catch { return; }
        if (j.type === 'save' && j.responseTo === id) { clearTimeout(t); ws.removeEventListener('message', h); ok(j); }
      };
      ws.addEventListener('message', h);
      const e = encoding.createEncoder();
      encoding.writeVarUint(e, 2); encoding.writeVarString(e, 'save'); encoding.writeVarUint(e, id);
      ws.send(encoding.toUint8Array(e));
    });
  }

  json() { return this.kind === 'notebook' ? docJSON(this.ydoc) : this.ydoc.getText('source').toString(); }

  close() {
    try { this.provider?.destroy(); } catch { /* closed */ }
    try { this.model?.dispose(); } catch { /* disposed */ }
  }
}

export async function waitConverged(clients, ms, what = 'clients converge') {
  return waitFor(() => clients.every((c) => c.connected && c.provider.synced) && new Set(clients.map((c) => c.json())).size === 1, ms, what,
    () => clients.map((c) => `${c.user} connected=${c.connected} synced=${c.provider.synced}: ${c.json().slice(0, 1500)}`).join('\n'));
}

// ---- hand-made room sockets ----------------------------------------------------------------------

// Decodes one server frame: {type:'sync', step: 0|1|2, payload} | {type:'awareness', payload} |
// {type:'raw', json} | {type:'other', bytes}.
export function decodeFrame(buf) {
  const u8 = new Uint8Array(buf);
  const d = decoding.createDecoder(u8);
  const t = decoding.readVarUint(d);
  if (t === 0) { const step = decoding.readVarUint(d); return { type: 'sync', step, payload: decoding.readVarUint8Array(d) }; }
  if (t === 1) return { type: 'awareness', payload: decoding.readVarUint8Array(d) };
  if (t === 2) { const s = decoding.readVarString(d); let json = null; try { json = JSON.parse(s); } catch { /* not JSON */ } return { type: 'raw', json, text: s }; }
  return { type: 'other', bytes: u8 };
}

// Decodes an awareness update into [{clientID, clock, state}].
export function decodeAwareness(payload) {
  const d = decoding.createDecoder(payload);
  const n = decoding.readVarUint(d);
  const out = [];
  for (let i = 0; i < n; i++) {
    const clientID = decoding.readVarUint(d), clock = decoding.readVarUint(d);
    out.push({ clientID, clock, state: JSON.parse(decoding.readVarString(d)) });
  }
  return out;
}

export function encodeAwareness(entries) {
  const e = encoding.createEncoder();
  encoding.writeVarUint(e, 1);
  const inner = encoding.createEncoder();
  encoding.writeVarUint(inner, entries.length);
  for (const { clientID, clock, state } of entries) {
    encoding.writeVarUint(inner, clientID); encoding.writeVarUint(inner, clock); encoding.writeVarString(inner, JSON.stringify(state));
  }
  encoding.writeVarUint8Array(e, encoding.toUint8Array(inner));
  return encoding.toUint8Array(e);
}

export function syncFrame(step, payload) {
  const e = encoding.createEncoder();
  encoding.writeVarUint(e, 0); encoding.writeVarUint(e, step); encoding.writeVarUint8Array(e, payload);
  return encoding.toUint8Array(e);
}

// A plain `ws` socket on a room: every frame decoded into .frames; next(pred) waits for a match.
export function rawRoom(url, opts = {}) {
  const ws = new WebSocket(url, opts);
  ws.binaryType = 'arraybuffer';
  const r = { ws, frames: [], status: null, waiters: [] };
  r.opened = new Promise((ok) => {
    ws.on('open', () => ok(101));
    ws.on('unexpected-response', (_q, res) => { r.status = res.statusCode; ok(res.statusCode); });
    ws.on('error', () => ok(-1));
  });
  r.closed = new Promise((ok) => ws.on('close', (code, reason) => ok({ code, reason: reason.toString() })));
  ws.on('message', (data, isBinary) => {
    const f = isBinary ? decodeFrame(data) : { type: 'text', text: data.toString() };
    r.frames.push(f);
    for (const w of [...r.waiters]) if (w.pred(f)) { r.waiters.splice(r.waiters.indexOf(w), 1); w.ok(f); }
  });
  // Resolves with the first frame (already received or future) matching pred, or null after ms.
  r.next = (pred, ms = 5000 * SLOW, from = 0) => {
    const f = r.frames.slice(from).find(pred);
    if (f) return Promise.resolve(f);
    return new Promise((ok) => {
      const w = { pred, ok };
      r.waiters.push(w);
      setTimeout(() => { const i = r.waiters.indexOf(w); if (i >= 0) { r.waiters.splice(i, 1); ok(null); } }, ms);
    });
  };
  r.send = (b) => ws.send(b);
  return r;
}

// Waits for a socket to close, or returns {code:'none'} after ms.
export function closedWithin(room, ms = 5000 * SLOW) {
  return Promise.race([room.closed, sleep(ms).then(() => ({ code: 'none', reason: '' }))]);
}

// Seeded PRNG (mulberry32) so a failing run can be replayed with TD_ROOMS_SEED.
export function rng(seed) {
  let a = seed >>> 0;
  const f = () => {
    a = (a + 0x6D2B79F5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  f.int = (n) => Math.floor(f() * n);
  f.pick = (arr) => arr[Math.floor(f() * arr.length)];
  return f;
}
export const SEED = Number(process.env.TD_ROOMS_SEED || Math.floor(Math.random() * 2 ** 31));
