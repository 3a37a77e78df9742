import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { describe, it } from 'node:test';
import {
  canonicalJson,
  canonicalParts,
  canonicalRecordText,
  checkpointPayload,
  GENESIS_HASH,
  type RecordFields,
} from './canonical';

describe('canonical form', () => {
  it('sorts keys at every depth, drops undefined members, writes no whitespace', () => {
    assert.equal(
      canonicalJson({ b: 1, a: { d: [3, { z: true, y: null }], c: 'x' }, u: undefined }),
      '{"a":{"c":"x","d":[3,{"y":null,"z":true}]},"b":1}',
    );
  });

  it('writes numbers and strings as JSON.stringify does (RFC 8785 for JSON values)', () => {
    assert.equal(
      canonicalJson([1, -0, 0.5, 1e21, 1e-7, 123456789012345]),
      '[1,0,0.5,1e+21,1e-7,123456789012345]',
    );
    assert.equal(canonicalJson('é "q" \n \u0001 \u2028'), '"é \\"q\\" \\n \\u0001 \u2028"');
    assert.equal(canonicalJson([undefined, () => 1]), '[null,null]');
    assert.equal(canonicalJson({ when: new Date(0) }), '{"when":"1970-01-01T00:00:00.000Z"}');
  });

  it('sorts keys by UTF-16 code units', () => {
    assert.equal(
      canonicalJson({ b: 1, B: 2, é: 3, '\u{1F600}': 4, '\uFFFD': 5 }),
      '{"B":2,"b":1,"é":3,"\u{1F600}":4,"\uFFFD":5}',
    );
  });

  it('refuses values with no JSON form', () => {
    assert.throws(() => canonicalJson(undefined), /no JSON form/);
    assert.throws(() => canonicalJson({ n: 1n }), /BigInt/);
  });

  it('splices a record exactly as canonicalJson of the whole record would write it', () => {
    const variants: Partial<RecordFields>[] = [
      {},
      { sessionId: 's' },
      { identityJson: canonicalJson({ subject: 'a', groups: [] }), resource: 'r' },
      { action: 'read', decision: 'allow', approvalId: 'x', dataJson: canonicalJson({ k: [1, 'two'] }) },
      { sessionId: '', resource: '', action: '', decision: '', approvalId: '' },
    ];
    for (const v of variants) {
      const f: RecordFields = {
        type: 'command',
        at: 1783036800000,
        sessionId: undefined,
        identityJson: undefined,
        resource: undefined,
        action: undefined,
        decision: undefined,
        approvalId: undefined,
        dataJson: undefined,
        ...v,
      };
      const whole = canonicalJson({
        seq: 42,
        prevHash: GENESIS_HASH,
        type: f.type,
        at: f.at,
        sessionId: f.sessionId,
        identity: f.identityJson === undefined ? undefined : JSON.parse(f.identityJson),
        resource: f.resource,
        action: f.action,
        decision: f.decision,
        approvalId: f.approvalId,
        data: f.dataJson === undefined ? undefined : JSON.parse(f.dataJson),
      });
      assert.equal(canonicalRecordText(canonicalParts(f), 42, GENESIS_HASH), whole);
    }
  });

  it('matches the worked example in docs/audit.md', () => {
    const body = {
      seq: 1,
      at: 1783036800000,
      type: 'command',
      sessionId: 's-1',
      identity: { subject: 'ann', kind: 'oidc', issuer: 'https://idp.example.com', groups: ['dba'] },
      resource: 'billing-db',
      action: 'dangerous',
      decision: 'require-approval',
      approvalId: 'apr-7',
      data: { command: 'DROP TABLE invoices_old', params: [] },
      prevHash: GENESIS_HASH,
    };
    assert.equal(
      createHash('sha256').update(canonicalJson(body)).digest('hex'),
      'ac2199506cebcd4c43de18d8692151f62c3524fd943d65da0e908728b88349c4',
    );
    assert.equal(
      checkpointPayload(1000, 'ab'.repeat(32), 1783036900000),
      `{"at":1783036900000,"hash":"${'ab'.repeat(32)}","seq":1000,"v":"tollgate-audit-checkpoint/1"}`,
    );
  });
});
