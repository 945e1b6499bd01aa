// test_share.mjs: one ipykernel shared by two users (a --users file gives each its own token and
// identity). Both see all IOPub; each sees only its own shell replies; input() prompts reach only
// the requester; a raw legacy websocket (no subprotocol: none echoed) gets JSON text frames and a
// binary legacy frame for a message with buffers, and a raw v1 websocket gets v1 frames with the
// same buffers; a reconnect with the same session_id replaces the stale socket.
import WebSocket from 'ws';
import { writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ServerConnection, KernelManager } from '@jupyterlab/services';
import { startRelay, check, skipUnlessReady, watchdog, decodeV1, encodeV1, makeMsg } from './relay.mjs';

skipUnlessReady();
let relay;
const dog = watchdog(120_000, () => relay);
const usersFile = join(tmpdir(), `tandem-users-${process.pid}.json`);
writeFileSync(usersFile, JSON.stringify([
  { token: 'alice-token-1', username: 'alice', name: 'Alice Liddell', color: '#e91e63' },
  { token: 'bob-token-22', username: 'bob', display_name: 'Bob B.' }]));
relay = await startRelay({ args: ['--users', usersFile] });

// /api/me answers with the caller's identity.
const meA = await relay.api('GET', '/api/me?permissions=' + encodeURIComponent('{"contents":["read"]}'), undefined,
                            { Authorization: 'token alice-token-1' });
check(meA.status === 200 && meA.json.identity.username === 'alice' && meA.json.identity.initials === 'AL' &&
      meA.json.permissions.contents[0] === 'read', '/api/me: alice identity and permissions');
const meB = await relay.api('GET', '/api/me', undefined, { Authorization: 'Bearer bob-token-22' });
check(meB.json.identity.username === 'bob' && meB.json.identity.display_name === 'Bob B.', '/api/me: bob via Bearer');

function conn(token) {
  const serverSettings = ServerConnection.makeSettings({
    baseUrl: relay.base, wsUrl: relay.wsBase, token, appendToken: true, WebSocket });
  return new KernelManager({ serverSettings });
}
const kmA = conn('alice-token-1'), kmB = conn('bob-token-22');
const A = await kmA.startNew({ name: 'python3' });
await A.info;
const B = kmB.connectTo({ model: { id: A.id, name: 'python3' } });
await B.info;
check(A.clientId !== B.clientId, 'two client sessions on one kernel');
const model = (await relay.api('GET', `/api/kernels/${A.id}`)).json;
check(model.connections === 2, 'kernel model counts 2 connections');

const seenByB = [];
B.anyMessage.connect((_, { msg, direction }) => { if (direction === 'recv') seenByB.push(msg); });
const future = A.requestExecute({ code: 'print("from alice")' });
const outA = [];
future.onIOPub = (m) => { if (m.header.msg_type === 'stream') outA.push(m.content.text); };
await future.done;
await new Promise((r) => setTimeout(r, 300));
const streamB = seenByB.find((m) => m.header.msg_type === 'stream' && m.parent_header.session === A.clientId);
check(outA.join('') === 'from alice\n', 'alice sees her output');
check(streamB && streamB.content.text === 'from alice\n', "bob sees alice's IOPub output");
check(!seenByB.some((m) => m.header.msg_type === 'execute_reply' && m.parent_header.session === A.clientId),
      "bob does not see alice's execute_reply");

// input(): the prompt goes to alice only; her reply reaches the kernel.
seenByB.length = 0;
const f2 = A.requestExecute({ code: 'x = input("name? ")\nprint("hello", x)', allow_stdin: true });
let prompt = null;
f2.onStdin = (m) => { prompt = m.content.prompt; f2.sendInputReply({ status: 'ok', value: 'alice' }, m.header); };
const out2 = [];
f2.onIOPub = (m) => { if (m.header.msg_type === 'stream') out2.push(m.content.text); };
await f2.done;
await new Promise((r) => setTimeout(r, 300));
check(prompt === 'name? ' && out2.join('').includes('hello alice'), 'input_request reaches alice, her reply the kernel');
check(!seenByB.some((m) => m.header.msg_type === 'input_request'), 'bob gets no input_request');
check(seenByB.some((m) => m.header.msg_type === 'stream' && m.content.text.includes('hello alice')), 'bob sees the result');

