import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { AuditRecord } from '@tollgate/core';
import { endpointFromTarget, pgClient, psql } from '../harness/index';
import { type GatewayFixture, resourceYaml, useGatewayFixture } from './fixture';

/**
 * Result capture end to end: a masking profile with `capture:` keeps the first masked rows of
 * each statement in its `command.result` audit record — the rows exactly as the client got
 * them, never the target's raw values.
 */

interface Captured {
  columns?: string[];
  rows: (string | null)[][];
  copy?: true;
  truncated?: true;
}

/** The `command.result` record of the latest `command` whose text contains `marker` (polled: results are written lazily). */
async function resultOf(fx: GatewayFixture, marker: string): Promise<AuditRecord> {
  const audit = fx.gw.controlPlane.audit;
  for (let i = 0; i < 100; i++) {
    const cmd = (await audit.query({ types: ['command'] }))
      .filter((r) => String(r.data?.text ?? '').includes(marker))
      .at(-1);
    if (cmd) {
      const res = (await audit.query({ types: ['command.result'], afterSeq: cmd.seq })).find(
        (r) => r.data?.commandSeq === cmd.seq,
      );
      if (res) return res;
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`no command.result for a statement containing ${marker}`);
}

describe('PostgreSQL path: capture of the first masked result rows', () => {
  const f = useGatewayFixture({
    suite: 'pg-capture',
    accounts: { agent: ['agents'] },
    policy: (t) => `version: 1
resources:
${resourceYaml('shop', t)}${resourceYaml('shop-tiny', t)}${resourceYaml('shop-plain', t)}maskingProfiles:
  captured:
    styles: { card: last4 }
    capture: { rows: 3 }
  tiny:
    capture: { rows: 50, maxBytes: 40 }
  uncaptured:
    styles: { card: last4 }
rules:
  - { name: read-shop, subjects: [{ group: agents }], resources: [shop], actions: [read, utility], effect: allow, masking: captured }
  - { name: read-tiny, subjects: [{ group: agents }], resources: [shop-tiny], actions: [read], effect: allow, masking: tiny }
  - { name: read-plain, subjects: [{ group: agents }], resources: [shop-plain], actions: [read], effect: allow, masking: uncaptured }
`,
  });

  /** The raw PII of the first `n` customers, read from the target directly. */
  async function rawPii(n: number): Promise<string[]> {
    const c = await pgClient(endpointFromTarget(f().target));
    try {
      const r = await c.query({
        text: `SELECT email, card_number, ssn, iban FROM customers ORDER BY id LIMIT ${n}`,
        rowMode: 'array',
      });
      return (r.rows as string[][]).flat();
    } finally {
      await c.end();
    }
  }

  test('node-postgres: the result record holds the first 3 rows, as the client got them, masked', {
    timeout: 60_000,
  }, async () => {
    const c = await pgClient(f().ep('agent', 'shop'));
    let got: string[][];
    try {
      const r = await c.query({
        text: 'SELECT id::text, full_name, email, card_number, ssn, iban FROM customers /* cap-1 */ WHERE id <= $1 ORDER BY id',
        values: [10],
        rowMode: 'array',
      });
      got = r.rows as string[][];
    } finally {
      await c.end();
    }
    assert.equal(got.length, 10);
    const rec = await resultOf(f(), 'cap-1');
    assert.equal(rec.data?.rows, 10);
    const cap = rec.data?.capture as Captured;
    assert.deepEqual(cap.columns, ['id', 'full_name', 'email', 'card_number', 'ssn', 'iban']);
    assert.deepEqual(cap.rows, got.slice(0, 3), 'the captured rows are the rows the client received');
    for (const row of cap.rows) {
      assert.equal(row[2], '[REDACTED:email]');
      assert.match(String(row[3]), /\d{4}$/);
      assert.ok(!String(row[1]).includes('REDACTED'), 'a name is not an entity: kept');
    }
    const log = JSON.stringify(await f().gw.controlPlane.audit.query({}));
    for (const raw of await rawPii(10)) assert.ok(!log.includes(raw), 'no raw PII anywhere in the audit log');
  });

  test('psql: simple-query statements each capture their own rows; COPY TO STDOUT its lines', {
    timeout: 60_000,
  }, async () => {
    const ep = f().ep('agent', 'shop');
    const r = await psql(
      { ...ep, suite: 'pg-capture' },
      {
        sql: `SELECT email FROM customers /* cap-2a */ ORDER BY id LIMIT 5; SELECT ssn, city FROM customers /* cap-2b */ ORDER BY id LIMIT 1;
COPY (SELECT id, email FROM customers /* cap-2c */ ORDER BY id LIMIT 4) TO STDOUT;
`,
      },
    );
    assert.equal(r.code, 0, r.stderr);
    const a = (await resultOf(f(), 'cap-2a')).data?.capture as Captured;
    assert.deepEqual(a, {
      columns: ['email'],
      rows: [['[REDACTED:email]'], ['[REDACTED:email]'], ['[REDACTED:email]']],
    });
    const b = (await resultOf(f(), 'cap-2b')).data?.capture as Captured;
    assert.equal(b.rows.length, 1);
    assert.equal(b.rows[0]?.[0], '[REDACTED:ssn]');
    const copy = (await resultOf(f(), 'cap-2c')).data?.capture as Captured;
    assert.equal(copy.copy, true);
    assert.deepEqual(copy.rows, [['1\t[REDACTED:email]'], ['2\t[REDACTED:email]'], ['3\t[REDACTED:email]']]);
    const log = JSON.stringify(await f().gw.controlPlane.audit.query({}));
    for (const raw of await rawPii(5)) assert.ok(!log.includes(raw));
  });

  test('the byte bound cuts the capture; a profile without capture records none', {
    timeout: 60_000,
  }, async () => {
    const c = await pgClient(f().ep('agent', 'shop-tiny'));
    const p = await pgClient(f().ep('agent', 'shop-plain'));
    try {
      await c.query('SELECT full_name, city FROM customers /* cap-3 */ ORDER BY id LIMIT 20');
      await p.query('SELECT email FROM customers /* cap-4 */ ORDER BY id LIMIT 20');
    } finally {
      await c.end();
      await p.end();
    }
    const tiny = (await resultOf(f(), 'cap-3')).data?.capture as Captured;
    assert.equal(tiny.truncated, true);
    const bytes = tiny.rows
      .flat()
      .reduce((n, v) => n + Buffer.byteLength(String(v ?? '').replace(/…$/, '')), 0);
    assert.ok(bytes <= 40, `captured ${bytes} bytes of values, bound 40`);
    assert.ok(tiny.rows.length >= 1 && tiny.rows.length < 20);
    const plain = await resultOf(f(), 'cap-4');
    assert.equal(plain.data?.rows, 20);
    assert.equal(plain.data?.capture, undefined);
  });
});
