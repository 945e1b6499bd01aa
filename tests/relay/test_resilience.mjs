// test_resilience.mjs: what happens when things go wrong, seen by raw ws clients on tandem-lua.
// 1. A client that drops briefly gets what it missed replayed on reconnect (same session_id),
//    including its own execute_reply; the buffer is bounded (oldest dropped, newest kept).
// 2. A client that stops reading is closed (1008, "too slow") past max_send_queue while another
//    client on the same kernel receives every message.
// 3. kill -9 of the kernel: clients see `restarting`, then `idle`, and can execute again.
// 4. A kernel that stops answering its heartbeat (SIGSTOP) is detected and restarted the same way.
// 5. A kernel that keeps dying is declared `dead` (status notice, model with a reason).
import { writeFileSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startRelay, check, skipUnlessReady, watchdog, BUILD } from './relay.mjs';
import { KClient, until, sleep, kernelPid } from './kws.mjs';

skipUnlessReady();
let relay;
const dog = watchdog(90_000, () => relay);
const scratch = join(tmpdir(), `tandem-res-${process.pid}`);
const flag = join(scratch, 'fail-now');
mkdirSync(join(scratch, 'kernels/flaky'), { recursive: true });
// A kernelspec that runs tandem-kernel until the flag file exists, then fails at once.
writeFileSync(join(scratch, 'kernels/flaky/kernel.json'), JSON.stringify({
  argv: ['sh', '-c', `test -e ${flag} && exit 3; exec ${BUILD}/kernel/tandem-kernel -f "$0"`, '{connection_file}'],
  display_name: 'flaky', language: 'lua', interrupt_mode: 'signal' }));
const cfg = join(scratch, 'cfg.json');
writeFileSync(cfg, JSON.stringify({ max_offline_bytes: 40000, offline_grace_seconds: 30,
  max_send_queue: 4000000, heartbeat_interval: 0.5, heartbeat_timeout: 2, iopub_msg_rate_limit: 0,
  iopub_data_rate_limit: 0 }));
relay = await startRelay({ args: ['--config', cfg],
  env: { JUPYTER_PATH: `${scratch}:${join(BUILD, 'share/jupyter')}` } });

const k = (await relay.api('POST', '/api/kernels', { name: 'tandem-lua' })).json;
const A = await new KClient(relay, k.id).open();
check((await A.reply(A.send('kernel_info_request', {}))) !== null, 'A: kernel_info_reply');

// ---- 1. offline buffer and replay ---------------------------------------------------------
const ex = A.execute('os.execute("sleep 0.4") for i = 1, 3 do print("buffered " .. i) end');
await sleep(100);
await A.close();
check((await relay.api('GET', `/api/kernels/${k.id}`)).json.connections === 0, 'A away: 0 connections');
await sleep(900);
A.msgs.length = 0;
await A.open();
check(await until(() => A.of(ex, 'execute_reply').length === 1), 'replayed: own execute_reply after reconnect');
check(A.of(ex, 'stream').map((m) => m.content.text).join('') === 'buffered 1\nbuffered 2\nbuffered 3\n',
      'replayed: the output produced while away, in order');

// Bounded: B floods while A is away; A gets the newest part, not all of it.
const B = await new KClient(relay, k.id).open();
await A.close();
const flood = B.execute('for i = 1, 2000 do display(string.rep("x", 100) .. i) end');
const fr = await B.reply(flood);
check(fr !== null && B.of(flood, 'display_data').length === 2000, 'B: 2000 display_data messages');
A.msgs.length = 0;
await A.open();
await until(() => A.of(flood, 'status').some((m) => m.content.execution_state === 'idle'), 5000);
const got = A.of(flood, 'display_data');
check(got.length > 10 && got.length < 400, `bounded replay: ${got.length} of 2000 kept (40 kB bound)`);
check(/x2000\b/.test(got.at(-1).content.data['text/plain']), 'bounded replay keeps the newest');

