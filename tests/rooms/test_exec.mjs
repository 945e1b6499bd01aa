// test_exec.mjs (rooms_exec): server-side execution into the shared document, as
// @jupyter/docprovider's NotebookCellServerExecutor asks for it:
//   POST /api/kernels/{kernel_id}/execute {"cell_id", "document_id": "json:notebook:{fileId}"}
// on tandem-lua and on ipykernel (python3), first right after the kernel start, then once it is idle. Two clients are in the room; for each cell both see
// the outputs (consecutive prints merged into one stream output whose text is a Y.Text), the
// execution_count the HTTP answer names, and execution_state going running -> idle;
// update_display_data replaces the display by id; clear_output (immediate and wait=True) empties
// the outputs; an error answers {"status":"error"} with an error output. A RAW save then writes
// the outputs and counts, without execution_state, nbformat-valid. Bad requests: 404 for an
// unknown kernel, document or cell, 400 for a bad body.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import './skip.mjs';   // exits 77 first when the relay or node_modules is missing
const { startRelay, check, watchdog, main, sleep, waitFor, RoomClient, waitConverged,
  makeNotebook, readNotebook, nbContent, nbformatErrors, canon, Y, SLOW } = await import('./rooms.mjs');

let relay;
watchdog(170_000, () => relay);

// Executed right after POST /api/kernels, before the kernel has reported idle (a client may do that).
const LUA_COLD = { id: 'l-cold', source: 'print("cold")', status: 'ok', outputs: [{ output_type: 'stream', name: 'stdout', text: 'cold\n' }] };
const PY_COLD = { id: 'p-cold', source: "print('cold')", status: 'ok', outputs: [{ output_type: 'stream', name: 'stdout', text: 'cold\n' }] };
const LUA = [
  { id: 'l-print', source: 'print("hello")\nprint("world")\nlocal t = os.clock() while os.clock() - t < 0.3 do end\nreturn 6 * 7',
    status: 'ok', outputs: [{ output_type: 'stream', name: 'stdout', text: 'hello\nworld\n' },
                            { output_type: 'execute_result', data: { 'text/plain': '42' } }] },
  { id: 'l-update', source: 'display(html("<b>first</b>"), nil, {display_id = "L1"})\nupdate_display(html("<i>second</i>"), {display_id = "L1"})',
    status: 'ok', outputs: [{ output_type: 'display_data', data: { 'text/html': '<i>second</i>' } }] },
  { id: 'l-clear', source: 'print("gone")\nclear_output()\nprint("kept")', status: 'ok',
    outputs: [{ output_type: 'stream', name: 'stdout', text: 'kept\n' }] },
  { id: 'l-error', source: 'print("before")\nerror("boom")', status: 'error',
    outputs: [{ output_type: 'stream', name: 'stdout', text: 'before\n' }, { output_type: 'error', ename: 'LuaError' }] },
];
const PY = [
  { id: 'p-print', source: "import time\nprint('a')\nprint('b')\ntime.sleep(0.3)\nprint('c')\n6 * 7", status: 'ok',
    outputs: [{ output_type: 'stream', name: 'stdout', text: 'a\nb\nc\n' }, { output_type: 'execute_result', data: { 'text/plain': '42' } }] },
  { id: 'p-update', source: "from IPython.display import display, update_display\ndisplay('first', display_id='d1')\nupdate_display('second', display_id='d1')",
    status: 'ok', outputs: [{ output_type: 'display_data', data: { 'text/plain': "'second'" } }] },
  { id: 'p-clear', source: "from IPython.display import clear_output\nprint('gone')\nclear_output()\nprint('kept')", status: 'ok',
    outputs: [{ output_type: 'stream', name: 'stdout', text: 'kept\n' }] },
  { id: 'p-clear-wait', source: "from IPython.display import clear_output\nprint('gone')\nclear_output(wait=True)\nprint('kept')", status: 'ok',
    outputs: [{ output_type: 'stream', name: 'stdout', text: 'kept\n' }] },
  { id: 'p-error', source: '1 / 0', status: 'error', outputs: [{ output_type: 'error', ename: 'ZeroDivisionError' }] },
];

