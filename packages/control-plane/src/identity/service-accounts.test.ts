import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after } from 'node:test';
import { closeStore, openSqlite } from '../store/database';
import { serviceAccountsSuite } from './testing/service-accounts-suite';

const dir = mkdtempSync(join(tmpdir(), 'tollgate-sa-sqlite-'));
after(() => rmSync(dir, { recursive: true, force: true }));

// the same suite runs on PostgreSQL in integration/src/control-plane/service-accounts.test.ts
serviceAccountsSuite('SQLite', {
  open: async () => openSqlite(join(dir, 'control-plane.db')),
  close: closeStore,
});