// Raw websockets: legacy (no subprotocol offered, none echoed) and v1, both receiving a comm
// message with a binary buffer sent by the kernel.
function openWs(protocols, sid) {
  const url = `${relay.wsBase}api/kernels/${A.id}/channels?session_id=${sid}&token=${relay.token}`;
  return new Promise((resolve, reject) => {
    const ws = protocols ? new WebSocket(url, protocols) : new WebSocket(url);
    ws.binaryType = 'nodebuffer';
    ws.msgs = [];
    ws.on('message', (data, isBinary) => ws.msgs.push({ data, isBinary }));
    ws.on('open', () => resolve(ws));
    ws.on('error', reject);
  });
}
const legacy = await openWs(null, 'legacy-' + Date.now());
check(legacy.protocol === '', 'legacy socket: no subprotocol echoed');
const v1 = await openWs(['v1.kernel.websocket.jupyter.org'], 'v1-' + Date.now());
check(v1.protocol === 'v1.kernel.websocket.jupyter.org', 'v1 socket: subprotocol echoed');
const code = 'from ipykernel.comm import Comm\nc = Comm(target_name="tandem_test", data={})\n' +
             'c.send(data={"n": 3}, buffers=[b"xyz"])';
const exec = makeMsg('execute_request', { code, silent: false, store_history: false, user_expressions: {}, allow_stdin: false, stop_on_error: true }, 'legacy-client');
legacy.send(JSON.stringify(exec));
const until = async (pred, ms = 8000) => { const t = Date.now(); while (!pred()) { if (Date.now() - t > ms) return false; await new Promise((r) => setTimeout(r, 50)); } return true; };
const legacyMsg = (f) => {
  if (!f.isBinary) return JSON.parse(f.data.toString());
  const n = f.data.readUInt32BE(0), offs = [];
  for (let i = 0; i < n; i++) offs.push(f.data.readUInt32BE(4 * (i + 1)));
  const m = JSON.parse(f.data.subarray(offs[0], offs[1] ?? f.data.length).toString());
  m.buffers = offs.slice(1).map((o, i) => f.data.subarray(o, offs[i + 2] ?? f.data.length));
  return m;
};
check(await until(() => legacy.msgs.some((f) => legacyMsg(f).msg_type === 'execute_reply')), 'legacy: execute_reply arrives as JSON');
const lcomm = legacy.msgs.map(legacyMsg).find((m) => m.msg_type === 'comm_msg');
check(legacy.msgs.some((f) => f.isBinary) && lcomm && lcomm.buffers[0].toString() === 'xyz' && lcomm.channel === 'iopub',
      'legacy: comm_msg with buffer arrives as a binary legacy frame');
check(await until(() => v1.msgs.some((f) => f.isBinary && decodeV1(f.data).header.msg_type === 'comm_msg')), 'v1: comm_msg arrives');
const vcomm = v1.msgs.map((f) => decodeV1(f.data)).find((m) => m.header.msg_type === 'comm_msg');
check(vcomm.buffers.length === 1 && vcomm.buffers[0].toString() === 'xyz' && vcomm.content.data.n === 3, 'v1: buffer intact');
check(!v1.msgs.some((f) => decodeV1(f.data).header.msg_type === 'execute_reply'), "v1 socket does not get the legacy socket's reply");

// v1 request with a client buffer: the kernel accepts it (comm_msg to an unknown comm is ignored,
// then kernel_info still answers on the same socket).
v1.send(encodeV1('shell', [makeMsg('comm_msg', { comm_id: 'nope', data: {} }, 'v1c').header, {}, {}, { comm_id: 'nope', data: {} }, Buffer.from([1, 2, 3])]));
const ki = makeMsg('kernel_info_request', {}, 'v1c');
v1.send(encodeV1('shell', [ki.header, {}, {}, {}]));
check(await until(() => v1.msgs.some((f) => { const m = decodeV1(f.data); return m.header.msg_type === 'kernel_info_reply' && m.parent_header.msg_id === ki.header.msg_id; })),
      'v1: kernel_info_reply after a buffered client message');

// Same session_id again: the stale socket is closed with a reason, the new one works.
const sid = 'dup-' + Date.now();
const first = await openWs(['v1.kernel.websocket.jupyter.org'], sid);
const closed = new Promise((r) => first.on('close', (c, reason) => r({ c, reason: reason.toString() })));
const second = await openWs(['v1.kernel.websocket.jupyter.org'], sid);
const cl = await closed;
check(cl.reason.includes('replaced'), `stale connection replaced (${cl.c} ${cl.reason})`);
const ki2 = makeMsg('kernel_info_request', {}, sid);
second.send(encodeV1('shell', [ki2.header, {}, {}, {}]));
check(await until(() => second.msgs.some((f) => decodeV1(f.data).parent_header.msg_id === ki2.header.msg_id)), 'replacement socket gets its reply');

for (const w of [legacy, v1, second]) w.close();
await A.shutdown();
kmA.dispose(); kmB.dispose();
const stop = await relay.stop();
check(stop.code === 0 && stop.leftover.length === 0, 'relay exits cleanly');
clearTimeout(dog);
process.exit(0);
