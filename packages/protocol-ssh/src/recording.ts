import { performance } from 'node:perf_hooks';
import { TextDecoder } from 'node:util';
import type { Masker } from '@tollgate/core';
import { OutputMasking } from './output';

/**
 * Session recording for SSH channels, in the shape of asciicast v2
 * (https://docs.asciinema.org/manual/asciicast/v2/), stored through the audit store as
 * `recording` records: each record holds one chunk of one channel's events, so a long session
 * never holds more than a few chunks in memory and a crash loses at most the last flush.
 *
 * What is recorded is what the agent saw: the output exactly as it was sent to the client, after
 * masking (and the gateway's own messages, such as a held-for-approval line). Input typed into a
 * shell is recorded after its own streaming masker. Nothing unmasked reaches a recording.
 */

/** asciicast v2 header (the first line of a `.cast` file). */
export interface CastHeader {
  readonly version: 2;
  readonly width: number;
  readonly height: number;
  /** Unix time (seconds) the recording started. */
  readonly timestamp: number;
  readonly env?: { readonly TERM?: string };
  /** Exec channels: the command, masked as it is audited. */
  readonly command?: string;
  readonly title?: string;
}

/**
 * Event codes. `o`, `i`, `r` are asciicast's (output, input, resize as `COLSxROWS`); `e` is
 * Tollgate's own for the channel's stderr, exported as `o` (a terminal shows both).
 */
export type EventCode = 'o' | 'e' | 'i' | 'r';

/**
 * One stored event: `[seconds, code, text]`, or `[seconds, code, base64, 'base64']` when the
 * bytes are not valid UTF-8 (JSON strings cannot carry them exactly). Replay writes the exact
 * bytes either way; the `.cast` export decodes base64 events as UTF-8 with U+FFFD for invalid
 * bytes, as asciinema's own recorder does.
 */
export type StoredEvent = [number, EventCode, string] | [number, EventCode, string, 'base64'];

/** The `data` of one `recording` audit record. */
export interface RecordingChunk {
  readonly format: 'asciicast-v2';
  /** Channel number within the session, from 1, in the order the channels started. */
  readonly channel: number;
  /** Chunk number within the channel, from 0, without gaps. */
  readonly part: number;
  readonly kind: 'shell' | 'exec';
  /** In part 0 only. */
  readonly header?: CastHeader;
  readonly events: StoredEvent[];
  /** The channel's last chunk: the recording is complete. */
  readonly final?: true;
  /** Recording stopped at the size limit; the channel went on unrecorded. */
  readonly truncated?: true;
  /** In the final chunk: bytes recorded per event code. */
  readonly bytes?: Readonly<Record<string, number>>;
}

export interface RecorderOptions {
  readonly kind: 'shell' | 'exec';
  readonly channel: number;
  readonly width: number;
  readonly height: number;
  readonly term?: string;
  readonly command?: string;
  /**
   * Stores one chunk durably (a `recording` audit record); rejects when the store cannot write.
   * `full`: the chunk was cut because it reached its size, so output is streaming and the write
   * should not wait for a group commit; otherwise (timer, end) it may.
   */
  readonly write: (chunk: RecordingChunk, full: boolean) => Promise<void>;
  /** A chunk is cut once its events reach this many JSON characters (default 64 Ki). */
  readonly chunkChars?: number;
  /** Events wait at most this long before they are flushed (default 1000 ms). */
  readonly flushMs?: number;
  /** Chunks queued or being written (concurrently, in order) before `backlogged` is true (default 16). */
  readonly maxQueued?: number;
  /** Bytes recorded per channel before recording stops, marked `truncated` (default 64 MiB). */
  readonly maxBytes?: number;
  /** Monotonic milliseconds (tests). */
  readonly now?: () => number;
}

/**
 * Input held back by its masker is recorded after this much quiet: typed commands get a timing
 * near the keystrokes, and a value typed with a longer pause inside is not recognised (its echo in
 * the output would not be either).
 */
