#!/usr/bin/env node
// mock_relay.mjs: a small reference server for the room protocol, in Node with yjs, used only to
// check the tests themselves: TANDEM_RELAY=$PWD/mock_relay.mjs node test_presence.mjs.
// It implements the session PUT, the room websocket (step1 first, step2 answers, awareness echo and
// replay with the user field overwritten, removal on close, RAW save, 1003 on a stale session,
// 4404, closes on bad frames), autosave, a naive outside-edit poll, and a durable per-room update
// log (ROOT/.tandem/mock/) written with fsync before fan-out. No kernels or execution, no rename,
// no unload, no tandem.sqlite: rooms_presence, rooms_bad and rooms_outside pass on it; rooms_sync
// stops at the rename, rooms_kill at the store-loss phase, rooms_exec at once.
// MOCK_BREAK=nolog skips the log (history lost on kill -9: rooms_kill must fail);
// MOCK_BREAK=noecho skips the awareness echo to the sender (rooms_presence must fail).
import http from 'node:http';
import { createHash, randomUUID } from 'node:crypto';
import { statSync, mkdirSync, existsSync, readFileSync, writeFileSync, openSync, writeSync, fsyncSync, closeSync, renameSync } from 'node:fs';
import { join } from 'node:path';
import { WebSocketServer } from 'ws';
import * as Y from 'yjs';
import * as encoding from 'lib0/encoding';
import * as decoding from 'lib0/decoding';
import * as awarenessProtocol from 'y-protocols/awareness';
import { YNotebook } from '@jupyter/ydoc';

const argv = process.argv.slice(2);
const opt = (k, d) => { const i = argv.indexOf(k); return i >= 0 ? argv[i + 1] : d; };
const ROOT = opt('--root', '.'), TOKEN = opt('--token', ''), PORT = Number(opt('--port', '0'));
const BREAK = process.env.MOCK_BREAK || '';
const dir = join(ROOT, '.tandem', 'mock');
mkdirSync(dir, { recursive: true });
const indexFile = join(dir, 'index.json');
const index = existsSync(indexFile) ? JSON.parse(readFileSync(indexFile, 'utf8')) : { files: {}, sessions: {} };
const saveIndex = () => { writeFileSync(indexFile + '.tmp', JSON.stringify(index)); renameSync(indexFile + '.tmp', indexFile); };

const USERS = opt('--users', null) ? JSON.parse(readFileSync(opt('--users'), 'utf8')) : [];
const identity = { username: 'tandem', name: 'Tandem User', display_name: 'Tandem User', initials: 'TU', avatar_url: null, color: null };
const idOf = (tok) => {
  if (tok === TOKEN) return identity;
  const u = USERS.find((x) => x.token === tok);
  return u && { username: u.username, name: u.name ?? u.username, display_name: u.display_name ?? u.name ?? u.username,
    initials: u.initials ?? (u.name ?? u.username).split(' ').map((w) => w[0]).join('').toUpperCase(), avatar_url: null, color: u.color ?? null };
};
const authed = (req, url) => {
  const h = req.headers.authorization || '';
  return idOf(h.startsWith('token ') ? h.slice(6) : url.searchParams.get('token'));
};

const server = http.createServer((req, res) => {
  const url = new URL(req.url, 'http://x');
  let body = '';
  req.on('data', (d) => { body += d; });
  req.on('end', () => {
    const send = (s, j) => { res.writeHead(s, { 'Content-Type': 'application/json' }); res.end(JSON.stringify(j)); };
    if (!authed(req, url)) return send(403, { message: 'Forbidden' });
    const m = url.pathname.match(/^\/api\/collaboration\/session\/(.+)$/);
    if (req.method === 'PUT' && m) {
      const path = decodeURIComponent(m[1]);
      let b;
      try { b = JSON.parse(body); } catch { return send(400, { message: 'bad body' }); }
      if (!b || typeof b.format !== 'string' || typeof b.type !== 'string') return send(400, { message: 'bad body' });
      if (!existsSync(join(ROOT, path))) return send(404, { message: 'not found' });
      let status = 200;
      if (!index.files[path]) { index.files[path] = randomUUID(); status = 201; }
      const fileId = index.files[path];
      index.sessions[fileId] ||= randomUUID();
      saveIndex();
      return send(status, { format: b.format, type: b.type, fileId, sessionId: index.sessions[fileId] });
    }
    if (req.method === 'GET' && url.pathname === '/api/me') return send(200, { identity: authed(req, url), permissions: {} });
    send(404, { message: 'not found' });
  });
});

