import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Masker } from '@tollgate/core';
import {
  ChannelRecorder,
  completeUtf8Length,
  encodeBytes,
  eventBytes,
  type RecorderOptions,
  type RecordingChunk,
  type StoredEvent,
  toAsciicast,
} from './recording';

const masker = new Masker();

/** A recorder whose chunks land in `chunks`; a manual clock. */
function recorder(opts: Partial<RecorderOptions> = {}) {
  const chunks: RecordingChunk[] = [];
  let now = 0;
  const rec = new ChannelRecorder({
    kind: 'shell',
    channel: 1,
    width: 100,
    height: 30,
    term: 'xterm',
    now: () => now,
    write: async (c) => {
      chunks.push(structuredClone(c));
    },
    ...opts,
  });
  return {
    rec,
    chunks,
    tick: (ms: number) => {
      now += ms;
    },
  };
}

const events = (chunks: RecordingChunk[]): StoredEvent[] => chunks.flatMap((c) => c.events);
const bytesOf = (chunks: RecordingChunk[], codes: string[]) =>
  Buffer.concat(
    events(chunks)
      .filter((e) => codes.includes(e[1]))
      .map(eventBytes),
  );

describe('encodeBytes', () => {
  it('keeps valid UTF-8 as text and carries a character cut at the end', () => {
    const euro = Buffer.from('price €', 'utf8'); // € is 3 bytes
    const cut = euro.subarray(0, euro.length - 1);
    assert.equal(completeUtf8Length(cut), euro.length - 3);
    const e = encodeBytes(cut, false);
    assert.deepEqual([e.data, e.base64, e.length, [...e.rest]], ['price ', false, 6, [0xe2, 0x82]]);
    assert.equal(encodeBytes(Buffer.from('plain\x1b[0m\r\n'), false).data, 'plain\x1b[0m\r\n');
  });

  it('turns bytes that are not UTF-8 into base64 that gives the same bytes back', () => {
    for (const raw of [
      Buffer.from([0x66, 0xff, 0xfe, 0x00, 0x41]),
      Buffer.from([0xc3]), // a lone lead byte at the end of the stream
      Buffer.from([0xed, 0xa0, 0x80]), // an encoded surrogate: invalid UTF-8
      Buffer.from('\ufeffBOM kept', 'utf8'),
    ]) {
      const e = encodeBytes(raw, true);
      const ev: StoredEvent = e.base64 ? [0, 'o', e.data, 'base64'] : [0, 'o', e.data];
      assert.ok(eventBytes(ev).equals(raw), raw.toString('hex'));
      // every stored event is valid JSON
      assert.deepEqual(JSON.parse(JSON.stringify(ev)), ev);
    }
    assert.equal(encodeBytes(Buffer.from([0xff]), false).base64, true);
    assert.equal(encodeBytes(Buffer.from('\ufeffx'), true).base64, false, 'a BOM is text, kept');
  });
});