const INPUT_IDLE_MS = 1000;

/** Output is cut into events of at most this many bytes, so that one event stays small. */
const MAX_EVENT_BYTES = 16 * 1024;

/**
 * Records one channel. Feed it with `output`, `input` and `resize` as they happen; chunks are
 * flushed by size, by a short timer and at `close`, one at a time and in order. When a write
 * fails, recording stops, `failure` is set and the `onFail` callbacks run once: the caller must
 * stop the channel (fail closed), because what follows would not be recorded.
 */
export class ChannelRecorder {
  readonly #o: Required<Pick<RecorderOptions, 'chunkChars' | 'flushMs' | 'maxQueued' | 'maxBytes'>> &
    RecorderOptions;
  readonly #t0: number;
  readonly #header: CastHeader;
  readonly #carry: Partial<Record<EventCode, Buffer>> = {};
  readonly #bytes: Record<string, number> = {};
  #input: OutputMasking | undefined;
  readonly #queue: { chunk: RecordingChunk; full: boolean }[] = [];
  readonly #failed: ((err: Error) => void)[] = [];
  readonly #drained: (() => void)[] = [];
  #events: StoredEvent[] = [];
  #size = 0;
  #part = 0;
  #total = 0;
  #last = 0;
  #timer: NodeJS.Timeout | undefined;
  #inFlight = 0;
  #truncated = false;
  #closing: Promise<void> | undefined;
  #failure: Error | undefined;

