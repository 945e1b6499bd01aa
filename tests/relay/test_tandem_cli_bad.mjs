// test_tandem_cli_bad.mjs: the `tandem` client against a hostile or broken server, which the real
// relay cannot play: garbage and wrongly shaped JSON, a body over the 64 MiB bound (declared and
// streamed), silence (timeouts), truncated and non-HTTP answers, a pagination cursor that never
// moves, terminal escapes in comments. Also what a fake server sees best: the exact requests
// (method, target, headers, body), the URL base path, env/flag precedence, usage errors (exit 2).
// The client must never crash (no signal), and must exit 1 with a message for every failure.
// test_tandem_cli.mjs is the real test against tandem-relay.
import net from 'node:net';
import { CLI, run, skipUnlessCli } from './cli.mjs';

skipUnlessCli();
const check = (cond, what) => { if (!cond) throw new Error('check failed: ' + what); console.log('ok -', what); };
const dog = setTimeout(() => { console.error('timed out'); process.exit(2); }, 120_000);

// A raw TCP server: each connection gets the whole request (head + Content-Length body) handed to
// answer(req, sock), which writes whatever it likes.
let answer = null;
const seen = [];
const server = net.createServer((sock) => {
  let buf = Buffer.alloc(0);
  sock.on('error', () => {});
  sock.on('data', (d) => {
    buf = Buffer.concat([buf, d]);
    const end = buf.indexOf('\r\n\r\n');
    if (end < 0) return;
    const head = buf.subarray(0, end).toString();
    const [line, ...fields] = head.split('\r\n');
    const headers = Object.fromEntries(fields.map((f) => [f.slice(0, f.indexOf(':')).toLowerCase(), f.slice(f.indexOf(':') + 1).trim()]));
    const len = Number(headers['content-length'] || 0);
    if (buf.length < end + 4 + len) return;
    const [method, target] = line.split(' ');
    const req = { method, target, headers, body: buf.subarray(end + 4, end + 4 + len).toString() };
    buf = Buffer.alloc(0);
    seen.push(req);
    answer(req, sock);
  });
});
await new Promise((r) => server.listen(0, '127.0.0.1', r));
const URL_ = `http://127.0.0.1:${server.address().port}/`;
const T = ['--url', URL_, '--token', 'tok-123'];

function json(sock, status, obj, extra = '') {
  const body = Buffer.from(typeof obj === 'string' ? obj : JSON.stringify(obj));
  sock.end(`HTTP/1.1 ${status} X\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\n${extra}\r\n` + body);
}
function chunked(sock, status, pieces) {
  sock.write(`HTTP/1.1 ${status} OK\r\nTransfer-Encoding: chunked\r\n\r\n`);
  for (const p of pieces) sock.write(Buffer.byteLength(p).toString(16) + ';ext=1\r\n' + p + '\r\n');
  sock.end('0\r\nX-Trailer: 1\r\n\r\n');
}
const thread = (id, extra = {}) => ({ id, fileId: 'f', path: 'a.ipynb', cell_id: 'c1', range: null, orphaned: false,
  resolved: false, resolved_by: null, resolved_at: null, created: '2025-01-01T00:00:00Z', updated: '2025-01-01T00:00:00Z',
  comments: [{ id: id + '-c1', author: { username: 'alice', display_name: 'Alice' }, body: 'hello', created: 'x', updated: 'x', deleted: false, reactions: {} }], ...extra });
const noCrash = (r, what) => check(r.signal === null && (r.code === 0 || r.code === 1), `${what}: no crash (exit ${r.code}${r.signal ? ', ' + r.signal : ''})`);

// ---- request shapes, pagination (string and numeric cursors), chunked answers ------------------
answer = (req, sock) => {
  const u = new URL(req.target, 'http://x');
  const cur = u.searchParams.get('cursor');
  if (!cur) return json(sock, 200, { threads: [thread('t1')], next: 'c/2 x' });
  if (cur === 'c/2 x') return chunked(sock, 200, ['{"threads":[', JSON.stringify(thread('t2')), '],"next":3}']);
  return json(sock, 200, { threads: [thread('t3', { resolved: true, resolved_by: 'bob', resolved_at: 'T9' })], next: null });
};
seen.length = 0;
let r = await run([...T, 'comments', 'list', 'dir/a b&c.ipynb', '--unresolved', '--cell', 'c 1', '--mine', '--orphaned', '--mentions', '--json']);
check(r.code === 0, `comments list exits 0 (${r.err})`);
check(seen.length === 3 && seen.every((q) => q.method === 'GET'), 'three GET pages');
check(seen[0].target === '/api/comments?path=dir/a%20b%26c.ipynb&unresolved=1&mine=1&mentions=1&orphaned=1&cell=c%201',
      `first target escaped: ${seen[0].target}`);
