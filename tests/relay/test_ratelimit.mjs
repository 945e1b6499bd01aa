// test_ratelimit.mjs: jupyter_server's IOPub rate limiter, with its defaults (1000 msg/s, 1e6 B/s,
// 3 s window). A 20 000-message flood reaches a v1 and a legacy client as a prefix plus one stderr
// notice worded as jupyter_server words it; the reply and the final idle still arrive; the limiter
// resets on idle; a stream flood trips the data limit; --no-rate-limit delivers everything, whole and
// in order, to a v1 and a legacy client, small messages batched around ones larger than a batch.
import { startRelay, check, skipUnlessReady, watchdog } from './relay.mjs';
import { KClient, until } from './kws.mjs';

skipUnlessReady();
let relay;
const dog = watchdog(60_000, () => relay);
relay = await startRelay();
const FLOOD = 'for i = 1, 20000 do display(i) end';
const k = (await relay.api('POST', '/api/kernels', { name: 'tandem-lua' })).json;
const A = await new KClient(relay, k.id).open();
const L = await new KClient(relay, k.id, { v1: false }).open();
check((await A.reply(A.send('kernel_info_request', {}))) !== null, 'kernel ready');

const ex = A.execute(FLOOD);
check((await A.reply(ex, 30000)) !== null, 'execute_reply and idle arrive despite the limiter');
for (const [c, name] of [[A, 'v1'], [L, 'legacy']]) {
  await until(() => c.of(ex, 'status').some((m) => m.content.execution_state === 'idle'), 5000);
  const shown = c.of(ex, 'display_data').length;
  const notes = c.of(ex, 'stream').filter((m) => m.content.name === 'stderr');
  check(shown >= 2900 && shown < 20000, `${name}: ${shown} of 20000 display_data delivered`);
  // One notice per excursion over the limit (a slow run can resume and trip it again).
  check(notes.length >= 1 && notes[0].content.text.startsWith(
    'IOPub message rate exceeded.\nThe Jupyter server will temporarily stop sending output\nto the client'), `${name}: ${notes.length} notice(s)`);
  check(notes[0].content.text.includes('ServerApp.iopub_msg_rate_limit=1000.0 (msgs/sec)\nServerApp.rate_limit_window=3.0 (secs)\n'),
        `${name}: the notice states the limits`);
  check(notes[0].parent_header.msg_id === ex, `${name}: the notice has the flood's parent`);
}
const small = A.execute('for i = 1, 50 do display(i) end');
await A.reply(small);
check(A.of(small, 'display_data').length === 50, 'after idle the limiter has reset: 50 of 50');

const data = A.execute('local s = string.rep("z", 65000) for i = 1, 100 do io.write(s) end');
check((await A.reply(data, 30000)) !== null, 'stream flood finished');
const dn = A.of(data, 'stream').filter((m) => m.content.name === 'stderr');
check(dn.length >= 1 && dn[0].content.text.startsWith('IOPub data rate exceeded.') &&
      dn[0].content.text.includes('ServerApp.iopub_data_rate_limit=1000000.0 (bytes/sec)'), 'data limit notice');
const bytes = A.of(data, 'stream').filter((m) => m.content.name === 'stdout').reduce((n, m) => n + m.content.text.length, 0);
check(bytes > 2.5e6 && bytes < 6.5e6, `stream bytes delivered: ${bytes} of 6500000`);
check(/IOPub message rate exceeded for a client/.test(relay.stderr()), 'relay logged it');
await relay.stop();

relay = await startRelay({ args: ['--no-rate-limit'] });
const k2 = (await relay.api('POST', '/api/kernels', { name: 'tandem-lua' })).json;
const B = await new KClient(relay, k2.id).open();
const BL = await new KClient(relay, k2.id, { v1: false }).open();
await B.reply(B.send('kernel_info_request', {}));
const ex2 = B.execute(FLOOD);
check((await B.reply(ex2, 30000)) !== null && B.of(ex2, 'display_data').length === 20000 &&
      !B.of(ex2, 'stream').length, '--no-rate-limit: 20000 of 20000, no notice');
// The relay writes a client's queued frames in one send (framing them itself), and a frame over
// the batch size alone: every message must still arrive whole and in order, on both protocols.
await until(() => BL.of(ex2, 'status').some((m) => m.content.execution_state === 'idle'), 10000);
const texts = (c, id) => c.of(id, 'display_data').map((m) => m.content.data['text/plain']);
const inOrder = (t, n) => t.length === n && t.every((x, i) => x === String(i + 1));
check(inOrder(texts(B, ex2), 20000) && inOrder(texts(BL, ex2), 20000), 'v1 and legacy: all 20000, whole and in order');
// 100 KB frames batch with small ones (64-bit lengths in our headers); 300 KB is over a batch.
const mixed = B.execute('for i = 1, 400 do display(i) if i % 100 == 0 then display(string.rep("x", 100000)) end ' +
                        'if i == 250 then display(string.rep("y", 300000)) end end');
check((await B.reply(mixed, 30000)) !== null, 'mixed small, 100 KB and 300 KB messages finished');
await until(() => BL.of(mixed, 'status').some((m) => m.content.execution_state === 'idle'), 10000);
const want = [];
for (let i = 1; i <= 400; i++) {
  want.push(String(i));
  if (i % 100 === 0) want.push('x'.repeat(100000));
  if (i === 250) want.push('y'.repeat(300000));
}
for (const [c, name] of [[B, 'v1'], [BL, 'legacy']]) {
  const got = texts(c, mixed);
  check(got.length === want.length && got.every((x, i) => x === want[i]), `${name}: small and large frames arrive whole, in order`);
}
const stop = await relay.stop();
check(stop.code === 0, 'relay exits cleanly');
clearTimeout(dog);
process.exit(0);
