import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { saslPrep } from './saslprep';

describe('saslPrep', () => {
  it('follows the RFC 4013 examples', () => {
    assert.equal(saslPrep('I\u00adX'), 'IX'); // soft hyphen mapped to nothing
    assert.equal(saslPrep('user'), 'user');
    assert.equal(saslPrep('USER'), 'USER'); // case preserved
    assert.equal(saslPrep('\u00aa'), 'a'); // NFKC
    assert.equal(saslPrep('\u2168'), 'IX'); // NFKC
  });

  it('maps non-ASCII spaces to space and composes decomposed characters', () => {
    assert.equal(saslPrep('a\u00a0b\u3000c'), 'a b c');
    assert.equal(saslPrep('caf\u0065\u0301'), 'caf\u00e9');
  });

  it('leaves ASCII alone, control characters included, as PostgreSQL does', () => {
    assert.equal(saslPrep('p\u0007ss word'), 'p\u0007ss word');
  });

  it('uses the password as given when a check fails (PostgreSQL falls back the same way)', () => {
    assert.equal(saslPrep('\u00e9\u0007'), '\u00e9\u0007'); // prohibited control character
    assert.equal(saslPrep('\u00e9\ue000'), '\u00e9\ue000'); // private use
    assert.equal(saslPrep('\u0627\u0031'), '\u0627\u0031'); // RandALCat not last
    assert.equal(saslPrep('\u0627a\u0627'), '\u0627a\u0627'); // RandALCat with an LCat letter
    assert.equal(saslPrep('\u00ad'), '\u00ad'); // empty after mapping
  });

  it('accepts right-to-left text that begins and ends right-to-left', () => {
    assert.equal(saslPrep('\u05d0\u05d1\u05d2'), '\u05d0\u05d1\u05d2');
  });
});