  constructor(opts: RecorderOptions) {
    this.#o = { chunkChars: 64 * 1024, flushMs: 1000, maxQueued: 16, maxBytes: 64 * 1024 * 1024, ...opts };
    this.#t0 = this.#now();
    this.#header = {
      version: 2,
      width: opts.width,
      height: opts.height,
      timestamp: Math.floor(Date.now() / 1000),
      ...(opts.term ? { env: { TERM: opts.term } } : {}),
      ...(opts.command !== undefined ? { command: opts.command } : {}),
    };
  }

  /**
   * Records input from now on, through its own stream of `masker`: a value typed one keystroke
   * at a time is still found (held back until it can be decided, at most until 1 s of quiet, so
   * its event comes later than the keys). Without this call input is not recorded.
   */
  recordInput(masker: Masker): void {
    this.#input ??= new OutputMasking(masker, (b) => this.#bytesEvent('i', b, false), INPUT_IDLE_MS);
  }

  /** Set once a chunk could not be stored; nothing is recorded after that. */
  get failure(): Error | undefined {
    return this.#failure;
  }

  /** Too many chunks wait for the store: pause the source until `drained` resolves. */
  get backlogged(): boolean {
    return this.#queue.length + this.#inFlight >= this.#o.maxQueued;
  }

  /** Resolves when no longer backlogged (or recording failed). */
  drained(): Promise<void> {
    if (!this.backlogged || this.#failure) return Promise.resolve();
    return new Promise((resolve) => this.#drained.push(resolve));
  }

  /** Runs `cb` once if (or as soon as) a chunk cannot be stored. */
  onFail(cb: (err: Error) => void): void {
    if (this.#failure) cb(this.#failure);
    else this.#failed.push(cb);
  }

  /** Output as it was sent to the client (already masked). */
  output(data: Buffer, stream: 'stdout' | 'stderr' = 'stdout'): void {
    this.#bytesEvent(stream === 'stdout' ? 'o' : 'e', data, false);
  }

  /** Input as the agent sent it; recorded after masking, and only after `recordInput`. */
  input(data: Buffer): void {
    if (!this.#input || this.#closing || this.#failure) return;
    this.#input.write(data);
  }

  resize(cols: number, rows: number): void {
    if (this.#truncated) return;
    this.#push([this.#time(), 'r', `${cols}x${rows}`], 8);
  }

  /**
   * Flushes everything (input held by its masker, incomplete UTF-8 tails) as the final chunk and
   * waits until every chunk is stored or recording failed. Never rejects; idempotent.
   */
  close(): Promise<void> {
    if (!this.#closing) {
      this.#input?.finish();
      for (const code of Object.keys(this.#carry) as EventCode[])
        this.#bytesEvent(code, Buffer.alloc(0), true);
      if (this.#part > 0 || this.#events.length > 0) this.#cut(true);
      else clearTimeout(this.#timer);
      this.#closing = this.#idle();
    }
    return this.#closing;
  }

  #now(): number {
    return this.#o.now ? this.#o.now() : performance.now();
  }

  /** Seconds since the start, microsecond precision, never decreasing. */
  #time(): number {
    const t = Math.round((this.#now() - this.#t0) * 1000) / 1e6;
    this.#last = Math.max(this.#last, t);
    return this.#last;
  }

  #bytesEvent(code: EventCode, data: Buffer, final: boolean): void {
    if (this.#failure || this.#truncated || (this.#closing && !final)) return;
    const carry = this.#carry[code];
    let buf = carry?.length ? Buffer.concat([carry, data]) : data;
    delete this.#carry[code];
    if (this.#total + buf.length > this.#o.maxBytes) {
      buf = buf.subarray(0, Math.max(0, this.#o.maxBytes - this.#total));
      this.#truncated = true;
      final = true;
    }
    for (let at = 0; at < buf.length; ) {
      const end = Math.min(buf.length, at + MAX_EVENT_BYTES);
      const last = end === buf.length;
      const e = encodeBytes(buf.subarray(at, end), last && final);
      at = end - e.rest.length;
      if (e.rest.length && last) this.#carry[code] = Buffer.from(e.rest);
      if (e.length === 0) break;
      this.#total += e.length;
      this.#bytes[code] = (this.#bytes[code] ?? 0) + e.length;
      const ev: StoredEvent = e.base64
        ? [this.#time(), code, e.data, 'base64']
        : [this.#time(), code, e.data];
      this.#push(ev, JSON.stringify(e.data).length + 24);
      if (last) break;
    }
    if (this.#truncated) this.#cut(false);
  }

  #push(ev: StoredEvent, size: number): void {
    if (this.#failure || this.#closing) return;
    this.#events.push(ev);
    this.#size += size;
    if (this.#size >= this.#o.chunkChars) this.#cut(false, true);
    else if (!this.#timer) {
      this.#timer = setTimeout(() => this.#cut(false), this.#o.flushMs);
      this.#timer.unref();
    }
  }

  #cut(final: boolean, full = false): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
    if (this.#failure || (!final && this.#events.length === 0)) return;
    const part = this.#part++;
    const chunk: RecordingChunk = {
      format: 'asciicast-v2',
      channel: this.#o.channel,
      part,
      kind: this.#o.kind,
      ...(part === 0 ? { header: this.#header } : {}),
      events: this.#events,
      ...(final ? { final: true as const, bytes: { ...this.#bytes } } : {}),
      ...(this.#truncated ? { truncated: true as const } : {}),
    };
    this.#queue.push({ chunk, full });
    this.#events = [];
    this.#size = 0;
    this.#pump();
  }

  /**
   * Starts writes, up to `maxQueued` at once, in part order (the store keeps the order of its
   * appends, so concurrent chunks share group commits and still land in order).
   */
  #pump(): void {
    while (!this.#failure && this.#inFlight < this.#o.maxQueued) {
      const next = this.#queue.shift();
      if (!next) break;
      this.#inFlight++;
      this.#o.write(next.chunk, next.full).then(
        () => {
          this.#inFlight--;
          if (!this.backlogged) this.#wake();
          this.#pump();
        },
        (err: unknown) => {
          this.#inFlight--;
          this.#fail(err instanceof Error ? err : new Error(String(err)));
        },
      );
    }
    if (this.#inFlight === 0 && this.#queue.length === 0) this.#wake();
  }

  #fail(err: Error): void {
    if (this.#failure) return;
    this.#failure = err;
    this.#queue.length = 0;
    this.#events = [];
    clearTimeout(this.#timer);
    this.#wake();
    for (const cb of this.#failed.splice(0)) cb(err);
  }

  #wake(): void {
    for (const resolve of this.#drained.splice(0)) resolve();
  }

  async #idle(): Promise<void> {
    while ((this.#inFlight > 0 || this.#queue.length > 0) && !this.#failure) {
      await new Promise<void>((resolve) => this.#drained.push(resolve));
    }
  }
}

/** One event's data: exact text when the bytes are UTF-8, else base64. */
export interface EncodedBytes {
  readonly data: string;
  readonly base64: boolean;
  /** Bytes encoded (the input minus `rest`). */
  readonly length: number;
  /** An incomplete UTF-8 sequence at the end, left for the next event (only when not `final`). */
  readonly rest: Buffer;
}

const strict = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

/**
 * Encodes bytes for a JSON string. Valid UTF-8 becomes its text; anything else becomes base64
 * (flagged, so that the bytes come back exactly). Unless `final`, a character cut at the end is
 * left in `rest` to be completed by the next chunk, so that a packet boundary inside a character
 * does not turn text into base64.
 */
export function encodeBytes(buf: Buffer, final: boolean): EncodedBytes {
  const end = final ? buf.length : completeUtf8Length(buf);
  const body = buf.subarray(0, end);
  try {
    return { data: strict.decode(body), base64: false, length: end, rest: buf.subarray(end) };
  } catch {
    return { data: buf.toString('base64'), base64: true, length: buf.length, rest: Buffer.alloc(0) };
  }
}

/** Length of `buf` without a trailing incomplete UTF-8 sequence. */
export function completeUtf8Length(buf: Buffer): number {
  const n = buf.length;
  for (let i = n - 1; i >= 0 && i >= n - 3; i--) {
    const b = buf[i] as number;
    if ((b & 0xc0) === 0x80) continue; // continuation byte
    if (b < 0xc0 || b >= 0xf8) return n; // ASCII, or never a lead byte: nothing is cut
    const need = b >= 0xf0 ? 4 : b >= 0xe0 ? 3 : 2;
    return n - i < need ? i : n;
  }
  return n;
}

/** The exact bytes of a stored event. */
export function eventBytes(ev: StoredEvent): Buffer {
  return ev[3] === 'base64' ? Buffer.from(ev[2], 'base64') : Buffer.from(ev[2], 'utf8');
}

/**
 * A standard asciicast v2 file from one channel's chunks (in part order): the header line, then
 * one event per line. `e` (stderr) becomes `o`; base64 events are decoded as UTF-8 per stream,
 * invalid bytes as U+FFFD; times never decrease.
 */
export function toAsciicast(chunks: readonly RecordingChunk[]): string {
  const header = chunks.find((c) => c.header)?.header ?? { version: 2, width: 80, height: 24, timestamp: 0 };
  const lines = [JSON.stringify(header)];
  const decoders = new Map<EventCode, TextDecoder>();
  let last = 0;
  const emit = (t: number, code: string, text: string) => {
    last = Math.max(last, t);
    if (text) lines.push(JSON.stringify([last, code, text]));
  };
  for (const c of chunks) {
    for (const ev of c.events) {
      const code = ev[1];
      if (code === 'r') {
        emit(ev[0], 'r', ev[2]);
        continue;
      }
      let d = decoders.get(code);
      if (!d) {
        d = new TextDecoder('utf-8', { fatal: false, ignoreBOM: true });
        decoders.set(code, d);
      }
      emit(ev[0], code === 'e' ? 'o' : code, d.decode(eventBytes(ev), { stream: true }));
    }
  }
  for (const [code, d] of decoders) emit(last, code === 'e' ? 'o' : code, d.decode());
  return `${lines.join('\n')}\n`;
}
