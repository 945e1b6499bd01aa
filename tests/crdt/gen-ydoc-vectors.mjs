// gen-ydoc-vectors.mjs: committed vectors for the tandem-ydoc contract test (cli_test.sh), made
// with yjs so that CI needs no npm for them.
//   node gen-ydoc-vectors.mjs      rewrites ../vectors/ydoc/<case>/
// Each case directory holds the updates (NN.bin, applied in name order) and what yjs says:
//   expected.json  JSON.stringify(doc.toJSON()) with the roots declared as `roots` says
//   roots          "name=kind" lines: the kinds yjs used (cli_test.sh checks inference without
//                  them, and passes them as --root when the case is `hinted`)
//   sv.json        the state vector as {"client": clock}
//   encode.bin     encodeStateAsUpdate(doc)
//   merge.bin      mergeUpdates(updates)
//   diff-sv.bin, diff.bin   a state vector and diffUpdate(mergeUpdates(updates), it)
import { writeFileSync, mkdirSync, rmSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import * as Y from 'yjs'
import * as decoding from 'lib0/decoding'

const root = join(dirname(fileURLToPath(import.meta.url)), '..', 'vectors', 'ydoc')
rmSync(root, { recursive: true, force: true })

const svJSON = (sv) => {
  const d = decoding.createDecoder(sv)
  const o = {}
  for (let n = decoding.readVarUint(d); n > 0; n--) { const c = decoding.readVarUint(d); o[c] = decoding.readVarUint(d) }
  return o
}

// Runs edits on docs, recording every update in order; writes the case.
const write = (name, roots, updates, opts = {}) => {
  const dir = join(root, name)
  mkdirSync(dir, { recursive: true })
  updates.forEach((u, i) => writeFileSync(join(dir, `${String(i).padStart(2, '0')}.bin`), u))
  const doc = new Y.Doc()
  for (const [n, k] of roots) { if (k === 'map') doc.getMap(n); else if (k === 'array') doc.getArray(n); else doc.getText(n) }
  for (const u of updates) Y.applyUpdate(doc, u)
  writeFileSync(join(dir, 'roots'), roots.map(([n, k]) => `${n}=${k}\n`).join(''))
  writeFileSync(join(dir, 'expected.json'), JSON.stringify(doc.toJSON()) + '\n')
  writeFileSync(join(dir, 'sv.json'), JSON.stringify(svJSON(Y.encodeStateVector(doc))) + '\n')
  writeFileSync(join(dir, 'encode.bin'), Y.encodeStateAsUpdate(doc))
  const merged = Y.mergeUpdates(updates)
  writeFileSync(join(dir, 'merge.bin'), merged)
  const sv = opts.diffSv ?? Y.encodeStateVector(new Y.Doc())
  writeFileSync(join(dir, 'diff-sv.bin'), sv)
  writeFileSync(join(dir, 'diff.bin'), Y.diffUpdate(merged, sv))
  if (opts.hinted) writeFileSync(join(dir, 'hinted'), '')
}

const recorder = (doc) => { const ups = []; doc.on('update', u => ups.push(u)); return ups }

// yjs-format.md example A: a Map on the unnamed root.
{
  const d = new Y.Doc(); d.clientID = 2026372272
  const ups = recorder(d)
  d.getMap().set('keyB', 'valueB')
  write('unnamed-map', [['', 'map']], ups)
}
// A notebook-like document from two clients, edits in several transactions.
{
  const a = new Y.Doc(); a.clientID = 11
  const b = new Y.Doc(); b.clientID = 12
  const ups = []
  a.on('update', (u, o) => { ups.push(u); if (o !== 'x') Y.applyUpdate(b, u, 'x') })
  b.on('update', (u, o) => { ups.push(u); if (o !== 'x') Y.applyUpdate(a, u, 'x') })
  const meta = a.getMap('meta'), cells = a.getArray('cells'), state = a.getMap('state')
  a.transact(() => { meta.set('nbformat', 4); meta.set('nbformat_minor', 5); state.set('dirty', false) })
  a.transact(() => {
    const c = new Y.Map(); c.set('cell_type', 'code'); c.set('id', 'c1'); c.set('source', new Y.Text('print(1)'))
    c.set('outputs', new Y.Array()); c.set('metadata', new Y.Map())
    cells.insert(0, [c])
  })
  const src = b.getArray('cells').get(0).get('source')
  b.transact(() => { src.insert(8, '\nprint("😀")'); src.delete(0, 1); src.insert(0, 'P') })
  b.transact(() => b.getArray('cells').push([new Y.Map([['cell_type', 'markdown'], ['id', 'c2']])]))
  a.getArray('cells').get(0).get('outputs').push([{ output_type: 'stream', name: 'stdout', text: '1\n' }])
  write('notebook', [['meta', 'map'], ['cells', 'array'], ['state', 'map']], ups, { diffSv: Y.encodeStateVector(a) })
}
// Rich text: formatting and an embed; a deletion.
{
  const d = new Y.Doc(); d.clientID = 5
  const ups = recorder(d)
  const t = d.getText('t')
  t.insert(0, 'hello world')
  t.format(0, 5, { bold: true })
  t.insertEmbed(5, { image: 'x.png' })
  t.delete(6, 3)
  t.insert(0, '👋 ', { italic: true })
  write('rich-text', [['t', 'text']], ups)
}
// A text root shown as an array (yjs getArray on string content: one element per UTF-16 unit).
{
  const d = new Y.Doc(); d.clientID = 6
  const ups = recorder(d)
  d.getText('letters').insert(0, 'abc')
  d.getText('letters').insert(3, 'd')
  write('text-as-array', [['letters', 'array']], ups, { hinted: true })
}
// Deletions only reach the document through a later update; out-of-order delivery.
{
  const d = new Y.Doc(); d.clientID = 7
  const ups = recorder(d)
  const arr = d.getArray('list')
  arr.insert(0, [1, 2, 3])
  arr.insert(3, [{ a: [true, null] }, 'x', 1.5])
  arr.delete(1, 2)
  write('array-out-of-order', [['list', 'array']], [ups[2], ups[0], ups[1]])
}
// Numbers and strings print exactly as JSON.stringify prints them (`exact`: compared as bytes).
{
  const d = new Y.Doc(); d.clientID = 8
  const ups = recorder(d)
  d.getArray('n').insert(0, [0.1, 1e21, 1.5e-7, 123456789012.5, -2.5e-300, 1e-6, 1e-7, 2 ** 53, -0, 5e-324,
    1.7976931348623157e308, 100, 0.000001234, 1234567890123456789012, -17, 'é"\\\n\u0001\u007f😀', true, null])
  write('numbers', [['n', 'array']], ups)
  writeFileSync(join(root, 'numbers', 'exact'), '')
}
// The scenarios of the Go port's compatibility tests (skyterra/y-crdt compatibility_test.go),
// regenerated here with their client ids: multi-character blocks with and without origins plus a
// delete set ("abhi"), and two map sets in one transaction.
{
  const d = new Y.Doc(); d.clientID = 264992024
  const t = d.getText('type')
  d.transact(() => { t.insert(0, 'def'); t.insert(0, 'abc'); t.insert(6, 'ghi'); t.delete(2, 5) })
  write('port-text-abhi', [['type', 'text']], [Y.encodeStateAsUpdate(d)])
  const m = new Y.Doc(); m.clientID = 440166001
  const x = m.getMap('test')
  m.transact(() => { x.set('k1', 'v1'); x.set('k2', 'v2') })
  write('port-map-set', [['test', 'map']], [Y.encodeStateAsUpdate(m)])
}
// Empty update.
write('empty', [], [Y.encodeStateAsUpdate(new Y.Doc())])
console.log('vectors written under', root)
