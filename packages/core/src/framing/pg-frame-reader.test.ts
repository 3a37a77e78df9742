import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { framePgMessages, framePgMessagesInto } from '@tollgate/native';
import { TollgateError } from '../errors';
import { pg } from '../testing/pg-buffers';
import { PgFrameReader, type PgFrames } from './pg-frame-reader';

const stream = Buffer.concat([
  pg.dataRow(['1', null, 'alice@example.com']),
  pg.dataRow(['', '4111 1111 1111 1111']),
  pg.commandComplete('SELECT 2'),
  pg.readyForQuery(),
]);

function feed(chunks: Buffer[]): string[] {
  const r = new PgFrameReader({ maxMessageLength: 1 << 20 });
  const out: string[] = [];
  for (const c of chunks)
    for (const m of r.push(c)) out.push(`${String.fromCharCode(m.code)}:${m.bytes.toString('hex')}`);
  assert.equal(r.buffered, 0);
  return out;
}

/** `pushFrames`' messages as `feed` describes them, each frame set checked to be contiguous. */
function described(sets: PgFrames[]): string[] {
  const out: string[] = [];
  for (const { buf, index } of sets) {
    let next = index.length > 0 ? (index[1] as number) : 0;
    for (let i = 0; i < index.length; i += 3) {
      const start = index[i + 1] as number;
      assert.equal(start, next, 'each message starts where the one before it ended');
      next = start + (index[i + 2] as number);
      out.push(`${String.fromCharCode(index[i] as number)}:${buf.subarray(start, next).toString('hex')}`);
    }
  }
  return out;
}

