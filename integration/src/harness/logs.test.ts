import assert from 'node:assert/strict';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { safeName, saveLog } from './logs';

const dirs: string[] = [];
after(async () => {
  for (const d of dirs) await rm(d, { recursive: true, force: true });
});

test('saveLog writes <suite>-<timestamp>.log into the logs dir', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'tollgate-logs-test-'));
  dirs.push(dir);
  const path = await saveLog('postgres/harness suite', 'line 1\nline 2\n', join(dir, 'logs'));
  assert.match(path, /postgres-harness-suite-\d{4}-\d\d-\d\dT\d\d-\d\d-\d\d-\d{3}Z\.log$/);
  assert.deepEqual(await readdir(join(dir, 'logs')), [path.slice(path.lastIndexOf('/') + 1)]);
  assert.equal(await readFile(path, 'utf8'), 'line 1\nline 2\n');
});

test('safeName keeps file names tame', () => {
  assert.equal(safeName('pg/harness: 1'), 'pg-harness-1');
  assert.equal(safeName('../../etc'), 'etc');
  assert.equal(safeName(''), 'suite');
});
