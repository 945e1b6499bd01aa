// bench_crdt.mjs: Tandem's C Yjs engine against yjs, side by side, on the same inputs.
//
//   node --expose-gc tests/bench/bench_crdt.mjs --c BUILD/tests/bench_crdt [--only B1] [--n 6000]
//
// Cases follow dmonad/crdt-benchmarks (B1 one client, B2 two concurrent clients, B3 many clients;
// N = 6000, 20·√N clients for B3) plus B4: replays of real editing traces from
// josephg/editing-traces in /work/shared/bench-data/editing-traces (skipped with a message when
// absent). Every input is generated here once and handed to both engines: yjs runs in this
// process, the C engine in a child process per case (bench_crdt.c) reading the same ops from a
// JSON file. Both check their result (the expected text, endContent for traces).
//
// Figures: local (apply the edits locally, one transaction each, capturing updates), remote
// (apply those updates to a second document), update bytes, encoded document size, encode time,
// parse time (load the encoded document and read its content), memory held by the parsed
// document (yjs: heapUsed difference after gc; C: malloc'd bytes difference), and the C process's
// peak RSS above its RSS after loading the case's input. Times are the median of 3 runs after one
// warm-up run (traces: a single run). Output: a markdown table with C/yjs ratios (< 1 means C is
// faster or smaller).
import { createRequire } from 'node:module'
import { spawnSync } from 'node:child_process'
import { existsSync, readFileSync, writeFileSync, mkdtempSync, rmSync } from 'node:fs'
import { gunzipSync } from 'node:zlib'
import { tmpdir } from 'node:os'
import { join, dirname } from 'node:path'
import { fileURLToPath, pathToFileURL } from 'node:url'

const here = dirname(fileURLToPath(import.meta.url))
const crdtDir = join(here, '..', 'crdt')
let Y
try {
  Y = await import(pathToFileURL(createRequire(join(crdtDir, 'package.json')).resolve('yjs')).href)
} catch (e) {
  console.error(`bench_crdt: yjs is not installed in ${crdtDir} (run npm ci there)`)
  process.exit(2)
}
const args = process.argv.slice(2)
const opt = (name, dflt) => { const i = args.indexOf(name); return i >= 0 ? args[i + 1] : dflt }
const cbin = opt('--c')
if (!cbin || !existsSync(cbin)) {
  console.error('usage: node --expose-gc bench_crdt.mjs --c PATH/TO/bench_crdt [--only PREFIX] [--n N]')
  process.exit(2)
}
const only = opt('--only', '')
const N = Number(opt('--n', 6000))
const traces = opt('--traces', '/work/shared/bench-data/editing-traces')
if (!global.gc) console.error('note: run node with --expose-gc for meaningful memory figures')

// ---- inputs -----------------------------------------------------------------------------------
let seed = 0x5eed
const rand = () => { seed = (seed * 1103515245 + 12345) & 0x7fffffff; return seed / 0x80000000 }
const int = (lo, hi) => lo + Math.floor(rand() * (hi - lo + 1))
const word = (min, max) => { let s = ''; for (let i = int(min, max); i > 0; i--) s += String.fromCharCode(97 + int(0, 25)); return s }