const rooms = new Map();
function pathOf(fileId) { return Object.keys(index.files).find((p) => index.files[p] === fileId); }

function loadRoom(name) {
  if (rooms.has(name)) return rooms.get(name);
  const [format, type, fileId] = name.split(':');
  const path = pathOf(fileId);
  const doc = new Y.Doc();
  if (!fileId) {
    const awareness = new awarenessProtocol.Awareness(doc);
    awareness.setLocalState(null);
    const room = { name, doc, awareness, conns: new Map(), append: () => {}, format: 'awareness' };
    awareness.on('update', ({ added, updated, removed }, origin) => {
      const changed = added.concat(updated, removed);
      if (origin && room.conns.has(origin)) for (const c of changed) room.conns.get(origin).add(c);
      const e = encoding.createEncoder(); encoding.writeVarUint(e, 1);
      encoding.writeVarUint8Array(e, awarenessProtocol.encodeAwarenessUpdate(awareness, changed));
      const m = encoding.toUint8Array(e);
      for (const c of room.conns.keys()) c.send(m);
    });
    rooms.set(name, room);
    return room;
  }
  const log = join(dir, fileId + '.log');
  if (existsSync(log)) {
    const b = readFileSync(log);
    for (let off = 0; off + 4 <= b.length;) {
      const n = b.readUInt32LE(off);
      if (off + 4 + n > b.length) break;
      Y.applyUpdate(doc, b.subarray(off + 4, off + 4 + n));
      off += 4 + n;
    }
  }
  const fd = openSync(log, 'a');
  const append = (u) => {
    if (BREAK === 'nolog') return;
    const h = Buffer.alloc(4); h.writeUInt32LE(u.length);
    writeSync(fd, Buffer.concat([h, Buffer.from(u)])); fsyncSync(fd);
  };
  if (doc.store.clients.size === 0 && format === 'json' && path) {
    const nb = new YNotebook();
    nb.ydoc.clientID = 0;
    nb.fromJSON(JSON.parse(readFileSync(join(ROOT, path), 'utf8')));
    const u = Y.encodeStateAsUpdate(nb.ydoc);
    Y.applyUpdate(doc, u); append(u); nb.dispose();
  } else if (doc.store.clients.size === 0) {
    const d = new Y.Doc(); d.clientID = 0;
    d.getText('source').insert(0, readFileSync(join(ROOT, path), 'utf8'));
    const u = Y.encodeStateAsUpdate(d);
    Y.applyUpdate(doc, u); append(u);
  }
  const awareness = new awarenessProtocol.Awareness(doc);
  awareness.setLocalState(null);
  const room = { name, fileId, path, doc, awareness, conns: new Map(), append, format };
  awareness.on('update', ({ added, updated, removed }, origin) => {
    const changed = added.concat(updated, removed);
    if (origin && room.conns.has(origin)) for (const c of changed) room.conns.get(origin).add(c);
    const e = encoding.createEncoder();
    encoding.writeVarUint(e, 1);
    encoding.writeVarUint8Array(e, awarenessProtocol.encodeAwarenessUpdate(awareness, changed));
    const m = encoding.toUint8Array(e);
    for (const c of room.conns.keys()) if (BREAK !== 'noecho' || c !== origin) c.send(m);
  });
  doc.on('update', (u, origin) => {
    if ([...awareness.getStates().values()].some((st) => st?.autosave === true)) {
      clearTimeout(room.autosave);
      room.autosave = setTimeout(() => saveRoom(room), 1000);
    }
    if (room.conns.has(origin)) return;
    room.append(u);
    const e = encoding.createEncoder(); encoding.writeVarUint(e, 0); encoding.writeVarUint(e, 2); encoding.writeVarUint8Array(e, u);
    const m = encoding.toUint8Array(e);
    for (const c of room.conns.keys()) c.send(m);
  });
  rooms.set(name, room);
  if (format === 'json') {
    room.base = JSON.parse(readFileSync(join(ROOT, path), 'utf8'));
    room.mtime = statSync(join(ROOT, path)).mtimeMs;
    setInterval(() => pollRoom(room), 1000);
  }
  return room;
}

