// test_sync.mjs (rooms_sync): JupyterLab's collaboration protocol end to end with the real clients
// (y-websocket 1.5 WebsocketProvider + @jupyter/ydoc 4.2.0 YNotebook, as @jupyter/docprovider
// drives them).
// - session PUT: 201 the first time, then 200 with the same fileId and sessionId; 404 for a missing
//   file; 400 for a bad body; 403 without a token;
// - the server speaks first (SyncStep1), answers a step1 with the file's content;
// - 4–10 clients (TD_ROOMS_CLIENTS, default 6) make concurrent random edits (cell inserts, deletes,
//   moves as delete + insert, source edits, cell and notebook metadata, outputs, execution counts)
//   with random disconnects and reconnects; all converge, and a late joiner gets the same document;
// - nothing is written to disk while no client asks for autosave; a RAW save answers success,
//   writes exactly the shared content (nbformat-valid), and sets state.dirty=false and state.hash;
// - autosave: with a client whose awareness has autosave:true, an edit reaches the file by itself;
// - a text file room (text:file:{fileId}, Y.Text "source"): two editors converge and save.
// TD_ROOMS_SEED replays a run; TD_ROOMS_ROUNDS scales the edit count.
import { writeFileSync, readFileSync, statSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import './skip.mjs';   // exits 77 first when the relay or node_modules is missing
const { startRelay, check, watchdog, main, sleep, waitFor, RoomClient, waitConverged, rawRoom, syncFrame,
  makeNotebook, readNotebook, nbContent, nbformatErrors, docJSON, Y, YNotebook, rng, SEED, SLOW } = await import('./rooms.mjs');

let relay;
watchdog(170_000 * Math.min(SLOW, 1.05), () => relay);
const R = rng(SEED);
const NCLIENTS = Math.max(2, Math.min(10, Number(process.env.TD_ROOMS_CLIENTS || 6)));
const ROUNDS = Number(process.env.TD_ROOMS_ROUNDS || 40);
console.log(`seed ${SEED} (TD_ROOMS_SEED), ${NCLIENTS} clients, ${ROUNDS} edit rounds each`);

await main(async () => {
  relay = await startRelay({ args: ['--autosave-delay', '1', '--file-poll-interval', '1'] });
  const file = join(relay.root, 'sync.ipynb');
  const initial = makeNotebook([
    { id: 'seed-a', source: 'import math\nx = 1\n', outputs: [{ output_type: 'stream', name: 'stdout', text: 'hello\n' }], execution_count: 1 },
    { id: 'seed-b', cell_type: 'markdown', source: '# Title\n\nSome *text*.' },
    { id: 'seed-c', source: 'print(x)', metadata: { tags: ['keep'] } },
  ]);
  writeFileSync(file, JSON.stringify(initial, null, 1) + '\n');

  // ---- session PUT ------------------------------------------------------------------------------
  const s1 = await relay.session('sync.ipynb');
  check(s1.status === 201, `first session PUT -> 201 (got ${s1.status} ${s1.text})`);
  check(s1.json?.format === 'json' && s1.json?.type === 'notebook' && typeof s1.json?.fileId === 'string' && s1.json.fileId.length > 0
        && typeof s1.json?.sessionId === 'string' && s1.json.sessionId.length > 0, `session body {format,type,fileId,sessionId}: ${s1.text}`);
  const s2 = await relay.session('sync.ipynb');
  check(s2.status === 200 && s2.json?.fileId === s1.json.fileId && s2.json?.sessionId === s1.json.sessionId,
        `second PUT -> 200, same fileId and sessionId (got ${s2.status} ${s2.text})`);
  const s404 = await relay.session('no-such-notebook.ipynb');
  check(s404.status === 404, `PUT for a missing file -> 404 (got ${s404.status})`);
  const s400 = await relay.api('PUT', '/api/collaboration/session/' + encodeURIComponent('sync.ipynb'), 'nonsense');
  check(s400.status === 400, `PUT with a non-JSON body -> 400 (got ${s400.status})`);
  const s400b = await relay.api('PUT', '/api/collaboration/session/' + encodeURIComponent('sync.ipynb'), { format: 42 });
  check(s400b.status === 400, `PUT with a body without format/type -> 400 (got ${s400b.status})`);
  const noTok = await fetch(relay.base + 'api/collaboration/session/sync.ipynb', { method: 'PUT', body: JSON.stringify({ format: 'json', type: 'notebook' }) });
  check(noTok.status === 403, `PUT without a token -> 403 (got ${noTok.status})`);
  const { fileId, sessionId } = s1.json;
  const roomname = `json:notebook:${fileId}`;

  // ---- the server speaks first -----------------------------------------------------------------
  const raw = rawRoom(`${relay.roomUrl()}/${roomname}?sessionId=${sessionId}&token=${relay.token}`);
  check(await raw.opened === 101, 'room websocket opens (101)');
  const first = await raw.next(() => true);
  check(first?.type === 'sync' && first.step === 0, `the server's first frame is SyncStep1 (got ${JSON.stringify(first && { type: first.type, step: first.step })})`);
  raw.send(syncFrame(0, Y.encodeStateVector(new Y.Doc())));
  const step2 = await raw.next((f) => f.type === 'sync' && f.step === 1);
  check(!!step2, 'a SyncStep1 is answered with a SyncStep2');
  const probe = new YNotebook();
  Y.applyUpdate(probe.ydoc, step2.payload);
  check(nbContent(probe.toJSON()) === nbContent(initial), 'the SyncStep2 holds the notebook as on disk (cells, sources, outputs, metadata)');
  probe.dispose();
  raw.ws.close();

  // ---- concurrent random editing ---------------------------------------------------------------
  const mtime0 = statSync(file).mtimeMs, disk0 = readFileSync(file, 'utf8');
  const clients = [];
  for (let i = 0; i < NCLIENTS; i++) clients.push(await new RoomClient(relay, 'sync.ipynb', { user: `u${i}`, maxBackoffTime: 300 }).open());
  check(clients.every((c) => nbContent(c.model.toJSON()) === nbContent(initial)), `${NCLIENTS} clients synced the file's content`);

  let serial = 0;
  const stats = { insert: 0, delete: 0, move: 0, source: 0, meta: 0, nbmeta: 0, outputs: 0, reconnect: 0 };
  async function edit(c, k) {
    const nb = c.model, n = nb.cells.length, r = R();
    if (r < 0.08 && c.connected) {            // disconnect, edit offline a little, reconnect
      stats.reconnect++;
      c.provider.disconnect();
      await sleep(20 + R.int(200));
      if (R() < 0.7 && nb.cells.length) nb.cells[R.int(nb.cells.length)].updateSource(0, 0, `off${k}-${serial++} `);
      c.provider.connect();
      return;
    }
    if (r < 0.25 || n < 2) {
      stats.insert++;
      const type = R() < 0.7 ? 'code' : 'markdown';
      nb.insertCell(R.int(n + 1), { cell_type: type, id: `c${k}-${serial++}`, source: `cell by ${c.user} #${serial}\n`, metadata: {} });
    } else if (r < 0.33) {
      stats.delete++;
      nb.deleteCell(R.int(n));
    } else if (r < 0.41) {
      // Moves only of this client's own cells: two clients moving the same cell at once would
      // legitimately leave two copies (delete + insert twice), which is not what this test is about.
      const own = nb.cells.map((cell, i) => [cell, i]).filter(([cell]) => cell.id.startsWith(`c${k}-`));
      if (!own.length) return;
      stats.move++;
      const [, from] = R.pick(own);
      nb.moveCell(from, R.int(n));
    } else if (r < 0.75) {
      stats.source++;
      const cell = nb.cells[R.int(n)], len = cell.source.length;
      const at = R.int(len + 1), del = R() < 0.3 ? Math.min(R.int(4), len - at) : 0;
      cell.updateSource(at, at + del, R() < 0.2 ? '\n' : `${c.user}${serial++} `);
    } else if (r < 0.85) {
      stats.meta++;
      const cell = nb.cells[R.int(n)];
      cell.setMetadata(`k${R.int(3)}`, R() < 0.5 ? serial++ : { by: c.user, n: serial++, list: [1, 'two', null] });
    } else if (r < 0.89) {
      stats.nbmeta++;
      nb.setMetadata(`tandem_${R.int(3)}`, { by: c.user, n: serial++ });
    } else {
      const code = nb.cells.filter((cell) => cell.cell_type === 'code');
      if (!code.length) return;
      stats.outputs++;
      const cell = R.pick(code), ec = 1 + R.int(50);
      const outs = cell.outputs;
      if (outs.length && outs[0].output_type === 'stream' && R() < 0.5) {
        cell.appendStreamOutput(0, `more from ${c.user}\n`);
      } else {
        cell.setOutputs([
          { output_type: 'stream', name: 'stdout', text: `out ${serial++} from ${c.user}\n` },
          { output_type: 'execute_result', execution_count: ec, data: { 'text/plain': `${serial++}`, 'text/html': ['<b>', `${ec}`, '</b>'] }, metadata: {} },
          { output_type: 'display_data', data: { 'application/json': { a: [1, 2, { b: 'c' }] } }, metadata: { isolated: true } },
        ]);
      }
      cell.execution_count = ec;
    }
  }
  const t0 = Date.now();
  await Promise.all(clients.map(async (c, k) => {
    for (let i = 0; i < ROUNDS; i++) {
      await edit(c, k);
      await sleep(R.int(25));
    }
  }));
  for (const c of clients) if (!c.provider.shouldConnect) c.provider.connect();
  console.log(`edits done in ${Date.now() - t0} ms:`, JSON.stringify(stats));
  const ms = await waitConverged(clients, 30000 * SLOW, 'all clients converge after the random edits');
  check(true, `${NCLIENTS} clients converged ${ms} ms after the last edit (${clients[0].model.cells.length} cells)`);
  const ids = clients[0].model.cells.map((c) => c.id);
  check(new Set(ids).size === ids.length, 'no duplicated cell ids');
  check(clients.reduce((a, c) => a + c.received, 0) > 0, 'clients applied updates that came from the relay');

  const late = await new RoomClient(relay, 'sync.ipynb', { user: 'late' }).open();
  await waitFor(() => late.json() === clients[0].json(), 10000 * SLOW, 'a late joiner gets the converged document',
    () => `late: ${late.json().slice(0, 800)}\nu0:   ${clients[0].json().slice(0, 800)}`);
  check(true, 'a late joiner gets exactly the converged document');
  late.close();

  check(readFileSync(file, 'utf8') === disk0 && statSync(file).mtimeMs === mtime0, 'no client asked for autosave: the file was not written');

  // ---- RAW save ---------------------------------------------------------------------------------
  const reply = await clients[1].save(7);
  check(reply.status === 'success', `RAW save -> {"type":"save","responseTo":7,"status":"success"} (got ${JSON.stringify(reply)})`);
  const saved = readNotebook(file);
  const want = clients[1].model.toJSON();
  check(nbContent(saved) === nbContent(want), 'the saved .ipynb equals the shared notebook (cells, ids, sources, metadata, outputs, counts)'
        + (nbContent(saved) === nbContent(want) ? '' : `\n saved: ${nbContent(saved).slice(0, 1500)}\n  want: ${nbContent(want).slice(0, 1500)}`));
  check(saved.nbformat === 4 && saved.nbformat_minor === 5, `saved as nbformat 4.5 (got ${saved.nbformat}.${saved.nbformat_minor})`);
  check(!JSON.stringify(saved).includes('execution_state'), 'no execution_state in the file');
  const nbErr = nbformatErrors(file);
  check(nbErr === '', 'the saved file validates with nbformat' + (nbErr ? ': ' + nbErr : ''));
  await waitFor(() => clients.every((c) => c.ydoc.getMap('state').get('dirty') === false && typeof c.ydoc.getMap('state').get('hash') === 'string'
                                                 && c.ydoc.getMap('state').get('hash').length > 0), 5000 * SLOW,
    'after the save every client sees state.dirty=false and a state.hash',
    () => clients.map((c) => JSON.stringify(c.ydoc.getMap('state').toJSON())).join('\n'));
  check(true, 'after the save every client sees state.dirty=false and state.hash set');
  const again = await clients[2].save(8);
  check(['success', 'skipped'].includes(again.status) && again.responseTo === 8, `a second save answers responseTo 8 (${again.status})`);

  // ---- autosave ---------------------------------------------------------------------------------
  const auto = clients[0];
  auto.model.awareness.setLocalStateField('autosave', true);
  await sleep(200);
  const marker = `autosaved-${SEED}`;
  auto.model.cells[0].updateSource(0, 0, marker);
  const autoMs = await waitFor(() => readFileSync(file, 'utf8').includes(marker), 8000 * SLOW, 'autosave writes the edit (autosave-delay 1 s)');
  check(true, `autosave wrote the edit ${autoMs} ms later`);
  await waitConverged(clients, 10000 * SLOW);
  const saved2 = readNotebook(file);
  check(nbContent(saved2) === nbContent(auto.model.toJSON()), 'the autosaved file equals the shared notebook');
  await waitFor(() => clients.every((c) => c.ydoc.getMap('state').get('dirty') === false), 5000 * SLOW, 'dirty=false after the autosave');
  check(true, 'dirty=false after the autosave');
  auto.model.awareness.setLocalStateField('autosave', false);

  // ---- rename (PATCH /api/contents): same fileId and session, the room follows the file ----------
  const mv = await relay.api('PATCH', '/api/contents/sync.ipynb', { path: 'renamed.ipynb' });
  check(mv.status === 200, `PATCH /api/contents rename -> 200 (got ${mv.status} ${mv.text.slice(0, 200)})`);
  const s3 = await relay.session('renamed.ipynb');
  check((s3.status === 200 || s3.status === 201) && s3.json?.fileId === fileId && s3.json?.sessionId === sessionId,
        `after the rename the new path has the same fileId and sessionId (got ${s3.status} ${s3.text})`);
  check((await relay.session('sync.ipynb')).status === 404, 'the old path -> 404');
  await waitFor(() => clients.every((c) => c.ydoc.getMap('state').get('path') === 'renamed.ipynb'), 5000 * SLOW,
    'the relay writes state.path = the new path (JupyterLab follows it)', () => JSON.stringify(clients[0].ydoc.getMap('state').toJSON()));
  check(true, 'clients see state.path = renamed.ipynb');
  clients[3].model.cells[0].updateSource(0, 0, '# after rename\n');
  await waitConverged(clients, 10000 * SLOW);
  check(clients.every((c) => c.closes.length === 0 || c.connected), 'clients stay in the room across the rename');
  const rs = await clients[3].save(9);
  check(rs.status === 'success', `save after the rename -> success (${JSON.stringify(rs)})`);
  const renamed = readNotebook(join(relay.root, 'renamed.ipynb'));
  check(nbContent(renamed) === nbContent(clients[3].model.toJSON()), 'the save went to renamed.ipynb and equals the room');
  check(!existsSync(file), 'the old path was not recreated');
  for (const c of clients) c.close();

  // ---- a text file room -------------------------------------------------------------------------
  writeFileSync(join(relay.root, 'notes.txt'), 'line one\nline two\n');
  const t1 = await relay.session('notes.txt', { format: 'text', type: 'file' });
  check(t1.status === 201 && t1.json?.format === 'text' && t1.json?.type === 'file', `text file session PUT -> 201 (got ${t1.status} ${t1.text})`);
  const ta = await new RoomClient(relay, 'notes.txt', { kind: 'file', user: 'ta' }).open();
  const tb = await new RoomClient(relay, 'notes.txt', { kind: 'file', user: 'tb' }).open();
  check(ta.roomname === `text:file:${t1.json.fileId}`, 'text room name is text:file:{fileId}');
  check(ta.ydoc.getText('source').toString() === 'line one\nline two\n', 'text room: Y.Text "source" holds the file');
  for (let i = 0; i < 30; i++) {
    const c = i % 2 ? ta : tb, t = c.ydoc.getText('source');
    const str = t.toString(), cuts = [0];   // insert between tokens only, so none is split
    for (let j = 0; j < str.length; j++) if (str[j] === ']' || str[j] === '\n') cuts.push(j + 1);
    const at = R.pick(cuts);
    c.model.updateSource(at, at, `[${c.user}${i}]`);
    if (i % 7 === 3) await sleep(5);
  }
  await waitConverged([ta, tb], 10000 * SLOW, 'text room clients converge');
  const text = ta.ydoc.getText('source').toString();
  check((text.match(/\[t[ab]\d+\]/g) || []).length === 30, 'text room: all 30 insertions present once');
  const tr = await tb.save(1);
  check(tr.status === 'success', `text room RAW save -> success (got ${JSON.stringify(tr)})`);
  check(readFileSync(join(relay.root, 'notes.txt'), 'utf8') === text, 'the saved text file equals the shared text');
  ta.close(); tb.close();

  // ---- a big notebook: 400 cells, rich outputs (about 1 MB) ----------------------------------------
  const png = Buffer.alloc(6000, 0).map((_, i) => (i * 7919) & 255).toString('base64');
  const bigCells = Array.from({ length: 400 }, (_, i) => i % 5 === 4
    ? { id: `big-${i}`, cell_type: 'markdown', source: `## Section ${i}\n\n` + 'Some prose with *markup* and ünïcödé ✓.\n'.repeat(8) }
    : { id: `big-${i}`, source: Array.from({ length: 12 }, (_, j) => `x_${i}_${j} = ${i} * ${j}  # ${'•'.repeat(j)}\n`).join(''),
        execution_count: i + 1, metadata: { tags: [`t${i % 3}`] },
        outputs: [{ output_type: 'stream', name: 'stdout', text: `row ${i}\n`.repeat(20) },
          ...(i % 4 === 0 ? [{ output_type: 'display_data', data: { 'image/png': png, 'text/plain': '<Figure>' }, metadata: {} }] : []),
          { output_type: 'execute_result', execution_count: i + 1, data: { 'text/plain': `${i}`, 'text/html': `<b>${i}</b>` }, metadata: {} }] });
  const big = makeNotebook(bigCells);
  writeFileSync(join(relay.root, 'big.ipynb'), JSON.stringify(big, null, 1));
  const tBig = Date.now();
  const ba = await new RoomClient(relay, 'big.ipynb', { user: 'big-a' }).open({ timeout: 20000 * SLOW });
  const openMs = Date.now() - tBig;
  check(nbContent(ba.model.toJSON()) === nbContent(big), `big notebook (400 cells, ${(JSON.stringify(big).length / 1e6).toFixed(1)} MB): first client synced it exactly in ${openMs} ms`);
  const tb2 = Date.now();
  const bb = await new RoomClient(relay, 'big.ipynb', { user: 'big-b' }).open({ timeout: 20000 * SLOW });
  check(bb.json() === ba.json(), `big notebook: a second client synced the same document in ${Date.now() - tb2} ms`);
  for (let i = 0; i < 50; i++) {
    const c = i % 2 ? ba : bb, cell = c.model.cells[R.int(c.model.cells.length)];
    cell.updateSource(0, 0, `# ${c.user} ${i}\n`);
  }
  bb.model.deleteCell(10);
  ba.model.insertCell(200, { cell_type: 'code', id: 'big-new', source: 'new = 1' });
  await waitConverged([ba, bb], 15000 * SLOW, 'big notebook: two editors converge');
  const bs = await ba.save(11);
  check(bs.status === 'success', `big notebook: RAW save -> success (${JSON.stringify(bs)})`);
  check(nbContent(readNotebook(join(relay.root, 'big.ipynb'))) === nbContent(ba.model.toJSON()), 'big notebook: the saved file equals the room');
  ba.close(); bb.close();

  const st = await relay.stop();
  check(st.code === 0 || st.sig === 'SIGTERM', `relay exits cleanly on SIGTERM (${JSON.stringify(st)})`);
});
