// test_persist6.mjs (rooms_persist6): comment threads, grants, the notification inbox and the
// audit log survive kill -9 of the relay and a restart on the same root (issue 6).
// Users (--users on the first run only; the store keeps them): alice (owner of proj/), bob
// (commenter on proj/), carol (viewer of proj/nb.ipynb with no-download), dave (no grant).
// Cycle 1: threads with replies, an edit, reactions, a soft delete, a resolve, a range, an orphan
// (cell deleted through the room), 300 imported threads, mentions (one read, one unread), grants
// by the admin and by alice (and a revoke), audit entries (open, download, denied, grant, revoke,
// auth_failed); kill -9 right after the last acknowledged write; restart: everything is equal
// (export, every list, grants, inboxes, the audit entries), the roles are still enforced, the
// orphan stays orphaned when the room is rebuilt from its log, tokens still work, the event
// stream works. Cycle 2: kill -9 while 11 clients write replies, reactions and grants (SIGKILL
// from the 40th acknowledged reply): every acknowledged change is there after the restart, with
// its audit entry, and each thread is coherent (no duplicate, no torn comment).
import { writeFileSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import './skip.mjs';   // exits 77 first when the relay or node_modules is missing
const { startRelay, check, watchdog, main, sleep, waitFor, RoomClient, makeNotebook, canon, Y, SLOW } = await import('./rooms.mjs');
const { usersFile, as, EventStream, allThreads } = await import('./collab6.mjs');

let relay;
watchdog(58_000 * SLOW, () => relay);

const USERS = [
  { token: 'alice-persist-tok1', username: 'alice', name: 'Alice' },
  { token: 'bob-persist-token2', username: 'bob', name: 'Bob' },
  { token: 'carol-persist-tok3', username: 'carol', name: 'Carol' },
  { token: 'dave-persist-token', username: 'dave', name: 'Dave' },
];
const TOKEN = 'admin-persist-token-' + Math.random().toString(36).slice(2);
const NB = 'proj/nb.ipynb', OTHER = 'proj/other.ipynb';

await main(async () => {
  const root = mkdtempSync(join(tmpdir(), 'tandem-persist6-'));
  mkdirSync(join(root, 'proj'));
  writeFileSync(join(root, NB), JSON.stringify(makeNotebook([{ id: 'p1', source: 'a = 1\n' }, { id: 'p2', source: 'b = 2\n' }, { id: 'p3', source: 'c = 3\n' }])));
  writeFileSync(join(root, OTHER), JSON.stringify(makeNotebook([{ id: 'o1' }, { id: 'o2' }])));
  writeFileSync(join(root, 'proj/data.csv'), 'x\n1\n');
  relay = await startRelay({ root, token: TOKEN, args: ['--users', usersFile(USERS)] });
  const call = () => ({ admin: as(relay, TOKEN), ...Object.fromEntries(USERS.map((u) => [u.username, as(relay, u.token)])) });
  let c = call();
  const Q = `?path=${encodeURIComponent(NB)}`;

  // ---- cycle 1: build up state --------------------------------------------------------------------------
  for (const [path, username, role, nd] of [['proj', 'alice', 'owner'], [NB, 'carol', 'viewer', true]]) {
    const r = await c.admin('POST', '/api/admin/grants', { path, username, role, ...(nd && { no_download: true }) });
    check(r.status === 204, `admin grants ${role} on ${path} to ${username}`);
  }
  check((await c.alice('POST', '/api/admin/grants', { path: 'proj', username: 'bob', role: 'commenter' })).status === 204, 'alice (owner of proj/) grants bob commenter');
  check((await c.alice('POST', '/api/admin/grants', { path: OTHER, username: 'dave', role: 'viewer' })).status === 204, 'alice grants dave viewer on other.ipynb');
  check((await c.alice('DELETE', `/api/admin/grants?path=${encodeURIComponent(OTHER)}&username=dave`)).status === 204, 'alice revokes it');

  const A = await new RoomClient(relay, NB, { user: 'alice', token: USERS[0].token }).open();
  const t1 = (await c.alice('POST', `/api/comments${Q}`, { cell_id: 'p1', body: 'Check this @bob and @carol' })).json;
  check(t1?.id, 'alice opens t1 on p1 mentioning bob and carol');
  const r1 = (await c.bob('POST', `/api/comments/${t1.id}/replies`, { body: 'looks fine' })).json;
  await c.bob('PATCH', `/api/comments/${t1.id}/comments/${r1.id}`, { body: 'looks fine to me' });
  await c.alice('POST', `/api/comments/${t1.id}/comments/${r1.id}/reactions`, { emoji: '🎉' });
  await c.bob('POST', `/api/comments/${t1.id}/comments/${t1.comments[0].id}/reactions`, { emoji: '👍' });
  check((await c.bob('POST', `/api/comments/${t1.id}/resolve`)).json?.resolved_by === 'bob', 'bob resolves t1');
  const t2 = (await c.bob('POST', `/api/comments${Q}`, { cell_id: 'p2', body: 'why b = 2?' })).json;
  const r2 = (await c.alice('POST', `/api/comments/${t2.id}/replies`, { body: 'ask @carol' })).json;
  check((await c.alice('DELETE', `/api/comments/${t2.id}/comments/${r2.id}`)).status === 204, 'alice soft-deletes her reply on t2');
  const p3src = A.model.cells.find((x) => x.id === 'p3').ysource;
  const range = { anchor: Y.relativePositionToJSON(Y.createRelativePositionFromTypeIndex(p3src, 0)), head: Y.relativePositionToJSON(Y.createRelativePositionFromTypeIndex(p3src, 5, -1)) };
  const t3 = (await c.alice('POST', `/api/comments${Q}`, { cell_id: 'p3', body: 'this range', range })).json;
  check(t3?.id && canon(t3.range) === canon(range), 't3 on p3 with a range');
  A.model.deleteCell(A.model.cells.findIndex((x) => x.id === 'p3'));
  await waitFor(async () => (await c.alice('GET', `/api/comments/${t3.id}`)).json.orphaned === true, 5000 * SLOW, 't3 orphaned');
  check(true, 'deleting p3 through the room orphans t3');
  // 300 imported threads on the other notebook.
  const many = { threads: Array.from({ length: 300 }, (_, i) => ({ cell_id: i % 3 ? 'o1' : 'gone', resolved: i % 2 === 0, resolved_by: i % 2 === 0 ? 'bob' : null,
    comments: [{ author: i % 2 ? 'alice' : 'bob', body: `imported ${i}`, created: '2025-01-01T00:00:00.000000Z', reactions: { '👍': ['carol'] } }] })) };
  const imp = await c.admin('POST', `/api/comments/import?path=${encodeURIComponent(OTHER)}`, many);
  check(imp.status === 200 && imp.json.imported === 300, `300 threads imported on other.ipynb (${imp.status} ${imp.text.slice(0, 100)})`);
  // Inboxes: carol reads hers, bob keeps his unread.
  const carolIn = (await c.carol('GET', '/api/me/notifications')).json;
  check(carolIn.notifications.length === 1 && carolIn.unread === 1, 'carol has 1 mention (the deleted reply\'s mention is gone)');
  check((await c.carol('POST', '/api/me/notifications/read', { ids: [carolIn.notifications[0].id] })).status === 204, 'carol marks it read');
  // Audit material: a download, a refused download, a refused comment, a wrong token.
  check((await c.bob('GET', '/api/contents/proj/data.csv?content=1')).status === 200, 'bob downloads data.csv');
  check((await c.carol('GET', `/api/contents/${NB}?content=1`)).status === 403, 'carol\'s download is refused (no-download)');
  check((await c.carol('POST', `/api/comments${Q}`, { cell_id: 'p1', body: 'viewer' })).status === 403, 'carol (viewer) cannot comment');
  check((await c.dave('GET', `/api/comments${Q}`)).status === 404, 'dave (no grant) gets 404');
  check((await relay.api('GET', '/api/me', undefined, { Authorization: 'token not-a-real-token' })).status === 403, 'one wrong token -> 403');

  // The state, as the API shows it.
  async function snapshot() {
    c = call();
    const out = {};
    out.export = (await c.admin('GET', `/api/comments/export${Q}`)).json;
    out.other = await allThreads(c.admin, OTHER);
    out.lists = {};
    for (const [who, q] of [['alice', '&mine=1'], ['bob', '&mentions=1'], ['alice', '&unresolved=1'], ['alice', '&orphaned=1'], ['bob', '&cell=p1']]) {
      out.lists[who + q] = (await c[who]('GET', `/api/comments${Q}${q}`)).json;
    }
    out.grants = (await c.admin('GET', '/api/admin/grants')).json;
    out.inbox = {};
    for (const u of USERS) out.inbox[u.username] = (await c[u.username]('GET', '/api/me/notifications')).json;
    out.audit = (await c.admin('GET', '/api/admin/audit?limit=10000')).json.entries;
    return out;
  }
  // The last acknowledged write, then kill -9 at once.
  const last = await c.alice('POST', `/api/comments/${t2.id}/replies`, { body: 'last word before the crash' });
  check(last.status === 201, 'a last reply is acknowledged (201)');
  const before = await snapshot();
  check(before.export.threads.length === 3 && before.other.length === 300 && before.grants.grants.length === 3 && before.audit.length > 5,
    `state before: 3 threads, 300 imported, 3 grants, ${before.audit.length} audit entries`);
  A.close();
  const killed = await relay.kill9();
  check(killed.sig === 'SIGKILL', 'relay killed with SIGKILL');

  relay = await startRelay({ root, token: TOKEN });
  const after = await snapshot();
  check(canon(after.export) === canon(before.export), 'threads (export: comments, edits, reactions, deleted, resolve, range, orphaned) are identical after kill -9');
  check(canon(after.other) === canon(before.other), 'the 300 imported threads are identical');
  check(canon(after.lists) === canon(before.lists), 'filtered lists (mine, mentions, unresolved, orphaned, cell) are identical');
  check(canon(after.grants) === canon(before.grants), `grants are identical (${after.grants.grants.map((g) => `${g.path}:${g.username}:${g.role}${g.no_download ? ':nd' : ''}`)})`);
  check(canon(after.inbox) === canon(before.inbox), 'every inbox is identical (bob unread, carol read)');
  check(after.inbox.bob.unread === 1 && after.inbox.carol.unread === 0 && after.inbox.carol.notifications[0].read === true, 'read flags survived');
  const keyOf = (e) => canon(e);
  const afterSet = new Set(after.audit.map(keyOf));
  const missing = before.audit.filter((e) => !afterSet.has(keyOf(e)));
  check(missing.length === 0, `every audit entry from before the crash is still there (${before.audit.length} entries; missing ${JSON.stringify(missing.slice(0, 3))})`);
  for (const a of ['grant', 'revoke', 'open', 'download', 'denied', 'auth_failed']) {
    check(after.audit.some((e) => e.action === a), `the audit log still holds ${a}`);
  }
  // Roles are enforced from the reloaded grants; tokens from the store work.
  c = call();
  check((await c.carol('GET', `/api/contents/${NB}?content=1`)).status === 403, 'carol: download still refused (no-download)');
  check((await c.carol('POST', `/api/comments${Q}`, { cell_id: 'p1', body: 'viewer' })).status === 403, 'carol: still cannot comment');
  check((await c.dave('GET', `/api/comments${Q}`)).status === 404 && (await c.dave('GET', `/api/comments?path=${encodeURIComponent(OTHER)}`)).status === 404,
    'dave: still 404 (the revoked grant stays revoked)');
  check((await c.alice('POST', '/api/admin/grants', { path: 'proj', username: 'dave', role: 'viewer' })).status === 204, 'alice can still grant on proj/');
  check((await c.bob('POST', '/api/admin/grants', { path: 'proj', username: 'dave', role: 'editor' })).status === 403, 'bob (commenter) still cannot');
  // The room is rebuilt from its log: p3 stays deleted and t3 stays orphaned, with no event.
  const ev = new EventStream(relay, NB, USERS[1].token);
  check(await ev.opened === 101, 'the comment event stream opens after the restart');
  const A2 = await new RoomClient(relay, NB, { user: 'alice', token: USERS[0].token }).open();
  check(!A2.model.cells.some((x) => x.id === 'p3'), 'the rebuilt document has no p3');
  await sleep(300 * SLOW);
  check(!ev.events.some((e) => /orphaned|attached/.test(e.type)) && (await c.bob('GET', `/api/comments/${t3.id}`)).json.orphaned === true, 't3 is still orphaned, no attach/orphan event on reload');
  const newReply = await c.bob('POST', `/api/comments/${t1.id}/replies`, { body: 'after the restart' });
  const got = await ev.next((e) => e.type === 'comment.created' && e.comment_id === newReply.json?.id);
  check(newReply.status === 201 && got?.thread?.comments?.length === 3 && got.thread.resolved === true, 'a reply after the restart: 201 and its event carries the full, still resolved, thread');
  A2.close(); ev.close();

  // ---- cycle 2: kill -9 in the middle of a burst ------------------------------------------------------------
  // 8 reply writers, 2 reaction writers and 1 grant writer, each one request at a time, each
  // going on until a request of its own fails: SIGKILL as soon as 40 replies are acknowledged.
  const acked = { replies: [], reactions: [], grants: [] };
  let seq = 0, failed = 0, dead = false;
  const loop = async (fn) => {
    for (;;) {
      const i = seq++;
      try { await fn(i); } catch { failed++; if (dead) return; await sleep(5); }
    }
  };
  const kill = () => { if (!dead) { dead = true; relay.proc.kill('SIGKILL'); } };
  const writers = [
    ...Array.from({ length: 8 }, () => loop(async (i) => {
      const r = await c.alice('POST', `/api/comments/${t2.id}/replies`, { body: `burst ${i}` }, {}, 10000 * SLOW);
      if (r.status === 201) acked.replies.push(r.json.id);
      if (acked.replies.length >= 40) kill();
    })),
    ...Array.from({ length: 2 }, () => loop(async (i) => {
      const r = await c.bob('POST', `/api/comments/${t1.id}/comments/${t1.comments[0].id}/reactions`, { emoji: `e${i}` }, {}, 10000 * SLOW);
      if (r.status === 200) acked.reactions.push(`e${i}`);
    })),
    loop(async (i) => {
      const r = await c.alice('POST', '/api/admin/grants', { path: `proj/sub${i}`, username: 'dave', role: 'viewer' }, {}, 10000 * SLOW);
      if (r.status === 204) acked.grants.push(`proj/sub${i}`);
    }),
  ];
  const stop = setTimeout(kill, 20000 * SLOW);
  await Promise.all(writers);
  clearTimeout(stop);
  await relay.kill9();   // (already sent; waits for the exit)
  check(acked.replies.length >= 40 && failed >= writers.length,
    `kill -9 while 11 clients write (${acked.replies.length} replies, ${acked.reactions.length} reactions, ${acked.grants.length} grants acknowledged; every writer then met a dead relay)`);
  relay = await startRelay({ root, token: TOKEN });
  c = call();
  const t2after = (await c.alice('GET', `/api/comments/${t2.id}`)).json;
  const ids = new Set(t2after.comments.map((x) => x.id));
  const bodies = t2after.comments.map((x) => x.body).filter((b) => b.startsWith('burst '));
  check(acked.replies.every((id) => ids.has(id)), `every acknowledged reply survived (${acked.replies.length} acked, ${bodies.length} burst replies stored)`);
  check(new Set(bodies).size === bodies.length && t2after.comments.every((x) => x.author?.username && x.created), 'no duplicate or torn comment in the thread');
  const t1after = (await c.bob('GET', `/api/comments/${t1.id}`)).json;
  check(acked.reactions.every((e) => t1after.comments[0].reactions[e]?.includes('bob')), `every acknowledged reaction survived (${acked.reactions.length})`);
  const g2 = (await c.admin('GET', '/api/admin/grants')).json.grants;
  check(acked.grants.every((p) => g2.some((g) => g.path === p && g.username === 'dave')), `every acknowledged grant survived (${acked.grants.length})`);
  const a2 = (await c.admin('GET', '/api/admin/audit?action=grant&limit=10000')).json.entries;
  check(acked.grants.every((p) => a2.some((e) => e.path === p && e.detail === 'dave')), 'and its audit entry');
  check(canon((await c.admin('GET', `/api/comments/${t3.id}`)).json) === canon(after.export.threads.find((t) => t.id === t3.id)), 't3 (orphaned, untouched) is unchanged by two crashes');

  await relay.stop();
  relay = null;
  rmSync(root, { recursive: true, force: true });
});
