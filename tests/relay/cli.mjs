// cli.mjs: run the `tandem` command-line client (clients/tandem.c) from a test. The binary is
// TANDEM_CLI, or TANDEM_BUILD/clients/tandem. run() is asynchronous on purpose: a test may serve
// the client's requests from the same process, which spawnSync would block.
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';

export const CLI = process.env.TANDEM_CLI || (process.env.TANDEM_BUILD ? join(process.env.TANDEM_BUILD, 'clients/tandem') : '');

export function skipUnlessCli() {
  if (!CLI || !existsSync(CLI)) { console.log('SKIP: the tandem client is not built (TANDEM_CLI / TANDEM_BUILD)'); process.exit(77); }
}

// Runs tandem with args; env replaces TANDEM_URL / TANDEM_TOKEN / JUPYTER_TOKEN from the test's own
// environment (which never leak in). Resolves {code, signal, out, err, ms}.
export function run(args, { env = {}, input = null, timeoutMs = 30_000 } = {}) {
  const clean = { ...process.env };
  for (const k of ['TANDEM_URL', 'TANDEM_TOKEN', 'JUPYTER_TOKEN']) delete clean[k];
  const t0 = Date.now();
  return new Promise((resolve, reject) => {
    const p = spawn(CLI, args, { env: { ...clean, ...env }, stdio: ['pipe', 'pipe', 'pipe'] });
    let out = '', err = '';
    p.stdout.on('data', (d) => { out += d; });
    p.stderr.on('data', (d) => { err += d; });
    const t = setTimeout(() => { p.kill('SIGKILL'); reject(new Error(`tandem ${args.join(' ')}: no exit within ${timeoutMs} ms`)); }, timeoutMs);
    p.on('close', (code, signal) => { clearTimeout(t); resolve({ code, signal, out, err, ms: Date.now() - t0 }); });
    p.stdin.on('error', () => {});
    p.stdin.end(input ?? '');
  });
}

// The client with --url/--token for one user of a relay.
export function as(relay, token) {
  return (args, opts) => run(['--url', relay.base, '--token', token, ...args], opts);
}