describe('PgFrameReader', () => {
  const whole = feed([stream]);

  it('frames every message of a whole buffer', () => {
    assert.deepEqual(
      whole.map((s) => s[0]),
      ['D', 'D', 'C', 'Z'],
    );
  });

  it('gives the same messages when a chunk is split at the beginning, middle or end', () => {
    const first = pg.dataRow(['1', null, 'alice@example.com']).length;
    for (const cut of [1, 4, 5, 6, first - 1, first, first + 1, stream.length - 1]) {
      assert.deepEqual(feed([stream.subarray(0, cut), stream.subarray(cut)]), whole, `cut ${cut}`);
    }
  });

  it('pushFrames indexes the same messages, contiguous, across any cut', () => {
    for (let cut = 0; cut <= stream.length; cut++) {
      const r = new PgFrameReader({ maxMessageLength: 1 << 20 });
      const out: string[] = [];
      for (const c of [stream.subarray(0, cut), stream.subarray(cut)]) {
        out.push(...described(r.pushFrames(c)));
      }
      assert.deepEqual(out, whole, `cut ${cut}`);
    }
  });

  it('pushFrames gives the same messages across any two cuts (a message or a header over three reads)', () => {
    for (let a = 0; a <= stream.length; a++) {
      for (let b = a; b <= stream.length; b += 3) {
        const r = new PgFrameReader({ maxMessageLength: 1 << 20 });
        const out: string[] = [];
        for (const c of [stream.subarray(0, a), stream.subarray(a, b), stream.subarray(b)]) {
          out.push(...described(r.pushFrames(c)));
        }
        assert.deepEqual(out, whole, `cuts ${a}, ${b}`);
        assert.equal(r.buffered, 0);
      }
    }
  });

  it('frames a read of thousands of messages (the index grows)', () => {
    const many = Buffer.concat(Array.from({ length: 5000 }, () => pg.readyForQuery()));
    const r = new PgFrameReader({ maxMessageLength: 1024 });
    const got = r.push(Buffer.concat([many, stream.subarray(0, 3)]));
    assert.equal(got.length, 5000);
    assert.ok(got.every((m) => m.code === 0x5a && m.bytes.length === 6));
    assert.equal(r.buffered, 3);
    assert.deepEqual(feed([stream]), whole);
  });

  it('framePgMessagesInto writes only when the whole index fits, and says how many messages there are', () => {
    const small = new Uint32Array(2 + 3 * 3).fill(7);
    assert.equal(framePgMessagesInto(stream, 1024, false, small), 4);
    assert.ok(
      small.every((v) => v === 7),
      'nothing written',
    );
    const out = new Uint32Array(2 + 3 * 4);
    assert.equal(framePgMessagesInto(stream.subarray(0, stream.length - 1), 1024, false, out), 3);
    assert.equal(out[0], stream.length - pg.readyForQuery().length);
    assert.equal(out[1], pg.readyForQuery().length, 'the cut message needs its whole length');
    assert.deepEqual([...out.subarray(2, 5)], [0x44, 0, pg.dataRow(['1', null, 'alice@example.com']).length]);
    assert.equal(framePgMessagesInto(stream.subarray(0, stream.length - 2), 1024, false, out), 3);
    assert.equal(out[1], 5, 'a cut header needs the header');
    assert.throws(() => framePgMessagesInto(stream, 1024, false, new Uint32Array(1)), /at least 2/);
    // the allocating form gives the same
    const r = framePgMessages(stream.subarray(0, stream.length - 2), 1024, false);
    assert.deepEqual([r.consumed, r.needed, ...r.frames], [...out.subarray(0, 2 + 3 * 3)]);
  });

  it('refuses a bad length whose header was cut by a read', () => {
    const tooLarge = new PgFrameReader({ maxMessageLength: 1024 });
    assert.deepEqual(tooLarge.push(Buffer.concat([pg.readyForQuery(), Buffer.from([0x44, 0x7f])])).length, 1);
    assert.throws(
      () => tooLarge.push(Buffer.from([0xff, 0xff, 0xff, 0x00])),
      (e: unknown) => e instanceof TollgateError && e.code === 'TG_MESSAGE_TOO_LARGE',
    );
    const tooShort = new PgFrameReader({ maxMessageLength: 1024 });
    assert.deepEqual(tooShort.push(Buffer.from([0x51, 0, 0])), []);
    assert.throws(
      () => tooShort.push(Buffer.from([0, 2, 0x51])),
      (e: unknown) => e instanceof TollgateError && e.code === 'TG_PROTOCOL_VIOLATION',
    );
  });

  it('gives the same messages one byte at a time', () => {
    const bytes = [...stream].map((b) => Buffer.from([b]));
    assert.deepEqual(feed(bytes), whole);
  });

  it('refuses a declared length above the limit before buffering it', () => {
    const r = new PgFrameReader({ maxMessageLength: 1024 });
    const bad = Buffer.from([0x44, 0x7f, 0xff, 0xff, 0xff]);
    assert.throws(
      () => r.push(bad),
      (e: unknown) =>
        e instanceof TollgateError &&
        e.code === 'TG_MESSAGE_TOO_LARGE' &&
        /message 'D' declares length/.test(e.message),
    );
  });

  it('refuses a length shorter than its own four bytes', () => {
    const r = new PgFrameReader({ maxMessageLength: 1024 });
    assert.throws(() => r.push(Buffer.from([0x51, 0, 0, 0, 2])), /TG_PROTOCOL_VIOLATION|cannot be smaller/);
  });

  it('frames a start-up message, then regular messages', () => {
    const startup = Buffer.alloc(8);
    startup.writeInt32BE(8, 0);
    startup.writeInt32BE(80877103, 4); // SSLRequest
    const r = new PgFrameReader({ maxMessageLength: 10_000, startup: true });
    const first = r.push(Buffer.concat([startup, pg.readyForQuery()]));
    assert.equal(first.length, 1);
    assert.equal(first[0]?.code, 0);
    const rest = r.endStartup();
    assert.deepEqual(
      rest.map((m) => String.fromCharCode(m.code)),
      ['Z'],
    );
  });
});