check(seen[1].target.endsWith('&cursor=c/2%20x') && seen[2].target.endsWith('&cursor=3'), 'the cursor is followed (string, then number)');
check(seen[0].headers.authorization === 'token tok-123' && /^127\.0\.0\.1:\d+$/.test(seen[0].headers.host),
      'Authorization: token T and Host');
let j = JSON.parse(r.out);
check(j.threads.map((t) => t.id).join() === 't1,t2,t3' && j.next === null, '--json merges all pages');
r = await run([...T, 'comments', 'list', 'a.ipynb']);
check(r.code === 0 && /thread t1 {2}cell c1 {2}open\n {2}alice: hello/.test(r.out) && /t3 {2}cell c1 {2}resolved by bob at T9/.test(r.out),
      'text listing: thread, cell, state, "author: body"');

// Base path, env variables and their precedence, JUPYTER_TOKEN fallback.
answer = (req, sock) => json(sock, 200, { presence: [], global: [] });
seen.length = 0;
r = await run(['who'], { env: { TANDEM_URL: URL_ + 'base/x', TANDEM_TOKEN: 'env-tok' } });
check(r.code === 0 && seen[0].target === '/base/x/api/collaboration/presence' && seen[0].headers.authorization === 'token env-tok',
      'TANDEM_URL with a base path, TANDEM_TOKEN');
check(r.out === 'nobody is here\n', 'empty presence says so');
r = await run(['who', 'n.ipynb', '--url', URL_], { env: { JUPYTER_TOKEN: 'jt', TANDEM_URL: 'http://127.0.0.1:1/' } });
check(r.code === 0 && seen[1].headers.authorization === 'token jt' && seen[1].target === '/api/collaboration/presence?path=n.ipynb',
      'JUPYTER_TOKEN fallback; --url overrides TANDEM_URL');
r = await run(['who', '--url', URL_, '--token', 'flag'], { env: { TANDEM_TOKEN: 'env' } });
check(seen[2].headers.authorization === 'token flag', '--token overrides TANDEM_TOKEN');
r = await run(['who', '--url', URL_]);
check(!('authorization' in seen[3]), 'no token: no Authorization header');

// POST bodies: comment add (words joined), reply (stdin), resolve, reopen, inbox --mark-read.
answer = (req, sock) => {
  if (req.target === '/api/comments') return json(sock, 201, thread('new-1'));
  if (req.target.endsWith('/replies')) return json(sock, 201, { id: 'cm-9', author: 'alice', body: 'x' });
  if (req.target.startsWith('/api/me/notifications/read')) return sock.end('HTTP/1.1 204 No Content\r\n\r\n');
  if (req.target.startsWith('/api/me/notifications'))
    return json(sock, 200, { notifications: [{ id: 7, kind: 'mention', thread_id: 't1', comment_id: 'c', fileId: 'f', path: 'a.ipynb',
      actor: { username: 'bob' }, created: 'T', read: false, excerpt: 'hi @alice' }], unread: 1 });
  return json(sock, 200, thread('t1', { resolved: req.target.endsWith('/resolve') }));
};
seen.length = 0;
r = await run([...T, 'comment', 'add', 'a.ipynb', '--cell', 'c1', 'Looks', 'off', '@bob', 'ünï']);
check(r.code === 0 && r.out === 'new-1\n', 'comment add prints the new thread id');
check(seen[0].method === 'POST' && seen[0].headers['content-type'] === 'application/json' &&
      JSON.stringify(JSON.parse(seen[0].body)) === JSON.stringify({ path: 'a.ipynb', cell_id: 'c1', body: 'Looks off @bob ünï' }),
      `comment add body: ${seen[0].body}`);
r = await run([...T, 'reply', 'th/1', '-'], { input: 'line one\n-- line two\n' });
check(r.code === 0 && r.out === 'cm-9\n' && seen[1].target === '/api/comments/th%2F1/replies' &&
      JSON.parse(seen[1].body).body === 'line one\n-- line two', 'reply reads stdin for "-", escapes the thread id');
r = await run([...T, 'reply', 't1', '--', '-1', 'is', 'wrong']);
check(r.code === 0 && JSON.parse(seen[2].body).body === '-1 is wrong', 'words after -- are text');
r = await run([...T, 'resolve', 't1']);
check(r.code === 0 && seen[3].method === 'POST' && seen[3].target === '/api/comments/t1/resolve' && seen[3].headers['content-length'] === '0' &&
      r.out === 't1 resolved\n', 'resolve');