// ---- 2. slow client ----------------------------------------------------------------------
const C = await new KClient(relay, k.id).open();
C.ws._socket.pause(); // stops reading: its frames pile up in the relay
B.msgs.length = 0;
// Paced (8 x 64 kB, then 50 ms: few frames, many bytes) so that only a reader that stopped can
// fall 4 MB behind, even in a sanitizer build.
const big = B.execute('local s = string.rep("y", 65536) for r = 1, 50 do for i = 1, 8 do display(s) end os.execute("sleep 0.05") end');
// Resume C once the relay has given up on it, so the close frame can still reach it.
check(await until(() => /client too slow/.test(relay.stderr()), 20000), 'the relay drops C');
C.ws._socket.resume();
check((await B.reply(big, 30000)) !== null && B.of(big, 'display_data').length === 400,
      `B receives all 400 messages (26 MB) while C stalls (${B.of(big, 'display_data').length} ${JSON.stringify(B.closed)})`);
check(await until(() => C.closed, 15000), 'C is closed');
// KNOWN GAP: with the peer's pipe choked, lws 4.1.6 often drops our close frame (1008 + reason)
// and the peer sees 1006; the reason is always in the relay's log.
check((C.closed.code === 1008 && /too slow/.test(C.closed.reason)) || C.closed.code === 1006,
      `C closed with ${C.closed.code} "${C.closed.reason}"`);
check(/client too slow, over 4000000 bytes queued/.test(relay.stderr()), 'the relay logged why');
check((await relay.api('GET', `/api/kernels/${k.id}`)).json.connections === 2, 'A and B still connected');

// ---- 3. kill -9: automatic restart -------------------------------------------------------
async function restartedBy(signal, what) {
  A.msgs.length = 0;
  const pid = kernelPid(k.id);
  process.kill(pid, signal);
  check(await until(() => A.statuses().includes('restarting'), 15000), `${what}: restarting notice`);
  check(await until(() => A.statuses().slice(A.statuses().indexOf('restarting')).includes('idle'), 15000),
        `${what}: then idle ${JSON.stringify(A.msgs.map((m) => [m.channel, m.header.msg_type, m.parent_header.msg_type, m.content.execution_state]))}`);
  const e = A.execute('print(6 * 7)');
  check((await A.reply(e)) !== null && A.of(e, 'stream')[0]?.content.text === '42\n', `${what}: executes again`);
  check(kernelPid(k.id) !== pid, `${what}: new process`);
  const m = (await relay.api('GET', `/api/kernels/${k.id}`)).json;
  check(m.id === k.id && m.execution_state === 'idle', `${what}: same kernel id, idle`);
  if (signal === 'SIGSTOP') try { process.kill(pid, 'SIGKILL'); } catch { /* gone */ }
}
await restartedBy('SIGKILL', 'kill -9');

// ---- 4. hung kernel (heartbeat) ----------------------------------------------------------
await restartedBy('SIGSTOP', 'SIGSTOP');
check(/heartbeat/.test(relay.stderr()), 'the relay logged the missed heartbeat');

// ---- 5. dead after repeated failures -----------------------------------------------------
const f = (await relay.api('POST', '/api/kernels', { name: 'flaky' })).json;
const D = await new KClient(relay, f.id).open();
check((await D.reply(D.send('kernel_info_request', {}))) !== null, 'flaky kernel answers');
writeFileSync(flag, '');
process.kill(kernelPid(f.id), 'SIGKILL');
check(await until(() => D.statuses().includes('dead'), 20000), 'dead notice after repeated failures');
const dm = (await relay.api('GET', `/api/kernels/${f.id}`)).json;
check(dm.execution_state === 'dead' && typeof dm.reason === 'string', `dead model (${dm.reason})`);

const stop = await relay.stop();
check(stop.code === 0 && stop.leftover.length === 0, 'relay exits cleanly');
clearTimeout(dog);
process.exit(0);
