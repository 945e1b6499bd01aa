// test_store.mjs: users and tokens live in the SQLite store. A relay started with --users imports
// them into ROOT/.tandem/tandem.sqlite (or --db FILE); a later relay on the same store, without
// --users, still knows them (/api/me answers with the identity); the file holds no plain token.
import { readFileSync, existsSync, mkdtempSync, writeFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startRelay, check, skipUnlessReady, watchdog } from './relay.mjs';

skipUnlessReady();
let relay;
const dog = watchdog(30_000, () => relay);
const dir = mkdtempSync(join(tmpdir(), 'tandem-store-'));
const users = join(dir, 'users.json'), db = join(dir, 'state.sqlite');
writeFileSync(users, JSON.stringify([{ token: 'carol-plain-token-1', username: 'carol', name: 'Carol C', color: '#123456' }]));

relay = await startRelay({ args: ['--users', users] });
check(existsSync(join(relay.root, '.tandem/tandem.sqlite')), 'default store ROOT/.tandem/tandem.sqlite created');
await relay.stop();

relay = await startRelay({ args: ['--users', users, '--db', db] });
let me = await relay.api('GET', '/api/me', undefined, { Authorization: 'token carol-plain-token-1' });
check(me.status === 200 && me.json.identity.username === 'carol', 'imported user authenticates');
await relay.stop();

relay = await startRelay({ args: ['--db', db] });
me = await relay.api('GET', '/api/me', undefined, { Authorization: 'token carol-plain-token-1' });
check(me.status === 200 && me.json.identity.username === 'carol' && me.json.identity.color === '#123456',
      'after a restart without --users: still carol');
check((await relay.api('GET', '/api/me', undefined, { Authorization: 'token wrong-token-123' })).status === 403,
      'a wrong token is still refused');
await relay.stop();
const bytes = Buffer.concat([db, db + '-wal'].filter(existsSync).map((f) => readFileSync(f)));
check(bytes.length > 0 && !bytes.includes('carol-plain-token-1'), 'the store holds no plain token');
rmSync(dir, { recursive: true, force: true });
clearTimeout(dog);
process.exit(0);