// Outside edits: a per-cell three-way diff (last known disk -> new disk) applied to the doc.
const srcOf = (c) => Array.isArray(c.source) ? c.source.join('') : c.source;
function pollRoom(room) {
  const f = join(ROOT, room.path);
  const m = statSync(f).mtimeMs;
  if (m === room.mtime) return;
  room.mtime = m;
  const disk = JSON.parse(readFileSync(f, 'utf8'));
  const base = new Map(room.base.cells.map((c) => [c.id, c]));
  const now = new Map(disk.cells.map((c) => [c.id, c]));
  room.base = disk;
  const nb = new YNotebook();
  room.doc.transact(() => {
    const cells = room.doc.getArray('cells');
    const idx = (id) => cells.toArray().findIndex((c) => c.get('id') === id);
    for (const id of base.keys()) if (!now.has(id) && idx(id) >= 0) cells.delete(idx(id), 1);
    disk.cells.forEach((c, i) => {
      const b = base.get(c.id);
      if (!b) {
        const prev = i > 0 ? idx(disk.cells[i - 1].id) : -1;
        const tmp = new YNotebook(); tmp.ydoc.clientID = 1;
        const cell = { ...c, source: srcOf(c) };
        const ycell = new Y.Map([['id', c.id], ['cell_type', c.cell_type], ['source', new Y.Text(cell.source)], ['metadata', new Y.Map(Object.entries(c.metadata || {}))],
          ...(c.cell_type === 'code' ? [['outputs', new Y.Array()], ['execution_count', c.execution_count ?? null]] : [])]);
        cells.insert(prev + 1, [ycell]);
      } else if (srcOf(b) !== srcOf(c)) {
        const t = cells.get(idx(c.id)).get('source');
        t.delete(0, t.length); t.insert(0, srcOf(c));
      }
    });
  }, 'disk');
  nb.dispose();
}

function saveRoom(room) {
  if (room.format !== 'json') { writeFileSync(join(ROOT, room.path), room.doc.getText('source').toString()); return; }
  const nb = new YNotebook();
  Y.applyUpdate(nb.ydoc, Y.encodeStateAsUpdate(room.doc));
  const j = nb.toJSON();
  nb.dispose();
  writeFileSync(join(ROOT, room.path), JSON.stringify(j, null, 1) + '\n');
  room.base = j; room.mtime = statSync(join(ROOT, room.path)).mtimeMs;
  room.doc.transact(() => { room.doc.getMap('state').set('dirty', false); room.doc.getMap('state').set('hash', createHash('sha256').update(JSON.stringify(j)).digest('hex')); }, 'server');
}

const wss = new WebSocketServer({ noServer: true, maxPayload: 16 << 20 });
server.on('upgrade', (req, sock, head) => {
  const url = new URL(req.url, 'http://x');
  if (!authed(req, url)) { sock.end('HTTP/1.1 403 Forbidden\r\n\r\n'); return; }
  const m = url.pathname.match(/^\/api\/collaboration\/room\/(.+)$/);
  if (!m) { sock.end('HTTP/1.1 404 Not Found\r\n\r\n'); return; }
  const who = authed(req, url);
  wss.handleUpgrade(req, sock, head, (ws) => { ws.identity = who; onConn(ws, decodeURIComponent(m[1]), url); });
});

