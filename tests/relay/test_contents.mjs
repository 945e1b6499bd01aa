// test_contents.mjs: JupyterLab's ContentsManager (@jupyterlab/services 7.6.6) against the relay's
// Contents API over a scratch root: listing, newUntitled (notebook, file, folder), save (text,
// base64, notebook; 201 then 200), get with hash, rename (and 409), copy (name-Copy1.ext),
// checkpoints (create, list, restore, delete), delete. Then hostile requests with raw fetch:
// encoded and double-encoded "..", backslashes, absolute paths, symlinks out of the root (file,
// folder, absolute), hidden files, malformed JSON, an oversized body. Every status is exact, a
// sentinel outside the root keeps its bytes, and no new file appears outside the root.
import { ServerConnection, ContentsManager } from '@jupyterlab/services';
import { mkdtempSync, writeFileSync, readFileSync, readdirSync, symlinkSync, mkdirSync, existsSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startRelay, check, skipUnlessReady, watchdog } from './relay.mjs';

skipUnlessReady();
let relay;
const dog = watchdog(120_000, () => relay);

// The outside world: a sentinel file and folder next to (not inside) the relay root.
const outside = mkdtempSync(join(tmpdir(), 'tandem-outside-'));
writeFileSync(join(outside, 'sentinel.txt'), 'SENTINEL\n');
mkdirSync(join(outside, 'dir'));
writeFileSync(join(outside, 'dir', 'keep.txt'), 'KEEP\n');
const outsideBefore = JSON.stringify(readdirSync(outside, { recursive: true }).sort());

relay = await startRelay();
const root = relay.root;
writeFileSync(join(root, 'hello.txt'), 'hello\n');
writeFileSync(join(root, '.secret'), 'hidden\n');
symlinkSync(join(outside, 'sentinel.txt'), join(root, 'abs_link'));
symlinkSync(`../${outside.split('/').pop()}/sentinel.txt`, join(root, 'rel_link'));
symlinkSync(join(outside, 'dir'), join(root, 'dir_link'));
symlinkSync('hello.txt', join(root, 'inside_link'));

const serverSettings = ServerConnection.makeSettings({ baseUrl: relay.base, wsUrl: relay.wsBase, token: relay.token });
const contents = new ContentsManager({ serverSettings });

// Listing: files and inside links, no dot-files, no .tandem, no links out.
const top = await contents.get('');
const names = top.content.map((m) => m.name).sort();
check(top.type === 'directory' && top.format === 'json', 'root is a directory model');
check(JSON.stringify(names) === JSON.stringify(['hello.txt', 'inside_link']), `listing is exactly hello.txt, inside_link (${names})`);
const hello = await contents.get('hello.txt', { hash: true, content: true });
check(hello.content === 'hello\n' && hello.format === 'text' && hello.mimetype === 'text/plain', 'get text file');
check(hello.hash === '5891b5b522d5df086d0ff0b110fbd9d21bb4fc7163af34d08286a2e846f6be03' && hello.hash_algorithm === 'sha256', 'hash is sha256');
check(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$/.test(hello.last_modified) && hello.writable === true, 'date format and writable');

// newUntitled.
const nb1 = await contents.newUntitled({ type: 'notebook' });
const nb2 = await contents.newUntitled({ type: 'notebook' });
check(nb1.path === 'Untitled.ipynb' && nb2.path === 'Untitled1.ipynb' && nb1.type === 'notebook', 'untitled notebooks');
const f1 = await contents.newUntitled({ type: 'file', ext: '.txt' });
check(f1.path === 'untitled.txt' && f1.type === 'file', 'untitled file');
const d1 = await contents.newUntitled({ type: 'directory' });
const d2 = await contents.newUntitled({ type: 'directory' });
check(d1.path === 'Untitled Folder' && d2.path === 'Untitled Folder 1', 'untitled folders');

// save: notebook (on disk exactly as nbformat writes it), text, base64 in a subfolder.
const nb = { cells: [{ cell_type: 'markdown', metadata: {}, source: '# Title\nbody', id: 'c1' }],
  metadata: { kernelspec: { name: 'python3', display_name: 'Python 3', language: 'python' } }, nbformat: 4, nbformat_minor: 5 };
const saved = await contents.save('Untitled.ipynb', { type: 'notebook', format: 'json', content: nb });
check(saved.type === 'notebook' && saved.content === null, 'save notebook returns a content-less model');
const disk = readFileSync(join(root, 'Untitled.ipynb'), 'utf8');
check(disk.startsWith('{\n "cells": [\n  {\n   "cell_type": "markdown",') &&
  disk.includes('"source": [\n    "# Title\\n",\n    "body"\n   ]') && disk.endsWith('}\n'), 'notebook on disk: indent 1, sorted, split lines, newline');
