// kws.mjs: a raw kernel-websocket client for wire-level relay tests (v1 or legacy), plus small
// helpers: wait for a predicate, find a kernel's process id from its connection file name.
import WebSocket from 'ws';
import { execFileSync } from 'node:child_process';
import { encodeV1, decodeV1, makeMsg } from './relay.mjs';

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

export async function until(pred, ms = 10000, step = 20) {
  const t = Date.now();
  while (!pred()) {
    if (Date.now() - t > ms) return false;
    await sleep(step);
  }
  return true;
}

// The pid of the kernel process started for kernel id (its argv names kernel-<id>.json).
export function kernelPid(id) {
  const out = execFileSync('pgrep', ['-f', `kernel-${id}.json`], { encoding: 'utf8' }).trim();
  return Number(out.split('\n')[0]);
}

export class KClient {
  constructor(relay, kernelId, { sid = crypto.randomUUID(), v1 = true, token = relay.token, headers = {} } = {}) {
    Object.assign(this, { relay, kernelId, sid, v1, token, headers });
    this.msgs = [];
    this.closed = null;
  }

  async open() {
    const url = `${this.relay.wsBase}api/kernels/${this.kernelId}/channels?session_id=${this.sid}&token=${this.token}`;
    this.ws = new WebSocket(url, this.v1 ? ['v1.kernel.websocket.jupyter.org'] : [], { headers: this.headers });
    this.closed = null;
    this.ws.on('message', (d, binary) => {
      const m = this.v1 ? decodeV1(d) : JSON.parse(d.toString());
      this.msgs.push(m);
      this.onmsg?.(m);
    });
    this.ws.on('close', (code, reason) => { this.closed = { code, reason: reason.toString() }; });
    await new Promise((res, rej) => { this.ws.once('open', res); this.ws.once('error', rej); });
    return this;
  }

  send(type, content, ch = 'shell') {
    const m = makeMsg(type, content, this.sid, ch);
    this.ws.send(this.v1 ? encodeV1(ch, [m.header, {}, {}, content]) : JSON.stringify(m));
    return m.header.msg_id;
  }

  execute(code, extra = {}) {
    return this.send('execute_request', { code, silent: false, store_history: true, user_expressions: {},
      allow_stdin: false, stop_on_error: true, ...extra });
  }

  of(msgId, type) {
    return this.msgs.filter((m) => m.parent_header.msg_id === msgId && (!type || m.header.msg_type === type));
  }

  // Waits for the reply of msg_id (and its idle status); returns the reply or null.
  async reply(msgId, ms = 15000) {
    const ok = await until(() => this.of(msgId).some((m) => m.header.msg_type.endsWith('_reply')) &&
      this.of(msgId, 'status').some((m) => m.content.execution_state === 'idle'), ms);
    return ok ? this.of(msgId).find((m) => m.header.msg_type.endsWith('_reply')) : null;
  }

  statuses() {
    return this.msgs.filter((m) => m.header.msg_type === 'status').map((m) => m.content.execution_state);
  }

  close() {
    this.ws.close();
    return until(() => this.closed, 5000);
  }
}
