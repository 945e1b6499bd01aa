// session.mjs: seeded random editing sessions between 2-5 yjs peers, the input of the differential
// tests (run.mjs). A session mixes Map, Array and Text edits (nested Maps holding Text, nested
// Arrays, formats, embeds, non-BMP characters, indices that split surrogate pairs), concurrent
// inserts at one position, and syncs of every kind between peers: full state exchanges, partial
// deliveries of single transactions (out of order, so receivers hold pending structs), and diffs of
// merged updates. Every update any peer emitted or received is logged; replaying the log in any
// order must reach the same document.
import * as Y from 'yjs'

// ---- seeded randomness (mulberry32) --------------------------------------------------------------
export const rng = (seed) => {
  let a = seed >>> 0
  const next = () => {
    a = (a + 0x6d2b79f5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
  const R = {
    next,
    int: (n) => Math.floor(next() * n),
    bool: (p = 0.5) => next() < p,
    pick: (a) => a[Math.floor(next() * a.length)],
    shuffle: (a) => { for (let i = a.length - 1; i > 0; i--) { const j = Math.floor(next() * (i + 1)); [a[i], a[j]] = [a[j], a[i]] } return a }
  }
  return R
}

// Root names and kinds shared by every peer (and passed to the C side as hints).
export const ROOTS = [['map', 'map'], ['arr', 'array'], ['text', 'text']]

const PIECES = ['a', 'b', 'xyz', 'hello ', '\n', ' ', 'é', 'e\u0301', '漢字', '😀', '👍🏽', '𝄞', 'ok😀ok', '\u{10FFFF}', 'tab\t', '"q"', '\\']
const KEYS = ['a', 'b', 'c', 'd', 'src', 'ü', '🔑']
const ATTRS = [{ bold: true }, { italic: true }, { bold: null }, { color: '#ff0000' }, { bold: true, italic: true }, { link: { href: 'x' } }]

const randStr = (R) => {
  let s = ''
  const n = 1 + R.int(3)
  for (let i = 0; i < n; i++) s += R.pick(PIECES)
  return s
}

const randValue = (R, depth = 0) => {
  switch (R.int(depth > 1 ? 7 : 10)) {
    case 0: return R.int(1000) - 500
    case 1: return R.pick([1.5, -0.25, 3.125e10, 2 ** 31, -(2 ** 31) - 1, 0])
    case 2: return randStr(R)
    case 3: return R.bool()
    case 4: return null
    case 5: return ''
    case 6: return R.int(2 ** 31)
    case 7: return [randValue(R, depth + 1), randValue(R, depth + 1)]
    case 8: { const o = {}; o[R.pick(KEYS)] = randValue(R, depth + 1); o.z = randValue(R, depth + 1); return o }
    default: return R.bool(0.5) ? new Uint8Array([R.int(256), 0, 255]) : { n: R.int(10) }
  }
}

// A new prelim type for a Map value or Array element: a Map holding a Text (a notebook cell), a
// Text, or an Array.
const randPrelim = (R) => {
  switch (R.int(3)) {
    case 0: {
      const m = new Y.Map()
      m.set('src', new Y.Text(randStr(R)))
      if (R.bool()) m.set('k', randValue(R, 1))
      return m
    }
    case 1: return new Y.Text(randStr(R))
    default: {
      const a = new Y.Array()
      a.insert(0, [randValue(R, 1)])
      return a
    }
  }
}

// Insert positions lean to both ends, so concurrent inserts at one position are frequent.
const randIndex = (R, len) => {
  const r = R.next()
  if (r < 0.25) return 0
  if (r < 0.45) return len
  return R.int(len + 1)
}

// yjs itself diverges when peers split a surrogate pair at different times (each split replaces
// the halves with U+FFFD locally), so converging sessions keep every index on a code point
// boundary. Sessions with `splits` set allow any index; run.mjs then checks only replays in the
// recorded order, where a faithful engine must reproduce yjs exactly.
let allowSplits = false
const snap = (t, idx) => {
  if (allowSplits || idx <= 0 || idx >= t.length) return idx
  let pos = 0
  for (const d of t.toDelta()) {
    const n = typeof d.insert === 'string' ? d.insert.length : 1
    if (idx < pos + n) {
      if (typeof d.insert !== 'string') return idx
      const c = d.insert.charCodeAt(idx - pos)
      return c >= 0xdc00 && c <= 0xdfff ? idx - 1 : idx
    }
    pos += n
  }
  return idx
}

const textOp = (R, t) => {
  const len = t.length
  const r = R.next()
  if (r < 0.5 || len === 0) {
    const idx = snap(t, randIndex(R, len))
    if (R.bool(0.25)) t.insert(idx, randStr(R), R.pick(ATTRS))
    else if (R.bool(0.04)) t.insertEmbed(idx, { image: 'i.png' }, R.bool() ? { width: 3 } : undefined)
    else t.insert(idx, randStr(R))
    return
  }
  const idx = snap(t, R.int(len))
  const end = snap(t, idx + 1 + R.int(Math.min(r < 0.8 ? 6 : 8, len - idx)))
  if (end <= idx) return
  if (r < 0.8) t.delete(idx, end - idx)
  else t.format(idx, end - idx, R.pick(ATTRS))
}

const arrayOp = (R, a) => {
  const len = a.length
  const r = R.next()
  if (r < 0.45 || len === 0) {
    const idx = randIndex(R, len)
    if (R.bool(0.25)) a.insert(idx, [randPrelim(R)])
    else a.insert(idx, Array.from({ length: 1 + R.int(3) }, () => randValue(R)))
  } else if (r < 0.7) {
    const idx = R.int(len)
    a.delete(idx, 1 + R.int(Math.min(3, len - idx)))
  } else {
    const v = a.get(R.int(len))
    if (!nestedOp(R, v)) a.push([randValue(R)])
  }
}

const mapOp = (R, m) => {
  const r = R.next()
  const key = R.pick(KEYS)
  if (r < 0.35) m.set(key, randValue(R))
  else if (r < 0.5) m.set(key, randPrelim(R))
  else if (r < 0.65) m.delete(key)
  else {
    const v = m.get(key)
    if (!nestedOp(R, v)) m.set(key, randValue(R))
  }
}

// An edit inside a nested type; false when v is not one.
const nestedOp = (R, v) => {
  if (v instanceof Y.Text) textOp(R, v)
  else if (v instanceof Y.Array) arrayOp(R, v)
  else if (v instanceof Y.Map) {
    const src = v.get('src')
    if (src instanceof Y.Text && R.bool(0.7)) textOp(R, src)
    else mapOp(R, v)
  } else return false
  return true
}

// One random edit on doc (possibly several in one transaction).
export const randomEdit = (R, doc) => {
  const n = R.bool(0.2) ? 2 + R.int(3) : 1
  doc.transact(() => {
    for (let i = 0; i < n; i++) {
      const r = R.next()
      if (r < 0.4) textOp(R, doc.getText('text'))
      else if (r < 0.7) mapOp(R, doc.getMap('map'))
      else arrayOp(R, doc.getArray('arr'))
    }
  })
}

export const newDoc = (clientID) => {
  const d = new Y.Doc()
  d.clientID = clientID
  for (const [name, kind] of ROOTS) {
    if (kind === 'map') d.getMap(name)
    else if (kind === 'array') d.getArray(name)
    else d.getText(name)
  }
  return d
}

// JSON the way the C side prints it: Uint8Array as an array of bytes, and object keys sorted (map
// key order depends on integration order, and comparisons must not).
export const normJSON = (v) => {
  const walk = (x) => {
    if (x instanceof Uint8Array) return Array.from(x)
    if (Array.isArray(x)) return x.map(walk)
    if (x !== null && typeof x === 'object') {
      const o = {}
      for (const k of Object.keys(x).sort()) if (x[k] !== undefined) o[k] = walk(x[k])
      return o
    }
    return x
  }
  return walk(JSON.parse(JSON.stringify(v, (k, x) => (x instanceof Uint8Array ? Array.from(x) : x))))
}

// Runs one session. Returns the update log and the peers' final (converged) documents.
export const runSession = (seed, { splits = false } = {}) => {
  const R = rng(seed)
  allowSplits = splits
  const npeers = 2 + R.int(4)
  const ids = new Set()
  const peers = []
  while (peers.length < npeers) {
    // Small ids make ties between clients decide orders; large ones exercise 5-byte var-uints.
    const id = R.bool(0.5) ? 1 + R.int(8) : R.int(2 ** 32)
    if (ids.has(id)) continue
    ids.add(id)
    peers.push(newDoc(id))
  }
  const log = []
  const seen = new Set()
  const record = (u) => {
    const k = Buffer.from(u).toString('hex')
    if (!seen.has(k)) { seen.add(k); log.push(u) }
  }
  const own = peers.map(() => [])
  peers.forEach((d, i) => d.on('update', (u, origin) => {
    record(u)
    if (origin !== 'sync') own[i].push(u)
  }))
  const syncFull = (a, b) => {
    const u = Y.encodeStateAsUpdate(a, Y.encodeStateVector(b))
    record(u)
    Y.applyUpdate(b, u, 'sync')
  }
  const steps = 10 + R.int(50)
  for (let s = 0; s < steps; s++) {
    const r = R.next()
    const ai = R.int(npeers)
    const a = peers[ai]
    if (r < 0.72) {
      randomEdit(R, a)
      continue
    }
    let bi = R.int(npeers)
    if (bi === ai) bi = (bi + 1) % npeers
    const b = peers[bi]
    if (r < 0.82) {
      syncFull(a, b)
    } else if (r < 0.94) {
      // Partial delivery: a few of a's own transactions, in random order (gaps become pending).
      const mine = own[ai]
      if (mine.length === 0) continue
      const k = 1 + R.int(Math.min(4, mine.length))
      for (let i = 0; i < k; i++) Y.applyUpdate(b, mine[mine.length - 1 - R.int(Math.min(6, mine.length))], 'sync')
    } else {
      // A diff of a merged run of a's transactions against b's state vector.
      const mine = own[ai]
      if (mine.length === 0) continue
      const from = R.int(mine.length)
      const merged = Y.mergeUpdates(mine.slice(from, from + 1 + R.int(5)))
      record(merged)
      const d = Y.diffUpdate(merged, Y.encodeStateVector(b))
      record(d)
      Y.applyUpdate(b, d, 'sync')
    }
  }
  // Converge: mesh syncs until nothing moves (remote formatting cleanups may add deletions).
  for (let round = 0; round < 3; round++) {
    for (let i = 0; i < npeers; i++) for (let j = 0; j < npeers; j++) if (i !== j) syncFull(peers[i], peers[j])
  }
  return { R, peers, log, npeers }
}
