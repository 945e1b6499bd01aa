// test_lab.mjs: JupyterLab's client library (@jupyterlab/services 7.6.6) against tandem-relay, on
// tandem-lua and on ipykernel: start a session (POST /api/sessions + v1 websocket), execute,
// interrupt a busy kernel, restart (REST 200 only once the new kernel answers), shut down; then
// SIGTERM the relay: it must exit within seconds and leave no connection file behind.
import WebSocket from 'ws';
import { ServerConnection, KernelManager, SessionManager } from '@jupyterlab/services';
import { startRelay, check, skipUnlessReady, watchdog } from './relay.mjs';

skipUnlessReady();
let relay;
const dog = watchdog(150_000, () => relay);
relay = await startRelay();
const serverSettings = ServerConnection.makeSettings({
  baseUrl: relay.base, wsUrl: relay.wsBase, token: relay.token, appendToken: true, WebSocket });
const kernels = new KernelManager({ serverSettings });
const sessions = new SessionManager({ kernelManager: kernels, serverSettings });

async function run(kernel, code) {
  const out = [];
  const future = kernel.requestExecute({ code, stop_on_error: true });
  future.onIOPub = (msg) => {
    const t = msg.header.msg_type;
    if (t === 'stream') out.push(msg.content.text);
    else if (t === 'execute_result') out.push(msg.content.data['text/plain']);
    else if (t === 'error') out.push(`${msg.content.ename}`);
  };
  const reply = await future.done.catch((e) => e);
  return { reply, out: out.join('') };
}

const cases = [
  { spec: 'tandem-lua', print: 'print(6*7)', busy: 'local x = 0 while true do x = x + 1 end' },
  { spec: 'python3', print: 'print(6*7)', busy: 'import time\nfor i in range(600): time.sleep(0.05)' },
];
for (const c of cases) {
  const session = await sessions.startNew({
    path: `lab-${c.spec}.ipynb`, name: `lab-${c.spec}.ipynb`, type: 'notebook', kernel: { name: c.spec } });
  const kernel = session.kernel;
  const info = await kernel.info;
  check(kernel._ws?.protocol === 'v1.kernel.websocket.jupyter.org', `${c.spec}: v1 subprotocol selected`);
  check(typeof info.protocol_version === 'string', `${c.spec}: kernel_info_reply ${info.protocol_version}`);

  let r = await run(kernel, c.print);
  check(r.reply.content.status === 'ok' && r.out === '42\n', `${c.spec}: execute prints 42`);

  // The list endpoints show the kernel with a valid model.
  const list = await relay.api('GET', '/api/kernels');
  const model = list.json.find((k) => k.id === kernel.id);
  check(model && /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$/.test(model.last_activity), `${c.spec}: model last_activity format`);
  check(model.connections === 1 && model.execution_state === 'idle', `${c.spec}: connections 1, idle`);

  // Interrupt a busy kernel through REST; the execution ends with an error reply.
  const future = kernel.requestExecute({ code: c.busy });
  await new Promise((res) => setTimeout(res, 700));
  const busy = (await relay.api('GET', `/api/kernels/${kernel.id}`)).json;
  check(busy.execution_state === 'busy', `${c.spec}: execution_state busy while running`);
  const t0 = Date.now();
  await kernel.interrupt();
  const reply = await future.done.catch((e) => e);
  check(reply?.content?.status === 'error' && Date.now() - t0 < 10000, `${c.spec}: interrupt ends the run (${reply?.content?.ename})`);

  // Restart: REST 200 after the new kernel answers; execution_count starts over.
  await kernel.restart();
  await kernel.info;
  r = await run(kernel, c.print);
  if (!r.reply?.content) console.error('after restart:', r.reply, relay.stderr().split('\n').slice(-15).join('\n'));
  check(r.reply.content.status === 'ok' && r.reply.content.execution_count === 1 && r.out === '42\n',
        `${c.spec}: after restart execution_count is 1`);

  // Shut down through the session: the kernel leaves the list.
  const id = kernel.id;
  await session.shutdown();
  const after = await relay.api('GET', '/api/kernels');
  check(!after.json.some((k) => k.id === id), `${c.spec}: session shutdown removes the kernel`);
  const gone = await relay.api('GET', `/api/kernels/${id}`);
  check(gone.status === 404 && gone.json.message.includes(id), `${c.spec}: GET of the deleted kernel is 404`);
}

// A kernel left running is shut down by SIGTERM.
await kernels.startNew({ name: 'tandem-lua' });
sessions.dispose();
kernels.dispose();
const stop = await relay.stop();
check(stop.code === 0 && stop.ms < 8000, `SIGTERM: relay exits 0 in ${stop.ms} ms`);
check(stop.leftover.length === 0, 'no connection files left in .tandem/runtime');
clearTimeout(dog);
process.exit(0);
