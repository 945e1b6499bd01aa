// test_tandem_cli.mjs: the `tandem` command-line client (clients/tandem.c) end to end against a
// real tandem-relay with two users (alice and bob, from --users). Every step runs the built binary
// and checks what it prints and what the relay then holds (read back over REST):
// - comment add / reply / resolve / reopen, and `comments list` in text and --json with its
//   filters (--unresolved, --cell, --mine, --mentions); a soft-deleted comment lists as [deleted];
// - pagination: 130 threads (the relay pages by 50) all come back, in order, through the cursor;
// - the inbox: alice's @bob reaches bob's inbox; --unread, --mark-read (then none unread), and
//   60 more mentions paged through;
// - presence: bob's y-websocket client (yjs + y-protocols, as JupyterLab's) with a cursor in cell
//   c1 and `current` in the global awareness shows in `tandem who`; gone after he disconnects;
// - errors: an unknown cell, an unknown thread, a wrong token, an oversized body -> exit 1 with the
//   relay's message and status; TANDEM_URL / TANDEM_TOKEN / JUPYTER_TOKEN from the environment.
// test_tandem_cli_bad.mjs covers hostile servers (garbage, huge or silent answers).
import { writeFileSync, mkdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import WebSocket from 'ws';
import * as Y from 'yjs';
import * as syncProtocol from 'y-protocols/sync';
import * as awarenessProtocol from 'y-protocols/awareness';
import * as encoding from 'lib0/encoding';
import * as decoding from 'lib0/decoding';
import { startRelay, check, skipUnlessReady, watchdog } from './relay.mjs';
import { run, as, skipUnlessCli } from './cli.mjs';

skipUnlessReady();
skipUnlessCli();
let relay;
const usersFile = join(process.env.TMPDIR || '/tmp', `tandem-cli-users-${process.pid}.json`);
const dog = watchdog(150_000, () => relay);
// Never leave a relay, its scratch root or the users file behind, whatever way the test ends.
process.on('exit', () => {
  if (relay?.proc.exitCode === null) relay.proc.kill('SIGKILL');
  if (relay) rmSync(relay.root, { recursive: true, force: true });
  rmSync(usersFile, { force: true });
});
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
async function until(cond, ms, what) {
  const t0 = Date.now();
  while (!(await cond())) {
    if (Date.now() - t0 > ms) throw new Error('timed out: ' + what);
    await sleep(50);
  }
}

const ALICE = 'alice-token-0123456789', BOB = 'bob-token-0123456789';
writeFileSync(usersFile, JSON.stringify([
  { token: ALICE, username: 'alice', name: 'Alice Liddell' },
  { token: BOB, username: 'bob', name: 'Bob Builder' }]));
relay = await startRelay({ args: ['--users', usersFile] });
const NB = 'work/analysis.ipynb';
mkdirSync(join(relay.root, 'work'));
writeFileSync(join(relay.root, NB), JSON.stringify({
  cells: [
    { cell_type: 'code', id: 'c1', metadata: {}, source: 'x = 1\ny = x + 1', outputs: [], execution_count: null },
    { cell_type: 'markdown', id: 'c2', metadata: {}, source: '# Results' }],
  metadata: {}, nbformat: 4, nbformat_minor: 5 }));
const alice = as(relay, ALICE), bob = as(relay, BOB);
const api = (method, path, body, token = ALICE) => relay.api(method, path, body, { Authorization: `token ${token}` });
const ok = (r, what) => { if (r.code !== 0 || r.signal) throw new Error(`${what}: exit ${r.code} ${r.signal || ''}\n${r.err}`); return r; };
const listJson = async (who, ...flags) => JSON.parse(ok(await who(['comments', 'list', NB, '--json', ...flags]), 'list --json').out);

try {
  // ---- a thread's life ----------------------------------------------------------------------
  let r = ok(await alice(['comment', 'add', NB, '--cell', 'c1', 'Is', 'this', 'off', 'by', 'one,', '@bob?']), 'comment add');
  const tid = r.out.trim();
  check(/^[0-9a-f-]{36}$/.test(tid), `comment add prints the new thread id (${tid})`);
  let t = (await api('GET', `/api/comments/${tid}`)).json;
  check(t?.cell_id === 'c1' && t.path === NB && t.comments.length === 1 && t.comments[0].author.username === 'alice' &&
        t.comments[0].body === 'Is this off by one, @bob?', 'the relay holds the thread: cell c1, alice, the words joined');

  r = ok(await bob(['reply', tid, '-'], { input: 'Yes: `y = x + 1` should be\n**x + 2**.\n' }), 'reply');
  const cid = r.out.trim();
  t = (await api('GET', `/api/comments/${tid}`)).json;
  check(t.comments.length === 2 && t.comments[1].id === cid && t.comments[1].author.username === 'bob' &&
        t.comments[1].body === 'Yes: `y = x + 1` should be\n**x + 2**.', 'reply from stdin: the new comment id is printed, Markdown kept');

  r = ok(await alice(['comments', 'list', NB]), 'list');
  check(r.out.startsWith(`thread ${tid}  cell c1  open\n`) && r.out.includes('\n  alice: Is this off by one, @bob?\n') &&
        r.out.includes('\n  bob: Yes: `y = x + 1` should be\n    **x + 2**.\n'), `text listing:\n${r.out}`);
  let j = await listJson(alice);
  check(j.threads.length === 1 && j.threads[0].id === tid && j.threads[0].comments.length === 2 && j.next === null,
        '--json listing: one thread, two comments');

  r = ok(await alice(['resolve', tid]), 'resolve');
  check(r.out === `${tid} resolved\n`, 'resolve prints it');
  t = (await api('GET', `/api/comments/${tid}`)).json;
  check(t.resolved === true && (t.resolved_by === 'alice' || t.resolved_by?.username === 'alice') && t.resolved_at, 'the relay recorded who resolved and when');
  r = ok(await bob(['comments', 'list', NB]), 'list');
  check(new RegExp(`^thread ${tid}  cell c1  resolved by alice at \\S+\\n`).test(r.out), 'listed as resolved by alice');
  r = ok(await bob(['comments', 'list', NB, '--unresolved']), 'list --unresolved');
  check(r.out === 'no comment threads\n', '--unresolved hides it');
  r = ok(await bob(['reopen', tid]), 'reopen');
  check(r.out === `${tid} reopened\n` && (await api('GET', `/api/comments/${tid}`)).json.resolved === false, 'reopen');
  j = await listJson(bob, '--unresolved');
  check(j.threads.length === 1 && j.threads[0].id === tid, '--unresolved shows it again');

  // Filters: a second thread, by bob on c2.
  const tid2 = ok(await bob(['comment', 'add', NB, '--cell', 'c2', 'Title', 'needs', 'a', 'date']), 'add 2').out.trim();
  j = await listJson(alice, '--cell', 'c2');
  check(j.threads.length === 1 && j.threads[0].id === tid2, '--cell c2: only the c2 thread');
  j = await listJson(alice, '--mine');
  check(j.threads.map((x) => x.id).join() === tid, '--mine (alice): only the thread she wrote in');
  j = await listJson(bob, '--mentions');
  check(j.threads.map((x) => x.id).join() === tid, '--mentions (bob): the thread that mentions him');

  // A soft-deleted comment.
  const del = await api('DELETE', `/api/comments/${tid}/comments/${cid}`, undefined, BOB);
  check(del.status === 204 || del.status === 200, `bob deletes his reply (${del.status})`);
  r = ok(await alice(['comments', 'list', NB, '--cell', 'c1']), 'list');
  check(r.out.includes('\n  bob: [deleted]\n') && !r.out.includes('x + 2'), 'a deleted comment lists as "bob: [deleted]"');

  // ---- the inbox ------------------------------------------------------------------------------
  r = ok(await bob(['inbox']), 'inbox');
  check(new RegExp(`^\\* #\\d+ mention from alice on ${NB} \\(thread ${tid}\\) at \\S+\\n {4}Is this off by one, @bob\\?\\n`).test(r.out) &&
        r.out.endsWith('1 unread\n'), `bob's inbox has alice's mention:\n${r.out}`);
  j = JSON.parse(ok(await bob(['inbox', '--unread', '--json']), 'inbox --json').out);
  check(j.unread === 1 && j.notifications.length === 1 && j.notifications[0].kind === 'mention' &&
        j.notifications[0].thread_id === tid && j.notifications[0].read === false, 'inbox --unread --json');
  r = ok(await alice(['inbox']), 'alice inbox');
  check(r.out === 'no notifications\n0 unread\n', 'alice (who mentioned nobody) has none');
  r = ok(await bob(['inbox', '--unread', '--mark-read']), 'inbox --mark-read');
  check(r.out.endsWith('1 unread\nmarked 1 read\n'), 'inbox --mark-read lists, then marks');
  j = JSON.parse(ok(await bob(['inbox', '--unread', '--json']), 'inbox --json').out);
  check(j.unread === 0 && j.notifications.length === 0, 'nothing unread afterwards');
  j = JSON.parse(ok(await bob(['inbox', '--json']), 'inbox --json').out);
  check(j.notifications.length === 1 && j.notifications[0].read === true, 'the notification is kept, read');

  // ---- pagination -----------------------------------------------------------------------------
  const made = [];
  for (let i = 0; i < 128; i++) {
    const c = await api('POST', '/api/comments', { path: NB, cell_id: 'c2', body: i < 60 ? `bulk ${i} for @bob` : `bulk ${i}` });
    if (c.status !== 201) throw new Error('bulk create: ' + c.status + ' ' + c.text);
    made.push(c.json.id);
  }
  j = await listJson(alice);
  const ids = j.threads.map((x) => x.id);
  check(ids.length === 130 && new Set(ids).size === 130 && made.every((id) => ids.includes(id)),
        `130 threads over pages of 50 all listed once (${ids.length})`);
  const page1 = (await api('GET', `/api/comments?path=${NB}`)).json;
  check(page1.threads.length < 130 && typeof page1.next === 'string', 'the relay did page (so the cursor was followed)');
  check(JSON.stringify(ids.slice(0, page1.threads.length)) === JSON.stringify(page1.threads.map((x) => x.id)), 'pages concatenated in order');
  r = ok(await alice(['comments', 'list', NB, '--cell', 'c2']), 'list c2');
  check((r.out.match(/^thread /gm) || []).length === 129, 'text listing shows all 129 c2 threads');
  j = JSON.parse(ok(await bob(['inbox', '--unread', '--json']), 'inbox --json').out);
  check(j.unread === 60 && j.notifications.length === 60 && new Set(j.notifications.map((n) => n.id)).size === 60,
        'inbox pages: 60 new mentions, each once');
  r = ok(await bob(['inbox', '--unread', '--mark-read']), 'inbox --mark-read');
  check(r.out.endsWith('60 unread\nmarked 60 read\n') && (await api('GET', '/api/me/notifications?unread=1', undefined, BOB)).json.unread === 0,
        'inbox --mark-read marks every listed page');

  // ---- presence -------------------------------------------------------------------------------
  r = ok(await alice(['who']), 'who');
  check(r.out === 'nobody is here\n', 'who: nobody yet');
  const room = await openRoom(BOB, NB);
  const cells = room.doc.getArray('cells');
  const c1 = cells.toArray().find((m) => m.get('id') === 'c1');
  check(c1 && c1.get('source') instanceof Y.Text, 'bob synced the notebook (cell c1 has a Y.Text source)');
  const pos = Y.relativePositionToJSON(Y.createRelativePositionFromTypeIndex(c1.get('source'), 3));
  room.aw.setLocalState({ user: { username: 'mallory', display_name: 'Not Bob' }, cursors: [{ anchor: pos, head: pos, primary: true, empty: true }] });
  const glob = await openRoom(BOB, null);
  glob.aw.setLocalState({ user: { username: 'bob' }, current: `notebook:${NB}` });
  await until(async () => (await alice(['who', NB])).out.includes('bob'), 10_000, 'bob appears in who');
  r = ok(await alice(['who', NB]), 'who NB');
  check(r.out === `${NB}: bob "Bob Builder" (cell c1)\n`, `who NOTEBOOK: "path: user (cell X)", identity from the token:\n${r.out}`);
  j = JSON.parse(ok(await alice(['who', NB, '--json']), 'who --json').out);
  const u = j.presence?.[0]?.users?.[0];
  check(j.presence.length === 1 && j.presence[0].path === NB && u?.username === 'bob' && JSON.stringify(u.cells) === '["c1"]' && u.clients === 1,
        'who --json: bob in c1, one client');
  await until(async () => (await alice(['who'])).out.includes('online: bob'), 10_000, 'global awareness');
  r = ok(await alice(['who']), 'who');
  check(r.out.includes(`${NB}: bob "Bob Builder" (cell c1)\n`) && r.out.includes(`online: bob (current notebook:${NB})\n`),
        `who: rooms and global awareness:\n${r.out}`);
  room.close();
  glob.close();
  await until(async () => (await alice(['who'])).out === 'nobody is here\n', 10_000, 'presence removed after disconnect');
  check(true, 'bob is gone from who within seconds of disconnecting');

  // ---- errors -----------------------------------------------------------------------------------
  r = await alice(['comment', 'add', NB, '--cell', 'no-such-cell', 'hi']);
  check(r.code === 1 && /HTTP 404: No cell with id no-such-cell/.test(r.err), `unknown cell -> exit 1: ${r.err.trim()}`);
  r = await alice(['reply', '00000000-0000-0000-0000-000000000000', 'hi']);
  check(r.code === 1 && /HTTP 404/.test(r.err), `unknown thread -> exit 1: ${r.err.trim()}`);
  r = await alice(['comments', 'list', 'work/missing.ipynb']);
  check(r.code === 1 && /HTTP 404/.test(r.err), `unknown notebook -> exit 1: ${r.err.trim()}`);
  r = await run(['--url', relay.base, '--token', 'wrong-token-123', 'inbox']);
  check(r.code === 1 && /HTTP 40[13]/.test(r.err), `wrong token -> exit 1: ${r.err.trim()}`);
  r = await alice(['reply', tid, '-'], { input: 'x'.repeat(70_000) });
  check(r.code === 1 && /HTTP 413/.test(r.err), `oversized body -> exit 1: ${r.err.trim()}`);
  check((await api('GET', `/api/comments/${tid}`)).json.comments.length === 2, 'and nothing was added');

  // ---- the environment ----------------------------------------------------------------------------
  r = await run(['comments', 'list', NB, '--cell', 'c1'], { env: { TANDEM_URL: relay.base, TANDEM_TOKEN: BOB } });
  check(r.code === 0 && r.out.startsWith(`thread ${tid}`), 'TANDEM_URL and TANDEM_TOKEN');
  r = await run(['inbox', '--json'], { env: { TANDEM_URL: relay.base.replace(/\/$/, ''), JUPYTER_TOKEN: BOB } });
  check(r.code === 0 && JSON.parse(r.out).notifications.length === 61, 'JUPYTER_TOKEN fallback, URL without the trailing slash');
} catch (e) {
  console.error('FAIL:', e?.stack || e);
  console.error('--- relay stderr (tail) ---\n' + relay.stderr().slice(-8000));
  relay.proc.kill('SIGKILL');
  rmSync(usersFile, { force: true });
  process.exit(1);
}

const st = await relay.stop();
rmSync(usersFile, { force: true });
check(st.code === 0, 'relay exits 0 on SIGTERM');
clearTimeout(dog);
process.exit(0);

// A y-websocket v1 client with yjs and y-protocols, as JupyterLab's collaboration client does:
// session PUT, then the room websocket; resolves once the first SyncStep2 arrived. path null opens
// the global awareness room.
async function openRoom(token, path) {
  const doc = new Y.Doc();
  const aw = new awarenessProtocol.Awareness(doc);
  let url;
  if (path) {
    const s = await api('PUT', `/api/collaboration/session/${path}`, { format: 'json', type: 'notebook' }, token);
    if (s.status !== 200 && s.status !== 201) throw new Error('session PUT: ' + s.status + ' ' + s.text);
    url = `${relay.wsBase}api/collaboration/room/json:notebook:${s.json.fileId}?sessionId=${s.json.sessionId}&token=${token}`;
  } else {
    url = `${relay.wsBase}api/collaboration/room/JupyterLab:globalAwareness?token=${token}`;
  }
  const ws = new WebSocket(url);
  ws.binaryType = 'arraybuffer';
  const send = (fill) => { const e = encoding.createEncoder(); fill(e); if (ws.readyState === 1) ws.send(encoding.toUint8Array(e)); };
  let synced, syncedP = new Promise((r) => { synced = r; });
  ws.on('message', (data) => {
    const dec = decoding.createDecoder(new Uint8Array(data));
    const type = decoding.readVarUint(dec);
    if (type === 0) {
      const e = encoding.createEncoder();
      encoding.writeVarUint(e, 0);
      const kind = syncProtocol.readSyncMessage(dec, e, doc, 'remote');
      if (encoding.length(e) > 1) ws.send(encoding.toUint8Array(e));
      if (kind === 1) synced();
    } else if (type === 1) {
      awarenessProtocol.applyAwarenessUpdate(aw, decoding.readVarUint8Array(dec), 'remote');
    }
  });
  doc.on('update', (u, origin) => { if (origin !== 'remote') send((e) => { encoding.writeVarUint(e, 0); syncProtocol.writeUpdate(e, u); }); });
  aw.on('update', ({ added, updated, removed }, origin) => {
    if (origin === 'remote') return;
    const changed = [...added, ...updated, ...removed];
    send((e) => { encoding.writeVarUint(e, 1); encoding.writeVarUint8Array(e, awarenessProtocol.encodeAwarenessUpdate(aw, changed)); });
  });
  await new Promise((res, rej) => { ws.once('open', res); ws.once('error', rej); });
  send((e) => { encoding.writeVarUint(e, 0); syncProtocol.writeSyncStep1(e, doc); });
  if (path) await Promise.race([syncedP, sleep(10_000).then(() => { throw new Error('room did not sync'); })]);
  return { doc, aw, ws, close: () => { aw.destroy(); ws.close(); } };
}
