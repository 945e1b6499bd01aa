// relay.mjs: start and stop a tandem-relay for a test: a scratch root, --port 0 (the relay prints
// the URL it bound), a token, and JUPYTER_PATH pointing at the build tree's kernelspecs.
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, readdirSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export const RELAY = process.env.TANDEM_RELAY;
export const BUILD = process.env.TANDEM_BUILD;

export function skipUnlessReady() {
  if (!RELAY || !existsSync(RELAY)) { console.log('SKIP: TANDEM_RELAY not set or missing'); process.exit(77); }
}

export async function startRelay({ token = 'tok-' + Math.random().toString(36).slice(2), args = [], env = {},
                                   root = mkdtempSync(join(tmpdir(), 'tandem-relay-')) } = {}) {
  const proc = spawn(RELAY, ['--root', root, '--port', '0', '--token', token, ...args], {
    env: { ...process.env, JUPYTER_PATH: join(BUILD, 'share/jupyter'), PYDEVD_DISABLE_FILE_VALIDATION: '1', ...env },
    stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  proc.stderr.on('data', (d) => { stderr += d; if (process.env.TD_VERBOSE) process.stderr.write(d); });
  const base = await new Promise((resolve, reject) => {
    let out = '';
    const t = setTimeout(() => reject(new Error('relay did not start: ' + stderr)), 10000);
    proc.stdout.on('data', (d) => {
      out += d;
      const m = out.match(/http:\/\/[^/\s]+\//);
      if (m) { clearTimeout(t); resolve(m[0]); }
    });
    proc.on('exit', (c) => reject(new Error('relay exited ' + c + ': ' + stderr)));
  });
  const exited = new Promise((resolve) => proc.on('exit', (code, sig) => resolve({ code, sig })));
  return {
    base, token, root, proc,
    wsBase: base.replace(/^http/, 'ws'),
    stderr: () => stderr,
    async api(method, path, body, headers = {}) {
      const r = await fetch(base.replace(/\/$/, '') + path, {
        method, headers: { Authorization: `token ${token}`, 'Content-Type': 'application/json', ...headers },
        body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body) });
      const text = await r.text();
      let json = null;
      try { json = text ? JSON.parse(text) : null; } catch { /* not JSON */ }
      return { status: r.status, json, text, headers: r.headers };
    },
    // SIGTERM; resolves with the exit status and whether the runtime dir is clean. The root is
    // removed unless keepRoot (a restart on the same root follows).
    async stop({ keepRoot = false } = {}) {
      proc.kill('SIGTERM');
      const t0 = Date.now();
      const res = await Promise.race([exited, new Promise((r) => setTimeout(() => r(null), 10000))]);
      if (!res) { proc.kill('SIGKILL'); throw new Error('relay did not exit within 10 s of SIGTERM'); }
      const left = existsSync(join(root, '.tandem/runtime')) ? readdirSync(join(root, '.tandem/runtime')) : [];
      if (!keepRoot) rmSync(root, { recursive: true, force: true });
      return { ...res, ms: Date.now() - t0, leftover: left };
    },
  };
}

export function check(cond, what) {
  if (!cond) throw new Error('check failed: ' + what);
  console.log('ok -', what);
}

export function watchdog(ms, relay) {
  return setTimeout(() => {
    console.error('timed out');
    if (relay?.()) console.error(relay().stderr());
    process.exit(2);
  }, ms);
}

// v1.kernel.websocket.jupyter.org encoder/decoder for hand-made frames.
export function encodeV1(channel, parts) {
  const all = [Buffer.from(channel), ...parts.map((p) => Buffer.isBuffer(p) ? p : Buffer.from(typeof p === 'string' ? p : JSON.stringify(p)))];
  const n = all.length + 1;
  const head = Buffer.alloc(8 * (n + 1));
  head.writeBigUInt64LE(BigInt(n), 0);
  let off = 8 * (n + 1);
  all.forEach((p, i) => { head.writeBigUInt64LE(BigInt(off), 8 * (i + 1)); off += p.length; });
  head.writeBigUInt64LE(BigInt(off), 8 * n);
  return Buffer.concat([head, ...all]);
}

export function decodeV1(buf) {
  const n = Number(buf.readBigUInt64LE(0));
  const offs = [];
  for (let i = 0; i < n; i++) offs.push(Number(buf.readBigUInt64LE(8 * (i + 1))));
  const parts = [];
  for (let i = 0; i + 1 < n; i++) parts.push(buf.subarray(offs[i], offs[i + 1]));
  const [channel, header, parent, metadata, content, ...buffers] = parts;
  return { channel: channel.toString(), header: JSON.parse(header), parent_header: JSON.parse(parent),
    metadata: JSON.parse(metadata), content: JSON.parse(content), buffers };
}

export function makeMsg(msg_type, content, session, channel = 'shell') {
  const id = crypto.randomUUID();
  return { channel, header: { msg_id: id, msg_type, session, username: 'test', date: new Date().toISOString(), version: '5.3' },
    parent_header: {}, metadata: {}, content, buffers: [] };
}
