// test_presence.mjs (rooms_presence): awareness in a notebook room and in JupyterLab:globalAwareness.
// Two users (--users): alice and bob.
// - a state is echoed to its sender (a lone client must hear something within 30 s, and the echo
//   carries the relay's view of it), with `user` overwritten by the token's identity (an attempt to
//   appear as "admin" or as the other user is replaced), other fields (cursors, autosave) kept;
// - a newcomer receives every existing state at join, without anyone renewing;
// - renewals (higher clock) reach everyone including the sender;
// - a socket that vanishes without a goodbye (TCP drop) gets its states removed for everyone:
//   the entry is (clientID, clock + 1, null);
// - with the real clients (y-websocket + YNotebook): each sees the other's identity; destroy()
//   removes the state from the other's awareness;
// - JupyterLab:globalAwareness (token only): the same echo, replay and identity overwrite.
import { writeFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import './skip.mjs';   // exits 77 first when the relay or node_modules is missing
const { startRelay, check, watchdog, main, sleep, waitFor, RoomClient, rawRoom, decodeAwareness,
  encodeAwareness, makeNotebook, canon, SLOW } = await import('./rooms.mjs');

let relay;
watchdog(120_000, () => relay);
const IDKEYS = ['username', 'name', 'display_name', 'initials', 'avatar_url', 'color'];
const pickId = (u) => canon(Object.fromEntries(IDKEYS.map((k) => [k, u?.[k] ?? null])));

await main(async () => {
  const dir = mkdtempSync(join(tmpdir(), 'tandem-presence-'));
  const users = join(dir, 'users.json');
  writeFileSync(users, JSON.stringify([
    { token: 'alice-token-123', username: 'alice', name: 'Alice Liddell', color: '#aa0000' },
    { token: 'bob-token-45678', username: 'bob', name: 'Bob Builder', display_name: 'Bob B.', initials: 'BB', color: '#0000bb' }]));
  relay = await startRelay({ args: ['--users', users] });
  writeFileSync(join(relay.root, 'p.ipynb'), JSON.stringify(makeNotebook([{ id: 'x', source: 'x = 1' }])));
  const me = async (tok) => (await relay.api('GET', '/api/me', undefined, { Authorization: `token ${tok}` })).json?.identity;
  const alice = await me('alice-token-123'), bob = await me('bob-token-45678');
  check(alice?.username === 'alice' && bob?.username === 'bob', '/api/me knows alice and bob');
  const s = await relay.session('p.ipynb');
  check(s.status === 201, 'session PUT -> 201');
  const room = `json:notebook:${s.json.fileId}`;
  const url = (tok, name = room, sid = s.json.sessionId) => `${relay.roomUrl()}/${name}?` + new URLSearchParams({ ...(sid && { sessionId: sid }), token: tok });
  const entries = (f) => f.type === 'awareness' ? decodeAwareness(f.payload) : [];
  const entryOf = (r, id, pred = () => true, ms) => r.next((f) => entries(f).some((e) => e.clientID === id && pred(e)), ms)
    .then((f) => f && entries(f).find((e) => e.clientID === id && pred(e)));

  async function scenario(label, name, sid) {
    // Alice, pretending to be an admin.
    const ra = rawRoom(url('alice-token-123', name, sid));
    check(await ra.opened === 101, `${label}: alice's socket opens`);
    const fake = { username: 'admin', name: 'admin', display_name: 'Administrator', initials: 'AD', avatar_url: 'http://evil/x.png', color: '#000000' };
    const cursors = [{ anchor: { type: null, tname: null, item: { client: 1, clock: 2 }, assoc: 0 }, head: null, primary: true, empty: true }];
    ra.send(encodeAwareness([{ clientID: 1001, clock: 1, state: { user: fake, cursors, autosave: true } }]));
    const echo = await entryOf(ra, 1001, (e) => e.clock === 1);
    check(!!echo, `${label}: the sender hears its own awareness state back`);
    check(pickId(echo.state.user) === pickId(alice), `${label}: user "admin" is overwritten with alice's identity (${JSON.stringify(echo.state.user)})`);
    check(canon(echo.state.cursors) === canon(cursors) && echo.state.autosave === true, `${label}: other fields (cursors, autosave) are kept`);

    // Bob joins: alice's state is replayed at once; bob pretends to be alice.
    const rb = rawRoom(url('bob-token-45678', name, sid));
    check(await rb.opened === 101, `${label}: bob's socket opens`);
    const replay = await entryOf(rb, 1001, () => true, 3000 * SLOW);
    check(!!replay && pickId(replay.state.user) === pickId(alice), `${label}: the newcomer gets alice's state at join, with her identity`);
    rb.send(encodeAwareness([{ clientID: 2002, clock: 5, state: { user: { ...alice }, current: 'notebook:p.ipynb' } }]));
    const fromBob = await entryOf(ra, 2002);
    check(!!fromBob && pickId(fromBob.state.user) === pickId(bob), `${label}: bob posing as alice reaches alice as bob (${JSON.stringify(fromBob?.state.user)})`);
    check(fromBob.state.current === 'notebook:p.ipynb', `${label}: bob's other fields kept`);
    const bobEcho = await entryOf(rb, 2002);
    check(!!bobEcho && pickId(bobEcho.state.user) === pickId(bob), `${label}: bob hears his own state back, as bob`);

    // Renewal.
    const from = ra.frames.length, fromB = rb.frames.length;
    ra.send(encodeAwareness([{ clientID: 1001, clock: 2, state: { user: fake, cursors: [], autosave: false } }]));
    const r1 = await ra.next((f) => entries(f).some((e) => e.clientID === 1001 && e.clock === 2), 3000 * SLOW, from);
    const r2 = await rb.next((f) => entries(f).some((e) => e.clientID === 1001 && e.clock === 2), 3000 * SLOW, fromB);
    check(!!r1 && !!r2, `${label}: a renewal (clock 2) reaches the sender and the other client`);
    const e2 = entries(r2).find((e) => e.clientID === 1001);
    check(pickId(e2.state.user) === pickId(alice) && e2.state.autosave === false, `${label}: the renewal is alice's, with the new fields`);

    // Alice vanishes (no close frame): removal broadcast as (1001, clock 3, null).
    const fromB2 = rb.frames.length;
    ra.ws.terminate();
    const gone = await rb.next((f) => entries(f).some((e) => e.clientID === 1001 && e.state === null), 5000 * SLOW, fromB2);
    check(!!gone, `${label}: alice's socket dropping without a goodbye removes her state for bob`);
    const ge = entries(gone).find((e) => e.clientID === 1001);
    // The relay is specified to send clock + 1 (3); y-websocket's own server sends the last clock
    // (2). Receivers apply both (an equal clock with a null state removes).
    check(ge.clock === 3 || ge.clock === 2, `${label}: the removal entry's clock is the last clock + 1 (3) or the last clock (got ${ge.clock})`);

    // A newcomer after that does not see alice's state any more, but sees bob's.
    const rc = rawRoom(url('alice-token-123', name, sid));
    await rc.opened;
    const bobReplay = await entryOf(rc, 2002, (e) => e.state !== null, 3000 * SLOW);
    check(!!bobReplay, `${label}: a later newcomer gets bob's state`);
    await sleep(300);
    const stale = rc.frames.flatMap(entries).filter((e) => e.clientID === 1001 && e.state !== null);
    check(stale.length === 0, `${label}: and no state for the departed alice`);
    rb.ws.close(); rc.ws.close();
    await sleep(100);
  }
  await scenario('notebook room', room, s.json.sessionId);
  await scenario('globalAwareness', 'JupyterLab:globalAwareness', null);

  // ---- the real clients -----------------------------------------------------------------------------
  const A = await new RoomClient(relay, 'p.ipynb', { user: 'admin', token: 'alice-token-123' }).open();
  const B = await new RoomClient(relay, 'p.ipynb', { user: 'alice', token: 'bob-token-45678' }).open();
  const aId = A.ydoc.clientID, bId = B.ydoc.clientID;
  await waitFor(() => pickId(B.model.awareness.getStates().get(aId)?.user) === pickId(alice)
                   && pickId(A.model.awareness.getStates().get(bId)?.user) === pickId(bob), 5000 * SLOW,
  'y-websocket clients see each other with the relay-given identities',
  () => `A sees ${JSON.stringify([...A.model.awareness.getStates()])}\nB sees ${JSON.stringify([...B.model.awareness.getStates()])}`);
  check(true, 'y-websocket clients see each other with their token identities, not what they claimed');
  A.model.awareness.setLocalStateField('cursors', [{ anchor: 1, head: 2, primary: true, empty: false }]);
  await waitFor(() => B.model.awareness.getStates().get(aId)?.cursors?.[0]?.head === 2, 3000 * SLOW, 'a cursor move reaches the other client');
  check(true, 'a cursor move reaches the other client');
  // A tab that vanishes: no awareness goodbye, no close frame; the relay's removal must do it.
  A.provider.shouldConnect = false;
  A.provider.ws.terminate();
  await waitFor(() => !B.model.awareness.getStates().has(aId), 5000 * SLOW, 'a vanished client is removed from the other\'s awareness');
  check(true, 'a y-websocket client whose socket drops is removed from the other\'s awareness by the relay');
  A.close();
  const C = await new RoomClient(relay, 'p.ipynb', { user: 'carol', token: 'alice-token-123' }).open();
  const cId = C.ydoc.clientID;
  await waitFor(() => B.model.awareness.getStates().has(cId), 5000 * SLOW, 'a third client appears');
  C.close();
  await waitFor(() => !B.model.awareness.getStates().has(cId), 5000 * SLOW, 'destroy() removes the state from the other client');
  check(true, 'provider.destroy() removes a client from the other\'s awareness');
  B.close();
  await relay.stop();
  rmSync(dir, { recursive: true, force: true });
});
