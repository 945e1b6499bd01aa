// test_browser.mjs: a real UI end to end. Debian's classic Notebook 6.4.12 runs in gateway mode in
// front of the relay (browser -> notebook -> relay -> tandem-lua); headless Chromium, driven by
// playwright-core, opens a notebook, waits for the kernel, runs its Lua cell and reads the output.
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, writeFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startRelay, check, skipUnlessReady, watchdog } from './relay.mjs';

skipUnlessReady();
const CHROMIUM = '/usr/bin/chromium', NOTEBOOK = '/usr/bin/jupyter-notebook';
let chromium;
try { ({ chromium } = await import('playwright-core')); } catch { /* below */ }
if (!chromium || !existsSync(CHROMIUM) || !existsSync(NOTEBOOK)) {
  console.log('SKIP: needs playwright-core, /usr/bin/chromium and /usr/bin/jupyter-notebook');
  process.exit(77);
}
let relay, nb, browser;
const dog = watchdog(60_000, () => relay);
const port = await new Promise((res) => { const s = createServer().listen(0, '127.0.0.1', () => { const p = s.address().port; s.close(() => res(p)); }); });
relay = await startRelay();
const dir = mkdtempSync(join(tmpdir(), 'tandem-nb-'));
writeFileSync(join(dir, 'demo.ipynb'), JSON.stringify({
  nbformat: 4, nbformat_minor: 5,
  metadata: { kernelspec: { name: 'tandem-lua', display_name: 'Lua 5.4 (Tandem)', language: 'lua' } },
  cells: [{ cell_type: 'code', id: 'c1', metadata: {}, execution_count: null, outputs: [],
            source: 'print(6 * 7)\nprint(_VERSION)' }] }));
try {
  nb = spawn(NOTEBOOK, ['--allow-root', '--no-browser', '--ip=127.0.0.1', `--port=${port}`, '--NotebookApp.token=nbtok',
    `--notebook-dir=${dir}`, `--gateway-url=${relay.base.replace(/\/$/, '')}`, `--GatewayClient.auth_token=${relay.token}`],
    { env: { ...process.env, JUPYTER_RUNTIME_DIR: join(dir, '.rt'), JUPYTER_CONFIG_DIR: join(dir, '.cfg'),
             JUPYTER_DATA_DIR: join(dir, '.data') }, stdio: ['ignore', 'ignore', 'pipe'] });
  let nblog = '';
  nb.stderr.on('data', (d) => { nblog += d; });
  const base = `http://127.0.0.1:${port}`;
  const t0 = Date.now();
  for (;;) {
    try { if ((await fetch(base + '/api')).ok) break; } catch { /* not yet */ }
    if (Date.now() - t0 > 20000) throw new Error('notebook did not start: ' + nblog);
    await new Promise((r) => setTimeout(r, 200));
  }
  check(true, `notebook 6 gateway client up in ${Date.now() - t0} ms`);
  browser = await chromium.launch({ executablePath: CHROMIUM, headless: true,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage', '--disable-background-networking',
           '--disable-component-update', '--disable-sync', '--no-first-run'] });
  const page = await browser.newPage();
  await page.goto(`${base}/notebooks/demo.ipynb?token=nbtok`, { waitUntil: 'load', timeout: 20000 });
  await page.waitForFunction(() => window.Jupyter?.notebook?.kernel?.is_connected(), null, { timeout: 20000 });
  check(true, 'the page reports its kernel connected');
  // The page is "connected" once its socket to the notebook server is open; that server opens
  // its own upstream socket to the relay asynchronously, so wait for the relay to count it.
  let kernels = [];
  for (const t2 = Date.now(); Date.now() - t2 < 15000; await new Promise((r) => setTimeout(r, 100))) {
    kernels = (await relay.api('GET', '/api/kernels')).json;
    if (kernels.length === 1 && kernels[0].connections >= 1) break;
  }
  check(kernels.length === 1 && kernels[0].name === 'tandem-lua' && kernels[0].connections >= 1,
        'the kernel runs in the relay, with the page connected');
  const t1 = Date.now();
  await page.evaluate(() => Jupyter.notebook.execute_all_cells());
  const out = page.locator('.output_area pre').first();
  await out.waitFor({ timeout: 15000 });
  await page.waitForFunction(() => /Lua 5\.4/.test(document.querySelector('.output_area pre')?.textContent || ''), null, { timeout: 15000 });
  const text = await out.textContent();
  check(text === '42\nLua 5.4\n', `cell output ${JSON.stringify(text)} in ${Date.now() - t1} ms`);
} finally {
  await browser?.close();
  nb?.kill('SIGTERM');
  await new Promise((r) => (nb && nb.exitCode === null ? nb.on('exit', r) : r()));
  const stop = await relay.stop();
  check(stop.code === 0 && stop.leftover.length === 0, 'relay exits cleanly');
  rmSync(dir, { recursive: true, force: true });
}
clearTimeout(dog);
process.exit(0);