const cases = []
const add = (c) => { if (c.name.startsWith(only) || c.id.startsWith(only)) cases.push(c) }
{
  const s = word(N, N)
  add({ id: 'B1.1', name: 'B1.1 append N characters', kind: 'text', txns: s.split('').map((ch, i) => [[i, 0, ch]]), expect: s })
  add({ id: 'B1.2', name: 'B1.2 insert string of length N', kind: 'text', txns: [[[0, 0, s]]], expect: s })
  add({ id: 'B1.3', name: 'B1.3 prepend N characters', kind: 'text', txns: s.split('').reverse().map(ch => [[0, 0, ch]]), expect: s })
  let str = ''
  const rnd = []
  for (let i = 0; i < N; i++) { const idx = int(0, str.length); const ch = word(1, 1); str = str.slice(0, idx) + ch + str.slice(idx); rnd.push([[idx, 0, ch]]) }
  add({ id: 'B1.4', name: 'B1.4 insert N characters at random positions', kind: 'text', txns: rnd, expect: str })
  add({ id: 'B1.6', name: 'B1.6 insert string, then delete it', kind: 'text', txns: [[[0, 0, s]], [[0, s.length, '']]], expect: '' })
  str = ''
  const mixed = []
  for (let i = 0; i < N; i++) {
    const idx = int(0, str.length)
    if (str.length === idx || rand() < 0.5) { const w = word(2, 10); str = str.slice(0, idx) + w + str.slice(idx); mixed.push([[idx, 0, w]]) } else {
      const del = int(1, Math.min(9, str.length - idx)); str = str.slice(0, idx) + str.slice(idx + del); mixed.push([[idx, del, '']])
    }
  }
  add({ id: 'B1.7', name: 'B1.7 insert/delete strings at random positions', kind: 'text', txns: mixed, expect: str })
  const nums = Array.from({ length: N }, () => int(0, 1 << 30))
  add({ id: 'B1.8', name: 'B1.8 append N numbers', kind: 'array', txns: nums.map((v, i) => [[i, 0, [v]]]), expect: nums })
  const arr = []
  const arrOps = []
  for (let i = 0; i < N; i++) { const idx = int(0, arr.length); const v = int(0, 1 << 30); arr.splice(idx, 0, v); arrOps.push([[idx, 0, [v]]]) }
  add({ id: 'B1.11', name: 'B1.11 insert N numbers at random positions', kind: 'array', txns: arrOps, expect: arr })
}
{
  const init = word(100, 100)
  const gen = (words) => {
    let s = init
    const ops = []
    for (let i = 0; i < N; i++) { const idx = int(0, s.length); const w = words ? word(3, 9) : word(1, 1); s = s.slice(0, idx) + w + s.slice(idx); ops.push([idx, 0, w]) }
    return ops
  }
  add({ id: 'B2.1', name: 'B2.1 concurrently insert string of length N at index 0', kind: 'b2', init, ops1: [[0, 0, word(N, N)]], ops2: [[0, 0, word(N, N)]], expectLen: 2 * N + 100 })
  add({ id: 'B2.2', name: 'B2.2 concurrently insert N characters at random positions', kind: 'b2', init, ops1: gen(false), ops2: gen(false), expectLen: 2 * N + 100 })
  const genMixed = () => {
    let s = init
    const ops = []
    for (let i = 0; i < N; i++) {
      const idx = int(0, s.length)
      const w = word(3, 9); s = s.slice(0, idx) + w + s.slice(idx); ops.push([idx, 0, w])
      if (s.length === idx || rand() < 0.5) { const w2 = word(2, 10); s = s.slice(0, idx) + w2 + s.slice(idx); ops.push([idx, 0, w2]) } else {
        const del = int(1, Math.min(9, s.length - idx)); s = s.slice(0, idx) + s.slice(idx + del); ops.push([idx, del, ''])
      }
    }
    return { ops, len: s.length }
  }
  const m1 = genMixed(), m2 = genMixed()
  add({ id: 'B2.4', name: 'B2.4 concurrently insert & delete', kind: 'b2', init, ops1: m1.ops, ops2: m2.ops, expectLen: -1 })
}
{
  const sqrtN = Math.floor(Math.sqrt(N)) * 20
  add({ id: 'B3.1', name: `B3.1 ${sqrtN} clients concurrently set number in Map`, kind: 'b3', op: 'map_number', n: sqrtN })
  add({ id: 'B3.3', name: `B3.3 ${sqrtN} clients concurrently set String in Map`, kind: 'b3', op: 'map_string', n: sqrtN })
  add({ id: 'B3.4', name: `B3.4 ${sqrtN} clients concurrently insert text in Array`, kind: 'b3', op: 'array_text', n: sqrtN })
  add({ id: 'B3.5', name: `B3.5 ${sqrtN} clients concurrently insert text`, kind: 'b3', op: 'text_text', n: sqrtN })
}
if (existsSync(traces)) {
  for (const f of ['sequential-ascii/automerge-paper', 'sequential-ascii/seph-blog1']) {
    const path = join(traces, `${f}.json.gz`)
    if (!existsSync(path)) { console.log(`skip ${f}: ${path} is missing`); continue }
    const t = JSON.parse(gunzipSync(readFileSync(path)))
    if (/[^\x00-\x7f]/.test(t.endContent)) { console.log(`skip ${f}: not ASCII (positions would need code point → UTF-16 conversion)`); continue }
    const name = f.split('/')[1]
    add({ id: `B4 ${name}`, name: `B4 ${name} (${t.txns.length} txns)`, kind: 'text', txns: t.txns.map(x => x.patches), expect: t.endContent, once: true })
  }
  for (const f of ['concurrent/clownschool', 'concurrent/friendsforever']) {
    const path = join(traces, `${f}.json.gz`)
    if (!existsSync(path)) { console.log(`skip ${f}: ${path} is missing`); continue }
    const t = JSON.parse(gunzipSync(readFileSync(path)))
    if (/[^\x00-\x7f]/.test(t.endContent)) { console.log(`skip ${f}: not ASCII`); continue }
    const name = f.split('/')[1]
    add({ id: `B4 ${name}`, name: `B4 ${name} (${t.txns.length} txns, ${t.numAgents} agents)`, kind: 'trace', agents: t.numAgents, txns: t.txns.map(x => [x.agent, x.parents, x.patches]), expect: t.endContent, once: true })
  }
} else {
  console.log(`skip B4: ${traces} is absent (the editing traces live in ../shared/bench-data)`)
}