r = await run([...T, 'reopen', 't1']);
check(r.code === 0 && seen[4].target === '/api/comments/t1/reopen' && r.out === 't1 reopened\n', 'reopen');
r = await run([...T, 'inbox', '--unread', '--mark-read']);
check(r.code === 0 && seen[5].target === '/api/me/notifications?unread=1' && seen[6].method === 'POST' &&
      seen[6].target === '/api/me/notifications/read' && JSON.stringify(JSON.parse(seen[6].body)) === '{"ids":[7]}',
      'inbox --unread --mark-read: GET, then POST {"ids": [the listed ids]}');
check(/^\* #7 mention from bob on a\.ipynb \(thread t1\) at T\n {4}hi @alice\n1 unread\nmarked 1 read\n$/.test(r.out), `inbox text: ${JSON.stringify(r.out)}`);

// ---- errors from the relay -------------------------------------------------------------------
answer = (req, sock) => json(sock, 404, { message: 'No such thread: zz', reason: 'Not Found' });
r = await run([...T, 'reply', 'zz', 'hi']);
check(r.code === 1 && /HTTP 404: No such thread: zz \(Not Found\)/.test(r.err), `404 -> exit 1 with message and status: ${r.err.trim()}`);
answer = (req, sock) => json(sock, 403, { message: 'Forbidden' });
r = await run(['who', '--url', URL_]);
check(r.code === 1 && /HTTP 403: Forbidden/.test(r.err) && /no token given/.test(r.err), '403 without a token hints at --token');
answer = (req, sock) => sock.end('HTTP/1.1 502 Bad Gateway\r\nContent-Length: 21\r\n\r\n<html>\x1b[31mbad</html>');
r = await run([...T, 'who']);
check(r.code === 1 && /HTTP 502: <html>\?\[31mbad<\/html>/.test(r.err), 'a non-JSON error body is shown, escapes neutralised');

// ---- garbage, wrong shapes, terminal escapes ----------------------------------------------------
for (const [what, body] of [['not JSON', '{"threads": [tru'], ['a JSON string', '"x"'], ['threads not an array', '{"threads":{"a":1}}'],
  ['empty body', ''], ['NUL inside', '{"threads":[]}\u0000x'], ['deep nesting', '['.repeat(100000)]]) {
  answer = (req, sock) => json(sock, 200, body);
  r = await run([...T, 'comments', 'list', 'a.ipynb']);
  check(r.code === 1 && /tandem: /.test(r.err), `comments list, ${what}: exit 1 with a message`);
}
const weird = [{ id: 5, cell_id: null, comments: 'no' }, { comments: [null, 7, { author: 3, body: ['x'], reactions: [1] },
  { author: { username: 'm' }, deleted: true, body: 'secret' }] }, 'str', null];
for (const cmdline of [['comments', 'list', 'a.ipynb'], ['who'], ['inbox'], ['who', 'a.ipynb']]) {
  answer = (req, sock) => json(sock, 200, { threads: weird, next: null, presence: [{ users: [null, { username: 5, cells: [1, null] }] }, 3],
    global: [{ current: 5 }], notifications: [null, { id: 'x', actor: null }], unread: 'many' });
  r = await run([...T, ...cmdline]);
  noCrash(r, `odd shapes for ${cmdline[0]}`);
}
r = await run([...T, 'comments', 'list', 'a.ipynb']);
check(/ {2}m: \[deleted\]/.test(r.out) && !r.out.includes('secret'), 'a deleted comment shows [deleted], not its body');
answer = (req, sock) => json(sock, 200, { threads: [thread('t\u001b]0;pwn\u0007', { comments: [{ author: { username: 'eve\u009b2J' },
  body: 'a\u001b[2Jb\rc\u202e\nnext line', created: 'x', updated: 'y', reactions: { '👍': ['a', 'b'] } }] })], next: null });
r = await run([...T, 'comments', 'list', 'a.ipynb']);
check(r.code === 0 && !/[\u0000-\u0008\u000b-\u001f\u007f\u0080-\u009f\u202a-\u202e\u2066-\u2069]/.test(r.out), 'no control characters (C0, C1, bidi) reach the terminal');
check(r.out.includes('eve?2J: a?[2Jb?c?\n    next line  (edited)  [👍 2]'), `sanitised, indented, edited, reactions: ${JSON.stringify(r.out)}`);
answer = (req, sock) => json(sock, 200, { threads: [], next: 'same' });
r = await run([...T, 'comments', 'list', 'a.ipynb']);
check(r.code === 1 && /cursor did not move/.test(r.err), 'a cursor that does not move is an error, not a loop');

// ---- bounds: size, time, framing -------------------------------------------------------------
answer = (req, sock) => sock.end(`HTTP/1.1 200 OK\r\nContent-Length: ${100 * 1024 * 1024}\r\n\r\n{"threads":[`);
r = await run([...T, 'comments', 'list', 'a.ipynb']);
check(r.code === 1 && /larger than/.test(r.err), 'Content-Length over 64 MiB is refused up front');
answer = (req, sock) => {
  sock.write('HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n');
  const piece = Buffer.alloc(1 << 20, 0x20);
  const head = Buffer.from(piece.length.toString(16) + '\r\n'), tail = Buffer.from('\r\n');
  let sent = 0;
  const pump = () => { while (sent < 80 && !sock.destroyed) { sent++; if (!sock.write(Buffer.concat([head, piece, tail]))) return sock.once('drain', pump); } sock.end(); };
  pump();
};
r = await run([...T, 'comments', 'list', 'a.ipynb']);
check(r.code === 1 && /larger than/.test(r.err), 'an endless chunked body stops at 64 MiB');
answer = (req, sock) => sock.end('HTTP/1.1 200 OK\r\n\r\n' + ' '.repeat(70 << 20));
r = await run([...T, 'who']);
check(r.code === 1 && /larger than/.test(r.err), 'a body read to EOF stops at 64 MiB too');
answer = () => {};   // never answers
r = await run([...T, '--timeout', '0.5', 'who']);
check(r.code === 1 && /timed out/.test(r.err) && r.ms < 5000, `silence -> timed out after --timeout (${r.ms} ms)`);
answer = (req, sock) => sock.write('HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n{"a"');   // then silence
r = await run([...T, '--timeout', '0.5', 'who']);
check(r.code === 1 && /timed out/.test(r.err), 'a stalled body times out');
for (const [what, raw] of [['truncated body', 'HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n{"a"'], ['not HTTP', 'SSH-2.0-OpenSSH\r\n\r\n'],
  ['bad chunk size', 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n'], ['huge chunk size', 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nffffffffffffffffffff\r\n'],
  ['conflicting Content-Length', 'HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\n{}'], ['long header line', 'HTTP/1.1 200 OK\r\nX: ' + 'a'.repeat(100000) + '\r\n\r\n{}'],
  ['no head end', 'HTTP/1.1 200 OK\r\nX: 1'], ['closed at once', '']]) {
  answer = (req, sock) => sock.end(raw);
  r = await run([...T, 'who']);
  check(r.code === 1 && r.err.startsWith('tandem: '), `${what}: exit 1 with a message`);
}
answer = (req, sock) => sock.end('HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\n\r\n{"presence":[{"path":"p","users":[{"username":"u","cells":["c"]}]}]}');
r = await run([...T, 'who', 'p']);
check(r.code === 0 && r.out === 'p: u (cell c)\n', 'an interim 100 is skipped; a body read to EOF');
r = await run(['--url', 'http://127.0.0.1:1/', 'who']);
check(r.code === 1 && /cannot connect/.test(r.err), 'connection refused -> exit 1');

// ---- usage errors (exit 2), help, version ----------------------------------------------------
for (const [args, re] of [[[], /no command/], [['frobnicate'], /unknown command/], [['comments'], /subcommand/],
  [['comments', 'list'], /missing arguments/], [['comments', 'list', 'a', 'b'], /too many/], [['comment', 'add', 'a.ipynb', 'x'], /--cell/],
  [['inbox', '--cell', 'x'], /--cell does not apply/], [['who', '--bogus'], /unknown option/], [['who', '--url'], /needs a value/],
  [['who', '--url', 'https://h/'], /https/], [['who', '--url', 'ftp://h/'], /http:\/\//], [['who', '--url', 'http://h:99999/'], /port/],
  [['who', '--url', 'http://u:p@h/'], /user/], [['who', '--url', 'http://h/?token=x'], /query/], [['who', '--timeout', 'x', '--url', URL_], /timeout/],
  [['reply', 't1', '--url', URL_], /missing arguments/], [['who'], /no relay URL/], [['who', '--url', URL_, '--token', 'a\r\nX: y'], /control/]]) {
  r = await run(args);
  check(r.code === 2 && re.test(r.err), `usage: tandem ${args.join(' ')} -> exit 2 (${r.err.split('\n')[0]})`);
}
r = await run(['--help']);
check(r.code === 0 && /tandem \[OPTIONS\] comments list NOTEBOOK/.test(r.out) && /Exit status/.test(r.out), '--help');
r = await run(['--version']);
check(r.code === 0 && /^tandem \d+\.\d+\.\d+\n$/.test(r.out), '--version');

server.close();
clearTimeout(dog);
console.log(`all checks passed (${CLI})`);
process.exit(0);