const back = await contents.get('Untitled.ipynb');
check(back.content.cells[0].source === '# Title\nbody' && back.format === 'json', 'notebook source rejoined on read');
const t = await contents.save('Untitled Folder/notes.md', { type: 'file', format: 'text', content: 'x\n' });
check(t.path === 'Untitled Folder/notes.md' && t.mimetype === 'text/markdown', 'save text file in a folder');
const bin = Buffer.from([0, 1, 2, 255, 254]);
await contents.save('blob.bin', { type: 'file', format: 'base64', content: bin.toString('base64') });
check(Buffer.compare(readFileSync(join(root, 'blob.bin')), bin) === 0, 'base64 save writes the bytes');
const blob = await contents.get('blob.bin');
check(blob.format === 'base64' && Buffer.compare(Buffer.from(blob.content, 'base64'), bin) === 0, 'binary file comes back as base64');
let r = await relay.api('PUT', '/api/contents/blob.bin', { type: 'file', format: 'text', content: 'now text' });
check(r.status === 200 && r.json.path === 'blob.bin', 'PUT on an existing file is 200');
r = await relay.api('PUT', '/api/contents/fresh.txt', { type: 'file', format: 'text', content: 'new' });
check(r.status === 201 && r.headers.get('location') === '/api/contents/fresh.txt', 'PUT of a new file is 201 with Location');

// rename and copy.
const renamed = await contents.rename('fresh.txt', 'Untitled Folder/fresh.txt');
check(renamed.path === 'Untitled Folder/fresh.txt' && existsSync(join(root, 'Untitled Folder/fresh.txt')), 'rename into a folder');
r = await relay.api('PATCH', '/api/contents/blob.bin', { path: 'hello.txt' });
check(r.status === 409, 'rename onto an existing file -> 409');
const copy1 = await contents.copy('hello.txt', '');
const copy2 = await contents.copy('hello.txt', '');
check(copy1.path === 'hello-Copy1.txt' && copy2.path === 'hello-Copy2.txt', 'copies are name-Copy1.ext, name-Copy2.ext');
const nbcopy = await contents.copy('Untitled.ipynb', 'Untitled Folder');
check(nbcopy.path === 'Untitled Folder/Untitled.ipynb', 'copy into another folder keeps the name');

// checkpoints.
const cp = await contents.createCheckpoint('hello.txt');
check(cp.id === 'checkpoint' && existsSync(join(root, '.ipynb_checkpoints/hello-checkpoint.txt')), 'checkpoint stored as .ipynb_checkpoints/NAME-checkpoint.EXT');
await contents.save('hello.txt', { type: 'file', format: 'text', content: 'changed\n' });
const cps = await contents.listCheckpoints('hello.txt');
check(cps.length === 1 && cps[0].id === 'checkpoint', 'list checkpoints');
await contents.restoreCheckpoint('hello.txt', 'checkpoint');
check(readFileSync(join(root, 'hello.txt'), 'utf8') === 'hello\n', 'restore checkpoint brings the old bytes back');
await contents.deleteCheckpoint('hello.txt', 'checkpoint');
check((await contents.listCheckpoints('hello.txt')).length === 0, 'delete checkpoint');
check(existsSync(join(root, '.ipynb_checkpoints/Untitled-checkpoint.ipynb')), 'saving a notebook made its first checkpoint');

// delete.
await contents.delete('hello-Copy2.txt');
check(!existsSync(join(root, 'hello-Copy2.txt')), 'delete a file');
r = await relay.api('DELETE', '/api/contents/Untitled%20Folder');
check(r.status === 400 && /not empty/.test(r.json.message), 'delete a non-empty folder -> 400');
await contents.delete('Untitled Folder 1');
check(!existsSync(join(root, 'Untitled Folder 1')), 'delete an empty folder');
r = await relay.api('DELETE', '/api/contents/nope.txt');
check(r.status === 404 && typeof r.json.message === 'string' && 'reason' in r.json, 'delete missing -> 404 JSON error');

// Hostile requests: raw fetch, exact statuses.
const raw = (method, path, body) => fetch(relay.base.replace(/\/$/, '') + path, {
  method, headers: { Authorization: `token ${relay.token}`, 'Content-Type': 'application/json' },
  body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body) })
  .then(async (res) => ({ status: res.status, text: await res.text() }));
