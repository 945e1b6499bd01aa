// skip.mjs: imported first (node builtins only), so a test exits 77 with a reason before its
// npm imports are resolved: when TANDEM_RELAY is unset or missing, or node_modules is not installed.
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
if (!process.env.TANDEM_RELAY || !existsSync(process.env.TANDEM_RELAY)) {
  console.log('SKIP: TANDEM_RELAY not set or missing');
  process.exit(77);
}
for (const pkg of ['yjs', 'y-websocket', '@jupyter/ydoc', 'ws', 'lib0', 'y-protocols']) {
  if (!existsSync(join(here, 'node_modules', pkg, 'package.json'))) {
    console.log(`SKIP: ${pkg} is not installed in ${here} (run npm ci there)`);
    process.exit(77);
  }
}
