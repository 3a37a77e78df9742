import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { buildExecute, buildPortalSuspended, parseExecute, parsePortalSuspended } from './execute';
import { fuzzParse, truncated, violation } from './testing';

describe('Execute (F)', () => {
  it('round-trips a row limit and no limit', () => {
    assert.deepEqual(parseExecute(buildExecute({ portal: 'c1', maxRows: 50 })), {
      type: 'Execute',
      portal: 'c1',
      maxRows: 50,
    });
    assert.deepEqual(parseExecute(buildExecute({ portal: '', maxRows: 0 })), {
      type: 'Execute',
      portal: '',
      maxRows: 0,
    });
  });

  it('refuses a missing row limit', () => {
    assert.throws(
      () => parseExecute(truncated(buildExecute({ portal: '', maxRows: 1 }), 3)),
      violation(/row limit/),
    );
    fuzzParse(buildExecute({ portal: 'c', maxRows: 5 }), parseExecute);
  });
});

describe('PortalSuspended (B)', () => {
  it('round-trips', () => {
    assert.deepEqual(parsePortalSuspended(buildPortalSuspended()), { type: 'PortalSuspended' });
  });
});
