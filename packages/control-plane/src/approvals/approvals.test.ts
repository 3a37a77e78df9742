import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import type { ApprovalRequestInput, Identity } from '@tollgate/core';
import { closeStore, openSqlite } from '../store/database';
import { Approvals } from './approvals';
import { MemoryAudit } from './testing/memory-audit';
import { approvalsSuite } from './testing/suite';

approvalsSuite('approvals on SQLite (two instances and child processes on one file)', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'tollgate-approvals-'));
  const path = join(dir, 'control.db');
  return {
    open: () => openSqlite(path),
    spec: { kind: 'sqlite', path },
    async stop() {
      rmSync(dir, { recursive: true, force: true });
    },
  };
});

describe('approvals on SQLite: claims between processes', () => {
  const dir = mkdtempSync(join(tmpdir(), 'tollgate-approvals-claims-'));
  const store = openSqlite(join(dir, 'control.db'));
  after(async () => {
    await closeStore(store);
    rmSync(dir, { recursive: true, force: true });
  });
  const alice: Identity = { subject: 'alice', kind: 'oidc', issuer: 'https://idp.test', groups: ['dba'] };
  const input: ApprovalRequestInput = {
    requester: { subject: 'ci-bot', kind: 'oidc', issuer: 'https://idp.test', groups: ['agents'] },
    resource: 'prod-db',
    sessionId: 'sess-1',
    action: 'dangerous',
    command: 'DROP TABLE t',
    fingerprint: 'fp-1',
    requirement: { reviewers: ['dba'], approvals: 1, timeoutMs: 60_000 },
  };
  const claim = (id: string, token: string | null, until: number | null): void => {
    if (store.kind !== 'sqlite') return;
    store.db
      .prepare('UPDATE approval_requests SET claim = ?, claim_until = ? WHERE id = ?')
      .run(token, until, id);
  };

  test('a vote waits for another process mid-decision, and takes over a crashed one after its lease', {
    timeout: 30_000,
  }, async () => {
    const a = await Approvals.open(store, { audit: new MemoryAudit() });
    try {
      const live = await a.request(input);
      claim(live.id, 'other-process', Date.now() + 60_000);
      let settled = false;
      const vote = a.approve(live.id, alice).finally(() => {
        settled = true;
      });
      await new Promise((r) => setTimeout(r, 100));
      assert.equal(settled, false, 'must not vote while another process holds the request');
      claim(live.id, null, null); // the other process commits and lets go
      assert.equal((await vote).status, 'approved');

      const crashed = await a.request(input);
      claim(crashed.id, 'dead-process', Date.now() - 1);
      assert.equal((await a.approve(crashed.id, alice)).status, 'approved');
    } finally {
      await a.close();
    }
  });
});
