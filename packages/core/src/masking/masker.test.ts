import assert from 'node:assert/strict';
import { Readable } from 'node:stream';
import { buffer } from 'node:stream/consumers';
import { pipeline } from 'node:stream/promises';
import { describe, it } from 'node:test';
import { TollgateError } from '../errors';
import { PgFrameReader } from '../framing/pg-frame-reader';
import { pg } from '../testing/pg-buffers';
import { Masker } from './masker';

const TEXT = [
  'name,email,card,ssn',
  'Ann,ann@example.com,4111 1111 1111 1111,123-45-6789',
  'Bob,bob.smith@mail.example.org,5500-0000-0000-0004,078-05-1120',
  'order 1234567812345678 is not a card; v1.2.3.4 is a version; 000-12-3456 is not an SSN',
  '',
].join('\n');

describe('Masker', () => {
  it('masks the default entity set and reports counts per entity', () => {
    const m = new Masker();
    const r = m.mask(TEXT);
    const out = r.output.toString();
    assert.match(out, /^Ann,\[REDACTED:email\],\[REDACTED:card\],\[REDACTED:ssn\]$/m);
    assert.ok(out.includes('order 1234567812345678 is not a card; v1.2.3.4 is a version; 000-12-3456'));
    assert.deepEqual(r.counts, { card: 2, ssn: 2, email: 2 });
  });

  it('detect reports byte offsets of each value', () => {
    const m = new Masker();
    const input = Buffer.from('é ann@example.com');
    const [d] = m.detect(input);
    assert.ok(d);
    assert.equal(d.entity, 'email');
    assert.equal(input.subarray(d.start, d.end).toString(), 'ann@example.com');
    assert.equal(d.start, 3, 'é is two bytes');
  });

  it('applies per-entity styles and keyed hashes that stay joinable', () => {
    const key = Buffer.from('0123456789abcdef0123456789abcdef');
    const a = new Masker({ styles: { card: 'last4', email: 'hash' }, hashKey: key });
    const b = new Masker({ styles: { card: 'last4', email: 'hash' }, hashKey: key });
    const out = a.mask('x ann@example.com 4111-1111-1111-1111').output.toString();
    assert.match(out, /^x \[email:[0-9a-f]{16}\] \*\*\*\*-\*\*\*\*-\*\*\*\*-1111$/);
    assert.equal(b.mask('x ann@example.com 4111-1111-1111-1111').output.toString(), out);
  });

  it('refuses a bad custom entity with an error that names it', () => {
    assert.throws(
      () => new Masker({ custom: [{ name: 'employee_id', pattern: 'EMP-\\d+' }] }),
      (err: unknown) =>
        err instanceof TollgateError &&
        err.code === 'TG_CONFIG_INVALID' &&
        err.message.includes("entity 'employee_id': pattern can match text of unbounded length"),
    );
    assert.throws(
      () => new Masker({ styles: { card: 'blur' } }),
      /entity 'card': unknown redaction style 'blur'/,
    );
    assert.throws(() => new Masker({ entities: ['passport'] }), /unknown entity 'passport'/);
  });

  it('stream output equals whole-buffer output for random chunkings', () => {
    const m = new Masker();
    const input = Buffer.from(TEXT.repeat(20));
    const whole = m.mask(input).output;
    let seed = 7;
    const rand = (n: number) => {
      seed = (seed * 1103515245 + 12345) >>> 0;
      return seed % n;
    };
    for (let round = 0; round < 30; round++) {
      const s = m.stream();
      const parts: Buffer[] = [];
      for (let pos = 0; pos < input.length; ) {
        const n = 1 + rand(round % 2 === 0 ? 7 : 300);
        parts.push(s.write(input.subarray(pos, pos + n)));
        pos += n;
      }
      parts.push(s.finish());
      assert.ok(Buffer.concat(parts).equals(whole), `round ${round}`);
      assert.deepEqual(s.counts, { card: 40, ssn: 40, email: 40 });
    }
  });

  it('transform() is a binary-safe Node stream', async () => {
    const m = new Masker();
    const bin = Buffer.from([0, 255, 13, 10, 128, 0x41, 0xc3]);
    const input = Buffer.concat([bin, Buffer.from(' ssn 123-45-6789 '), bin]);
    const chunks = [input.subarray(0, 12), input.subarray(12, 20), input.subarray(20)];
    const t = m.transform();
    const outP = buffer(t);
    await pipeline(Readable.from(chunks), t);
    const out = await outP;
    assert.ok(out.equals(Buffer.concat([bin, Buffer.from(' ssn [REDACTED:ssn] '), bin])));
  });

  it('masks DataRows in one call with a per-column plan', () => {
    const m = new Masker({ styles: { ssn: 'last4' } });
    const chunk = Buffer.concat([
      pg.dataRow(['1', 'ann@example.com', null, '123-45-6789', 'free text 4111 1111 1111 1111']),
      pg.dataRow(['2', 'nobody', 'x', '078-05-1120', null]),
      pg.commandComplete('SELECT 2'),
      pg.readyForQuery(),
    ]);
    const plan = m.rowPlan([
      { action: 'keep' },
      { action: 'scan', entities: ['email'] },
      { action: 'keep' },
      { action: 'redact', entity: 'ssn' },
      { action: 'scan' },
    ]);
    const r = m.maskDataRows(chunk, plan);
    const msgs = new PgFrameReader({ maxMessageLength: 1 << 20 }).push(r.output);
    assert.deepEqual(
      msgs.map((x) => String.fromCharCode(x.code)),
      ['D', 'D', 'C', 'Z'],
    );
    assert.deepEqual(pg.fields((msgs[0] as { bytes: Buffer }).bytes), [
      '1',
      '[REDACTED:email]',
      null,
      '***-**-6789',
      'free text [REDACTED:card]',
    ]);
    assert.deepEqual(pg.fields((msgs[1] as { bytes: Buffer }).bytes), [
      '2',
      'nobody',
      'x',
      '***-**-1120',
      null,
    ]);
    assert.deepEqual(r.counts, { email: 1, ssn: 2, card: 1 });
  });

  it('passes a DataRow chunk with nothing to mask on as it is, with no counts left from the last', () => {
    const m = new Masker();
    const plan = m.rowPlan([{ action: 'scan' }]);
    const pii = Buffer.concat([pg.dataRow(['ann@example.com']), pg.readyForQuery()]);
    assert.deepEqual(m.maskDataRows(pii, plan).counts, { email: 1 });
    const clean = Buffer.concat([pg.dataRow(['nothing here']), pg.dataRow([null]), pg.readyForQuery()]);
    const r = m.maskDataRows(clean, plan);
    assert.equal(r.output, clean); // the same buffer: no copy
    assert.deepEqual(r.counts, {});
    // the output of a call is the caller's to keep: the next call does not overwrite it
    const first = m.maskDataRows(pii, plan).output;
    const kept = Buffer.from(first);
    m.maskDataRows(Buffer.concat([pg.dataRow(['bob@example.org 078-05-1120']), pg.readyForQuery()]), plan);
    assert.ok(first.equals(kept));
  });
});
