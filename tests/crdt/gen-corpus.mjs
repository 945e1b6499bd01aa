// gen-corpus.mjs: seeds for the Yjs fuzz targets, taken from real yjs / y-protocols output.
//   node gen-corpus.mjs     rewrites ../fuzz/corpus/{yupdate,ysv,ysync,yawareness}/
// Small on purpose (a few dozen files, well under 1 MB): libFuzzer grows its own corpus in a
// scratch directory (scripts/fuzz.sh); these only give it the shapes of real messages.
import { writeFileSync, mkdirSync, rmSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import * as Y from 'yjs'
import * as sync from 'y-protocols/sync'
import * as awarenessProtocol from 'y-protocols/awareness'
import * as encoding from 'lib0/encoding'
import * as S from './session.mjs'

const root = join(dirname(fileURLToPath(import.meta.url)), '..', 'fuzz', 'corpus')
const out = {}
for (const t of ['yupdate', 'ysv', 'ysync', 'yawareness']) {
  rmSync(join(root, t), { recursive: true, force: true })
  mkdirSync(join(root, t), { recursive: true })
  out[t] = (name, bytes) => writeFileSync(join(root, t, name), bytes)
}
const enc = (f) => { const e = encoding.createEncoder(); f(e); return encoding.toUint8Array(e) }

// ---- updates ------------------------------------------------------------------------------------
const upd = out.yupdate
{
  const d = new Y.Doc(); d.clientID = 2026372272
  d.getMap().set('keyB', 'valueB')
  upd('map_set_unnamed_root', Y.encodeStateAsUpdate(d))
  const t = new Y.Doc(); t.clientID = 1
  t.getText('t').insert(0, 'abc'); t.getText('t').delete(1, 1)
  upd('text_insert_delete', Y.encodeStateAsUpdate(t))
  const e = new Y.Doc(); e.clientID = 7
  e.getText('t').insert(0, '😀x')
  upd('text_utf16', Y.encodeStateAsUpdate(e))
  const n = new Y.Doc(); n.clientID = 3
  const cells = n.getArray('cells'); cells.insert(0, [new Y.Map()]); cells.get(0).set('id', 'c1')
  cells.get(0).set('source', new Y.Text('print(1)'))
  upd('nested_map_text', Y.encodeStateAsUpdate(n))
  // Rich text: formats, embeds, deletions with gc off (content kept as Deleted is not written then).
  const r = new Y.Doc({ gc: false }); r.clientID = 11
  const rt = r.getText('rich')
  rt.insert(0, 'hello world', { bold: true }); rt.format(2, 5, { italic: true, bold: null })
  rt.insertEmbed(3, { image: 'x.png' }, { width: 2 }); rt.delete(0, 2)
  upd('rich_text_nogc', Y.encodeStateAsUpdate(r))
  // Every `any` tag, binary content, a subdocument, the XML types.
  const a = new Y.Doc(); a.clientID = 99
  a.getArray('any').insert(0, [null, true, false, 1, -1, 2 ** 31, 1.5, 0.1, 'str', [1, [2]], { k: { n: null } }, new Uint8Array([0, 255])])
  a.getMap('m').set('sub', new Y.Doc({ guid: 'sub-guid' }))
  const frag = a.getXmlFragment('xml')
  const el = new Y.XmlElement('p'); el.setAttribute('class', 'x')
  frag.insert(0, [el, new Y.XmlText('txt')])
  el.insert(0, [new Y.XmlText('inner')])
  upd('all_content_kinds', Y.encodeStateAsUpdate(a))
  // Two clients, a conflict at one position, then a merge and a diff.
  const p = S.newDoc(5), q = S.newDoc(6)
  p.getText('text').insert(0, 'ab'); q.getText('text').insert(0, 'xy')
  const up = Y.encodeStateAsUpdate(p), uq = Y.encodeStateAsUpdate(q)
  upd('concurrent_a', up); upd('concurrent_b', uq)
  const m = Y.mergeUpdates([up, uq])
  upd('merged', m)
  upd('diff_skip', Y.diffUpdate(Y.mergeUpdates([up, Y.encodeStateAsUpdate(q)]), Y.encodeStateVector(p)))
  upd('empty', Y.encodeStateAsUpdate(new Y.Doc()))
}
// Updates from random sessions: single transactions (often with gaps: pending when alone), merges.
for (const seed of [3, 17, 42, 77, 123]) {
  const { log } = S.runSession(seed)
  const pick = [log[0], log[Math.floor(log.length / 2)], log[log.length - 1]]
  pick.forEach((u, i) => { if (u.length < 4096) upd(`session_${seed}_${i}`, u) })
  const merged = Y.mergeUpdates(log)
  if (merged.length < 8192) upd(`session_${seed}_merged`, merged)
}

// ---- state vectors ------------------------------------------------------------------------------
const sv = out.ysv
sv('empty', new Uint8Array([0]))
for (const seed of [5, 9, 31]) {
  const { peers } = S.runSession(seed)
  sv(`session_${seed}`, Y.encodeStateVector(peers[0]))
}
{
  const d = new Y.Doc(); d.clientID = 2 ** 53 - 1
  d.getText('t').insert(0, 'x')
  sv('max_client', Y.encodeStateVector(d))
}

// ---- y-websocket messages -----------------------------------------------------------------------
const ws = out.ysync
{
  const d = S.newDoc(1234)
  d.getText('text').insert(0, 'hello 😀')
  d.getMap('map').set('k', [1, 2])
  ws('step1', enc(e => { encoding.writeVarUint(e, 0); sync.writeSyncStep1(e, d) }))
  ws('step1_empty', enc(e => { encoding.writeVarUint(e, 0); sync.writeSyncStep1(e, new Y.Doc()) }))
  ws('step2', enc(e => { encoding.writeVarUint(e, 0); sync.writeSyncStep2(e, d) }))
  let last = null
  d.on('update', u => { last = u })
  d.getText('text').insert(2, 'x')
  ws('update', enc(e => { encoding.writeVarUint(e, 0); sync.writeUpdate(e, last) }))
  const aw = new awarenessProtocol.Awareness(d)
  aw.setLocalState({ user: { name: 'al', color: '#ff0000' }, cursors: [{ anchor: 1, head: 3 }] })
  const au = awarenessProtocol.encodeAwarenessUpdate(aw, [d.clientID])
  ws('awareness', enc(e => { encoding.writeVarUint(e, 1); encoding.writeVarUint8Array(e, au) }))
  ws('query_awareness', enc(e => encoding.writeVarUint(e, 3)))
  ws('raw_save', enc(e => { encoding.writeVarUint(e, 2); encoding.writeVarString(e, 'save'); encoding.writeVarUint(e, 1) }))
  ws('raw_reply', enc(e => { encoding.writeVarUint(e, 2); encoding.writeVarString(e, '{"type":"save","responseTo":1,"status":"success"}') }))
  ws('auth_denied', enc(e => { encoding.writeVarUint(e, 2); encoding.writeVarUint(e, 0); encoding.writeVarString(e, 'no') }))
  aw.destroy()
}

// ---- awareness ----------------------------------------------------------------------------------
// Two header bytes (local client, time step), then updates separated by ff fe fd.
const awo = out.yawareness
{
  const mk = (id, state) => {
    const d = new Y.Doc(); d.clientID = id
    const a = new awarenessProtocol.Awareness(d)
    a.setLocalState(state)
    const u = awarenessProtocol.encodeAwarenessUpdate(a, [id])
    a.setLocalState(null)
    const r = awarenessProtocol.encodeAwarenessUpdate(a, [id])
    a.destroy()
    return [u, r]
  }
  const [u1, r1] = mk(1, { user: { name: 'al' } })
  const [u2] = mk(2, { user: { name: 'Zoë 😀', color: '#00ff00' }, cursors: [] })
  const [u3, r3] = mk(3, { n: 1.5, list: [1, 'two', null] })
  const sep = [0xff, 0xfe, 0xfd]
  const join = (header, parts) => new Uint8Array([...header, ...parts.flatMap((p, i) => (i ? [...sep, ...p] : [...p]))])
  awo('single', join([3, 4], [u1]))
  awo('add_remove', join([0, 10], [u1, u2, r1]))
  awo('local_removed', join([3, 20], [u3, r3, u2]))
  awo('timeouts', join([7, 255], [u1, u2, u3]))
  const multi = enc(e => {
    encoding.writeVarUint(e, 3)
    for (const [id, clock, s] of [[4, 2, '{"a":1}'], [5, 0, 'null'], [4, 3, '"str"']]) {
      encoding.writeVarUint(e, id); encoding.writeVarUint(e, clock); encoding.writeVarString(e, s)
    }
  })
  awo('multi_entry', join([1, 1], [multi, u2]))
}
console.log('corpus written under', root)
