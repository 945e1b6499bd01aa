// gen_notebook.mjs: a deterministic large notebook for the room benchmarks (nbformat 4.5 shape,
// written like nbformat does: indent 1, multiline strings as lists of lines).
//   node tests/bench/gen_notebook.mjs OUT.ipynb [--cells 1000] [--mb 20]
// Every cell is a code cell with a stream output (stdout, a table of numbers) and a display_data
// output (text/plain + image/png base64); the outputs add up to about MB megabytes.
import { writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

function rng(seed) { // xorshift32: same notebook on every run
  let s = seed >>> 0 || 1;
  return () => { s ^= s << 13; s >>>= 0; s ^= s >>> 17; s ^= s << 5; s >>>= 0; return s / 4294967296; };
}

const lines = (s) => s.split(/(?<=\n)/);

export function makeNotebook({ cells = 1000, mb = 20, seed = 42 } = {}) {
  const r = rng(seed);
  const perCell = Math.floor((mb * 1e6) / cells);
  const streamBytes = Math.floor(perCell * 0.45), pngBytes = Math.floor(perCell * 0.45);
  const plainBytes = perCell - streamBytes - pngBytes;
  const b64 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';
  const out = [];
  for (let i = 0; i < cells; i++) {
    let stream = '';
    for (let row = 0; stream.length < streamBytes; row++) {
      let line = `step ${i}.${row}`;
      for (let c = 0; c < 6; c++) line += '\t' + (r() * 1000).toFixed(4);
      stream += line + '\n';
    }
    stream = stream.slice(0, streamBytes - 1) + '\n';
    let png = 'iVBORw0KGgoAAAANSUhEUgAA';
    const parts = [png];
    for (let n = png.length; n < pngBytes; n += 76) {
      let l = '';
      for (let k = 0; k < 76; k++) l += b64[(r() * 64) | 0];
      parts.push(l);
    }
    png = parts.join('').slice(0, pngBytes - (pngBytes % 4));
    let plain = `<Figure size 640x480 with 1 Axes> cell ${i}\n`;
    while (plain.length < plainBytes) plain += `array([${Array.from({ length: 8 }, () => (r() * 10).toFixed(3)).join(', ')}])\n`;
    plain = plain.slice(0, plainBytes);
    out.push({
      cell_type: 'code',
      execution_count: i + 1,
      id: `cell-${String(i).padStart(5, '0')}-${((r() * 0xffffff) | 0).toString(16).padStart(6, '0')}`,
      metadata: { tags: [], collapsed: false },
      outputs: [
        { name: 'stdout', output_type: 'stream', text: lines(stream) },
        { data: { 'image/png': png, 'text/plain': lines(plain) }, metadata: { needs_background: 'light' },
          output_type: 'display_data' },
      ],
      source: lines(`import numpy as np\nx = np.linspace(0, ${i}, 100)\nfor k in range(${i % 50 + 10}):\n    print("step", ${i}, k, x[k % 100])\nplot(x, np.sin(x) * ${i})`),
    });
  }
  return {
    cells: out,
    metadata: {
      kernelspec: { display_name: 'Python 3 (ipykernel)', language: 'python', name: 'python3' },
      language_info: { name: 'python', version: '3.11.2', mimetype: 'text/x-python', file_extension: '.py' },
    },
    nbformat: 4,
    nbformat_minor: 5,
  };
}

// The notebook as the contents API hands it to a frontend: multiline strings joined.
export function joinedCells(nb) {
  const j = (v) => (Array.isArray(v) ? v.join('') : v);
  return nb.cells.map((c) => ({
    ...c, source: j(c.source),
    outputs: c.outputs?.map((o) => ({
      ...o, ...(o.text !== undefined && { text: j(o.text) }),
      ...(o.data && { data: Object.fromEntries(Object.entries(o.data).map(([k, v]) => [k, j(v)])) }),
    })),
  }));
}

export function writeNotebook(path, opts) {
  const nb = makeNotebook(opts);
  const text = JSON.stringify(nb, null, 1) + '\n';
  writeFileSync(path, text);
  return { nb, bytes: Buffer.byteLength(text) };
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const a = process.argv.slice(2);
  const opt = (k, d) => { const i = a.indexOf(k); return i >= 0 ? Number(a[i + 1]) : d; };
  const path = a.find((x, i) => !x.startsWith('--') && !(i > 0 && a[i - 1].startsWith('--')));
  if (!path) { console.error('usage: gen_notebook.mjs OUT.ipynb [--cells N] [--mb MB]'); process.exit(2); }
  const { bytes } = writeNotebook(path, { cells: opt('--cells', 1000), mb: opt('--mb', 20) });
  console.log(`${path}: ${(bytes / 1e6).toFixed(1)} MB`);
}