describe('ChannelRecorder', () => {
  it('cuts bounded chunks, numbered from 0, header first, and gives back the exact bytes', async () => {
    const { rec, chunks, tick } = recorder({ chunkChars: 200 });
    const sent: Buffer[] = [];
    const send = (b: Buffer, which: 'stdout' | 'stderr' = 'stdout') => {
      sent.push(b);
      rec.output(b, which);
      tick(7);
    };
    const euro = Buffer.from('€€€');
    for (let i = 0; i < 40; i++) send(Buffer.from(`line ${i} \x1b[1mbold\x1b[0m\r\n`));
    send(euro.subarray(0, 4)); // a character split across two packets
    send(euro.subarray(4));
    send(Buffer.from([0x80, 0xff, 0x0a])); // not UTF-8
    send(Buffer.from('to stderr\n'), 'stderr');
    rec.resize(120, 40);
    await rec.close();

    assert.ok(chunks.length > 5, `${chunks.length} chunks`);
    assert.deepEqual(
      chunks.map((c) => c.part),
      chunks.map((_, i) => i),
    );
    assert.deepEqual(chunks[0]?.header, {
      version: 2,
      width: 100,
      height: 30,
      timestamp: chunks[0]?.header?.timestamp,
      env: { TERM: 'xterm' },
    });
    assert.ok(chunks.slice(1).every((c) => c.header === undefined));
    assert.deepEqual(
      chunks.map((c) => c.final === true),
      chunks.map((_, i) => i === chunks.length - 1),
    );
    for (const c of chunks.slice(0, -1)) assert.ok(JSON.stringify(c.events).length < 200 + 400);
    assert.ok(bytesOf(chunks, ['o', 'e']).equals(Buffer.concat(sent)), 'the bytes come back exactly');
    const evs = events(chunks);
    assert.ok(
      evs.some((e) => e[2] === '€€€'.slice(0, 1) || e[2].includes('€')),
      'a split character is text',
    );
    assert.ok(evs.some((e) => e[3] === 'base64'));
    assert.deepEqual(evs.at(-1)?.slice(1), ['r', '120x40']);
    const times = evs.map((e) => e[0]);
    assert.deepEqual(
      times,
      [...times].sort((a, b) => a - b),
    );
    assert.equal(chunks.at(-1)?.bytes?.e, 10);
  });

  it('flushes on a short timer, so a quiet session is stored before it ends', async () => {
    const { rec, chunks } = recorder({ now: undefined, flushMs: 20 });
    rec.output(Buffer.from('$ '));
    for (let i = 0; i < 100 && chunks.length === 0; i++) await new Promise((r) => setTimeout(r, 10));
    assert.equal(chunks.length, 1);
    assert.equal(chunks[0]?.final, undefined);
    await rec.close();
    assert.equal(chunks.length, 2);
    assert.equal(chunks[1]?.final, true);
  });

  it('writes nothing for a channel that produced no event', async () => {
    const { rec, chunks } = recorder();
    await rec.close();
    assert.equal(chunks.length, 0);
  });

  it('reports a backlog while the store is slow, and drains', async () => {
    const release: (() => void)[] = [];
    const written: RecordingChunk[] = [];
    const { rec } = recorder({
      chunkChars: 10,
      maxQueued: 2,
      write: (c) =>
        new Promise<void>((resolve) =>
          release.push(() => {
            written.push(c);
            resolve();
          }),
        ),
    });
    rec.output(Buffer.from('0123456789ab'));
    assert.equal(rec.backlogged, false);
    rec.output(Buffer.from('0123456789ab'));
    assert.equal(rec.backlogged, true);
    let drained = false;
    const d = rec.drained().then(() => {
      drained = true;
    });
    release.shift()?.();
    await d;
    assert.ok(drained);
    const closing = rec.close();
    for (let i = 0; i < 10 && written.length < 3; i++) {
      release.shift()?.();
      await new Promise((r) => setImmediate(r));
    }
    await closing;
    assert.deepEqual(
      written.map((c) => c.part),
      [0, 1, 2],
    );
  });

  it('fails closed: a chunk that cannot be stored stops the recording and tells the caller once', async () => {
    let n = 0;
    const { rec } = recorder({
      chunkChars: 10,
      write: async () => {
        if (++n >= 2) throw new Error('disk full');
      },
    });
    const seen: string[] = [];
    rec.onFail((e) => seen.push(e.message));
    rec.output(Buffer.from('first chunk!'));
    rec.output(Buffer.from('second chunk'));
    await rec.drained();
    await new Promise((r) => setImmediate(r));
    assert.equal(rec.failure?.message, 'disk full');
    rec.output(Buffer.from('dropped'));
    await rec.close();
    rec.onFail((e) => seen.push(`late: ${e.message}`));
    assert.deepEqual(seen, ['disk full', 'late: disk full']);
    assert.equal(n, 2, 'nothing is written after the failure');
  });

  it('records input through a streaming masker: a card typed key by key is not recorded', async () => {
    const { rec, chunks } = recorder();
    rec.output(Buffer.from('$ '));
    rec.input(Buffer.from('before recordInput\n'));
    rec.recordInput(masker);
    for (const ch of 'echo 4111 1111 1111 1111 done\r') rec.input(Buffer.from(ch));
    await rec.close();
    const typed = bytesOf(chunks, ['i']).toString('utf8');
    assert.doesNotMatch(typed, /before recordInput/);
    assert.doesNotMatch(typed, /4111 1111 1111 1111/);
    assert.match(typed, /^echo .* done\r$/);
  });

  it('stops at the size limit and marks the recording truncated', async () => {
    const { rec, chunks } = recorder({ maxBytes: 1000 });
    for (let i = 0; i < 30; i++) rec.output(Buffer.alloc(100, 'x'));
    await rec.close();
    assert.equal(bytesOf(chunks, ['o']).length, 1000);
    assert.equal(chunks.at(-1)?.truncated, true);
    assert.equal(chunks.at(-1)?.final, true);
  });

  it('splits one large packet into events of bounded size', async () => {
    const { rec, chunks } = recorder();
    const big = Buffer.from('é'.repeat(50_000)); // 100 000 bytes, 2 per character
    rec.output(big);
    await rec.close();
    const evs = events(chunks);
    assert.ok(evs.length >= 6);
    assert.ok(
      evs.every((e) => e[3] === undefined),
      'cuts fall between characters',
    );
    assert.ok(bytesOf(chunks, ['o']).equals(big));
  });
});

describe('toAsciicast', () => {
  it('writes a standard asciicast v2 file: header, then [time, code, text] lines', async () => {
    const { rec, chunks, tick } = recorder({ chunkChars: 50 });
    const euro = Buffer.from('€');
    rec.output(Buffer.from('hello\r\n'));
    tick(1500);
    rec.output(Buffer.from([0x41, 0xff, 0x42]));
    tick(10);
    rec.output(Buffer.concat([Buffer.from([0xfe]), euro.subarray(0, 1)])); // base64, ends mid-character
    rec.output(euro.subarray(1));
    rec.output(Buffer.from('oops\n'), 'stderr');
    rec.resize(90, 20);
    await rec.close();
    const lines = toAsciicast(chunks).trimEnd().split('\n');
    const header = JSON.parse(lines[0] as string);
    assert.equal(header.version, 2);
    assert.equal(header.width, 100);
    const evs = lines.slice(1).map((l) => JSON.parse(l) as [number, string, string]);
    for (const e of evs) {
      assert.equal(e.length, 3);
      assert.equal(typeof e[0], 'number');
      assert.ok(['o', 'i', 'r'].includes(e[1]));
      assert.equal(typeof e[2], 'string');
    }
    assert.deepEqual(
      evs.map((e) => e[0]),
      evs.map((e) => e[0]).sort((a, b) => a - b),
    );
    const out = evs
      .filter((e) => e[1] === 'o')
      .map((e) => e[2])
      .join('');
    assert.equal(out, 'hello\r\nA\ufffdB\ufffd€oops\n', 'invalid bytes become U+FFFD, the € survives');
    assert.deepEqual(evs.at(-1), [1.51, 'r', '90x20']);
    assert.equal(evs[0]?.[0], 0);
  });
});