function onConn(ws, name, url) {
  const parts = name.split(':');
  if (parts.length >= 3) {
    if (!pathOf(parts[2])) return ws.close(4404, 'tandem-relay: unknown file');
    const sid = url.searchParams.get('sessionId');
    if (sid !== index.sessions[parts[2]]) return ws.close(1003, JSON.stringify({ reason: 'unknown_session', sessionId: sid, reloadable: true }));
  }
  const room = loadRoom(name);
  room.conns.set(ws, new Set());
  const send = (b) => ws.send(b);
  { const e = encoding.createEncoder(); encoding.writeVarUint(e, 0); encoding.writeVarUint(e, 0); encoding.writeVarUint8Array(e, Y.encodeStateVector(room.doc)); send(encoding.toUint8Array(e)); }
  const states = [...room.awareness.getStates().keys()];
  if (states.length) {
    const e = encoding.createEncoder(); encoding.writeVarUint(e, 1);
    encoding.writeVarUint8Array(e, awarenessProtocol.encodeAwarenessUpdate(room.awareness, states)); send(encoding.toUint8Array(e));
  }
  const bad = (why) => { ws.close(1003, 'tandem-relay: ' + why); };
  ws.on('message', (data, isBinary) => {
    if (!isBinary) return bad('text frame');
    try {
      const d = decoding.createDecoder(new Uint8Array(data));
      const t = decoding.readVarUint(d);
      if (t === 0) {
        const step = decoding.readVarUint(d);
        const payload = decoding.readVarUint8Array(d);
        if (step === 0) {
          const e = encoding.createEncoder(); encoding.writeVarUint(e, 0); encoding.writeVarUint(e, 1);
          encoding.writeVarUint8Array(e, Y.encodeStateAsUpdate(room.doc, payload)); send(encoding.toUint8Array(e));
        } else if (step === 1 || step === 2) {
          const before = Y.encodeStateVector(room.doc);
          const probe = new Y.Doc(); Y.applyUpdate(probe, Y.encodeStateAsUpdate(room.doc)); Y.applyUpdate(probe, payload); // throws on garbage
          room.append(payload);
          Y.applyUpdate(room.doc, payload, ws);
          const e = encoding.createEncoder(); encoding.writeVarUint(e, 0); encoding.writeVarUint(e, 2); encoding.writeVarUint8Array(e, payload);
          const m = encoding.toUint8Array(e);
          for (const c of room.conns.keys()) if (c !== ws) c.send(m);
          void before;
        } else return bad('unknown sync step');
      } else if (t === 1) {
        const u = decoding.readVarUint8Array(d);
        // overwrite user with the identity
        const dd = decoding.createDecoder(u); const n = decoding.readVarUint(dd); const ents = [];
        for (let i = 0; i < n; i++) { const id = decoding.readVarUint(dd), clock = decoding.readVarUint(dd); const st = JSON.parse(decoding.readVarString(dd)); if (st) st.user = ws.identity; ents.push([id, clock, st]); }
        const e = encoding.createEncoder(); encoding.writeVarUint(e, ents.length);
        for (const [id, clock, st] of ents) { encoding.writeVarUint(e, id); encoding.writeVarUint(e, clock); encoding.writeVarString(e, JSON.stringify(st)); }
        awarenessProtocol.applyAwarenessUpdate(room.awareness, encoding.toUint8Array(e), ws);
      } else if (t === 2) {
        const s = decoding.readVarString(d);
        const id = decoding.readVarUint(d);
        if (s !== 'save') return bad('unknown raw');
        let status = 'success';
        try { saveRoom(room); } catch { status = 'failed'; }
        const e = encoding.createEncoder(); encoding.writeVarUint(e, 2);
        encoding.writeVarString(e, JSON.stringify({ type: 'save', responseTo: id, status })); send(encoding.toUint8Array(e));
      } else return bad('unknown message type ' + t);
    } catch (err) { return ws.close(1002, 'tandem-relay: malformed message'); }
  });
  ws.on('close', () => {
    const ids = room.conns.get(ws);
    room.conns.delete(ws);
    if (ids?.size) awarenessProtocol.removeAwarenessStates(room.awareness, [...ids], null);
  });
}

server.listen(PORT, '127.0.0.1', () => {
  console.log(`http://127.0.0.1:${server.address().port}/?token=${TOKEN}`);
});
