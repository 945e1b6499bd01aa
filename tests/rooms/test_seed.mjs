// test_seed.mjs (rooms_seed): a room's first open answers before its seed (the document built
// from the file) is in the log; the seed joins the log at the room's next tick, or before anything
// else is logged. A kill -9 in between must cost neither the lineage nor a duplicate:
// A. file unchanged at restart: the PUT names the same sessionId, the client reconnects without a
//    1003, its offline edit merges, and every cell exists once;
// B. file changed while the relay was down: the old sessionId is refused with 1003 when the room
//    loads (the page reloads), the PUT then names a new one, and the room holds the new file, not
//    a mix of two seeds;
// E. (after B) the file is unchanged but this relay builds another seed from it (an upgrade; here
//    the record's seed hash is altered while the relay is down): a new sessionId as in B;
// C. after a tick the seed is ordinary history: a kill -9 and an outside write are merged into the
//    same lineage;
// D. a document over the compaction size (a 9 MB output) keeps its updates in the log: only bytes
//    logged after the snapshot count towards compaction (the seed itself once made every update
//    re-encode and rewrite the whole document).
import { execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import './skip.mjs';   // exits 77 first when the relay or node_modules is missing
const { startRelay, check, watchdog, main, sleep, waitFor, RoomClient, makeNotebook, SLOW } = await import('./rooms.mjs');

let relay;
watchdog(150_000, () => relay);
const TICK_S = 5; // the rooms' tick (file poll): A and B kill well before it
const ARGS = ['--file-poll-interval', String(TICK_S)];
const nb = (ids) => JSON.stringify(makeNotebook(ids.map((id) => ({ id, source: `line-${id}\n` }))));
const ids = (c) => c.model.cells.map((x) => x.id);
const once = (list) => new Set(list).size === list.length;
// Rows in a room's log (read beside the running relay: SQLite WAL readers do not block it).
const logRows = (root, fileId) => Number(execFileSync('python3', ['-c',
  'import sqlite3, sys; db = sqlite3.connect(sys.argv[1]); ' +
  'print(db.execute("SELECT count(*) FROM yupdates WHERE file_id = ?", (sys.argv[2],)).fetchone()[0])',
  join(root, '.tandem', 'tandem.sqlite'), fileId]).toString());

async function observe(r, path, want, what) {
  const o = await new RoomClient(r, path, { passive: true }).open();
  await waitFor(() => JSON.stringify(ids(o)) === JSON.stringify(want), 10000 * SLOW, what, () => JSON.stringify(ids(o)));
  o.close();
}

await main(async () => {
  relay = await startRelay({ args: ARGS });
  const root = relay.root;
  const restart = async () => { relay = await startRelay({ root, args: ARGS, token: relay.token }); };

  // A client opens `name` (cells `first`), the relay is killed before the seed is logged, and
  // `meanwhile` changes something on disk: on restart the client is refused with 1003, the PUT
  // names a new sessionId, and the room holds `want` alone.
  async function newLineage(tag, name, first, meanwhile, want, why) {
    writeFileSync(join(root, name), nb(first));
    const cl = await new RoomClient(relay, name, { passive: true, maxBackoffTime: 200 }).open();
    const sid = cl.sessionInfo.sessionId;
    await relay.kill9();
    meanwhile(cl.sessionInfo.fileId);
    await restart();
    cl.reconnectTo(relay);
    await waitFor(() => cl.closes.some((x) => x.code === 1003), 10000 * SLOW, `${tag}: the old sessionId is refused with 1003`);
    cl.close();
    const put = await relay.session(name);
    check(put.status === 200 && put.json.sessionId !== sid, `${tag}: ${why}: a new sessionId`);
    await observe(relay, name, want, `${tag}: the room holds the file alone`);
  }

  // A
  writeFileSync(join(root, 'a.ipynb'), nb(['a0', 'a1', 'a2']));
  const a = await new RoomClient(relay, 'a.ipynb', { passive: true, maxBackoffTime: 200 }).open();
  check(JSON.stringify(ids(a)) === '["a0","a1","a2"]', 'A: the first open holds the file');
  const sidA = a.sessionInfo.sessionId;
  check(logRows(root, a.sessionInfo.fileId) === 0, 'A: the open answered before its seed was logged');
  await relay.kill9();
  a.model.insertCell(3, { cell_type: 'code', id: 'a3', source: 'line-a3\n', metadata: {} });
  await restart();
  const putA = await relay.session('a.ipynb');
  check(putA.status === 200 && putA.json.sessionId === sidA, `A: same sessionId after kill -9 before the seed was logged (${putA.status})`);
  a.reconnectTo(relay);
  await waitFor(() => a.connected && a.provider.synced, 10000 * SLOW, 'A: the client reconnects');
  await observe(relay, 'a.ipynb', ['a0', 'a1', 'a2', 'a3'], 'A: the offline edit merged, every cell once');
  check(!a.closes.some((e) => e.code === 1003) && once(ids(a)), 'A: no 1003, no duplicated cell');
  a.close();

  // B
  await newLineage('B', 'b.ipynb', ['b0', 'b1'], () => writeFileSync(join(root, 'b.ipynb'), nb(['n0', 'n1', 'n2'])),
    ['n0', 'n1', 'n2'], 'the file changed before the seed was logged');

  // E
  await newLineage('E', 'e.ipynb', ['e0', 'e1'], (fileId) => execFileSync('python3', ['-c',
    'import sqlite3, sys; db = sqlite3.connect(sys.argv[1]); ' +
    'db.execute("UPDATE ydocs SET seed_hash = ? WHERE file_id = ?", ("0" * 16, sys.argv[2])); db.commit()',
    join(root, '.tandem', 'tandem.sqlite'), fileId]), ['e0', 'e1'], 'another seed from the same file');

  // C
  writeFileSync(join(root, 'c.ipynb'), nb(['c0', 'c1']));
  const c = await new RoomClient(relay, 'c.ipynb', { passive: true, maxBackoffTime: 200 }).open();
  const sidC = c.sessionInfo.sessionId;
  await sleep((TICK_S + 1.5) * 1000);
  await relay.kill9();
  writeFileSync(join(root, 'c.ipynb'), nb(['c0', 'c1', 'c2']));
  await restart();
  const putC = await relay.session('c.ipynb');
  check(putC.status === 200 && putC.json.sessionId === sidC, 'C: the seed was logged at the tick: same sessionId');
  c.reconnectTo(relay);
  await waitFor(() => c.connected && c.provider.synced && ids(c).length === 3, 10000 * SLOW, 'C: the outside write merges into the lineage',
    () => JSON.stringify(ids(c)));
  check(JSON.stringify(ids(c)) === '["c0","c1","c2"]' && !c.closes.some((e) => e.code === 1003), 'C: no 1003, every cell once');
  c.close();

  // D
  const big = makeNotebook([{ id: 'd0', source: 'x\n', outputs: [{ output_type: 'stream', name: 'stdout', text: 'y'.repeat(9 << 20) }] }]);
  writeFileSync(join(root, 'd.ipynb'), JSON.stringify(big));
  const d = await new RoomClient(relay, 'd.ipynb', { passive: true }).open({ timeout: 30000 * SLOW });
  const e = await new RoomClient(relay, 'd.ipynb', { passive: true }).open({ timeout: 30000 * SLOW });
  for (let k = 1; k <= 5; k++) {
    d.model.insertCell(k, { cell_type: 'markdown', id: `d${k}`, source: `edit ${k}`, metadata: {} });
    await waitFor(() => ids(e).length === k + 1, 10000 * SLOW, `D: edit ${k} fanned out`);
  }
  const rows = logRows(root, d.sessionInfo.fileId);
  check(rows >= 6, `D: the seed and the 5 updates are in the log, not compacted at each update (${rows} rows)`);
  d.close();
  e.close();
  await relay.stop();
});