// ---- yjs --------------------------------------------------------------------------------------
const now = () => performance.now()
const heap = () => { if (global.gc) { global.gc(); global.gc() } return process.memoryUsage().heapUsed }
const fail = (c, what) => { throw new Error(`${c.name}: yjs ${what}`) }

const textOps = (t, ops) => { for (const [pos, del, ins] of ops) { if (del) t.delete(pos, del); if (ins) t.insert(pos, ins) } }
const content = (doc, c) => (c.kind === 'array' ? doc.getArray('a').toJSON() : c.kind === 'b3' ? JSON.stringify(doc.toJSON()) : doc.getText('t').toString())

const finish = (c, doc, r, check) => {
  let enc
  let t0 = now()
  enc = Y.encodeStateAsUpdate(doc)
  r.encode = now() - t0
  r.docSize = enc.length
  const h0 = heap()
  t0 = now()
  const parsed = new Y.Doc()
  Y.applyUpdate(parsed, enc)
  const got = content(parsed, c)
  r.parse = now() - t0
  // V8's heap figure moves by tens of KiB with unrelated garbage: hold 8 parsed copies and take
  // the mean, so small documents are not measured below their own text.
  const copies = [parsed]
  for (let i = 1; i < 8; i++) { const d = new Y.Doc(); Y.applyUpdate(d, enc); copies.push(d) }
  r.mem = (heap() - h0) / copies.length
  check(got)
  for (const d of copies) d.destroy()
}

