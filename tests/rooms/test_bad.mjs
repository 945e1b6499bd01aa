// test_bad.mjs (rooms_bad): bad input on a room closes only the socket that sent it, with a reason,
// leaves the document unchanged, and the other clients keep syncing:
// garbage bytes, a truncated frame, a well-framed but truncated update, an update of garbage,
// a malformed state vector, an unknown sync step, malformed awareness, an unknown message type
// ([9]), a malformed RAW message, a text frame, an oversized message (max_ws_message 256 KiB);
// and refusals at open: unknown fileId (4404), stale sessionId (1003 + JSON {"reason":
// "unknown_session","sessionId","reloadable":true}, ≤ 123 bytes), no token or a wrong token (refused
// before any document byte is sent).
import { writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import './skip.mjs';   // exits 77 first when the relay or node_modules is missing
const { startRelay, check, watchdog, main, sleep, waitFor, RoomClient, waitConverged, rawRoom,
  closedWithin, syncFrame, makeNotebook, encoding, Y, YNotebook, SLOW } = await import('./rooms.mjs');

let relay;
watchdog(150_000, () => relay);
const frame = (...parts) => {
  const e = encoding.createEncoder();
  for (const [kind, v] of parts) {
    if (kind === 'u') encoding.writeVarUint(e, v);
    else if (kind === 'a') encoding.writeVarUint8Array(e, v);
    else if (kind === 's') encoding.writeVarString(e, v);
    else if (kind === 'raw') encoding.writeUint8Array(e, v);
  }
  return encoding.toUint8Array(e);
};

await main(async () => {
  const cfg = join(tmpdir(), `tandem-rooms-bad-${process.pid}.json`);
  writeFileSync(cfg, JSON.stringify({ max_ws_message: 262144 }));
  relay = await startRelay({ args: ['--config', cfg] });
  writeFileSync(join(relay.root, 'bad.ipynb'), JSON.stringify(makeNotebook([{ id: 'one', source: 'x = 1\n' }, { id: 'two', source: 'y = 2\n' }])));
  const A = await new RoomClient(relay, 'bad.ipynb', { user: 'alice', maxBackoffTime: 300 }).open();
  const B = await new RoomClient(relay, 'bad.ipynb', { user: 'bob', maxBackoffTime: 300 }).open();
  const { fileId, sessionId } = A.sessionInfo;
  const room = `json:notebook:${fileId}`;
  const url = (name = room, params = { sessionId, token: relay.token }) => `${relay.roomUrl()}/${name}?${new URLSearchParams(params)}`;
  await waitConverged([A, B], 5000 * SLOW);

  // A real update against the current document, for the truncation cases.
  function realUpdate() {
    const nb = new YNotebook();
    Y.applyUpdate(nb.ydoc, Y.encodeStateAsUpdate(A.ydoc));
    const sv = Y.encodeStateVector(nb.ydoc);
    nb.cells[0].updateSource(0, 0, 'MUST NOT APPEAR ');
    nb.insertCell(0, { cell_type: 'code', id: 'ghost', source: 'MUST NOT APPEAR' });
    const u = Y.encodeStateAsUpdate(nb.ydoc, sv);
    nb.dispose();
    return u;
  }
  const u = realUpdate();
  const big = new Uint8Array(1 << 20).fill(7);

  const cases = [
    ['garbage bytes', () => Uint8Array.from([0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f, 1, 2, 3])],
    ['truncated frame (length prefix longer than the frame)', () => frame(['u', 0], ['u', 2], ['a', u]).subarray(0, 2 + 2 + Math.floor(u.length / 2))],
    ['well-framed truncated update', () => frame(['u', 0], ['u', 2], ['a', u.subarray(0, u.length - 5)])],
    ['update of garbage', () => frame(['u', 0], ['u', 2], ['a', Uint8Array.from([5, 200, 1, 99, 99, 99, 4, 250, 250, 250, 250, 250])])],
    ['step2 of garbage', () => frame(['u', 0], ['u', 1], ['a', Uint8Array.from([1, 1, 0xee, 0xee, 0xee, 0xee, 0xee, 0x01, 0xff])])],
    ['malformed state vector', () => frame(['u', 0], ['u', 0], ['a', Uint8Array.from([3, 0xff, 0xff, 0xff])])],
    ['unknown sync step [0,7]', () => frame(['u', 0], ['u', 7], ['a', new Uint8Array(4)])],
    ['malformed awareness', () => frame(['u', 1], ['a', Uint8Array.from([2, 1, 1, 5, 0x7b, 0x7b])])],
    ['awareness with a non-JSON state', () => frame(['u', 1], ['a', frame(['u', 1], ['u', 77], ['u', 1], ['s', '{not json'])])],
    ['unknown message type [9]', () => Uint8Array.from([9])],
    ['malformed RAW message', () => Uint8Array.from([2, 0xff, 0xff])],
    ['empty binary frame', () => new Uint8Array(0)],
    ['text frame', () => 'hello, room'],
    ['oversized message (1 MiB > max_ws_message)', () => frame(['u', 0], ['u', 2], ['a', big])],
  ];

  for (const [what, make] of cases) {
    const before = A.json();
    const r = rawRoom(url());
    check(await r.opened === 101, `${what}: socket opens`);
    await r.next((f) => f.type === 'sync' && f.step === 0, 3000 * SLOW);
    r.send(make());
    const c = await closedWithin(r, 5000 * SLOW);
    const okCode = what.startsWith('oversized') ? [1009, 1002, 1003] : [1002, 1003];
    check(okCode.includes(c.code) && (c.code === 1009 || c.reason.startsWith('tandem-relay:')),
          `${what}: only that socket is closed, ${okCode.join('/')} with a "tandem-relay:" reason (got ${c.code} "${c.reason}")`);
    // The others are unaffected and keep syncing; the document did not change.
    await sleep(100);
    check(A.connected && B.connected && A.closes.length === 0 && B.closes.length === 0, `${what}: the other clients stay connected`);
    check(A.json() === before && B.json() === before && !before.includes('MUST NOT APPEAR'), `${what}: the document is unchanged`);
    const line = `# after ${what}\n`;
    A.model.cells[1].updateSource(0, 0, line);
    await waitFor(() => B.model.cells[1]?.source.startsWith(line), 3000 * SLOW, `${what}: an edit still reaches the other client`);
  }
  check(true, 'after every bad frame, edits still flow between the good clients');

  // A late joiner gets the good document (the relay's copy was not corrupted).
  const late = await new RoomClient(relay, 'bad.ipynb', { user: 'late' }).open();
  await waitFor(() => late.json() === A.json(), 5000 * SLOW, 'late joiner equals the good clients');
  check(!late.json().includes('MUST NOT APPEAR') && !late.model.cells.some((c) => c.id === 'ghost'), 'the relay\'s document has nothing from the bad frames');
  late.close();

  // ---- refusals at open ---------------------------------------------------------------------------
  async function refused(u) {
    const r = rawRoom(u);
    const st = await r.opened;
    const c = st === 101 ? await closedWithin(r, 5000 * SLOW) : { code: st };
    await sleep(100);
    const docBytes = r.frames.filter((f) => f.type === 'sync' && f.step !== 0 && f.payload.length > 2);
    return { st, c, docBytes, frames: r.frames };
  }
  const badFile = await refused(url(`json:notebook:00000000-1111-2222-3333-444444444444`));
  check(badFile.st === 101 && badFile.c.code === 4404, `unknown fileId -> close 4404 (got ${badFile.st} ${badFile.c.code} "${badFile.c.reason ?? ''}")`);
  check(badFile.docBytes.length === 0, 'unknown fileId: no document sent');

  const stale = await refused(url(room, { sessionId: 'stale-session-0123456789', token: relay.token }));
  check(stale.st === 101 && stale.c.code === 1003, `stale sessionId -> close 1003 (got ${stale.st} ${stale.c.code})`);
  let j = null;
  try { j = JSON.parse(stale.c.reason); } catch { /* checked below */ }
  check(j?.reason === 'unknown_session' && j?.sessionId === 'stale-session-0123456789' && j?.reloadable === true,
        `stale sessionId: reason JSON {"reason":"unknown_session","sessionId":<client's>,"reloadable":true} (got ${stale.c.reason})`);
  check(Buffer.byteLength(stale.c.reason) <= 123, 'stale sessionId: close reason fits a control frame (≤ 123 bytes)');
  check(stale.docBytes.length === 0 && !stale.frames.some((f) => f.type === 'sync' && f.step === 1), 'stale sessionId: no document sent');
  const noSid = await refused(url(room, { token: relay.token }));
  check(noSid.c.code === 1003 || noSid.c.code === 4400 || noSid.st === 400, `no sessionId -> refused (1003, 4400 or HTTP 400; got ${noSid.st} ${noSid.c.code})`);

  // The real client with a stale session: closed with 1003 (JupyterLab then offers a reload).
  const S = new RoomClient(relay, 'bad.ipynb', { user: 'stale', session: { ...A.sessionInfo, sessionId: 'stale-session-0123456789' } });
  await S.open({ wait: false });
  await waitFor(() => S.closes.some((e) => e.code === 1003), 5000 * SLOW, 'y-websocket with a stale session sees close 1003');
  check(S.model.cells.length === 0, 'y-websocket with a stale session: closed 1003, nothing merged either way');
  S.close();

  for (const [what, params, headers] of [['no token', { sessionId }, {}], ['a wrong token', { sessionId, token: 'wrong-token' }, {}],
    ['a wrong Authorization header', { sessionId }, { headers: { Authorization: 'token wrong-token' } }]]) {
    const r = rawRoom(url(room, params), headers);
    const st = await r.opened;
    const c = st === 101 ? await closedWithin(r, 5000 * SLOW) : null;
    check(st === 403 || (st === 101 && c.code !== 'none' && c.code !== 1000),
          `${what}: refused (got ${st === 101 ? `101 then close ${c.code} "${c.reason}"` : `HTTP ${st}`})`);
    check(!r.frames.some((f) => f.type === 'sync' || f.type === 'awareness'), `${what}: no document or awareness byte sent`);
  }
  const noTokGlobal = rawRoom(`${relay.roomUrl()}/JupyterLab:globalAwareness`);
  const stG = await noTokGlobal.opened;
  check(stG === 403 || (stG === 101 && (await closedWithin(noTokGlobal)).code !== 'none'), `globalAwareness without a token: refused (${stG})`);

  // Still fine after all that.
  A.model.cells[0].updateSource(0, 0, '# end\n');
  await waitConverged([A, B], 5000 * SLOW);
  check(A.closes.length === 0 && B.closes.length === 0, 'the good clients were never disconnected');
  check(relay.exited() === null, 'the relay is still running');
  A.close(); B.close();
  await relay.stop();
});
