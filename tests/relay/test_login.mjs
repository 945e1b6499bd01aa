// test_login.mjs: cookie login and XSRF, as jupyter_server does them, with a real browser. Headless
// Chromium (playwright-core) signs in on /login with the token as password, then from the page:
// reads /api/me by cookie, is refused a POST without the _xsrf echo and starts a kernel with it,
// opens the kernel websocket (kernel_info round trip) and JupyterLab's globalAwareness room without
// any token, and signs out. From Node with the browser's cookies: a foreign Origin is 404, a
// forged or stale cookie is 403, next= never leaves the server, a token request sets the cookie,
// and the cookie outlives a relay restart on the same root.
import { existsSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { startRelay, check, skipUnlessReady, watchdog } from './relay.mjs';

skipUnlessReady();
// jupyter_server's login cookie name for a server: "username-" and its host, non-alphanumerics as '-'.
const cookieName = (base) => 'username-' + new URL(base).host.replace(/[^A-Za-z0-9]/g, '-');
const CHROMIUM = '/usr/bin/chromium';
let chromium;
try { ({ chromium } = await import('playwright-core')); } catch { /* below */ }
if (!chromium || !existsSync(CHROMIUM)) {
  console.log('SKIP: needs playwright-core and /usr/bin/chromium');
  process.exit(77);
}
let relay, browser;
const dog = watchdog(90_000, () => relay);
relay = await startRelay();
const base = relay.base.replace(/\/$/, '');
try {
  browser = await chromium.launch({ executablePath: CHROMIUM, headless: true,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage', '--disable-background-networking',
           '--disable-component-update', '--disable-sync', '--no-first-run'] });
  const context = await browser.newContext();
  const page = await context.newPage();

  // Not signed in: the API refuses, /login shows the form.
  let resp = await page.goto(`${base}/api/me`);
  check(resp.status() === 403, 'no token, no cookie: /api/me is 403');
  resp = await page.goto(`${base}/login`);
  check(resp.status() === 200 && await page.locator('input[name=password]').count() === 1, '/login shows the form');

  await page.fill('input[name=password]', 'not-the-token');
  [resp] = await Promise.all([page.waitForNavigation(), page.click('button[type=submit]')]);
  check(resp.status() === 401 && (await page.content()).includes('Invalid credentials'), 'a wrong token: 401, the form again');

  await page.fill('input[name=password]', relay.token);
  [resp] = await Promise.all([page.waitForNavigation(), page.click('button[type=submit]')]);
  check(resp.status() === 200 && (await page.content()).includes('Signed in as <b>tandem</b>'),
        'the token as password signs in (302 to the signed-in page)');

  const got = await page.evaluate(async () => {
    const xsrf = document.cookie.split('; ').find((c) => c.startsWith('_xsrf='))?.slice(6);
    const me = await (await fetch('/api/me')).json();
    const post = (headers) => fetch('/api/kernels', { method: 'POST', body: JSON.stringify({ name: 'tandem-lua' }),
      headers: { 'Content-Type': 'application/json', ...headers } });
    const bare = await post({});
    const bareBody = await bare.json();
    const started = await post({ 'X-XSRFToken': xsrf });
    const kernel = await started.json();
    const wsOpen = (path) => new Promise((res) => {
      const ws = new WebSocket(`ws://${location.host}${path}`);
      ws.onopen = () => { ws.close(); res('open'); };
      ws.onerror = () => res('error');
    });
    const aware = await wsOpen('/api/collaboration/room/JupyterLab:globalAwareness');
    const info = await new Promise((res) => {
      const ws = new WebSocket(`ws://${location.host}/api/kernels/${kernel.id}/channels?session_id=page`);
      const t = setTimeout(() => res('timeout'), 15000);
      ws.onerror = () => res('error');
      ws.onopen = () => ws.send(JSON.stringify({ channel: 'shell', content: {}, metadata: {}, parent_header: {},
        header: { msg_id: 'k1', msg_type: 'kernel_info_request', username: '', session: 'page', date: '', version: '5.4' } }));
      ws.onmessage = (e) => {
        const m = JSON.parse(e.data);
        if (m.msg_type === 'kernel_info_reply' && m.parent_header.msg_id === 'k1') {
          clearTimeout(t); ws.close(); res(m.content.implementation);
        }
      };
    });
    return { cookies: document.cookie, xsrf, me: me.identity?.username, bare: bare.status, bareMsg: bareBody.message,
             started: started.status, kernel: kernel.id, aware, info };
  });
  check(got.me === 'tandem', 'fetch by cookie: /api/me names the user');
  check(got.xsrf && !got.cookies.includes('username-'), 'the _xsrf cookie is readable, the login cookie is HttpOnly');
  check(got.bare === 403 && got.bareMsg === "'_xsrf' argument missing from POST", 'a cookie POST without X-XSRFToken: 403');
  check(got.started === 201 && got.kernel, 'with X-XSRFToken the POST starts a kernel');
  check(got.aware === 'open', 'globalAwareness websocket opens by cookie alone');
  check(got.info === 'tandem', 'kernel websocket by cookie: kernel_info round trip: ' + got.info);

  // Node, with the browser's cookies.
  const jar = await context.cookies(base);
  const login = jar.find((c) => c.name.startsWith('username-'));
  const xsrf = jar.find((c) => c.name === '_xsrf').value;
  check(login && login.httpOnly, 'the browser holds an HttpOnly login cookie');
  const cookie = (v = login.value) => `${login.name}=${v}; _xsrf=${xsrf}`;
  let r = await fetch(`${base}/api/me`, { headers: { Cookie: cookie() } });
  check(r.status === 200, 'the cookie works outside the browser too');
  r = await fetch(`${base}/api/me`, { headers: { Cookie: cookie(), Origin: 'http://evil.example' } });
  check(r.status === 404, 'a cookie request from a foreign Origin: 404');
  r = await fetch(`${base}/api/kernels`, { method: 'POST', body: '{}',
    headers: { Cookie: cookie(), Origin: 'http://evil.example', 'X-XSRFToken': xsrf } });
  check(r.status === 404, 'a cross-site POST, even with the XSRF token: 404');
  r = await fetch(`${base}/api/kernels/${got.kernel}`, { method: 'DELETE',
    headers: { Cookie: cookie(), 'X-XSRFToken': '2|00000000|' + '00'.repeat(16) + '|1' } });
  check(r.status === 403 && (await r.json()).message === 'XSRF cookie does not match POST argument',
        'a DELETE with the wrong XSRF token: 403');
  const [user, issued, sig] = login.value.split('|');
  const forged = [`${Buffer.from('mallory').toString('hex')}|${issued}|${sig}`,
    `${user}|${Number(issued) + 1}|${sig}`, `${user}|${issued}|${sig.replace(/^./, (c) => (c === '0' ? '1' : '0'))}`,
    `${user}|${issued - 31 * 86400}|${sig}`, 'garbage', ''];
  for (const f of forged) {
    r = await fetch(`${base}/api/me`, { headers: { Cookie: cookie(f) } });
    check(r.status === 403, `a forged or stale cookie is refused: ${f.slice(0, 24) || '(empty)'}`);
  }
  const form = (fields) => ({ method: 'POST', redirect: 'manual', body: new URLSearchParams(fields).toString(),
    headers: { 'Content-Type': 'application/x-www-form-urlencoded', Cookie: `_xsrf=${xsrf}` } });
  for (const next of ['//evil.example/x', '/\\evil.example', 'https://evil.example/', '/ok\r\nX-Evil: 1']) {
    r = await fetch(`${base}/login`, form({ password: relay.token, _xsrf: xsrf, next }));
    check(r.status === 302 && r.headers.get('location') === '/login', `next=${JSON.stringify(next)} stays on the relay`);
  }
  r = await fetch(`${base}/login`, form({ password: relay.token, _xsrf: xsrf, next: '/api/me?x=1' }));
  check(r.status === 302 && r.headers.get('location') === '/api/me?x=1', 'a local next= is followed');
  r = await fetch(`${base}/login`, form({ password: relay.token, next: '/' }));
  check(r.status === 403, 'a login POST without _xsrf: 403');
  r = await fetch(`${base}/api/status?token=${relay.token}`);
  check(r.status === 200 && /username-[^=]+=[0-9a-f]+\|\d+\|[0-9a-f]{64}/.test(r.headers.get('set-cookie') || ''),
        'a token request persists the login in a cookie');

  resp = await page.goto(`${base}/logout`);
  check(resp.status() === 200 && !(await context.cookies(base)).some((c) => c.name.startsWith('username-')),
        '/logout clears the login cookie');
  check(await page.evaluate(async () => (await fetch('/api/me')).status) === 403, 'signed out, the page is refused');

  // The cookie secret is kept in the state directory: a restart keeps everyone signed in.
  const root = relay.root, token = relay.token;
  await relay.stop({ keepRoot: true });
  relay = await startRelay({ root, token });
  const base2 = relay.base.replace(/\/$/, '');
  r = await fetch(`${base2}/api/me`, { headers: { Cookie: `${cookieName(base2)}=${login.value}` } });
  check(r.status === 200, 'the cookie still signs in after a relay restart');

  // A secret file cut short (a crash while it was written) is replaced, not fatal.
  await relay.stop({ keepRoot: true });
  writeFileSync(join(root, '.tandem/cookie_secret'), '');
  relay = await startRelay({ root, token });
  const base3 = relay.base.replace(/\/$/, '');
  r = await fetch(`${base3}/api/me`, { headers: { Cookie: `${cookieName(base3)}=${login.value}` } });
  check(r.status === 403 && statSync(join(root, '.tandem/cookie_secret')).size === 32,
        'an empty cookie_secret is regenerated at start (old cookies end)');

} finally {
  await browser?.close();
  await relay?.stop();
  clearTimeout(dog);
}