const runYjs = (c) => {
  const r = {}
  if (c.kind === 'text' || c.kind === 'array') {
    const d1 = new Y.Doc(); d1.clientID = 1
    const updates = []
    d1.on('update', u => updates.push(u))
    const t = c.kind === 'text' ? d1.getText('t') : d1.getArray('a')
    let t0 = now()
    if (c.kind === 'text') for (const ops of c.txns) { if (ops.length === 1) textOps(t, ops); else d1.transact(() => textOps(t, ops)) }
    else for (const ops of c.txns) for (const [pos, del, vals] of ops) { if (del) t.delete(pos, del); if (vals.length) t.insert(pos, vals) }
    r.local = now() - t0
    const d2 = new Y.Doc(); d2.clientID = 2
    t0 = now()
    for (const u of updates) Y.applyUpdate(d2, u)
    const got = content(d2, c)
    r.remote = now() - t0
    const want = c.kind === 'text' ? c.expect : JSON.stringify(c.expect)
    const check = (x) => { if ((c.kind === 'text' ? x : JSON.stringify(x)) !== want) fail(c, 'result differs from the expected content') }
    check(got)
    if (content(d1, c).length !== got.length) fail(c, 'local and remote differ')
    r.updates = updates.length
    r.updateBytes = updates.reduce((a, u) => a + u.length, 0)
    finish(c, d1, r, check)
  } else if (c.kind === 'b2') {
    const d1 = new Y.Doc(), d2 = new Y.Doc()
    d1.clientID = 1; d2.clientID = 2
    d1.getText('t').insert(0, c.init)
    Y.applyUpdate(d2, Y.encodeStateAsUpdate(d1))
    let u1, u2
    const h1 = u => { u1 = u }, h2 = u => { u2 = u }
    d1.on('update', h1); d2.on('update', h2)
    let t0 = now()
    d1.transact(() => textOps(d1.getText('t'), c.ops1))
    d2.transact(() => textOps(d2.getText('t'), c.ops2))
    r.local = now() - t0
    d1.off('update', h1); d2.off('update', h2)
    t0 = now()
    Y.applyUpdate(d1, u2)
    Y.applyUpdate(d2, u1)
    r.remote = now() - t0
    const check = (x) => { if (x !== d1.getText('t').toString() || (c.expectLen >= 0 && x.length !== c.expectLen)) fail(c, 'clients differ') }
    check(d2.getText('t').toString())
    r.updates = 2
    r.updateBytes = u1.length + u2.length
    finish(c, d1, r, check)
  } else if (c.kind === 'b3') {
    const updates = []
    let t0 = now()
    const docs = []
    for (let i = 0; i < c.n; i++) {
      const d = new Y.Doc(); d.clientID = i + 1
      d.on('update', u => updates.push(u))
      if (c.op === 'map_number') d.getMap('m').set('v', i)
      else if (c.op === 'map_string') d.getMap('m').set('v', String(i).repeat(c.n))
      else if (c.op === 'array_text') d.getArray('a').insert(0, [String(i)])
      else d.getText('t').insert(0, String(i))
      docs.push(d)
    }
    r.local = now() - t0
    const d0 = new Y.Doc(), d1 = new Y.Doc()
    d0.clientID = 100000; d1.clientID = 100001
    d0.transact(() => { for (const u of updates) Y.applyUpdate(d0, u) })
    t0 = now()
    d1.transact(() => { for (const u of updates) Y.applyUpdate(d1, u) })
    if (c.op.startsWith('map')) d1.getMap('m'); else if (c.op === 'array_text') d1.getArray('a'); else d1.getText('t')
    r.remote = now() - t0
    for (const d of [d0]) if (c.op.startsWith('map')) d.getMap('m'); else if (c.op === 'array_text') d.getArray('a'); else d.getText('t')
    const want = JSON.stringify(d0.toJSON())
    if (JSON.stringify(d1.toJSON()) !== want) fail(c, 'clients differ')
    r.updates = updates.length
    r.updateBytes = updates.reduce((a, u) => a + u.length, 0)
    finish(c, d0, r, (x) => {})
    r.expectJSON = want
  } else if (c.kind === 'trace') {
    Object.assign(r, runTraceYjs(c))
  }
  return r
}

// Concurrent trace: one document per agent. Before a transaction, the agent's document must hold
// exactly the union of the parents' histories: we bring it there by applying the missing agents'
// transactions (tracked as version vectors, since each agent's transactions form a chain), or, if
// it holds something the parents do not, rebuild it from scratch.
const runTraceYjs = (c) => {
  const r = {}
  const A = c.agents
  const vv = []          // per txn: version vector after it (count of each agent's txns included)
  const byAgent = Array.from({ length: A }, () => [])  // per agent: its txn indices in order
  const updates = []     // per txn: its update
  const docs = []; const have = []
  const mkDoc = (a) => { const d = new Y.Doc(); d.clientID = a + 1; return d }
  for (let a = 0; a < A; a++) { docs.push(mkDoc(a)); have.push(new Array(A).fill(0)) }
  let rebuilds = 0
  const t0 = now()
  for (let i = 0; i < c.txns.length; i++) {
    const [a, parents, patches] = c.txns[i]
    const want = new Array(A).fill(0)
    for (const p of parents) for (let k = 0; k < A; k++) want[k] = Math.max(want[k], vv[p][k])
    if (have[a].some((h, k) => h > want[k])) {
      rebuilds++
      docs[a] = mkDoc(a); have[a] = new Array(A).fill(0)
    }
    const d = docs[a]
    // Missing transactions go in in trace order (a topological order): per-agent order would
    // leave most of them pending on each other.
    const missing = []
    for (let k = 0; k < A; k++) for (let j = have[a][k]; j < want[k]; j++) missing.push(byAgent[k][j])
    missing.sort((x, y) => x - y)
    for (const m of missing) Y.applyUpdate(d, updates[m])
    let upd = null
    const h = (u) => { upd = u }
    d.on('update', h)
    d.transact(() => textOps(d.getText('t'), patches))
    d.off('update', h)
    updates.push(upd)
    byAgent[a].push(i)
    want[a] = byAgent[a].length
    have[a] = want.slice()
    vv.push(want)
  }
  r.local = now() - t0
  r.rebuilds = rebuilds
  const d2 = new Y.Doc(); d2.clientID = 9999
  const t1 = now()
  for (const u of updates) Y.applyUpdate(d2, u)
  const got = d2.getText('t').toString()
  r.remote = now() - t1
  const check = (x) => { if (x !== c.expect) fail(c, 'result differs from endContent') }
  check(got)
  r.updates = updates.length
  r.updateBytes = updates.reduce((s, u) => s + u.length, 0)
  finish(c, d2, r, check)
  return r
}

