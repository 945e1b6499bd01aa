// test_orphans.mjs: kernels do not outlive a relay that dies without shutting them down. The relay
// passes JPY_PARENT_PID (as jupyter_client does); tandem-kernel and ipykernel watch their parent
// and exit when it is gone. A relay killed with SIGKILL must leave no kernel process behind.
import { rmSync } from 'node:fs';
import { startRelay, check, skipUnlessReady, watchdog } from './relay.mjs';
import { KClient, until, kernelPid } from './kws.mjs';

skipUnlessReady();
let relay;
const dog = watchdog(90000, () => relay);
relay = await startRelay();
const alive = (pid) => { try { process.kill(pid, 0); return true; } catch { return false; } };
const pids = {};
for (const name of ['tandem-lua', 'python3']) {
  const k = (await relay.api('POST', '/api/kernels', { name })).json;
  const c = await new KClient(relay, k.id).open();
  check((await c.reply(c.send('kernel_info_request', {}), 60000)) !== null, `${name} kernel answers`);
  c.ws.close();
  pids[name] = kernelPid(k.id);
  check(pids[name] > 0 && alive(pids[name]), `${name} kernel process ${pids[name]} runs`);
}
const exited = new Promise((res) => relay.proc.on('exit', res));
relay.proc.kill('SIGKILL');
await exited;
for (const [name, pid] of Object.entries(pids))
  check(await until(() => !alive(pid), 15000), `${name} kernel exits after its relay was killed`);
rmSync(relay.root, { recursive: true, force: true });
clearTimeout(dog);
process.exit(0);