// Does an output (from the doc) carry the expected fields? (data compared on the given MIME types)
function outputMatches(got, want) {
  if (got.output_type !== want.output_type) return false;
  if (want.name && got.name !== want.name) return false;
  if ('text' in want && (Array.isArray(got.text) ? got.text.join('') : got.text) !== want.text) return false;
  if (want.ename && got.ename !== want.ename) return false;
  if (want.data) for (const [k, v] of Object.entries(want.data)) {
    const g = got.data?.[k];
    if ((Array.isArray(g) ? g.join('') : g) !== v) return false;
  }
  return true;
}
const outputsMatch = (got, want) => got.length === want.length && want.every((w, i) => outputMatches(got[i], w));

await main(async () => {
  relay = await startRelay();
  const nbFile = join(relay.root, 'exec.ipynb');
  writeFileSync(nbFile, JSON.stringify(makeNotebook([LUA_COLD, ...LUA, PY_COLD, ...PY].map(({ id, source }) => ({ id, source })))));
  const A = await new RoomClient(relay, 'exec.ipynb', { user: 'alice' }).open();
  const B = await new RoomClient(relay, 'exec.ipynb', { user: 'bob' }).open();
  const documentId = A.roomname;
  await waitFor(() => B.ydoc.getMap('state').get('document_id') === documentId, 5000 * SLOW, 'state.document_id reaches the other client');
  check(documentId === `json:notebook:${A.sessionInfo.fileId}`, `document_id is json:notebook:{fileId} and shared (${documentId})`);

  // B records every execution_state value each cell goes through, as its observers see them.
  const states = new Map();
  for (const cell of B.model.cells) {
    states.set(cell.id, []);
    cell.ymodel.observe((ev) => { if (ev.keysChanged.has('execution_state')) states.get(cell.id).push(cell.ymodel.get('execution_state')); });
  }
  const cellOf = (c, id) => c.model.cells.find((x) => x.id === id);

  // Each cell is checked on its own; failures are collected so one run reports all of them.
  const failures = [];
  async function run(kernel, spec, what) {
    try { return await run1(kernel, spec, what); } catch (e) {
      failures.push(`${what} ${spec.id}: ${e.message}`);
      console.log(`not ok - ${what} ${spec.id}: ${e.message}`);
      return cellOf(A, spec.id).execution_count ?? 0;
    }
  }
  async function run1(kernel, spec, what) {
    const t0 = Date.now();
    const r = await relay.api('POST', `/api/kernels/${kernel}/execute`, { cell_id: spec.id, document_id: documentId }, {}, 20000 * SLOW);
    check(r.status === 200 && r.json?.status === spec.status && Number.isInteger(r.json?.execution_count),
          `${what} ${spec.id}: POST execute -> 200 {"status":"${spec.status}","execution_count":N} in ${Date.now() - t0} ms (got ${r.status} ${r.text})`);
    const n = r.json.execution_count;
    await waitFor(() => [A, B].every((c) => {
      const cell = cellOf(c, spec.id);
      return cell.execution_count === n && cell.executionState === 'idle' && outputsMatch(cell.outputs, spec.outputs);
    }), 5000 * SLOW, `${what} ${spec.id}: both clients see the outputs, execution_count ${n}, idle`,
    () => [A, B].map((c) => { const cell = cellOf(c, spec.id); return `${c.user}: count=${cell.execution_count} state=${cell.executionState} outputs=${JSON.stringify(cell.outputs)}`; }).join('\n')
      + `\nexpected outputs: ${JSON.stringify(spec.outputs)}`);
    check(true, `${what} ${spec.id}: both clients see ${spec.outputs.map((o) => o.output_type).join('+')}, count ${n}, idle`);
    const seen = states.get(spec.id);
    check(seen.indexOf('running') >= 0 && seen.lastIndexOf('idle') > seen.indexOf('running'),
          `${what} ${spec.id}: the other client saw execution_state running then idle (${seen.join(' -> ')})`);
    const cellA = cellOf(A, spec.id);
    const stream = cellA.youtputs.toArray().find((o) => o.get('output_type') === 'stream');
    if (stream) check(stream.get('text') instanceof Y.Text, `${what} ${spec.id}: the stream output's text is a Y.Text (as @jupyter/ydoc writes it)`);
    if (spec.outputs.some((o) => o.output_type === 'execute_result')) {
      const er = cellA.outputs.find((o) => o.output_type === 'execute_result');
      check(er.execution_count === n, `${what} ${spec.id}: execute_result carries execution_count ${n}`);
    }
    return n;
  }

  // ---- tandem-lua --------------------------------------------------------------------------------
  const idle = (k) => waitFor(async () => (await relay.api('GET', `/api/kernels/${k}`)).json?.execution_state === 'idle', 30000 * SLOW, `kernel ${k} idle`);
  const lua = await relay.api('POST', '/api/kernels', { name: 'tandem-lua' });
  check(lua.status === 201 && lua.json?.id, `tandem-lua kernel started (${lua.status})`);
  let last = await run(lua.json.id, LUA_COLD, 'tandem-lua cold start');
  await idle(lua.json.id);
  for (const spec of LUA) {
    const n = await run(lua.json.id, spec, 'tandem-lua');
    check(n > last, `execution_count increases (${n})`);
    last = n;
  }
  // Run the first cell again: outputs replaced, not appended.
  const again = await run(lua.json.id, LUA[0], 'tandem-lua (again)');
  check(again > last, 're-running a cell replaces its outputs and takes the next count');

  // ---- ipykernel ---------------------------------------------------------------------------------
  const py = await relay.api('POST', '/api/kernels', { name: 'python3' });
  check(py.status === 201 && py.json?.id, `python3 (ipykernel) kernel started (${py.status})`);
  last = await run(py.json.id, PY_COLD, 'ipykernel cold start');
  await idle(py.json.id);
  for (const spec of PY) {
    const n = await run(py.json.id, spec, 'ipykernel');
    check(n > last, `execution_count increases (${n})`);
    last = n;
  }

  if (failures.length) throw new Error(`${failures.length} cell executions failed:\n` + failures.join('\n'));

  // ---- bad requests ------------------------------------------------------------------------------
  const uuid = '00000000-1111-2222-3333-444444444444';
  const bad = [
    [`/api/kernels/${uuid}/execute`, { cell_id: 'l-print', document_id: documentId }, 404, 'unknown kernel'],
    [`/api/kernels/${lua.json.id}/execute`, { cell_id: 'l-print', document_id: 'json:notebook:' + uuid }, 404, 'unknown document'],
    [`/api/kernels/${lua.json.id}/execute`, { cell_id: 'no-such-cell', document_id: documentId }, 404, 'unknown cell'],
    [`/api/kernels/${lua.json.id}/execute`, 'not json', 400, 'non-JSON body'],
    [`/api/kernels/${lua.json.id}/execute`, { document_id: documentId }, 400, 'no cell_id'],
    [`/api/kernels/${lua.json.id}/execute`, { cell_id: 7, document_id: documentId }, 400, 'cell_id not a string'],
  ];
  for (const [path, body, status, what] of bad) {
    const r = await relay.api('POST', path, body);
    check(r.status === status, `execute with ${what} -> ${status} (got ${r.status} ${r.text.slice(0, 120)})`);
  }
  const noTok = await fetch(relay.base + `api/kernels/${lua.json.id}/execute`, { method: 'POST', body: JSON.stringify({ cell_id: 'l-print', document_id: documentId }) });
  check(noTok.status === 403, `execute without a token -> 403 (got ${noTok.status})`);

  // ---- save ----------------------------------------------------------------------------------------
  await waitConverged([A, B], 10000 * SLOW);
  const r = await B.save(3);
  check(r.status === 'success', `RAW save -> success (${JSON.stringify(r)})`);
  const saved = readNotebook(nbFile);
  check(!JSON.stringify(saved).includes('execution_state'), 'the saved file has no execution_state');
  for (const spec of [LUA_COLD, ...LUA, PY_COLD, ...PY]) {
    const c = saved.cells.find((x) => x.id === spec.id);
    if (!c || !outputsMatch(c.outputs, spec.outputs) || c.execution_count !== cellOf(A, spec.id).execution_count) {
      throw new Error(`saved cell ${spec.id}: ${JSON.stringify(c)}; expected outputs ${JSON.stringify(spec.outputs)} and count ${cellOf(A, spec.id).execution_count}`);
    }
  }
  check(true, 'the saved file holds every cell\'s outputs and execution_count');
  check(nbContent(saved) === nbContent(A.model.toJSON()), 'the saved file equals the shared notebook');
  const err = nbformatErrors(nbFile);
  check(err === '', 'the saved file validates with nbformat' + (err ? ': ' + err : ''));

  A.close(); B.close();
  for (const k of [lua.json.id, py.json.id]) await relay.api('DELETE', `/api/kernels/${k}`);
  await relay.stop();
});
