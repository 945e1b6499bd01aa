// collab6.mjs: helpers shared by the comments / roles / persistence tests (issue 6): a users file,
// REST calls as a given user, the per-notebook comment event stream (/api/comments/events?path=NB,
// a plain `ws` client), and RAW-message capture on a RoomClient. Imported after skip.mjs.
import { writeFileSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { WebSocket, sleep, SLOW, decoding } from './rooms.mjs';

// Writes a --users file for these users ({username, token, name?}); returns its path.
export function usersFile(users, dir = mkdtempSync(join(tmpdir(), 'tandem-users-'))) {
  const file = join(dir, 'users.json');
  writeFileSync(file, JSON.stringify(users));
  return file;
}

// REST as a user: as(relay, token)(method, path, body, headers?, timeout?) -> {status, json, text}.
export const as = (relay, token) => (method, path, body, headers = {}, timeout) =>
  relay.api(method, path, body, { Authorization: `token ${token}`, ...headers }, timeout);

// The comment event stream of one notebook, as one user.
export class EventStream {
  constructor(relay, path, token) {
    this.url = `${relay.wsBase}api/comments/events?` + new URLSearchParams({ path, token });
    this.events = [];
    this.waiters = [];
    this.status = null;
    this.ws = new WebSocket(this.url);
    this.opened = new Promise((ok) => {
      this.ws.on('open', () => { this.status = 101; ok(101); });
      this.ws.on('unexpected-response', (_q, res) => { this.status = res.statusCode; ok(res.statusCode); });
      this.ws.on('error', () => ok(this.status ?? -1));
    });
    this.closed = new Promise((ok) => this.ws.on('close', (code) => ok(code)));
    this.ws.on('message', (data, isBinary) => {
      let e;
      try { e = JSON.parse(data.toString()); } catch { e = { type: '(not json)', raw: data.toString(), isBinary }; }
      e.at = performance.now();
      this.events.push(e);
      for (const w of [...this.waiters]) if (w.pred(e)) { this.waiters.splice(this.waiters.indexOf(w), 1); w.ok(e); }
    });
  }

  // The first event (from index `from` on) matching pred, or null after ms.
  next(pred = () => true, ms = 5000 * SLOW, from = 0) {
    const e = this.events.slice(from).find(pred);
    if (e) return Promise.resolve(e);
    return new Promise((ok) => {
      const w = { pred, ok };
      this.waiters.push(w);
      setTimeout(() => { const i = this.waiters.indexOf(w); if (i >= 0) { this.waiters.splice(i, 1); ok(null); } }, ms);
    });
  }

  types(pred = () => true) { return this.events.filter(pred).map((e) => e.type); }

  close() { try { this.ws.close(); } catch { /* closed */ } }
}

// Captures the RAW (type 2) messages the relay sends a RoomClient ({type:'permission'...},
// {type:'save'...}) into client.raw. Call right after open({wait:false}), before any message.
export function captureRaw(client) {
  client.raw = [];
  client.provider.messageHandlers[2] = (_enc, decoder) => {
    const text = decoding.readVarString(decoder);
    try { client.raw.push(JSON.parse(text)); } catch { client.raw.push({ type: '(not json)', text }); }
  };
  return client;
}

// A thread reduced to what export/import must keep (no ids, fileId, path or `updated`).
export function threadEssence(t) {
  return {
    cell_id: t.cell_id, range: t.range ?? null, resolved: t.resolved, resolved_by: t.resolved_by ?? null,
    resolved_at: t.resolved_at ?? null, created: t.created,
    comments: t.comments.map((c) => ({ author: c.author?.username ?? c.author, body: c.body, created: c.created,
      updated: c.updated, deleted: c.deleted, reactions: c.reactions })),
  };
}

export async function allThreads(call, path, query = '') {
  const out = [];
  let cursor = null;
  for (let i = 0; i < 1000; i++) {
    const r = await call('GET', `/api/comments?path=${encodeURIComponent(path)}&limit=500${query}${cursor ? '&cursor=' + encodeURIComponent(cursor) : ''}`);
    if (r.status !== 200) throw new Error(`list ${path} -> ${r.status} ${r.text}`);
    out.push(...r.json.threads);
    cursor = r.json.next;
    if (!cursor) return out;
  }
  throw new Error('list: the cursor never ends');
}

export { sleep };

// A check that records its failure and lets the test go on (the test fails at the end through
// softFinish): for findings that should not hide the checks after them.
const softFailures = [];
export function softCheck(cond, what) {
  if (cond) { console.log('ok -', what); return true; }
  console.log('not ok -', what);
  softFailures.push(what);
  return false;
}
export function softFinish() {
  if (softFailures.length) throw new Error(`${softFailures.length} check(s) failed:\n  ` + softFailures.join('\n  '));
}
