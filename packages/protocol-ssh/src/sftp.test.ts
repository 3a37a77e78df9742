import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Masker } from '@tollgate/core';
import type { SFTPWrapper } from 'ssh2';
import { LengthChange, maskedRead, resolvePath, strictest } from './sftp';

/** A target whose READs come from `file`, at most `max` bytes each (servers may short-read). */
function target(file: Buffer, max = 1000): SFTPWrapper {
  return {
    read(
      _h: Buffer,
      buf: Buffer,
      off: number,
      len: number,
      pos: number,
      cb: (e: unknown, n: number) => void,
    ) {
      const n = Math.max(0, Math.min(len, max, file.length - pos));
      file.copy(buf, off, pos, pos + n);
      setImmediate(() => cb(undefined, n));
    },
  } as unknown as SFTPWrapper;
}

const sameLength = new Masker({ defaultStyle: 'last4' });

async function readAll(file: Buffer, masker: Masker, chunk: number): Promise<Buffer> {
  const o = { target: Buffer.alloc(4), masker, masked: {} as Record<string, number>, bytesRead: 0 };
  const parts: Buffer[] = [];
  for (let off = 0; ; off += chunk) {
    const b = await maskedRead(target(file), o, off, chunk);
    if (!b.length) break;
    parts.push(b);
  }
  return Buffer.concat(parts);
}

describe('maskedRead', () => {
  it('masks values that cross the edges of the reads, keeping every offset', async () => {
    const text = `id,card,email\n1,4111 1111 1111 1111,jane.roe@example.com\n${'-'.repeat(300)}\n`;
    const file = Buffer.from(text);
    const whole = sameLength.mask(file).output;
    assert.equal(whole.length, file.length);
    for (const chunk of [7, 16, 33, 64, 4096]) {
      const got = await readAll(file, sameLength, chunk);
      assert.ok(got.equals(whole), `reads of ${chunk} bytes`);
    }
    assert.doesNotMatch(whole.toString(), /4111 1111 1111 1111|jane\.roe@example\.com/);
  });

  it('counts each value once, in the read where it starts', async () => {
    const file = Buffer.from(`a 4111 1111 1111 1111 b jane.roe@example.com c\n`);
    const o = {
      target: Buffer.alloc(4),
      masker: sameLength,
      masked: {} as Record<string, number>,
      bytesRead: 0,
    };
    for (let off = 0; off < file.length; off += 5) await maskedRead(target(file), o, off, 5);
    assert.deepEqual(o.masked, { card: 1, email: 1 });
    assert.equal(o.bytesRead, file.length);
  });

  it('refuses a read whose masking would change the length (style full)', async () => {
    const file = Buffer.from('mail jane.roe@example.com now\n');
    await assert.rejects(readAll(file, new Masker(), 8), LengthChange);
  });

  it('passes data without values unchanged, binary included, and ends with an empty read', async () => {
    const file = Buffer.from(Array.from({ length: 3000 }, (_, i) => (i * 7) % 256));
    const got = await readAll(file, sameLength, 512);
    assert.equal(got.length, file.length);
  });
});

describe('sftp paths and decisions', () => {
  it('resolvePath normalises absolute paths and resolves relative ones against the server directory', () => {
    assert.equal(resolvePath('/srv//app/./a/../b.txt', undefined), '/srv/app/b.txt');
    assert.equal(resolvePath('/srv/app/', '/home/agent'), '/srv/app');
    assert.equal(resolvePath('x/../y.txt', '/home/agent'), '/home/agent/y.txt');
    assert.equal(resolvePath('../../../etc/passwd', '/home/agent'), '/etc/passwd');
    assert.equal(resolvePath('', '/home/agent'), '/home/agent');
    assert.equal(resolvePath('y.txt', undefined), 'y.txt', 'left relative when the directory is unknown');
  });

  it('strictest: deny, then require-approval, then the first', () => {
    const allow = { effect: 'allow', rule: 'a', masking: undefined } as const;
    const deny = { effect: 'deny', rule: 'd', reason: 'no' } as const;
    const held = {
      effect: 'require-approval',
      rule: 'h',
      approval: { reviewers: ['ops'], approvals: 1, timeoutMs: 1000 },
      masking: undefined,
    } as const;
    assert.equal(strictest([allow, allow]), 0);
    assert.equal(strictest([allow, deny]), 1);
    assert.equal(strictest([held, allow]), 0);
    assert.equal(strictest([allow, held, deny]), 2);
  });
});
