// test_ratelimit.mjs: jupyter_server's IOPub rate limiter, with its defaults (1000 msg/s, 1e6 B/s,
// 3 s window). A 20 000-message flood reaches a v1 and a legacy client as a prefix plus one stderr
// notice worded as jupyter_server words it; the reply and the final idle still arrive; the limiter
// resets on idle; a stream flood trips the data limit; --no-rate-limit delivers everything.
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
await B.reply(B.send('kernel_info_request', {}));
const ex2 = B.execute(FLOOD);
check((await B.reply(ex2, 30000)) !== null && B.of(ex2, 'display_data').length === 20000 &&
      !B.of(ex2, 'stream').length, '--no-rate-limit: 20000 of 20000, no notice');
const stop = await relay.stop();
check(stop.code === 0, 'relay exits cleanly');
clearTimeout(dog);
process.exit(0);