// ---- C ----------------------------------------------------------------------------------------
const scratch = mkdtempSync(join(tmpdir(), 'td-bench-'))
const runC = (c, expectJSON) => {
  const file = join(scratch, 'case.json')
  writeFileSync(file, JSON.stringify({ ...c, repeat: c.once ? 1 : 3, expectJSON }))
  const res = spawnSync(cbin, [file], { encoding: 'utf8', maxBuffer: 1 << 26 })
  if (res.status !== 0) throw new Error(`${c.name}: C bench failed (${res.status}): ${res.stderr.slice(-2000)}`)
  return JSON.parse(res.stdout)
}

const median = (xs) => xs.slice().sort((a, b) => a - b)[Math.floor(xs.length / 2)]
const rows = []
try {
  for (const c of cases) {
    const reps = c.once ? 1 : 3
    if (!c.once) runYjs(c) // warm-up: let the JIT compile these paths before measuring
    const ys = []
    for (let i = 0; i < reps; i++) ys.push(runYjs(c))
    const y = {}
    for (const k of Object.keys(ys[0])) y[k] = typeof ys[0][k] === 'number' ? median(ys.map(r => r[k])) : ys[0][k]
    const cr = runC(c, y.expectJSON)
    rows.push({ c, y, cr })
    process.stderr.write(`done ${c.name}\n`)
  }
} finally {
  rmSync(scratch, { recursive: true, force: true })
}

// ---- table ------------------------------------------------------------------------------------
const ms = (x) => (x < 10 ? x.toFixed(2) : x < 100 ? x.toFixed(1) : x.toFixed(0))
const bytes = (x) => (Math.abs(x) < 10000 ? `${Math.round(x)} B` : Math.abs(x) < 1e7 ? `${(x / 1024).toFixed(0)} KiB` : `${(x / 1048576).toFixed(1)} MiB`)
const ratio = (a, b) => (b > 0 ? (a / b).toFixed(2) : 'n/a')
const cell = (fmt, a, b) => `${fmt(a)} / ${fmt(b)} (${ratio(a, b)})`
console.log(`\nTandem C engine vs yjs ${createRequire(join(crdtDir, 'package.json'))('yjs/package.json').version} on node ${process.version}; N = ${N}. Cells: C / yjs (C ÷ yjs).\n`)
console.log('| case | local ms | remote ms | update bytes | doc size | encode ms | parse ms | parsed doc memory | C peak RSS over input |')
console.log('| :- | -: | -: | -: | -: | -: | -: | -: | -: |')
for (const { c, y, cr } of rows) {
  console.log(`| ${c.name} | ${cell(ms, cr.local, y.local)} | ${cell(ms, cr.remote, y.remote)} | ${cell(bytes, cr.updateBytes, y.updateBytes)} | ` +
    `${cell(bytes, cr.docSize, y.docSize)} | ${cell(ms, cr.encode, y.encode)} | ${cell(ms, cr.parse, y.parse)} | ${cell(bytes, cr.mem, y.mem)} | ${bytes(cr.peakRss)} |`)
}
const identical = rows.filter(r => r.cr.docSize === r.y.docSize).length
console.log(`\nEncoded document sizes equal to yjs's in ${identical} of ${rows.length} cases. Every case checked its content on both sides.`)
