import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { Masker } from '@tollgate/core';
import { OutputMasking } from './output';

const masker = new Masker();

function collect(idleFlushMs?: number) {
  const parts: Buffer[] = [];
  const m = new OutputMasking(masker, (b) => parts.push(b), idleFlushMs);
  return { m, text: () => Buffer.concat(parts).toString('utf8') };
}

describe('OutputMasking', () => {
  it('masks a card number and an email split across chunks at every position', () => {
    const input = 'pay 4111 1111 1111 1111 then mail jane.roe@example.com ok\n';
    for (let cut = 1; cut < input.length; cut++) {
      const { m, text } = collect();
      m.write(Buffer.from(input.slice(0, cut)));
      m.write(Buffer.from(input.slice(cut)));
      m.finish();
      assert.doesNotMatch(text(), /4111 1111 1111 1111|jane\.roe@example\.com/, `cut at ${cut}`);
      assert.match(text(), /^pay .* ok\n$/);
      assert.equal(m.counts.email, 1);
    }
  });

  it('with an idle flush, releases held-back output once the stream goes quiet', async () => {
    const { m, text } = collect(20);
    m.write(Buffer.from('size 24 80'));
    for (let i = 0; i < 50 && !text().endsWith('24 80'); i++) await sleep(10);
    assert.equal(text(), 'size 24 80');
    m.write(Buffer.from('\ncard 4111 1111 1111 1111\n'));
    m.finish();
    assert.doesNotMatch(text(), /4111 1111 1111 1111/);
  });
});
