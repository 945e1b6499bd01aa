// test_comments.mjs (rooms_comments): comment threads end to end with real clients (issue 6).
// Users alice, bob, carol and b (--users); no grants, so all are editors; the server token's user
// (tandem) is owner everywhere.
// - Lifecycle on a cell: create, reply, edit, react (twice the same: one event), unreact, soft
//   delete, resolve (twice: one event), reply to a resolved thread, reopen. Two other clients'
//   event streams (/api/comments/events?path=NB) see every change live, in order, with the whole
//   thread; no-op and refused requests (someone else's comment: 403 author; deleted: 409) send
//   nothing. A stream on another notebook sees nothing.
// - A text range (Y.RelativePosition JSON from the client's cell source) is stored as given and
//   still resolves after an edit before it.
// - Orphaning through the room (y-websocket + YNotebook): moving a cell orphans nothing; deleting it
//   orphans its thread (event, ?orphaned=1, new threads on it 404 `cell`); YNotebook's undo
//   re-attaches it; a re-insert of a cell with the same id re-attaches it; an outside write of the
//   file that restores a deleted cell re-attaches it (poll merge).
// - Mentions: /api/me/notifications with unread counts, mark read (own ids only, `all`), no
//   self-mention, `a@b.com` is not a mention of b, `@carol.` is; deleting a comment removes its
//   inbox entries; editing notifies new mentions only.
// - Export / import round trip (owner only; threads whose cell is missing arrive orphaned and
//   attach when a room opens the notebook with the cell back; no notifications; all or nothing).
// - A second relay with --embed-comments writes each cell's non-orphaned threads into the saved
//   file's cell metadata (and removes stale ones), never into the shared document; the first relay
//   (no flag) writes none.
import { writeFileSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import './skip.mjs';   // exits 77 first when the relay or node_modules is missing
const { startRelay, check, watchdog, main, sleep, waitFor, RoomClient, makeNotebook, readNotebook,
  canon, Y, SLOW } = await import('./rooms.mjs');
const { usersFile, as, EventStream, threadEssence, allThreads, softCheck, softFinish } = await import('./collab6.mjs');

let relay, relay2;
watchdog(58_000 * SLOW, () => relay2 || relay);

const USERS = [
  { token: 'alice-token-0001', username: 'alice', name: 'Alice Liddell' },
  { token: 'bob-token-000002', username: 'bob', name: 'Bob Builder' },
  { token: 'carol-token-0003', username: 'carol', name: 'Carol Danvers' },
  { token: 'b-token-00000004', username: 'b', name: 'Just B' },
];
const NB = 'team/nb.ipynb';
const CELLS = [{ id: 'c1', source: 'df = load()\n' }, { id: 'c2', source: 'df.join(other)\n' },
  { id: 'c3', source: 'plot(df)\n' }, { id: 'c4', source: 'summary(df)\n' }];

await main(async () => {
  relay = await startRelay({ args: ['--users', usersFile(USERS)] });
  mkdirSync(join(relay.root, 'team'));
  const nbFile = join(relay.root, NB);
  writeFileSync(nbFile, JSON.stringify(makeNotebook(CELLS), null, 1));
  writeFileSync(join(relay.root, 'team/other.ipynb'), JSON.stringify(makeNotebook([{ id: 'o1' }])));
  const admin = as(relay, relay.token);
  const [alice, bob, carol, b] = USERS.map((u) => as(relay, u.token));
  const Q = `?path=${encodeURIComponent(NB)}`;

  // Two other clients listen: bob's and carol's streams; and one on another notebook.
  const evB = new EventStream(relay, NB, USERS[1].token), evC = new EventStream(relay, NB, USERS[2].token);
  const evOther = new EventStream(relay, 'team/other.ipynb', USERS[0].token);
  check(await evB.opened === 101 && await evC.opened === 101 && await evOther.opened === 101, 'three comment event streams open (101)');
  const noTok = new EventStream(relay, NB, 'wrong-token-xyz');
  check(await noTok.opened === 403, `event stream with a wrong token -> 403 (got ${noTok.status})`);
  const noFile = new EventStream(relay, 'team/missing.ipynb', USERS[0].token);
  const nfs = await noFile.opened;
  softCheck(nfs === 404 || (nfs === 101 && await Promise.race([noFile.closed, sleep(2000 * SLOW).then(() => 'open')]) !== 'open'),
    `event stream on a missing notebook is refused (404, like GET /api/comments) (got ${nfs})`);

  // Each step: the request, then both streams must receive the event (for thread tid) before the next.
  const expected = [];
  let tid;
  async function step(what, type, fn, cid) {
    const fromB = evB.events.length, fromC = evC.events.length;
    const t0 = performance.now();
    const r = await fn();
    const [eb, ec] = await Promise.all([evB.next((e) => e.type === type, 5000 * SLOW, fromB), evC.next((e) => e.type === type, 5000 * SLOW, fromC)]);
    check(!!eb && !!ec, `${what}: ${type} reaches both streams live (${eb ? (eb.at - t0).toFixed(1) : '-'} ms)`);
    check(eb.thread?.id === (tid ?? eb.thread?.id) && canon(eb) === canon({ ...ec, at: eb.at }), `${what}: both streams got the same event, for this thread`);
    if (cid === 'none') check(!('comment_id' in eb) || eb.comment_id === null, `${what}: the event names no comment`);
    else if (cid !== undefined) check(eb.comment_id === cid, `${what}: the event names comment ${cid}`);
    expected.push(type);
    return { r, e: eb };
  }

  // ---- lifecycle -----------------------------------------------------------------------------------
  let { r, e } = await step('create', 'thread.created', () => alice('POST', `/api/comments${Q}`,
    { cell_id: 'c1', body: 'Is this **the right join**? @bob, see @alice and mail a@b.com' }), 'none');
  check(r.status === 201 && r.json?.cell_id === 'c1' && r.json.comments?.length === 1 && r.json.orphaned === false && r.json.resolved === false,
    `POST /api/comments -> 201 thread on c1 with one comment (${r.status})`);
  tid = r.json.id;
  const cA = r.json.comments[0].id;
  check(r.json.comments[0].author.username === 'alice' && r.json.comments[0].author.display_name === 'Alice Liddell', 'the author is alice, with her display name');
  check(canon(e.thread) === canon(r.json), 'the thread.created event carries the whole thread, as the answer');
  check(r.json.path === NB && typeof r.json.fileId === 'string', 'the thread names the notebook path and fileId');

  ({ r, e } = await step('reply', 'comment.created', () => bob('POST', `/api/comments/${tid}/replies`, { body: 'Agreed, cc @carol.' }), undefined));
  // (comment_id is checked below once we know it)
  check(r.status === 201 && r.json?.author?.username === 'bob', `reply -> 201 comment by bob (${r.status})`);
  const cB = r.json.id;
  check(e.comment_id === cB && e.thread.comments.length === 2 && e.thread.comments[1].id === cB, 'comment.created names the reply; the thread holds it second');

  ({ r, e } = await step('edit', 'comment.edited', () => alice('PATCH', `/api/comments/${tid}/comments/${cA}`,
    { body: 'Is this the right join? @bob, and @carol too; mail a@b.com' }), cA));
  check(r.status === 200 && r.json?.body.includes('@carol') && r.json.updated >= r.json.created, `edit own comment -> 200 (${r.status})`);
  ({ r } = await step('edit again', 'comment.edited', () => alice('PATCH', `/api/comments/${tid}/comments/${cA}`,
    { body: 'Is this the right join? @bob and @carol; mail a@b.com' }), cA));
  check(r.status === 200, 'a second edit -> 200');

  // Refused: someone else's comment.
  r = await bob('PATCH', `/api/comments/${tid}/comments/${cA}`, { body: 'hijacked' });
  check(r.status === 403 && r.json?.reason === 'author', `bob edits alice's comment -> 403 author (${r.status} ${r.text})`);
  r = await bob('DELETE', `/api/comments/${tid}/comments/${cA}`);
  check(r.status === 403 && r.json?.reason === 'author', `bob (editor) deletes alice's comment -> 403 author (${r.status})`);
  r = await alice('POST', `/api/comments/${tid}/replies`, { body: '   \n ' });
  check(r.status === 400, `blank reply -> 400 (${r.status})`);
  r = await alice('POST', `/api/comments/${tid}/replies`, { body: 'x'.repeat(65537) });
  check(r.status === 413, `65,537-byte reply -> 413 (${r.status})`);
  r = await alice('POST', `/api/comments${Q}`, { cell_id: 'no-such-cell', body: 'hello' });
  check(r.status === 404 && r.json?.reason === 'cell', `thread on an unknown cell -> 404 cell (${r.status} ${r.text})`);

  ({ r, e } = await step('react', 'reaction.added', () => bob('POST', `/api/comments/${tid}/comments/${cA}/reactions`, { emoji: '👍' }), cA));
  check(r.status === 200 && canon(r.json?.reactions) === canon({ '👍': ['bob'] }), `bob reacts 👍 -> 200 (${r.text})`);
  r = await bob('POST', `/api/comments/${tid}/comments/${cA}/reactions`, { emoji: '👍' });
  check(r.status === 200 && canon(r.json?.reactions) === canon({ '👍': ['bob'] }), 'the same reaction again -> 200, unchanged (and no event: checked by the sequence)');
  ({ r } = await step('react 2', 'reaction.added', () => alice('POST', `/api/comments/${tid}/comments/${cA}/reactions`, { emoji: '👍' }), cA));
  check(canon(r.json?.reactions) === canon({ '👍': ['bob', 'alice'] }), 'reactions list users in the order they reacted');
  r = await carol('DELETE', `/api/comments/${tid}/comments/${cA}/reactions/${encodeURIComponent('👍')}`);
  check(r.status === 200 && canon(r.json?.reactions) === canon({ '👍': ['bob', 'alice'] }), 'removing a reaction carol never gave -> 200 unchanged (no event)');
  ({ r } = await step('unreact', 'reaction.removed', () => bob('DELETE', `/api/comments/${tid}/comments/${cA}/reactions/${encodeURIComponent('👍')}`), cA));
  check(r.status === 200 && canon(r.json?.reactions) === canon({ '👍': ['alice'] }), `bob's 👍 removed (${r.text})`);
  ({ r } = await step('react on reply', 'reaction.added', () => alice('POST', `/api/comments/${tid}/comments/${cB}/reactions`, { emoji: ':+1:' }), cB));

  // Carol's inbox before the delete: bob's reply and alice's edit mention her.
  let inbox = await carol('GET', '/api/me/notifications');
  check(inbox.status === 200 && inbox.json.notifications.length === 2 && inbox.json.unread === 2,
    `carol has 2 unread mentions (reply + the edit that added @carol; the 2nd edit adds none): ${inbox.text.slice(0, 300)}`);

  ({ r, e } = await step('soft delete', 'comment.deleted', () => bob('DELETE', `/api/comments/${tid}/comments/${cB}`), cB));
  check(r.status === 204, `bob deletes his reply -> 204 (${r.status})`);
  const del = e.thread.comments.find((c) => c.id === cB);
  check(del && del.deleted === true && del.body === '' && canon(del.reactions) === '{}' && del.author.username === 'bob' && e.thread.comments[1].id === cB,
    `the deleted reply stays in place: deleted, body "", no reactions, author kept (${JSON.stringify(del)})`);
  r = await bob('DELETE', `/api/comments/${tid}/comments/${cB}`);
  check(r.status === 409, `deleting it again -> 409 (${r.status})`);
  r = await bob('PATCH', `/api/comments/${tid}/comments/${cB}`, { body: 'resurrect' });
  check(r.status === 409, `editing a deleted comment -> 409 (${r.status})`);
  r = await alice('POST', `/api/comments/${tid}/comments/${cB}/reactions`, { emoji: '🎉' });
  check(r.status === 409, `reacting to a deleted comment -> 409 (${r.status})`);
  inbox = await carol('GET', '/api/me/notifications');
  check(inbox.json.notifications.length === 1 && inbox.json.notifications[0].comment_id === cA && inbox.json.unread === 1,
    `the deleted reply's mention left carol's inbox; the edit's stays (${inbox.text.slice(0, 300)})`);

  ({ r, e } = await step('resolve', 'thread.resolved', () => carol('POST', `/api/comments/${tid}/resolve`), 'none'));
  check(r.status === 200 && r.json.resolved === true && r.json.resolved_by === 'carol' && /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$/.test(r.json.resolved_at),
    `carol resolves -> resolved_by carol, resolved_at in Jupyter format (${r.json?.resolved_at})`);
  const resolvedAt = r.json.resolved_at;
  r = await alice('POST', `/api/comments/${tid}/resolve`);
  check(r.status === 200 && r.json.resolved_by === 'carol' && r.json.resolved_at === resolvedAt, 'resolving again -> 200, the first resolver stays (no event)');
  r = await alice('GET', `/api/comments${Q}&unresolved=1`);
  check(r.status === 200 && !r.json.threads.some((t) => t.id === tid), 'the resolved thread is not in ?unresolved=1');
  ({ r, e } = await step('reply to resolved', 'comment.created', () => alice('POST', `/api/comments/${tid}/replies`, { body: 'Fixed in c2.' }), undefined));
  check(r.status === 201 && e.thread.resolved === true && e.comment_id === r.json.id, 'a reply to a resolved thread is allowed and keeps it resolved');
  ({ r } = await step('reopen', 'thread.reopened', () => bob('POST', `/api/comments/${tid}/reopen`), 'none'));
  check(r.status === 200 && r.json.resolved === false && r.json.resolved_by === null && r.json.resolved_at === null, 'reopen clears resolved_by and resolved_at');
  r = await bob('POST', `/api/comments/${tid}/reopen`);
  check(r.status === 200 && r.json.resolved === false, 'reopening an open thread -> 200, nothing (no event)');

  const final = await alice('GET', `/api/comments/${tid}`);
  check(final.status === 200 && canon(final.json) === canon(evB.events.at(-1).thread), 'the last event\'s thread equals GET /api/comments/T');
  check(final.json.comments.map((c) => c.author.username).join() === 'alice,bob,alice', 'thread order: alice, bob (deleted), alice');
  check(canon(evB.types()) === canon(expected) && canon(evC.types()) === canon(expected),
    `both streams saw exactly ${expected.length} events, in order: ${evB.types().join(' ')}`);
  check(evOther.events.length === 0, 'the stream of another notebook saw nothing');

  // ---- mentions and the inbox ---------------------------------------------------------------------
  let bi = await bob('GET', '/api/me/notifications');
  check(bi.status === 200 && bi.json.notifications.length === 1 && bi.json.unread === 1, `bob has exactly 1 mention (edits re-mentioning him add none): ${bi.text.slice(0, 300)}`);
  const n0 = bi.json.notifications[0];
  check(n0.kind === 'mention' && n0.thread_id === tid && n0.comment_id === cA && n0.actor === 'alice' && n0.path === NB && n0.read === false &&
    typeof n0.excerpt === 'string' && n0.excerpt.includes('join') && Number.isInteger(n0.id), `bob's entry: mention by alice, on the thread and comment, unread (${JSON.stringify(n0)})`);
  check((await alice('GET', '/api/me/notifications')).json.notifications.length === 0, 'alice mentioning herself (and replying) notifies nobody: alice has 0');
  check((await b('GET', '/api/me/notifications')).json.notifications.length === 0, '"a@b.com" is not a mention of user b');
  const carolId = (await carol('GET', '/api/me/notifications')).json.notifications[0].id;
  r = await bob('POST', '/api/me/notifications/read', { ids: [carolId, n0.id] });
  check(r.status === 204, `bob marks [carol's id, his id] read -> 204 (${r.status})`);
  bi = await bob('GET', '/api/me/notifications?unread=1');
  check(bi.json.notifications.length === 0 && bi.json.unread === 0, 'bob: unread=1 is empty, unread 0');
  let ci = await carol('GET', '/api/me/notifications?unread=1');
  check(ci.json.notifications.length === 1 && ci.json.unread === 1, 'carol\'s entry is still unread (ids that are not yours are ignored)');
  r = await bob('POST', `/api/comments${Q}`, { cell_id: 'c4', body: 'And here, @carol.' });
  check(r.status === 201, 'bob mentions carol on c4');
  ci = await carol('GET', '/api/me/notifications');
  check(ci.json.unread === 2 && ci.json.notifications[0].actor === 'bob' && ci.json.notifications[0].read === false, 'carol: 2 unread, newest first');
  r = await carol('GET', '/api/me/notifications?limit=1');
  check(r.json.notifications.length === 1 && typeof r.json.next === 'string' && r.json.unread === 2, 'inbox pages (limit=1 -> next), unread counts all');
  const page2 = await carol('GET', `/api/me/notifications?limit=1&cursor=${encodeURIComponent(r.json.next)}`);
  check(page2.json.notifications.length === 1 && page2.json.notifications[0].id !== r.json.notifications[0].id, 'the second page holds the other entry');
  r = await carol('POST', '/api/me/notifications/read', { all: true });
  ci = await carol('GET', '/api/me/notifications');
  check(r.status === 204 && ci.json.unread === 0 && ci.json.notifications.every((n) => n.read === true), 'carol marks all read: unread 0');

  // ---- a range that moves with edits ------------------------------------------------------------
  const A = await new RoomClient(relay, NB, { user: 'alice', token: USERS[0].token }).open();
  const B = await new RoomClient(relay, NB, { user: 'bob', token: USERS[1].token }).open();
  const cellA = (id) => A.model.cells.find((c) => c.id === id);
  const cellB = (id) => B.model.cells.find((c) => c.id === id);
  const src = cellA('c2').ysource;
  const range = { anchor: Y.relativePositionToJSON(Y.createRelativePositionFromTypeIndex(src, 3)),
    head: Y.relativePositionToJSON(Y.createRelativePositionFromTypeIndex(src, 7, -1)) };
  r = await alice('POST', `/api/comments${Q}`, { cell_id: 'c2', body: 'this call', range });
  check(r.status === 201 && canon(r.json.range) === canon(range), 'a thread with a range: stored as given');
  const t2 = r.json.id;
  cellB('c2').updateSource(0, 0, 'result = ');
  await waitFor(() => cellA('c2').source.startsWith('result = '), 5000 * SLOW, 'the edit reaches alice');
  const got = (await bob('GET', `/api/comments/${t2}`)).json.range;
  const abs = (p) => Y.createAbsolutePositionFromRelativePosition(Y.createRelativePositionFromJSON(p), A.ydoc);
  check(abs(got.anchor)?.index === 12 && abs(got.head)?.index === 16 && cellA('c2').source.slice(12, 16) === 'join',
    `the range still covers "join" after an edit before it (${abs(got.anchor)?.index}..${abs(got.head)?.index})`);

  // ---- orphaning through the room ------------------------------------------------------------------
  r = await bob('POST', `/api/comments${Q}`, { cell_id: 'c3', body: 'plot needs a legend' });
  const t3 = r.json.id;
  const orphanEv = (id) => evB.events.filter((x) => x.thread?.id === id && /^thread\.(orphaned|attached)$/.test(x.type)).map((x) => x.type);
  const waitEv = async (id, n, what) => {
    await waitFor(() => orphanEv(id).length >= n, 5000 * SLOW, what, () => `events for ${id}: ${orphanEv(id).join(' ')}`);
    check(true, what);
  };
  // Moving a cell (YNotebook: delete + insert of a clone, one transaction) orphans nothing.
  B.model.moveCell(0, 3);
  await waitFor(() => A.model.cells.at(-1)?.id === 'c1', 5000 * SLOW, 'the move reaches alice');
  B.model.undoManager.stopCapturing();
  await sleep(300 * SLOW);
  check(evB.events.every((x) => !/^thread\.(orphaned|attached)$/.test(x.type)), 'moving a cell with a thread sends no orphan/attach event');
  r = await bob('GET', `/api/comments/${tid}`);
  check(r.json.orphaned === false && r.json.cell_id === 'c1', 'the thread follows its moved cell');

  // Delete c2 through the room; undo brings it back.
  const i2 = B.model.cells.findIndex((c) => c.id === 'c2');
  B.model.deleteCell(i2);
  await waitEv(t2, 1, 'bob deletes c2 in the room: thread.orphaned on the stream');
  let ev = evB.events.find((x) => x.type === 'thread.orphaned' && x.thread.id === t2);
  check(ev.thread.orphaned === true && ev.thread.cell_id === 'c2', 'the orphaned event carries orphaned: true');
  r = await alice('GET', `/api/comments${Q}&orphaned=1`);
  check(r.status === 200 && r.json.threads.map((t) => t.id).join() === t2, `?orphaned=1 lists exactly the orphaned thread (${r.json.threads.map((t) => t.cell_id)})`);
  r = await alice('POST', `/api/comments${Q}`, { cell_id: 'c2', body: 'late' });
  check(r.status === 404 && r.json?.reason === 'cell', `a new thread on the deleted cell -> 404 cell (${r.status})`);
  r = await alice('POST', `/api/comments/${t2}/replies`, { body: 'where did it go?' });
  check(r.status === 201, 'replying to an orphaned thread is allowed');
  check((await alice('GET', `/api/comments/${t2}`)).json.orphaned === true, 'and it stays orphaned');
  B.model.undoManager.stopCapturing();
  B.model.undoManager.undo();
  await waitFor(() => cellA('c2'), 5000 * SLOW, 'undo brings c2 back to alice');
  await waitEv(t2, 2, 'undo of the delete (YNotebook undoManager): thread.attached');
  check(canon(orphanEv(t2)) === canon(['thread.orphaned', 'thread.attached']), 'orphaned then attached, once each');
  check((await alice('GET', `/api/comments/${t2}`)).json.orphaned === false, 'GET: attached again');

  // Delete c2 again, then re-insert a cell with the same id through the room.
  B.model.undoManager.stopCapturing();
  B.model.deleteCell(B.model.cells.findIndex((c) => c.id === 'c2'));
  await waitEv(t2, 3, 'deleting c2 again orphans the thread again');
  B.model.insertCell(0, { cell_type: 'code', id: 'c2', source: 'df.join(other, on="k")\n', metadata: {}, outputs: [], execution_count: null });
  await waitEv(t2, 4, 'a collaborator inserts a cell with the same id: thread.attached');
  check(cellA('c2')?.source.includes('on="k"'), 'alice has the re-inserted cell');

  // Delete c3 and save (the file no longer has it), then restore the file from outside.
  B.model.deleteCell(B.model.cells.findIndex((c) => c.id === 'c3'));
  await waitEv(t3, 1, 'bob deletes c3: its thread is orphaned');
  const sv = await B.save(1);
  check(sv.status === 'success', 'RAW save after the delete -> success');
  const onDisk = readNotebook(nbFile);
  check(!onDisk.cells.some((c) => c.id === 'c3'), 'the saved file has no c3');
  check(onDisk.cells.every((c) => !c.metadata?.tandem), 'without --embed-comments the saved file has no metadata.tandem');
  onDisk.cells.push({ id: 'c3', cell_type: 'code', metadata: {}, source: 'plot(df, legend=True)\n', outputs: [], execution_count: null });
  writeFileSync(nbFile, JSON.stringify(onDisk, null, 1));
  await waitFor(() => cellA('c3'), 8000 * SLOW, 'the outside restore of c3 reaches the room');
  await waitEv(t3, 2, 'an outside write restoring c3: thread.attached');
  check((await bob('GET', `/api/comments/${t3}`)).json.orphaned === false, 'GET: c3\'s thread attached');
  check((await bob('GET', `/api/comments${Q}&orphaned=1`)).json.threads.length === 0, 'no orphaned thread left');

  // ---- export / import -----------------------------------------------------------------------------
  // An orphaned thread for the export: delete c4 (bob's thread mentioning carol is on it).
  const t4 = (await alice('GET', `/api/comments${Q}&cell=c4`)).json.threads[0].id;
  B.model.deleteCell(B.model.cells.findIndex((c) => c.id === 'c4'));
  await waitEv(t4, 1, 'bob deletes c4: its thread is orphaned');
  const ex = await alice('GET', `/api/comments/export${Q}`);
  check(ex.status === 200 && ex.json?.version === 1 && ex.json.fileId === final.json.fileId && ex.json.threads.length === 4,
    `export -> 200 {version 1, fileId, 4 threads} (${ex.status}, ${ex.json?.threads?.length})`);
  const exT1 = ex.json.threads.find((t) => t.id === tid);
  check(exT1 && exT1.comments.some((c) => c.deleted) && exT1.comments[0].reactions['👍']?.join() === 'alice', 'the export holds deleted comments and reactions');
  check(ex.json.threads.find((t) => t.id === t4)?.orphaned === true, 'the export holds the orphaned thread');

  const copy = 'team/copy.ipynb', copyFile = join(relay.root, copy);
  writeFileSync(copyFile, JSON.stringify(makeNotebook([{ id: 'c1' }, { id: 'c2' }, { id: 'c3' }])));
  const evCopy = new EventStream(relay, copy, USERS[2].token);
  check(await evCopy.opened === 101, 'an event stream on the copy');
  const before = { bob: (await bob('GET', '/api/me/notifications')).json.notifications.length, carol: (await carol('GET', '/api/me/notifications')).json.notifications.length };
  r = await alice('POST', `/api/comments/import?path=${copy}`, ex.json);
  check(r.status === 403 && r.json?.reason === 'role', `import by an editor -> 403 role (${r.status} ${r.text})`);
  const badDoc = { threads: [ex.json.threads[0], { cell_id: 'c1', comments: [] }] };
  r = await admin('POST', `/api/comments/import?path=${copy}`, badDoc);
  check(r.status === 400 && /threads\[1\]/.test(r.json?.message ?? ''), `import with an invalid 2nd thread -> 400 naming threads[1] (${r.text})`);
  check((await admin('GET', `/api/comments?path=${copy}`)).json.threads.length === 0, 'the failed import wrote nothing');
  r = await admin('POST', `/api/comments/import?path=${copy}`, ex.json);
  check(r.status === 200 && r.json?.imported === 4, `import by the owner -> 200 {imported: 4} (${r.text})`);
  await waitFor(() => evCopy.events.length >= 4, 5000 * SLOW, 'one event per imported thread');
  check(canon(evCopy.types()) === canon(Array(4).fill('thread.created')), `the copy's stream: 4 x thread.created (${evCopy.types()})`);
  const imported = await allThreads(admin, copy);
  check(canon(imported.map(threadEssence)) === canon(ex.json.threads.map(threadEssence)),
    'imported threads keep cells, ranges, authors, bodies, times, deleted, reactions and resolve state');
  check(imported.every((t) => !ex.json.threads.some((x) => x.id === t.id)), 'imported threads get new ids');
  check(canon(imported.map((t) => [t.cell_id, t.orphaned])) === canon([['c1', false], ['c4', true], ['c2', false], ['c3', false]]),
    `in creation order; the thread whose cell the copy lacks (c4) arrives orphaned, the others attached (${imported.map((t) => t.cell_id + ':' + t.orphaned)})`);
  const after = { bob: (await bob('GET', '/api/me/notifications')).json.notifications.length, carol: (await carol('GET', '/api/me/notifications')).json.notifications.length };
  check(canon(after) === canon(before), 'the import sent no mention notifications');
  const ex2 = await admin('GET', `/api/comments/export?path=${copy}`);
  check(canon(ex2.json.threads.map(threadEssence)) === canon(ex.json.threads.map(threadEssence)), 'export of the copy = the original export (round trip)');
  // c4 appears in the copy from outside; a room opening it re-attaches the thread.
  writeFileSync(copyFile, JSON.stringify(makeNotebook([{ id: 'c1' }, { id: 'c2' }, { id: 'c3' }, { id: 'c4' }])));
  const C = await new RoomClient(relay, copy, { user: 'carol', token: USERS[2].token }).open();
  await waitFor(() => evCopy.events.some((x) => x.type === 'thread.attached'), 5000 * SLOW, 'opening the copy with c4 re-attaches the imported thread');
  check(imported.find((t) => t.cell_id === 'c4') && (await admin('GET', `/api/comments/${imported.find((t) => t.cell_id === 'c4').id}`)).json.orphaned === false,
    'the imported c4 thread is attached once the cell exists');
  C.close();

  A.close(); B.close();
  for (const s of [evB, evC, evOther, evCopy, noTok, noFile]) s.close();
  await relay.stop();
  relay = null;

  // ---- --embed-comments ---------------------------------------------------------------------------
  relay2 = await startRelay({ args: ['--users', usersFile(USERS), '--embed-comments'] });
  const embFile = join(relay2.root, 'emb.ipynb');
  writeFileSync(embFile, JSON.stringify(makeNotebook([{ id: 'e1', source: 'a = 1' }, { id: 'e2', source: 'b = 2' },
    { id: 'e3', source: 'c = 3', metadata: { tandem: { comments: [{ id: 'stale' }], keep: 1 }, tags: ['x'] } }])));
  const al2 = as(relay2, USERS[0].token), bo2 = as(relay2, USERS[1].token);
  r = await al2('POST', '/api/comments?path=emb.ipynb', { cell_id: 'e1', body: 'first' });
  check(r.status === 201, 'embed relay: thread on e1');
  const te1 = r.json.id;
  await bo2('POST', `/api/comments/${te1}/replies`, { body: 'second' });
  await bo2('POST', `/api/comments/${te1}/resolve`);
  const te2 = (await al2('POST', '/api/comments?path=emb.ipynb', { cell_id: 'e2', body: 'on e2' })).json.id;
  const D = (await new RoomClient(relay2, 'emb.ipynb', { user: 'alice', token: USERS[0].token }).open());
  D.model.deleteCell(D.model.cells.findIndex((c) => c.id === 'e2'));
  await waitFor(async () => (await al2('GET', `/api/comments/${te2}`)).json.orphaned === true, 5000 * SLOW, 'e2\'s thread orphaned');
  D.model.cells[0].updateSource(0, 0, '-- edited\n');
  await sleep(100);
  const s2 = await D.save(7);
  check(s2.status === 'success', 'embed relay: RAW save -> success');
  const emb = readNotebook(embFile);
  const m1 = emb.cells.find((c) => c.id === 'e1')?.metadata?.tandem?.comments;
  const want1 = (await al2('GET', `/api/comments/${te1}`)).json;
  check(Array.isArray(m1) && m1.length === 1 && m1[0].id === te1 && m1[0].comments.map((c) => c.body).join() === 'first,second' && m1[0].resolved === true,
    `e1's metadata.tandem.comments holds its thread (resolved, 2 comments): ${JSON.stringify(m1)?.slice(0, 200)}`);
  check(canon(threadEssence(m1[0])) === canon(threadEssence(want1)), 'the embedded thread is the thread the API returns');
  const e3 = emb.cells.find((c) => c.id === 'e3');
  check(e3 && !('comments' in (e3.metadata.tandem ?? {})) && e3.metadata.tandem?.keep === 1 && e3.metadata.tags?.[0] === 'x',
    `a stale tandem.comments on a cell without threads is removed, other keys kept (${JSON.stringify(e3?.metadata)})`);
  check(!emb.cells.some((c) => c.id === 'e2') && !JSON.stringify(emb).includes(te2), 'the orphaned thread is written nowhere');
  check([].concat(emb.cells.find((c) => c.id === 'e1').source).join('').startsWith('-- edited'), 'the save wrote the edit');
  await sleep(1600 * SLOW);   // longer than file_poll_interval: a merge of the file would show now
  check(!JSON.stringify(D.model.toJSON()).includes(te1) && D.model.cells.find((c) => c.id === 'e1').getMetadata().tandem === undefined,
    'the shared document never gets the embedded threads (not even after a poll)');
  const E = await new RoomClient(relay2, 'emb.ipynb', { user: 'bob', token: USERS[1].token }).open();
  check(E.model.cells.find((c) => c.id === 'e1').getMetadata().tandem === undefined, 'a new client\'s document has no embedded threads either');
  D.close(); E.close();
  await relay2.stop();
  relay2 = null;
  softFinish();
});
