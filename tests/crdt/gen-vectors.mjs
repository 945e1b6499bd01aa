// gen-vectors.mjs: produces the committed y-protocols byte vectors used by the C unit tests
// (tests/unit/test_td_ysync.c, test_td_yawareness.c), so that CI needs no npm for them.
//   node gen-vectors.mjs            writes ../vectors/yprotocols/{sync,awareness}.inc
// The outputs are C initialisers of hex strings. Everything is deterministic: fixed client ids,
// a seeded PRNG, and a fake clock and interval installed before y-protocols is loaded (lib0/time
// captures Date.now at import time).
import { writeFileSync, mkdirSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'

let fakeNow = 1_700_000_000_000
Date.now = () => fakeNow
const intervals = []
globalThis.setInterval = (fn) => { intervals.push(fn); return intervals.length }
globalThis.clearInterval = () => {}

const Y = await import('yjs')
const sync = await import('y-protocols/sync')
const awarenessProtocol = await import('y-protocols/awareness')
const auth = await import('y-protocols/auth')
const encoding = await import('lib0/encoding')
const decoding = await import('lib0/decoding')

const here = dirname(fileURLToPath(import.meta.url))
const outDir = join(here, '..', 'vectors', 'yprotocols')
mkdirSync(outDir, { recursive: true })

const hex = (u8) => Buffer.from(u8).toString('hex')
const cstr = (s) => JSON.stringify(s) // a JSON string literal is a valid C literal for our ASCII
const enc = (f) => { const e = encoding.createEncoder(); f(e); return encoding.toUint8Array(e) }

// ---- sync vectors ---------------------------------------------------------------------------------
// Each: name, the message bytes (y-websocket frame when framed), and what the C decoder must see.
const syncVectors = []
const addSync = (name, bytes, type, kind, payload) =>
  syncVectors.push({ name, hex: hex(bytes), type, kind, payload: payload === null ? null : hex(payload) })

{
  const empty = new Y.Doc()
  empty.clientID = 1
  const s1 = enc(e => sync.writeSyncStep1(e, empty))
  addSync('step1 empty', s1, -1, 0, Y.encodeStateVector(empty))

  const doc = new Y.Doc()
  doc.clientID = 2026372272
  doc.getMap().set('keyB', 'valueB')
  const t = doc.getText('t')
  t.insert(0, 'h\u{1F600}llo')
  const sv = Y.encodeStateVector(doc)
  addSync('step1 with content', enc(e => sync.writeSyncStep1(e, doc)), -1, 0, sv)

  // step2 as a real peer answers a step1 from the empty doc.
  const reply = enc(e => sync.readSyncMessage(decoding.createDecoder(s1), e, doc, null))
  addSync('step2 answer to empty step1', reply, -1, 1, Y.encodeStateAsUpdate(doc, Y.encodeStateVector(empty)))
  addSync('step2 empty', enc(e => sync.writeSyncStep2(e, empty)), -1, 1, Y.encodeStateAsUpdate(empty))

  let upd = null
  doc.on('update', (u) => { upd = u })
  t.insert(1, 'x')
  addSync('update', enc(e => sync.writeUpdate(e, upd)), -1, 2, upd)

  // y-websocket framing: outer type 0 + sync message, as the provider writes it.
  addSync('ws step1', enc(e => { encoding.writeVarUint(e, 0); sync.writeSyncStep1(e, doc) }), 0, 0, Y.encodeStateVector(doc))
  addSync('ws update', enc(e => { encoding.writeVarUint(e, 0); sync.writeUpdate(e, upd) }), 0, 2, upd)
  const big = new Y.Doc()
  big.clientID = 7
  big.getText('source').insert(0, 'a'.repeat(300))
  const bigUpd = Y.encodeStateAsUpdate(big)
  addSync('ws step2 300 chars', enc(e => { encoding.writeVarUint(e, 0); sync.writeSyncStep2(e, big) }), 0, 1, bigUpd)

  const aw = new awarenessProtocol.Awareness(doc)
  aw.setLocalState({ user: { name: 'al' } })
  const au = awarenessProtocol.encodeAwarenessUpdate(aw, [doc.clientID])
  addSync('ws awareness', enc(e => { encoding.writeVarUint(e, 1); encoding.writeVarUint8Array(e, au) }), 1, -1, au)
  addSync('ws query awareness', enc(e => encoding.writeVarUint(e, 3)), 3, -1, new Uint8Array())
  // y-websocket's permission denied, and Jupyter's RAW save request / JSON reply.
  addSync('ws auth denied', enc(e => { encoding.writeVarUint(e, 2); auth.writePermissionDenied(e, 'no access') }), 2, -1,
    enc(e => auth.writePermissionDenied(e, 'no access')))
  addSync('ws raw save', enc(e => { encoding.writeVarUint(e, 2); encoding.writeVarString(e, 'save'); encoding.writeVarUint(e, 300) }), 2, -1,
    enc(e => { encoding.writeVarString(e, 'save'); encoding.writeVarUint(e, 300) }))
  const replyJson = JSON.stringify({ type: 'save', responseTo: 300, status: 'success' })
  addSync('ws raw reply', enc(e => { encoding.writeVarUint(e, 2); encoding.writeVarString(e, replyJson) }), 2, -1,
    enc(e => encoding.writeVarString(e, replyJson)))
  aw.destroy()
}

// Truncations and garbage that y-protocols' decoder throws on (checked here so the list is honest).
const badSync = []
for (const v of syncVectors.filter(v => v.type === -1 || v.type === 0)) {
  const bytes = Buffer.from(v.hex, 'hex')
  for (const cut of [1, 2, bytes.length - 1]) {
    if (cut <= 0 || cut >= bytes.length) continue
    const part = bytes.subarray(0, cut)
    let threw = false
    try {
      const d = decoding.createDecoder(part)
      if (v.type === 0) decoding.readVarUint(d)
      decoding.readVarUint(d)
      decoding.readVarUint8Array(d)
    } catch { threw = true }
    if (threw) badSync.push({ name: `${v.name} cut at ${cut}`, hex: hex(part), framed: v.type === 0 })
  }
}

let out = '/* Generated by tests/crdt/gen-vectors.mjs from y-protocols ' +
  (await import('y-protocols/package.json', { with: { type: 'json' } })).default.version +
  ' and yjs ' + (await import('yjs/package.json', { with: { type: 'json' } })).default.version +
  '. Do not edit. */\n'
out += '/* name, message hex, outer ws type (-1: bare sync message), sync kind (-1: none), payload hex */\n'
out += 'static const struct s_sync_vector {\n    const char *name, *hex;\n    int type, kind;\n    const char *payload;\n} s_sync_vectors[] = {\n'
for (const v of syncVectors) out += `    {${cstr(v.name)}, ${cstr(v.hex)}, ${v.type}, ${v.kind}, ${cstr(v.payload)}},\n`
out += '};\n\n/* truncated messages y-protocols throws on: name, hex, framed */\n'
out += 'static const struct s_sync_bad {\n    const char *name, *hex;\n    int framed;\n} s_sync_bad[] = {\n'
for (const v of badSync) out += `    {${cstr(v.name)}, ${cstr(v.hex)}, ${v.framed ? 1 : 0}},\n`
out += '};\n'
writeFileSync(join(outDir, 'sync.inc'), out)

// ---- awareness scenario ---------------------------------------------------------------------------
// A local Awareness (client 3) receives hand-made updates from clients 1..6 (fresh, stale, equal
// clocks, nulls, removals of the local client), sets its own state, runs the periodic check at
// chosen times, and removes clients. After each step we record the 'update' and 'change' event
// lists and the encoding of all states, which the C tracker must reproduce exactly.
let seed = 20240611
const rnd = () => { seed = (seed * 1103515245 + 12345) % 2147483648; return seed / 2147483648 }
const pick = (a) => a[Math.floor(rnd() * a.length)]
const states = [null, {}, { user: { name: 'al', color: '#ff0000' } }, { user: { name: 'bo' }, cursor: { anchor: 3, head: 5 } },
  { 'current': 'notebook.ipynb', n: 1.5 }, { user: { name: 'Zoë \u{1F600}' } }, [1, 2, 3], 'str', 42]

const LOCAL = 3
const doc = new Y.Doc()
doc.clientID = LOCAL
const aw = new awarenessProtocol.Awareness(doc) // sets the local state {} at clock 0
const check = intervals[intervals.length - 1]
let events = { update: [], change: [] }
aw.on('update', (ch) => events.update.push(ch))
aw.on('change', (ch) => events.change.push(ch))
const clocks = new Map()
// The constructor's own setLocalState({}) is step 0; its events fired before we listened ('*').
const steps = [{ op: 'l', now: fakeNow, arg: '{}', update: '*', change: '*',
  all: hex(awarenessProtocol.encodeAwarenessUpdate(aw, Array.from(aw.getStates().keys()))) }]
const fmt = (list) => {
  const m = { added: [], updated: [], removed: [] }
  for (const ch of list) for (const k of Object.keys(m)) m[k].push(...ch[k])
  return `${m.added.join(',')}|${m.updated.join(',')}|${m.removed.join(',')}`
}
for (let i = 0; i < 400; i++) {
  events = { update: [], change: [] }
  const r = rnd()
  let step
  fakeNow += Math.floor(rnd() * 6000)
  if (r < 0.6) {
    // A remote update with 1..3 entries.
    const n = 1 + Math.floor(rnd() * 3)
    const entries = []
    for (let k = 0; k < n; k++) {
      const client = 1 + Math.floor(rnd() * 6)
      const known = clocks.get(client) ?? (client === LOCAL ? aw.meta.get(LOCAL).clock : 0)
      const c = rnd()
      const clock = c < 0.15 ? Math.max(0, known - 1) : c < 0.3 ? known : known + 1 + Math.floor(rnd() * 2)
      const state = pick(states)
      entries.push([client, clock, JSON.stringify(state)])
      if (clock > known) clocks.set(client, clock)
    }
    const bytes = enc(e => {
      encoding.writeVarUint(e, entries.length)
      for (const [c, k, s] of entries) { encoding.writeVarUint(e, c); encoding.writeVarUint(e, k); encoding.writeVarString(e, s) }
    })
    awarenessProtocol.applyAwarenessUpdate(aw, bytes, 'remote')
    step = { op: 'a', now: fakeNow, arg: hex(bytes) }
  } else if (r < 0.75) {
    const s = pick(states)
    aw.setLocalState(s)
    step = { op: 'l', now: fakeNow, arg: JSON.stringify(s) }
  } else if (r < 0.92) {
    fakeNow += Math.floor(rnd() * 20000)
    check()
    step = { op: 'c', now: fakeNow, arg: '' }
  } else {
    const list = [1 + Math.floor(rnd() * 6), 1 + Math.floor(rnd() * 6)]
    awarenessProtocol.removeAwarenessStates(aw, list, 'remove')
    step = { op: 'r', now: fakeNow, arg: list.join(',') }
  }
  for (const [c, m] of aw.meta) clocks.set(c, m.clock)
  step.update = fmt(events.update)
  step.change = fmt(events.change)
  step.all = hex(awarenessProtocol.encodeAwarenessUpdate(aw, Array.from(aw.getStates().keys())))
  steps.push(step)
}
out = '/* Generated by tests/crdt/gen-vectors.mjs: an awareness session recorded from y-protocols. The\n' +
  ' * local client is 3. op: l set local (arg JSON), a apply (arg hex), c periodic check, r remove (arg\n' +
  ' * ids). update/change: the event lists "added|updated|removed" (merged over the step); all: the\n' +
  ' * encoding of every state afterwards. Do not edit. */\n'
out += `#define S_SCENARIO_LOCAL ${LOCAL}\n`
out += 'static const struct s_aw_step {\n    char op;\n    long long now;\n    const char *arg, *update, *change, *all;\n} s_aw_steps[] = {\n'
for (const s of steps) {
  out += `    {'${s.op}', ${s.now}LL, ${cstr(s.arg)}, ${cstr(s.update)}, ${cstr(s.change)}, ${cstr(s.all)}},\n`
}
out += '};\n'

// Fixed codec vectors: single entries and a removal, from the real encoder.
{
  const d = new Y.Doc(); d.clientID = 5
  const a = new awarenessProtocol.Awareness(d)
  a.setLocalState({ user: { name: 'al' } })
  out += `static const char s_aw_client5[] = ${cstr(hex(awarenessProtocol.encodeAwarenessUpdate(a, [5])))};\n`
  a.setLocalState(null)
  out += `static const char s_aw_client5_null[] = ${cstr(hex(awarenessProtocol.encodeAwarenessUpdate(a, [5])))};\n`
  const d2 = new Y.Doc(); d2.clientID = 2026372272
  const b = new awarenessProtocol.Awareness(d2)
  b.setLocalState({ user: { name: 'Zoë \u{1F600}', color: '#00ff00' }, cursors: [{ head: 1e21, anchor: -0.5 }] })
  out += `static const char s_aw_big_client[] = ${cstr(hex(awarenessProtocol.encodeAwarenessUpdate(b, [2026372272])))};\n`
  a.destroy(); b.destroy()
}
writeFileSync(join(outDir, 'awareness.inc'), out)
aw.destroy()
console.log(`wrote ${syncVectors.length} sync vectors, ${badSync.length} bad ones, ${steps.length} awareness steps`)