const put = { type: 'file', format: 'text', content: 'PWNED' };
const hostile = [
  ['GET', '/api/contents/..%2F..%2Fetc%2Fpasswd', undefined, 404],
  ['GET', '/api/contents/%2e%2e/%2e%2e/etc/passwd', undefined, 404],
  ['GET', '/api/contents/%252e%252e%252fsentinel.txt', undefined, 404],
  ['GET', '/api/contents/..%5csentinel.txt', undefined, 404],
  ['GET', '/api/contents/a%5c..%5c..%5csentinel.txt', undefined, 404],
  ['GET', '/api/contents//etc/passwd', undefined, 404],
  ['GET', '/api/contents/abs_link', undefined, 404],
  ['GET', '/api/contents/rel_link', undefined, 404],
  ['GET', '/api/contents/dir_link', undefined, 404],
  ['GET', '/api/contents/dir_link/keep.txt', undefined, 404],
  ['GET', '/api/contents/.secret', undefined, 404],
  ['GET', '/api/contents/.tandem', undefined, 404],
  ['GET', '/api/contents/.ipynb_checkpoints', undefined, 404],
  ['PUT', '/api/contents/abs_link', put, 403],
  ['PUT', '/api/contents/rel_link', put, 403],
  ['PUT', '/api/contents/dir_link/new.txt', put, 403],
  ['PUT', '/api/contents/..%2Fescape.txt', put, 404],
  ['PUT', '/api/contents/x%5C..%5C..%5Cescape.txt', put, 404],
  ['PUT', '/api/contents/.evil', put, 400],
  ['PUT', '/api/contents/.tandem/evil.txt', put, 400],
  ['PATCH', '/api/contents/hello.txt', { path: '../escape.txt' }, 404],
  ['PATCH', '/api/contents/hello.txt', { path: 'dir_link/moved.txt' }, 403],
  ['PATCH', '/api/contents/hello.txt', { path: '/tmp/moved.txt' }, 404], // = ROOT/tmp/moved.txt: no ROOT/tmp
  ['POST', '/api/contents/', { copy_from: '../' + outside.split('/').pop() + '/sentinel.txt' }, 404],
  ['POST', '/api/contents/', { copy_from: 'abs_link' }, 404],
  ['POST', '/api/contents/dir_link', { type: 'file' }, 404],
  ['DELETE', '/api/contents/..%2F' + outside.split('/').pop() + '%2Fsentinel.txt', undefined, 404],
  ['DELETE', '/api/contents/dir_link/keep.txt', undefined, 404],
  ['DELETE', '/api/contents/.secret', undefined, 400],
  ['POST', '/api/contents/abs_link/checkpoints', undefined, 404],
  ['PUT', '/api/contents/bad.txt', '{"type": "file", ', 400],
  ['PUT', '/api/contents/bad.txt', '[1, 2]', 400],
  ['PATCH', '/api/contents/hello.txt', '', 400],
  ['GET', '/api/contents/hello.txt?format=json', undefined, 400],
  ['GET', '/api/contents/hello.txt?content=2', undefined, 400],
  ['GET', '/api/contents/hello.txt?type=directory', undefined, 400],
  ['PUT', '/api/contents/hello.txt', { type: 'file', content: 'x' }, 400],
  ['PUT', '/api/contents/hello.txt', { type: 'file', format: 'text' }, 400],
];
for (const [m, p, b, want] of hostile) {
  const res = await raw(m, p, b);
  const expect = want;
  check(res.status === expect && !res.text.includes('SENTINEL') && !res.text.includes('root:'), `${m} ${p} ${b === undefined ? '' : JSON.stringify(b).slice(0, 60)} -> ${expect}`);
}
// Oversized body (over 64 MiB) is refused before it is parsed.
const huge = '{"type":"file","format":"text","content":"' + 'A'.repeat(65 * 1024 * 1024) + '"}';
r = await raw('PUT', '/api/contents/huge.txt', huge);
check(r.status === 413 && !existsSync(join(root, 'huge.txt')), 'PUT over 64 MiB -> 413');
r = await raw('GET', '/api/contents/hello.txt', undefined);
check(r.status === 200, 'relay still serves after the hostile round');

// Nothing outside the root changed or appeared; the links out are still links to intact files.
check(readFileSync(join(outside, 'sentinel.txt'), 'utf8') === 'SENTINEL\n', 'sentinel file outside the root is unchanged');
check(readFileSync(join(outside, 'dir', 'keep.txt'), 'utf8') === 'KEEP\n', 'sentinel folder outside the root is unchanged');
check(JSON.stringify(readdirSync(outside, { recursive: true }).sort()) === outsideBefore, 'no file appeared outside the root');
const parentBefore = readdirSync(join(root, '..')).filter((n) => n === 'escape.txt' || n === 'moved.txt');
check(parentBefore.length === 0, 'no escape.txt / moved.txt next to the root');

const stopped = await relay.stop();
check(stopped.code === 0, 'relay exits cleanly');
rmSync(outside, { recursive: true, force: true });
clearTimeout(dog);
