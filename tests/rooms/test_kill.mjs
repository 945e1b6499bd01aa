// test_kill.mjs (rooms_kill): "acknowledged means durable" and "no duplicates", across kill -9.
// Each cycle: clients (y-websocket + YNotebook) edit concurrently (insert cells, delete cells, add
// lines, metadata); the relay is killed with SIGKILL at a random moment, possibly with updates in
// flight; clients keep editing offline; the relay restarts on the same root (new port); then
// - the session PUT answers 200 with the same fileId and the same sessionId (the lineage);
// - a fresh observer, connecting before anyone else, already holds every update that any client
//   had received from the relay (fanned-out updates were committed before fan-out);
// - the clients reconnect with their old sessionId (no 1003), their offline edits merge, all
//   converge, and every cell and every line exists exactly once (none lost, none duplicated).
// One client has autosave on; every tenth cycle waits ~1 s before the kill so that kills also land
// around autosaves (a file the relay wrote itself must never be merged back as an outside edit).
// TD_ROOMS_CYCLES (default 100) cycles, stopping early (after at least 20) when the time budget
// TD_ROOMS_BUDGET_S (default 45 s) is spent; the count is reported. TD_ROOMS_SEED replays a run.
import { writeFileSync, readFileSync, rmSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import './skip.mjs';   // exits 77 first when the relay or node_modules is missing
const { startRelay, check, watchdog, main, sleep, waitFor, RoomClient, waitConverged,
  makeNotebook, readNotebook, nbContent, docJSON, canon, Y, rng, SEED, SLOW } = await import('./rooms.mjs');

let relay;
watchdog(170_000, () => relay);
const R = rng(SEED);
const CYCLES = Number(process.env.TD_ROOMS_CYCLES || 100);
const BUDGET = Number(process.env.TD_ROOMS_BUDGET_S || 45) * 1000;
const MIN_CYCLES = Math.min(CYCLES, 20);
const NCLIENTS = Number(process.env.TD_ROOMS_CLIENTS || 4);
const ARGS = ['--autosave-delay', '1', '--file-poll-interval', '1'];
console.log(`seed ${SEED} (TD_ROOMS_SEED), ${NCLIENTS} clients, up to ${CYCLES} kill cycles, budget ${BUDGET} ms`);

await main(async () => {
  relay = await startRelay({ args: ARGS });
  const root = relay.root, token = relay.token;
  const seeds = ['s0', 's1', 's2'];
  writeFileSync(join(root, 'kill.ipynb'), JSON.stringify(makeNotebook(seeds.map((id) => ({ id, source: `line-${id}\n` })))));
  const first = await relay.session('kill.ipynb');
  check(first.status === 201, `session PUT -> 201 (got ${first.status})`);
  const { fileId, sessionId } = first.json;

  // The model of what must be in the document: cells (id -> alive) and lines (token -> cell id).
  const cells = new Map(seeds.map((id) => [id, true]));
  const lines = new Map(seeds.map((id) => [`line-${id}`, id]));
  let serial = 0;
  const clients = [];
  for (let i = 0; i < NCLIENTS; i++) {
    clients.push(await new RoomClient(relay, 'kill.ipynb', { user: `k${i}`, autosave: i === 0, maxBackoffTime: 200 }).open());
  }
  // The witness: every update any client received from a relay (each was fanned out or served
  // from the store, so each must be durable).
  const witness = new Y.Doc();
  for (const c of clients) c.serverUpdateListeners.push((u) => Y.applyUpdate(witness, u));

  function edit(c) {
    const nb = c.model, n = nb.cells.length, r = R();
    if (r < 0.2 || n < 2) {
      const id = `c${serial++}`, tok = `line-${id}`;
      nb.insertCell(R.int(n + 1), { cell_type: R() < 0.8 ? 'code' : 'markdown', id, source: tok + '\n', metadata: {} });
      cells.set(id, true); lines.set(tok, id);
    } else if (r < 0.3 && n > 3) {
      const i = R.int(n);
      cells.set(nb.cells[i].id, false);
      nb.deleteCell(i);
    } else if (r < 0.9) {
      const cell = nb.cells[R.int(n)], src = cell.source, cuts = [0];
      for (let j = 0; j < src.length; j++) if (src[j] === '\n') cuts.push(j + 1);
      const tok = `line-t${serial++}`;
      const at = R.pick(cuts);
      cell.updateSource(at, at, tok + '\n');
      lines.set(tok, cell.id);
    } else {
      nb.cells[R.int(n)].setMetadata('touched', { by: c.user, n: serial++ });
    }
  }

  function verify(doc, what) {
    const arr = doc.getArray('cells').toArray();
    const ids = arr.map((m) => m.get('id'));
    const dup = ids.filter((id, i) => ids.indexOf(id) !== i);
    if (dup.length) throw new Error(`${what}: duplicated cells ${dup.join(',')}`);
    for (const [id, alive] of cells) {
      if (alive !== ids.includes(id)) throw new Error(`${what}: cell ${id} ${alive ? 'lost' : 'deleted but present'}`);
    }
    const seen = new Map();
    for (const m of arr) {
      for (const ln of m.get('source').toString().split('\n')) {
        if (!ln) continue;
        if (seen.has(ln)) throw new Error(`${what}: line "${ln}" duplicated (in ${seen.get(ln)} and ${m.get('id')})`);
        seen.set(ln, m.get('id'));
      }
    }
    for (const [tok, id] of lines) {
      const want = cells.get(id) ? id : undefined;
      if (seen.get(tok) !== want) throw new Error(`${what}: line ${tok} expected in ${want ?? '(deleted cell)'}, found in ${seen.get(tok) ?? 'nowhere'}`);
    }
    for (const ln of seen.keys()) if (!lines.has(ln)) throw new Error(`${what}: unknown line "${ln}"`);
  }

  // Does the relay's document (as a fresh client got it) hold everything in witnessUpdate?
  function checkDurable(relayDoc, witnessUpdate, what) {
    const probe = new Y.Doc();
    Y.applyUpdate(probe, Y.encodeStateAsUpdate(relayDoc));
    const before = docJSON(probe), svBefore = Y.decodeStateVector(Y.encodeStateVector(probe));
    Y.applyUpdate(probe, witnessUpdate);
    const after = docJSON(probe), svAfter = Y.decodeStateVector(Y.encodeStateVector(probe));
    probe.destroy();
    if (before === after) return;
    const missing = [...svAfter].filter(([cl, clock]) => (svBefore.get(cl) || 0) < clock)
      .map(([cl, clock]) => `client ${cl}: relay has clock ${svBefore.get(cl) || 0}, clients had received up to ${clock}`);
    throw new Error(`${what}: after kill -9 and restart the relay lacks updates it had sent: ${missing.join('; ') || '(deletions)'}\n relay:    ${before.slice(0, 1200)}\n expected: ${after.slice(0, 1200)}`);
  }

  const nbPath = join(root, 'kill.ipynb');
  let lastDisk = readFileSync(nbPath, 'utf8'), autosaves = 0;
  const t0 = Date.now();
  let cycle = 0, inFlightKills = 0, autosaveKills = 0, offlineEdits = 0, restartMs = 0;
  for (; cycle < CYCLES; cycle++) {
    if (cycle >= MIN_CYCLES && Date.now() - t0 > BUDGET) break;
    // Connected editing; some edits are not yet fanned out when the kill lands.
    const nEdits = 2 + R.int(8);
    for (let e = 0; e < nEdits; e++) {
      edit(R.pick(clients));
      if (R() < 0.5) await sleep(R.int(15));
    }
    // Every tenth cycle waits about an autosave delay; 40% of the others kill at once, with the last
    // edits still in the sockets; the rest give the fan-out a few ms.
    if (cycle % 10 === 9) { autosaveKills++; await sleep(700 + R.int(700)); } else if (R() < 0.6) await sleep(R.int(40));
    const disk = readFileSync(nbPath, 'utf8');
    if (disk !== lastDisk) { autosaves++; lastDisk = disk; }
    const witnessUpdate = Y.encodeStateAsUpdate(witness);
    await relay.kill9();
    const atKill = clients.map((c) => Y.decodeStateVector(Y.encodeStateVector(c.ydoc)));
    for (const c of clients) c.provider.disconnect();
    // Offline edits.
    for (let e = R.int(3); e > 0; e--) { edit(R.pick(clients)); offlineEdits++; }
    const tr = Date.now();
    relay = await startRelay({ root, token, args: ARGS });
    restartMs += Date.now() - tr;

    const s = await relay.session('kill.ipynb');
    if (s.status !== 200 || s.json?.fileId !== fileId || s.json?.sessionId !== sessionId) {
      throw new Error(`cycle ${cycle}: after restart the session PUT gave ${s.status} ${s.text}; expected 200 with fileId ${fileId} and sessionId ${sessionId}`);
    }
    // A fresh observer first: the relay alone must hold everything that had been fanned out.
    const obs = await new RoomClient(relay, 'kill.ipynb', { user: 'observer', passive: true, session: s.json }).open();
    checkDurable(obs.ydoc, witnessUpdate, `cycle ${cycle}`);
    verifyPrefix(obs, cycle);
    const svObs = Y.decodeStateVector(Y.encodeStateVector(obs.ydoc));
    if (atKill.some((sv) => [...sv].some(([cl, clock]) => (svObs.get(cl) || 0) < clock))) inFlightKills++;
    obs.close();

    for (const c of clients) c.reconnectTo(relay);
    await waitConverged(clients, 15000 * SLOW, `cycle ${cycle}: clients reconnect and converge`);
    verify(clients[0].ydoc, `cycle ${cycle}`);
    const stale = clients.flatMap((c) => c.closes).filter((e) => e.code === 1003 || e.code >= 4000);
    if (stale.length) throw new Error(`cycle ${cycle}: a client was refused on reconnect: ${JSON.stringify(stale)}`);
  }
  function verifyPrefix(obs, cyc) {
    // The observer's document on its own: no duplicated cell ids or lines even before the clients
    // bring their offline edits (the store itself never duplicates).
    const arr = obs.ydoc.getArray('cells').toArray(), ids = arr.map((m) => m.get('id'));
    if (new Set(ids).size !== ids.length) throw new Error(`cycle ${cyc}: the restarted relay serves duplicated cells: ${ids.join(',')}`);
    const all = arr.flatMap((m) => m.get('source').toString().split('\n').filter(Boolean));
    if (new Set(all).size !== all.length) throw new Error(`cycle ${cyc}: the restarted relay serves duplicated lines`);
  }
  const secs = ((Date.now() - t0) / 1000).toFixed(1);
  check(cycle >= MIN_CYCLES, `${cycle} kill -9 / restart / reconnect cycles in ${secs} s (of ${CYCLES} asked; TD_ROOMS_CYCLES), `
        + `${inFlightKills} where clients held edits the killed relay had not stored, ${autosaveKills} around autosaves (${autosaves} autosaves seen), ${offlineEdits} offline edits, `
        + `restart ${Math.round(restartMs / cycle)} ms avg`);
  check(true, 'every cycle: same sessionId and fileId after restart; nothing fanned out was lost; no duplicated cell or line; offline edits merged');
  const alive = [...cells.values()].filter(Boolean).length;
  check(clients[0].model.cells.length === alive, `final notebook has the ${alive} expected cells`);

  // ---- kill -9 during a room's first open (index entry, seeding, first sync) ---------------------
  // The session PUT's answer must survive; whatever the client got from the first relay (its seed)
  // must come back identical (deterministic seeding), so nothing doubles.
  await waitConverged(clients, 10000 * SLOW);
  for (const c of clients) c.provider.disconnect();   // back for the last phase
  const FIRST = Math.max(6, Math.round(cycle / 10));
  let seededBefore = 0;
  for (let i = 0; i < FIRST; i++) {
    const name = `first-${i}.ipynb`, ida = `f${i}a`, idb = `f${i}b`;
    writeFileSync(join(root, name), JSON.stringify(makeNotebook([{ id: ida, source: `alpha ${i}\n` }, { id: idb, cell_type: 'markdown', source: `beta ${i}` }])));
    const c = new RoomClient(relay, name, { user: 'first', maxBackoffTime: 200 });
    await c.open({ wait: false });
    const w = new Y.Doc();
    c.serverUpdateListeners.push((u) => Y.applyUpdate(w, u));
    await sleep([0, 1, 3, 6, 10, 40][i % 6]);
    await relay.kill9();
    c.provider.disconnect();
    const got = c.model.cells.length > 0;
    if (got) seededBefore++;
    if (got) c.model.cells[0].updateSource(0, 0, `offline ${i}\n`);
    relay = await startRelay({ root, token, args: ARGS });
    const s = await relay.session(name);
    if (s.status !== 200 || s.json?.fileId !== c.sessionInfo.fileId || s.json?.sessionId !== c.sessionInfo.sessionId) {
      throw new Error(`first open ${i}: the session PUT answered before the kill was not durable: now ${s.status} ${s.text}, before ${JSON.stringify(c.sessionInfo)}`);
    }
    const obs = await new RoomClient(relay, name, { user: 'observer', passive: true, session: s.json }).open();
    checkDurable(obs.ydoc, Y.encodeStateAsUpdate(w), `first open ${i}`);
    obs.close();
    c.reconnectTo(relay);
    await c.synced();
    await sleep(100);
    const cells = c.model.toJSON().cells;
    const want = [[ida, (got ? `offline ${i}\n` : '') + `alpha ${i}\n`], [idb, `beta ${i}`]];
    if (canon(cells.map((x) => [x.id, x.source])) !== canon(want)) {
      throw new Error(`first open ${i} (client had the seed before the kill: ${got}): expected ${JSON.stringify(want)}, got ${JSON.stringify(cells.map((x) => [x.id, x.source]))}`);
    }
    c.close();
  }
  check(true, `${FIRST} kills during a room's first open (${seededBefore} after the client had the seed): session PUT durable, seed identical after restart, nothing doubled`);

  // ---- the store is lost: a new lineage; the old clients are refused, never merged ----------------
  // (jupyter-collaboration#594: a server that reseeds from disk and lets old clients merge back
  // duplicates every cell they hold.)
  for (const c of clients) c.closes.length = 0;
  await relay.kill9();
  let removed = 0;
  for (const f of ['tandem.sqlite', 'tandem.sqlite-wal', 'tandem.sqlite-shm', 'tandem.sqlite-journal']) {
    if (existsSync(join(root, '.tandem', f))) { rmSync(join(root, '.tandem', f)); removed++; }
  }
  check(removed > 0, 'the store ROOT/.tandem/tandem.sqlite was there and is now deleted');
  relay = await startRelay({ root, token, args: ARGS });
  const s2 = await relay.session('kill.ipynb');
  check((s2.status === 200 || s2.status === 201) && s2.json?.sessionId && s2.json.sessionId !== sessionId,
        `with the store lost, the session PUT gives a new sessionId (a new lineage; got ${s2.status} ${s2.text})`);
  for (const c of clients) c.reconnectTo(relay);
  await waitFor(() => clients.every((c) => c.closes.some((e) => e.code === 4404 || (e.code === 1003 && /unknown_session/.test(e.reason)))), 10000 * SLOW,
    'the old-lineage clients are refused (1003 unknown_session, or 4404 when the fileId is gone)', () => JSON.stringify(clients.map((c) => c.closes)));
  const refusal = clients[0].closes.find((e) => e.code === 4404 || e.code === 1003);
  check(true, `the old-lineage clients are refused (${refusal.code} ${refusal.reason})`);
  await sleep(1000);
  const fresh = await new RoomClient(relay, 'kill.ipynb', { user: 'fresh', session: s2.json }).open();
  const onDisk = readNotebook(nbPath);
  const same = nbContent(fresh.model.toJSON()) === nbContent(onDisk);
  check(same, 'the new lineage holds exactly the file on disk (no cell or line merged from the old clients)'
        + (same ? '' : `\n room: ${fresh.model.cells.map((c) => c.id).join(',')}\n disk: ${onDisk.cells.map((c) => c.id).join(',')}`));
  fresh.close();
  for (const c of clients) c.close();
  await relay.stop();
  rmSync(root, { recursive: true, force: true });
});
