import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ClassificationCache, type ClassifiedText } from './classify';

function classified(tag: string): ClassifiedText {
  return {
    maskedText: tag,
    statements: [{ class: 'read', reasons: [], tables: ['t'], fingerprint: tag, command: 'SELECT' }],
  };
}

describe('ClassificationCache', () => {
  it('classifies a text once and returns the same frozen classification after', () => {
    const cache = new ClassificationCache(8, 100);
    let calls = 0;
    const compute = () => {
      calls++;
      return classified('a');
    };
    const first = cache.get('SELECT 1', true, compute);
    const second = cache.get('SELECT 1', true, compute);
    assert.equal(calls, 1);
    assert.equal(first, second);
    assert.ok(Object.isFrozen(first.statements[0]));
    assert.ok(Object.isFrozen(first.statements[0]?.tables));
  });

  it('keeps texts apart by standard_conforming_strings', () => {
    const cache = new ClassificationCache(8, 100);
    const on = cache.get("SELECT '\\'", true, () => classified('on'));
    const off = cache.get("SELECT '\\'", false, () => classified('off'));
    assert.equal(on.maskedText, 'on');
    assert.equal(off.maskedText, 'off');
  });

  it('is bounded: the least recently used text goes first, long texts are not kept', () => {
    const cache = new ClassificationCache(2, 10);
    cache.get('a', true, () => classified('a'));
    cache.get('b', true, () => classified('b'));
    cache.get('a', true, () => classified('a2')); // a is now the most recent
    cache.get('c', true, () => classified('c')); // evicts b
    assert.equal(cache.size, 2);
    assert.equal(cache.get('a', true, () => classified('a3')).maskedText, 'a');
    assert.equal(cache.get('b', true, () => classified('b2')).maskedText, 'b2');
    cache.get('x'.repeat(11), true, () => classified('long'));
    assert.equal(cache.size, 2);
  });

  it('with no room it only computes', () => {
    const cache = new ClassificationCache(0);
    let calls = 0;
    for (let i = 0; i < 3; i++)
      cache.get('SELECT 1', true, () => {
        calls++;
        return classified('a');
      });
    assert.equal(calls, 3);
    assert.equal(cache.size, 0);
  });
});
