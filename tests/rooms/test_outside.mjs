// test_outside.mjs (rooms_outside): another program writes the .ipynb while clients are in the room.
// - `touch` (utimes only) changes nothing: no document update reaches any client;
// - a plain fs write (one cell changed, one cell added) while two clients keep typing in other
//   cells: the change and the new cell arrive, the clients' unsaved lines all stay, nothing is
//   duplicated, both clients converge;
// - the same with Debian's python3 nbformat as the writer (nbformat.write: sources as line lists),
//   changing a cell, deleting one and inserting one in the middle;
// - the relay's own save is not taken for an outside edit;
// - with the room unloaded (--room-unload-delay 1, everyone gone, unsaved edits in the store), an
//   outside write is merged when the room is opened again: the write and the unsaved edits both stay.
import { writeFileSync, readFileSync, utimesSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import './skip.mjs';   // exits 77 first when the relay or node_modules is missing
const { startRelay, check, watchdog, main, sleep, waitFor, RoomClient, waitConverged,
  makeNotebook, readNotebook, nbContent, nbformatErrors, canon, SLOW } = await import('./rooms.mjs');

let relay;
watchdog(170_000, () => relay);

await main(async () => {
  relay = await startRelay({ args: ['--file-poll-interval', '1', '--autosave-delay', '1', '--room-unload-delay', '1'] });
  const file = join(relay.root, 'out.ipynb');
  writeFileSync(file, JSON.stringify(makeNotebook([
    { id: 'a', source: 'a = 1\n' }, { id: 'b', cell_type: 'markdown', source: '## B\n' },
    { id: 'c', source: 'c = 3\n' }, { id: 'd', source: 'd = 4\n' }]), null, 1));
  const A = await new RoomClient(relay, 'out.ipynb', { user: 'alice', maxBackoffTime: 300 }).open();
  const B = await new RoomClient(relay, 'out.ipynb', { user: 'bob', maxBackoffTime: 300 }).open();
  const clients = [A, B];
  let updates = 0;
  for (const c of clients) c.serverUpdateListeners.push(() => { updates++; });
  await sleep(300);
  const src = (c, id) => c.model.cells.find((x) => x.id === id)?.source;
  const ids = (c) => c.model.cells.map((x) => x.id).join(',');

  // ---- touch ------------------------------------------------------------------------------------
  async function touchNothing(what) {
    await waitConverged(clients, 10000 * SLOW);
    const before = A.json(), n0 = updates;
    const t = new Date(Date.now() + 5000);
    utimesSync(file, t, t);
    await sleep(3500);
    check(updates === n0 && A.json() === before, `${what}: touch (mtime only) sends no update and changes nothing (${updates - n0} updates)`);
  }
  await touchNothing('fresh room');

  // Both clients type lines into cells c and d until stopped; every line is unique.
  const typed = new Map();   // line -> cell id
  let serial = 0, typing = true;
  const typers = clients.map(async (c) => {
    while (typing) {
      const id = serial % 2 ? 'c' : 'd', cell = c.model.cells.find((x) => x.id === id);
      if (cell) { const line = `# ${c.user} ${serial++}\n`; cell.updateSource(cell.source.length, cell.source.length, line); typed.set(line.trim(), id); }
      await sleep(30);
    }
  });
  function checkTyped(c, what) {
    for (const id of ['c', 'd']) {
      const lines = src(c, id).split('\n').filter((l) => l.startsWith('# '));
      const dup = lines.filter((l, i) => lines.indexOf(l) !== i);
      if (dup.length) throw new Error(`${what}: typed lines duplicated in ${id}: ${dup.join(' | ')}`);
    }
    const lost = [...typed].filter(([line, id]) => !src(c, id).split('\n').includes(line));
    if (lost.length) throw new Error(`${what}: ${lost.length} typed lines lost, e.g. ${lost.slice(0, 3).map(([l, id]) => `${id}: ${l}`).join(' | ')}\n c: ${src(c, 'c')}\n d: ${src(c, 'd')}`);
    check(true, `${what}: all ${typed.size} typed lines present once`);
  }

  // ---- a plain write: a changed, e added --------------------------------------------------------
  await sleep(400);
  const disk = readNotebook(file);
  disk.cells[0].source = 'a = 100  # changed outside\n';
  disk.cells.push({ id: 'e', cell_type: 'code', metadata: {}, source: 'e = 5  # added outside\n', outputs: [], execution_count: null });
  writeFileSync(file, JSON.stringify(disk, null, 1));
  const ms1 = await waitFor(() => clients.every((c) => src(c, 'a') === 'a = 100  # changed outside\n' && src(c, 'e') === 'e = 5  # added outside\n'),
    6000 * SLOW, 'the outside write (cell a changed, cell e added) reaches both clients', () => clients.map(ids).join('\n'));
  check(true, `outside write merged into the room ${ms1} ms later`);
  await sleep(400);

  // ---- nbformat as the writer: a changed again, b deleted, f inserted after a ----------------------
  const py = spawnSync('/usr/bin/python3', ['-c', `
import nbformat, sys
nb = nbformat.read(sys.argv[1], as_version=4)
nb.cells[0].source = 'a = 200  # nbformat\\n'
nb.cells = [c for c in nb.cells if c.id != 'b']
f = nbformat.v4.new_code_cell('f = 6  # nbformat\\n')
f.id = 'f'
nb.cells.insert(1, f)
nbformat.write(nb, sys.argv[1])
`, file], { encoding: 'utf8' });
  check(py.status === 0, 'python3 nbformat rewrote the file' + (py.status ? ': ' + py.stderr : ''));
  const ms2 = await waitFor(() => clients.every((c) => src(c, 'a') === 'a = 200  # nbformat\n' && src(c, 'f') === 'f = 6  # nbformat\n' && src(c, 'b') === undefined),
    6000 * SLOW, 'the nbformat write (a changed, b deleted, f inserted) reaches both clients', () => clients.map(ids).join('\n'));
  check(true, `nbformat write merged ${ms2} ms later`);
  await sleep(300);
  typing = false;
  await Promise.all(typers);
  await waitConverged(clients, 10000 * SLOW);
  check(ids(A) === 'a,f,c,d,e', `cell order after both writes is a,f,c,d,e (got ${ids(A)})`);
  check(src(A, 'e') === 'e = 5  # added outside\n', 'cell e kept its outside content');
  checkTyped(A, 'after two outside writes');
  await touchNothing('after outside writes');

  // ---- the relay's own save is not an outside edit ----------------------------------------------
  const r = await A.save(1);
  check(r.status === 'success', `RAW save -> success (${JSON.stringify(r)})`);
  const cellsAfterSave = canon(A.model.toJSON().cells);
  check(nbContent(readNotebook(file)) === nbContent(A.model.toJSON()), 'saved file equals the merged room');
  check(nbformatErrors(file) === '', 'saved file validates with nbformat');
  await sleep(3000);
  check(canon(A.model.toJSON().cells) === cellsAfterSave && canon(B.model.toJSON().cells) === cellsAfterSave,
        'the relay does not reload its own save as an outside change (cells unchanged 3 s later)');

  // ---- room unloaded, unsaved edits in the store, then an outside write --------------------------
  const cd = A.model.cells.find((x) => x.id === 'd');
  cd.updateSource(cd.source.length, cd.source.length, '# unsaved before leaving\n');
  typed.set('# unsaved before leaving', 'd');
  await waitConverged(clients, 10000 * SLOW);
  A.close(); B.close();
  await sleep(3000 * SLOW);          // room-unload-delay 1 s
  const disk2 = readNotebook(file);
  check(!JSON.stringify(disk2).includes('unsaved before leaving'), 'the last edit was not saved (no autosave client)');
  disk2.cells.find((x) => x.id === 'a').source = 'a = 300  # while unloaded\n';
  disk2.cells.push({ id: 'g', cell_type: 'markdown', metadata: {}, source: 'added while unloaded' });
  writeFileSync(file, JSON.stringify(disk2, null, 1));
  const C = await new RoomClient(relay, 'out.ipynb', { user: 'carol' }).open();
  await waitFor(() => src(C, 'a') === 'a = 300  # while unloaded\n' && src(C, 'g') === 'added while unloaded', 6000 * SLOW,
    'reopened room holds the write made while it was unloaded', () => C.json().slice(0, 2000));
  check(true, 'reopened room holds the write made while it was unloaded');
  check(ids(C) === 'a,f,c,d,e,g', `no cell lost or duplicated on reopen (got ${ids(C)})`);
  checkTyped(C, 'reopened room (unsaved edits from the store kept)');
  C.close();
  await relay.stop();
});
