// test_roles.mjs (rooms_roles): the security matrix of issue 6 with real clients. Subjects:
//   own   owner on the folder team/           ed    editor on team/
//   com   commenter on team/ (granted with the `tandem-relay grant` CLI while the relay runs)
//   view  viewer on team/ (and editor on sandbox/)   vnd  viewer on team/ with no-download
//   nobody  no grant at all (grants exist, so: no access)
// and the server token's user (tandem, owner everywhere) as the administrator. Actions:
//   edit the document (y-websocket + YNotebook: the update reaches the others, or it is dropped
//   and the client is told {"type":"permission","readonly":true}), execute (@jupyterlab/services
//   on the kernel websocket; POST /api/kernels/ID/execute; interrupt/restart; sessions), save (RAW
//   save; PUT /api/contents), rename (PATCH), delete (DELETE), download (GET ?content=1; comment
//   export), comment, resolve, grant (POST /api/admin/grants), audit (GET /api/admin/audit).
// Every refusal is checked to have changed nothing: file bytes, the shared document, the thread
// list, the grants list, the kernel's state. Then: impersonation through awareness (the others
// and GET /api/collaboration/presence see the real identity), and token guessing (5 wrong tokens
// from one address -> 429 even for a correct token, for a while; audit `auth_failed`).
// Findings that should not hide the rest are soft checks: they are all reported, and fail the test
// at the end.
import { writeFileSync, readFileSync, existsSync, mkdirSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import './skip.mjs';   // exits 77 first when the relay or node_modules is missing
if (!existsSync(join(dirname(fileURLToPath(import.meta.url)), 'node_modules/@jupyterlab/services/package.json'))) {
  console.log('SKIP: @jupyterlab/services is not installed in tests/rooms (run npm ci there)');
  process.exit(77);
}
const { startRelay, check, watchdog, main, sleep, waitFor, RoomClient, rawRoom, closedWithin, makeNotebook,
  canon, Y, WebSocket, RELAY, SLOW } = await import('./rooms.mjs');
const { usersFile, as, EventStream, captureRaw, softCheck, softFinish } = await import('./collab6.mjs');
const { ServerConnection, KernelManager } = await import('@jupyterlab/services');

let relay;
watchdog(58_000 * SLOW, () => relay);

const SUBJECTS = ['own', 'ed', 'com', 'view', 'vnd', 'nobody'];
const TOKENS = Object.fromEntries([...SUBJECTS, 'victim'].map((u) => [u, `${u}-secret-token-${u.length}`]));
const EDITS = new Set(['own', 'ed']);                      // edit, execute, save, rename, delete
const COMMENTS = new Set(['own', 'ed', 'com']);            // comment, resolve
const READS = new Set(['own', 'ed', 'com', 'view', 'vnd']);
const DOWNLOADS = new Set(['own', 'ed', 'com', 'view']);
const NB = 'team/nb.ipynb';

await main(async () => {
  const users = [...SUBJECTS, 'victim'].map((u) => ({ token: TOKENS[u], username: u, name: u.toUpperCase() }));
  relay = await startRelay({ args: ['--users', usersFile(users)] });
  for (const d of ['team', 'sandbox']) mkdirSync(join(relay.root, d));
  const file = (p) => join(relay.root, p);
  writeFileSync(file(NB), JSON.stringify(makeNotebook([{ id: 'c1', source: '-- shared\n' }, { id: 'c2', source: 'return 40 + 2' }]), null, 1));
  writeFileSync(file('team/data.csv'), 'a,b\n1,2\n');
  writeFileSync(file('team/notes.txt'), 'original notes\n');
  for (const u of SUBJECTS) { writeFileSync(file(`team/ren-${u}.txt`), `rename me ${u}\n`); writeFileSync(file(`team/del-${u}.txt`), `delete me ${u}\n`); }
  const admin = as(relay, relay.token);
  const api = Object.fromEntries(SUBJECTS.map((u) => [u, as(relay, TOKENS[u])]));

  // ---- grants ----------------------------------------------------------------------------------------
  // Before any grant everyone is an editor: nobody can read the notebook now.
  check((await api.nobody('GET', `/api/contents/${NB}?content=0`)).status === 200, 'before any grant, a user without a grant can read (open role: editor)');
  for (const [path, username, role, nd] of [['team', 'own', 'owner'], ['team', 'ed', 'editor'], ['team', 'view', 'viewer'],
    ['sandbox', 'view', 'editor'], ['team', 'vnd', 'viewer', true]]) {
    const r = await admin('POST', '/api/admin/grants', { path, username, role, ...(nd && { no_download: true }) });
    check(r.status === 204, `admin grants ${role}${nd ? ' + no_download' : ''} on ${path} to ${username} -> 204 (${r.status} ${r.text})`);
  }
  const cli = spawnSync(RELAY, ['grant', 'team', 'com', 'commenter', '--root', relay.root], { encoding: 'utf8', timeout: 20000 });
  check(cli.status === 0, `tandem-relay grant team com commenter (CLI, relay running) exits 0 (${cli.stderr.trim()})`);
  await waitFor(async () => (await api.com('GET', `/api/contents/${NB}?content=0`)).status === 200, 12000 * SLOW, 'the relay picks up the CLI grant');
  check(true, 'the running relay picked up the CLI grant');
  check((await api.nobody('GET', `/api/contents/${NB}?content=0`)).status === 404, 'after the first grant, a user without a grant gets 404');
  const grantsOf = async () => canon((await admin('GET', '/api/admin/grants')).json);
  const grants0 = await grantsOf();
  const gl = JSON.parse(grants0).grants;
  check(gl.length === 6 && gl.some((g) => g.username === 'vnd' && g.no_download === true && g.role === 'viewer') &&
    gl.some((g) => g.username === 'com' && g.path === 'team' && g.role === 'commenter'), `GET /api/admin/grants lists the 6 grants (${gl.map((g) => `${g.path}:${g.username}:${g.role}`)})`);

  // ---- a kernel session on the notebook (the administrator's) ---------------------------------------
  const sess = await admin('POST', '/api/sessions', { path: NB, type: 'notebook', name: 'nb', kernel: { name: 'tandem-lua' } });
  check(sess.status === 201 && sess.json?.kernel?.id, `admin starts a session on ${NB} with tandem-lua (${sess.status})`);
  const K = sess.json.kernel.id, S = sess.json.id;

  // ---- rooms: everyone with a role opens the notebook -------------------------------------------------
  const sessionInfo = (await admin('PUT', `/api/collaboration/session/${NB}`, { format: 'json', type: 'notebook' })).json;
  const client = {};
  for (const u of ['own', 'ed', 'com', 'view', 'vnd']) {
    client[u] = captureRaw(await new RoomClient(relay, NB, { user: u, token: TOKENS[u] }).open({ wait: false }));
  }
  await Promise.all(Object.values(client).map((c) => c.synced()));
  check(true, 'owner, editor, commenter, viewer and viewer+no-download all open the room and sync');
  const readonlyMsg = (c) => c.raw.filter((m) => m.type === 'permission' && m.readonly === true).length;
  await sleep(200 * SLOW);
  for (const u of Object.keys(client)) {
    const n = readonlyMsg(client[u]);
    check(EDITS.has(u) ? n === 0 : n === 1, `${u}: ${EDITS.has(u) ? 'no read-only message' : 'told {"type":"permission","readonly":true} exactly once'} (got ${n})`);
  }
  const sNobody = await api.nobody('PUT', `/api/collaboration/session/${NB}`, { format: 'json', type: 'notebook' });
  check(sNobody.status === 404, `nobody: session PUT -> 404 (${sNobody.status})`);
  const rn = rawRoom(`${relay.roomUrl()}/json:notebook:${sessionInfo.fileId}?` + new URLSearchParams({ sessionId: sessionInfo.sessionId, token: TOKENS.nobody }));
  const rnOpen = await rn.opened;
  const rnClosed = rnOpen === 101 ? await closedWithin(rn) : { code: rnOpen };
  check(rnClosed.code === 4403 || rnOpen === 403 || rnOpen === 404, `nobody: the room socket (knowing fileId and sessionId) is refused (${rnOpen}, close ${rnClosed.code})`);
  check(!rn.frames.some((f) => f.type === 'sync'), 'nobody received no document data');

  // ---- edit + RAW save ----------------------------------------------------------------------------------
  const O = client.own;
  const src = (c) => c.model.cells.find((x) => x.id === 'c1').source;
  const appendMark = (c, mark) => { const cell = c.model.cells.find((x) => x.id === 'c1'); cell.updateSource(cell.source.length, cell.source.length, mark); };
  const diskNow = () => readFileSync(file(NB));
  appendMark(O, '-- dirty\n');    // an unsaved change: a save that went through would change the file
  await waitFor(() => Object.values(client).every((c) => src(c).includes('-- dirty')), 5000 * SLOW, 'the owner\'s edit reaches everyone');
  check(true, 'the owner\'s edit reaches everyone (viewers included)');
  const bytes0 = diskNow();
  let saveId = 10;
  for (const u of ['com', 'view', 'vnd']) {
    appendMark(client[u], `-- by ${u}\n`);
    const sv = await client[u].save(++saveId);   // same socket: the relay has handled the edit before it answers
    check(sv.status === 'failed', `${u}: RAW save -> failed (${JSON.stringify(sv)})`);
    check(Buffer.compare(diskNow(), bytes0) === 0, `${u}: the file is unchanged`);
  }
  appendMark(O, '-- barrier\n');
  await waitFor(() => Object.values(client).every((c) => src(c).includes('-- barrier')), 5000 * SLOW, 'a later owner edit reaches everyone');
  for (const u of ['com', 'view', 'vnd']) {
    const others = Object.keys(client).filter((x) => x !== u);
    check(others.every((x) => !src(client[x]).includes(`-- by ${u}`)), `${u}: the edit was dropped (nobody else has it)`);
  }
  for (const u of ['ed', 'own']) {
    appendMark(client[u], `-- by ${u}\n`);
    await waitFor(() => Object.values(client).every((c) => src(c).includes(`-- by ${u}`)), 5000 * SLOW, `${u}'s edit reaches everyone`);
    check(true, `${u}: the edit is applied and seen by everyone (viewers included)`);
    const sv = await client[u].save(++saveId);
    const disk = JSON.parse(diskNow().toString()).cells[0].source;
    check(sv.status === 'success' && [].concat(disk).join('').includes(`-- by ${u}`) && [].concat(disk).join('').includes('-- dirty'), `${u}: RAW save -> success, the file has the edit`);
  }
  const savedText = diskNow().toString();
  check(['com', 'view', 'vnd'].every((u) => !savedText.includes(`-- by ${u}`)), 'the saved file holds none of the refused edits');
  const docAfterEdits = canon(O.model.toJSON());
  check(['ed', 'com', 'view', 'vnd'].every((u) => !EDITS.has(u) || canon(client[u].model.toJSON()) === docAfterEdits), 'editors converge on the same document');

  // ---- execute -------------------------------------------------------------------------------------------
  const settings = (tok) => ServerConnection.makeSettings({ baseUrl: relay.base, wsUrl: relay.wsBase, token: tok, appendToken: true, WebSocket });
  async function runCode(tok, code) {
    const km = new KernelManager({ serverSettings: settings(tok) });
    const kc = km.connectTo({ model: { id: K, name: 'tandem-lua' } });
    try {
      let result = null;
      const f = kc.requestExecute({ code });
      f.onIOPub = (m) => { if (m.header.msg_type === 'execute_result') result = m.content.data['text/plain']; };
      const reply = await Promise.race([f.done, sleep(15000 * SLOW).then(() => null)]);
      return { status: reply?.content?.status ?? 'timeout', result };
    } finally { kc.dispose(); km.dispose(); }
  }
  const kernelWs = async (tok) => {
    const ws = new WebSocket(`${relay.wsBase}api/kernels/${K}/channels?` + new URLSearchParams({ session_id: 'probe', token: tok }), ['v1.kernel.websocket.jupyter.org']);
    const st = await new Promise((ok) => { ws.on('open', () => ok(101)); ws.on('unexpected-response', (_q, res) => ok(res.statusCode)); ws.on('error', () => ok(-1)); });
    try { ws.close(); } catch { /* closed */ }
    return st;
  };
  const documentId = `json:notebook:${sessionInfo.fileId}`;
  const c2count = () => O.model.cells.find((x) => x.id === 'c2').execution_count;
  let runs = 0;
  for (const u of SUBJECTS) {
    if (EDITS.has(u)) {
      const r = await runCode(TOKENS[u], 'counter = (counter or 0) + 1\nreturn counter');
      runs++;
      check(r.status === 'ok' && r.result === String(runs), `${u}: executes on the kernel through @jupyterlab/services (${r.status}, counter ${r.result})`);
      const before = c2count();
      const x = await api[u]('POST', `/api/kernels/${K}/execute`, { cell_id: 'c2', document_id: documentId });
      check(x.status === 200 && x.json?.status === 'ok', `${u}: server-side execute of c2 -> 200 ok (${x.status} ${x.text})`);
      await waitFor(() => c2count() === x.json.execution_count && c2count() !== before, 5000 * SLOW, `${u}: the execution reaches the document`);
    } else {
      const st = await kernelWs(TOKENS[u]);
      check(st === 403 || st === 404, `${u}: the kernel websocket is refused (${st})`);
      const before = c2count();
      const x = await api[u]('POST', `/api/kernels/${K}/execute`, { cell_id: 'c2', document_id: documentId });
      check(x.status === 403 || x.status === 404, `${u}: server-side execute -> ${x.status} (refused)`);
      for (const what of ['interrupt', 'restart']) {
        const y = await api[u]('POST', `/api/kernels/${K}/${what}`);
        check(y.status === 403 || y.status === 404, `${u}: POST /api/kernels/K/${what} -> ${y.status} (refused)`);
      }
      const d = await api[u]('DELETE', `/api/kernels/${K}`);
      check(d.status === 403 || d.status === 404, `${u}: DELETE /api/kernels/K -> ${d.status} (refused)`);
      const n = await api[u]('POST', '/api/kernels', { name: 'tandem-lua' });
      check(n.status === 403 || n.status === 404, `${u}: POST /api/kernels (a new kernel at the root) -> ${n.status} (refused)`);
      await sleep(50);
      check(c2count() === before, `${u}: the document's c2 is unchanged`);
    }
  }
  const probe = await runCode(TOKENS.own, 'return counter');
  check(probe.result === String(runs), `the kernel ran exactly the ${runs} allowed executions and was not restarted (counter ${probe.result})`);
  check((await admin('GET', `/api/kernels/${K}`)).status === 200, 'the kernel is alive');

  // Sessions: a shared kernel must not be taken over, moved or shut down by those who may not execute.
  const sessBefore = canon((await admin('GET', `/api/sessions/${S}`)).json);
  const nl = await api.nobody('GET', '/api/sessions');
  softCheck(nl.status !== 200 || !JSON.stringify(nl.json).includes(NB), `nobody: GET /api/sessions does not reveal ${NB} (got ${nl.status} ${nl.text.slice(0, 120)})`);
  const hij = await api.view('POST', '/api/sessions', { path: 'sandbox/mine.ipynb', type: 'notebook', name: 'mine', kernel: { id: K } });
  softCheck(hij.status === 403 || hij.status === 404 || hij.status === 400,
    `view (editor on sandbox/, viewer on team/): POST /api/sessions {path: sandbox/mine.ipynb, kernel: {id: the team's kernel}} is refused (got ${hij.status})`);
  if (hij.status === 201) {
    const st = await kernelWs(TOKENS.view);
    softCheck(st === 403, `view: the team's kernel websocket stays refused after that (got ${st})`);
    await admin('DELETE', `/api/sessions/${hij.json.id}`).catch(() => {});
  }
  for (const u of ['com', 'view', 'vnd', 'nobody']) {
    const p = await api[u]('PATCH', `/api/sessions/${S}`, { path: 'sandbox/moved.ipynb' });
    softCheck(p.status === 403 || p.status === 404, `${u}: PATCH /api/sessions/S (move the team's session) is refused (got ${p.status})`);
    if (p.status === 200) await admin('PATCH', `/api/sessions/${S}`, { path: NB });
  }
  // The session DELETE: a refused one must leave the session and its kernel (a hijack session above
  // has been removed, so a wrongly accepted delete would shut the kernel down).
  const dl = await api.nobody('DELETE', `/api/sessions/${S}`);
  softCheck(dl.status === 403 || dl.status === 404, `nobody: DELETE /api/sessions/S (the team's session) is refused (got ${dl.status})`);
  const sessAfter = await admin('GET', `/api/sessions/${S}`);
  softCheck(sessAfter.status === 200 && canon(sessAfter.json) === sessBefore, `the team's session is unchanged (${sessAfter.status})`);

  // ---- contents: save (PUT), rename (PATCH), delete (DELETE), download ------------------------------------
  for (const u of SUBJECTS) {
    const exp = EDITS.has(u) ? 200 : READS.has(u) ? 403 : 404;
    const before = readFileSync(file('team/notes.txt'));
    const r = await api[u]('PUT', '/api/contents/team/notes.txt', { type: 'file', format: 'text', content: `notes by ${u}\n` });
    check(r.status === exp, `${u}: PUT /api/contents/team/notes.txt -> ${exp} (got ${r.status})`);
    const after = readFileSync(file('team/notes.txt'), 'utf8');
    check(exp === 200 ? after === `notes by ${u}\n` : Buffer.compare(readFileSync(file('team/notes.txt')), before) === 0, `${u}: the file ${exp === 200 ? 'has the new content' : 'is unchanged'}`);

    const rr = await api[u]('PATCH', `/api/contents/team/ren-${u}.txt`, { path: `team/renamed-${u}.txt` });
    check(rr.status === exp, `${u}: PATCH (rename) -> ${exp} (got ${rr.status})`);
    check(exp === 200 ? !existsSync(file(`team/ren-${u}.txt`)) && readFileSync(file(`team/renamed-${u}.txt`), 'utf8') === `rename me ${u}\n`
      : readFileSync(file(`team/ren-${u}.txt`), 'utf8') === `rename me ${u}\n` && !existsSync(file(`team/renamed-${u}.txt`)), `${u}: ${exp === 200 ? 'moved' : 'nothing moved'}`);

    const dd = await api[u]('DELETE', `/api/contents/team/del-${u}.txt`);
    const expD = EDITS.has(u) ? 204 : exp;
    check(dd.status === expD, `${u}: DELETE -> ${expD} (got ${dd.status})`);
    check(existsSync(file(`team/del-${u}.txt`)) === (expD !== 204), `${u}: the file ${expD === 204 ? 'is gone' : 'is still there'}`);

    const expG = DOWNLOADS.has(u) ? 200 : READS.has(u) ? 403 : 404;
    const g = await api[u]('GET', '/api/contents/team/data.csv?content=1&format=text');
    check(g.status === expG && (expG !== 200 || g.json?.content === 'a,b\n1,2\n'), `${u}: download (GET ?content=1) -> ${expG} (got ${g.status})`);
    if (expG === 403) check(g.json?.reason === 'no-download' && !g.text.includes('1,2'), `${u}: 403 no-download, no bytes in the answer`);
    const gn = await api[u]('GET', `/api/contents/${NB}`);
    check(gn.status === expG, `${u}: GET /api/contents/${NB} (content by default) -> ${expG} (got ${gn.status})`);
    const meta = await api[u]('GET', '/api/contents/team/data.csv?content=0');
    check(meta.status === (READS.has(u) ? 200 : 404), `${u}: GET ?content=0 (the model, no bytes) -> ${READS.has(u) ? 200 : 404} (got ${meta.status})`);
  }
  const renOwnerOut = await api.own('PATCH', '/api/contents/team/renamed-own.txt', { path: 'sandbox/stolen.txt' });
  check(renOwnerOut.status === 404 && existsSync(file('team/renamed-own.txt')) && !existsSync(file('sandbox/stolen.txt')),
    `own (owner of team/, nothing on sandbox/): renaming out of team/ into sandbox/ -> 404, nothing moved (got ${renOwnerOut.status})`);

  // ---- comments: create, resolve, export -----------------------------------------------------------------
  const Q = `?path=${encodeURIComponent(NB)}`;
  const t0 = await admin('POST', `/api/comments${Q}`, { cell_id: 'c1', body: 'the admin asks' });
  check(t0.status === 201, 'admin opens a thread');
  const threadCount = async () => (await admin('GET', `/api/comments${Q}&limit=500`)).json.threads.length;
  for (const u of SUBJECTS) {
    const expC = COMMENTS.has(u) ? 201 : READS.has(u) ? 403 : 404;
    const n0 = await threadCount();
    const c = await api[u]('POST', `/api/comments${Q}`, { cell_id: 'c2', body: `comment by ${u}` });
    check(c.status === expC, `${u}: comment -> ${expC} (got ${c.status} ${c.text.slice(0, 80)})`);
    check(await threadCount() === n0 + (expC === 201 ? 1 : 0), `${u}: ${expC === 201 ? 'one more thread' : 'the thread list is unchanged'}`);
    const rp = await api[u]('POST', `/api/comments/${t0.json.id}/replies`, { body: `reply by ${u}` });
    check(rp.status === expC, `${u}: reply -> ${expC} (got ${rp.status})`);
    const rc = await api[u]('POST', `/api/comments/${t0.json.id}/comments/${t0.json.comments[0].id}/reactions`, { emoji: '👀' });
    check(rc.status === (COMMENTS.has(u) ? 200 : expC), `${u}: react -> ${COMMENTS.has(u) ? 200 : expC} (got ${rc.status})`);
    const expR = COMMENTS.has(u) ? 200 : READS.has(u) ? 403 : 404;
    const rs = await api[u]('POST', `/api/comments/${t0.json.id}/resolve`);
    check(rs.status === expR, `${u}: resolve -> ${expR} (got ${rs.status})`);
    const st = (await admin('GET', `/api/comments/${t0.json.id}`)).json;
    check(st.resolved === (expR === 200) && (expR !== 200 || st.resolved_by === u), `${u}: the thread is ${expR === 200 ? 'resolved by ' + u : 'still open'}`);
    if (expR === 200) {
      const ro = await api[u]('POST', `/api/comments/${t0.json.id}/reopen`);
      check(ro.status === 200, `${u}: reopen -> 200`);
    } else {
      const ro = await api[u]('POST', `/api/comments/${t0.json.id}/reopen`);
      check(ro.status === expR, `${u}: reopen -> ${expR} (got ${ro.status})`);
    }
    const lst = await api[u]('GET', `/api/comments${Q}`);
    check(lst.status === (READS.has(u) ? 200 : 404), `${u}: list threads -> ${READS.has(u) ? 200 : 404} (got ${lst.status})`);
    const one = await api[u]('GET', `/api/comments/${t0.json.id}`);
    check(one.status === (READS.has(u) ? 200 : 404), `${u}: GET a thread by id -> ${READS.has(u) ? 200 : 404} (got ${one.status})`);
    const ex = await api[u]('GET', `/api/comments/export${Q}`);
    const expX = DOWNLOADS.has(u) ? 200 : READS.has(u) ? 403 : 404;
    check(ex.status === expX && (expX !== 403 || ex.json?.reason === 'no-download'), `${u}: comment export -> ${expX} (got ${ex.status} ${ex.json?.reason ?? ''})`);
  }

  // ---- grant and audit -------------------------------------------------------------------------------------
  for (const u of SUBJECTS) {
    const before = await grantsOf();
    const g = await api[u]('POST', '/api/admin/grants', { path: NB, username: 'victim', role: 'editor' });
    const exp = u === 'own' ? 204 : 403;
    check(g.status === exp, `${u}: POST /api/admin/grants on ${NB} -> ${exp} (got ${g.status})`);
    if (exp === 204) {
      const now = JSON.parse(await grantsOf()).grants;
      check(now.some((x) => x.username === 'victim' && x.path === NB && x.role === 'editor' && x.granted_by === 'own'), 'own\'s grant is listed, granted_by own');
      const v = as(relay, TOKENS.victim);
      check((await v('GET', `/api/contents/${NB}?content=0`)).status === 200, 'victim now sees the notebook');
      const rv = await api.own('DELETE', `/api/admin/grants?path=${encodeURIComponent(NB)}&username=victim`);
      check(rv.status === 204 && await grantsOf() === before, 'own revokes it: the grants list is back to what it was');
      const root = await api.own('POST', '/api/admin/grants', { path: '', username: 'victim', role: 'viewer' });
      const other = await api.own('POST', '/api/admin/grants', { path: 'sandbox', username: 'victim', role: 'viewer' });
      check(root.status === 403 && other.status === 403 && await grantsOf() === before, `own (owner of team/ only) cannot grant on the root (${root.status}) or on sandbox/ (${other.status})`);
    } else {
      check(await grantsOf() === before, `${u}: the grants list is unchanged`);
      const list = await api[u]('GET', '/api/admin/grants?path=team');
      check(list.status === 403, `${u}: GET /api/admin/grants?path=team -> 403 (got ${list.status})`);
      const rv = await api[u]('DELETE', `/api/admin/grants?path=team&username=ed`);
      check(rv.status === 403 && await grantsOf() === before, `${u}: revoking ed's grant -> 403, nothing changed (got ${rv.status})`);
    }
    const a = await api[u]('GET', '/api/admin/audit');
    check(a.status === 403, `${u}: GET /api/admin/audit -> 403 (owners of the root only; got ${a.status})`);
  }
  const audit = await admin('GET', '/api/admin/audit?limit=1000');
  check(audit.status === 200 && Array.isArray(audit.json?.entries), 'admin (owner of the root): GET /api/admin/audit -> 200');
  const has = (action, username, pred = () => true) => audit.json.entries.some((e) => e.action === action && (username === undefined || e.username === username) && pred(e));
  for (const [action, username, pred, what] of [
    ['grant', 'tandem', (e) => e.path === 'team' && e.detail === 'ed', 'the admin granted ed on team'],
    ['grant', 'own', (e) => e.path === NB && e.detail === 'victim', 'own granted victim'],
    ['revoke', 'own', (e) => e.detail === 'victim', 'own revoked victim'],
    ['open', 'view', (e) => e.path === NB, 'view opened the notebook'],
    ['download', 'view', (e) => e.path === 'team/data.csv', 'view downloaded data.csv'],
    ['denied', 'vnd', (e) => e.path === 'team/data.csv', 'vnd\'s download was denied'],
    ['denied', 'nobody', () => true, 'nobody was denied something'],
    ['save', 'ed', () => true, 'ed saved'],
    ['rename', 'ed', () => true, 'ed renamed'],
    ['delete', 'own', () => true, 'own deleted'],
    ['execute', 'ed', () => true, 'ed executed (server-side)'],
  ]) softCheck(has(action, username, pred), `audit records ${action}: ${what}`);
  check(!has('save', 'com') && !has('rename', 'view') && !has('delete', 'vnd'), 'the audit shows no save/rename/delete by those refused');

  // ---- impersonation through awareness --------------------------------------------------------------------
  const C = client.com;
  const c2text = C.model.cells.find((x) => x.id === 'c2').ysource;
  C.model.awareness.setLocalStateField('user', { username: 'tandem', name: 'admin', display_name: 'Administrator', initials: 'AD', color: '#000' });
  C.model.awareness.setLocalStateField('cursors', [{ anchor: Y.relativePositionToJSON(Y.createRelativePositionFromTypeIndex(c2text, 2)),
    head: Y.relativePositionToJSON(Y.createRelativePositionFromTypeIndex(c2text, 2)), primary: true, empty: true }]);
  const seen = () => O.model.awareness.getStates().get(C.ydoc.clientID);
  await waitFor(() => seen()?.cursors?.length === 1, 5000 * SLOW, 'com\'s new awareness state reaches the owner');
  check(seen().user?.username === 'com' && seen().user?.name === 'COM', `the owner sees com's state as com, not "tandem/admin" (${JSON.stringify(seen().user)})`);
  check([...O.model.awareness.getStates().values()].every((s) => s.user?.username !== 'tandem'), 'no awareness state claims to be tandem');
  const pres = await api.own('GET', `/api/collaboration/presence?path=${encodeURIComponent(NB)}`);
  const doc = pres.json?.presence?.find((p) => p.path === NB);
  const names = doc?.users?.map((x) => x.username).sort() ?? [];
  check(pres.status === 200 && canon(names) === canon(['com', 'ed', 'own', 'view', 'vnd']), `presence lists the real users only (${names})`);
  const comP = doc.users.find((x) => x.username === 'com');
  check(comP.display_name === 'COM' && canon(comP.cells) === canon(['c2']) && comP.clients === 1, `presence: com is in cell c2, 1 client, display name COM (${JSON.stringify(comP)})`);
  check((await api.nobody('GET', `/api/collaboration/presence?path=${encodeURIComponent(NB)}`)).status === 404, 'nobody: presence of the notebook -> 404');
  const pAll = await api.nobody('GET', '/api/collaboration/presence');
  softCheck(pAll.status !== 200 || !JSON.stringify(pAll.json).includes(NB), `nobody: GET /api/collaboration/presence (unfiltered) does not reveal ${NB} or who is in it (got ${pAll.status} ${pAll.text.slice(0, 160)})`);
  C.close();
  await waitFor(async () => !(await api.own('GET', `/api/collaboration/presence?path=${encodeURIComponent(NB)}`)).json.presence[0].users.some((x) => x.username === 'com'), 5000 * SLOW, 'com leaves presence');
  check(true, 'com is removed from presence within seconds of leaving');

  // ---- role changes while connected ------------------------------------------------------------------------
  // ed is downgraded to viewer with the socket open; vnd loses every grant with its event stream open.
  const evV = new EventStream(relay, NB, TOKENS.vnd);
  check(await evV.opened === 101, 'vnd opens the notebook\'s comment event stream');
  check((await admin('POST', '/api/admin/grants', { path: 'team', username: 'ed', role: 'viewer' })).status === 204, 'admin downgrades ed to viewer on team/');
  check((await admin('DELETE', '/api/admin/grants?path=team&username=vnd')).status === 204, 'admin revokes vnd');
  appendMark(client.ed, '-- after downgrade\n');
  const sv = await client.ed.save(++saveId);
  softCheck(sv.status === 'failed', `ed (now viewer, socket opened as editor): RAW save -> failed (got ${sv.status})`);
  appendMark(O, '-- barrier 2\n');
  await waitFor(() => src(client.view).includes('-- barrier 2'), 5000 * SLOW, 'barrier 2 reaches view');
  softCheck(!src(O).includes('-- after downgrade'), 'ed (downgraded to viewer while connected): the edit is dropped');
  const tV = await api.own('POST', `/api/comments${Q}`, { cell_id: 'c1', body: 'secret after the revoke' });
  check(tV.status === 201, 'own comments after the revoke');
  const leaked = await evV.next((e) => e.thread?.id === tV.json.id, 1500 * SLOW);
  softCheck(!leaked, 'vnd (grant revoked): the open comment event stream does not deliver the new thread');
  const vRoom = client.vnd;
  softCheck(!src(vRoom).includes('-- barrier 2') || vRoom.closes.length > 0, 'vnd (grant revoked): the open room socket no longer receives the document');
  evV.close();

  // ---- token guessing ---------------------------------------------------------------------------------------
  for (const c of Object.values(client)) c.close();
  await sleep(100);
  const guess = async () => (await relay.api('GET', '/api/me', undefined, { Authorization: `token guess-${Math.random()}` })).status;
  const wrong = [];
  for (let i = 0; i < 5; i++) wrong.push(await guess());
  check(wrong.every((s) => s === 403), `5 wrong tokens -> 403 each (${wrong})`);
  check(await guess() === 429, 'a 6th guess at once -> 429 (not even compared)');
  // Each guess after a back-off ends is compared again, fails, and locks the address for twice as
  // long (1 s, 2 s, 4 s): escalate twice, so the lock-out below lasts about 4 s.
  const lock = [];
  for (let k = 0; k < 2; k++) {
    const t = Date.now();
    await waitFor(async () => (await guess()) === 403, 15000 * SLOW, `back-off ${k + 1} ends`);
    lock.push(Date.now() - t);
  }
  check(lock[0] >= 500 && lock[1] >= 1500 && lock[1] > lock[0], `the back-off doubles (${lock.join(' ms, ')} ms)`);
  const t1 = Date.now();
  const good = await api.ed('GET', '/api/me');
  check(good.status === 429, `then a correct token from the same address -> 429 (got ${good.status})`);
  const wsLimited = await kernelWs(TOKENS.own);
  check(wsLimited === 429, `a websocket upgrade with a correct token is refused too (got ${wsLimited})`);
  await waitFor(async () => (await api.ed('GET', '/api/me')).status === 200, 30000 * SLOW, 'the correct token works again after the back-off');
  check(Date.now() - t1 >= 2000, `the correct token works again after the back-off (${Date.now() - t1} ms), without being counted as a failure`);
  const au = await admin('GET', '/api/admin/audit?action=auth_failed&limit=100');
  check(au.status === 200 && au.json.entries.length >= 7 && au.json.entries.every((e) => e.action === 'auth_failed' && /127\.0\.0\.1|::1|localhost/.test(e.detail)),
    `the audit log holds >= 7 auth_failed entries (5 + 2 after back-offs) naming the address (${au.json?.entries?.length}: ${JSON.stringify(au.json?.entries?.[0])})`);

  await relay.stop();
  relay = null;
  softFinish();
});
