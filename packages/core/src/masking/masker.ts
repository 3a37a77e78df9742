import { Transform, type TransformCallback } from 'node:stream';
import { MaskingEngine, type MaskingEngineOptions, type MaskStream, type RowPlan } from '@tollgate/native';
import { Errors, TollgateError } from '../errors';

export type { RowPlan } from '@tollgate/native';

/** A detected sensitive value: byte offsets of the part that gets replaced. */
export interface Detection {
  entity: string;
  start: number;
  end: number;
}

export interface MaskOutput {
  output: Buffer;
  /** Values replaced, by entity name (entities with no replacement are absent). */
  counts: Record<string, number>;
}

export type Counts = Record<string, number>;

/** One result column's treatment when masking PostgreSQL DataRows. */
export type ColumnPlan =
  | { action: 'keep' }
  | { action: 'scan'; entities?: string[] }
  | { action: 'redact'; entity: string };

/** Per-entity counts by name; entities with none left out. */
function toRecord(names: readonly string[], counts: Uint32Array): Counts {
  const out: Counts = {};
  for (let i = 0; i < counts.length; i++) {
    const n = counts[i] ?? 0;
    if (n > 0) out[names[i] as string] = n;
  }
  return out;
}

/**
 * The masking engine as TypeScript sees it: one native call per buffer, chunk or batch of
 * DataRows, never per value. Construct once per configuration (it compiles a Hyperscan
 * database) and reuse.
 */
export class Masker {
  readonly entities: readonly string[];
  readonly #engine: MaskingEngine;
  /** `maskDataRows`' counts, one array reused across calls. */
  readonly #rowCounts: Uint32Array;

  constructor(options?: MaskingEngineOptions) {
    try {
      this.#engine = new MaskingEngine(options);
    } catch (err) {
      throw new TollgateError(Errors.CONFIG_INVALID, `masking configuration: ${(err as Error).message}`, {
        cause: err,
      });
    }
    this.entities = this.#engine.entities;
    this.#rowCounts = new Uint32Array(this.entities.length);
  }

  /** Bytes a stream may hold back before it can decide about them. */
  get holdBack(): number {
    return this.#engine.holdBack;
  }

  mask(input: Buffer | string): MaskOutput {
    const r = this.#engine.mask(typeof input === 'string' ? Buffer.from(input) : input);
    return { output: r.output, counts: toRecord(this.entities, r.counts) };
  }

  detect(input: Buffer | string): Detection[] {
    const flat = this.#engine.detect(typeof input === 'string' ? Buffer.from(input) : input);
    const out: Detection[] = [];
    for (let i = 0; i + 2 < flat.length; i += 3) {
      out.push({
        entity: this.entities[flat[i] as number] as string,
        start: flat[i + 1] as number,
        end: flat[i + 2] as number,
      });
    }
    return out;
  }

  /** Compiles a per-column plan, once per RowDescription. */
  rowPlan(columns: ColumnPlan[], rest: ColumnPlan = { action: 'keep' }): RowPlan {
    return this.#engine.createRowPlan(columns, rest);
  }

  /** Masks every DataRow in a chunk of complete backend messages, in one native call. */
  maskDataRows(chunk: Buffer, plan: RowPlan): MaskOutput {
    const counts = this.#rowCounts;
    counts.fill(0);
    // null: nothing in the chunk changed, and it goes on as it is (no copy)
    const output = this.#engine.maskDataRows(chunk, plan, counts) ?? chunk;
    return { output, counts: toRecord(this.entities, counts) };
  }

  /** A chunk-by-chunk masker whose output equals masking the whole input at once. */
  stream(): MaskingStream {
    return new MaskingStream(this.#engine.createStream(), this.entities);
  }

  /** A Node Transform over `stream()`: constant memory, binary-safe. */
  transform(): MaskTransform {
    return new MaskTransform(this.stream());
  }
}

export class MaskingStream {
  readonly #inner: MaskStream;
  readonly #names: readonly string[];

  constructor(inner: MaskStream, names: readonly string[]) {
    this.#inner = inner;
    this.#names = names;
  }

  /** Masked bytes that can already be decided (possibly empty). */
  write(chunk: Buffer): Buffer {
    return this.#inner.write(chunk);
  }

  /** The rest of the output; the stream is done afterwards. */
  finish(): Buffer {
    return this.#inner.finish();
  }

  /** Values replaced so far, per entity (entities with none left out). */
  get counts(): Counts {
    return toRecord(this.#names, this.#inner.counts);
  }

  /** Bytes received but not yet emitted. */
  get held(): number {
    return this.#inner.held;
  }
}

export class MaskTransform extends Transform {
  readonly masking: MaskingStream;

  constructor(masking: MaskingStream) {
    super();
    this.masking = masking;
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, done: TransformCallback): void {
    try {
      const out = this.masking.write(chunk);
      if (out.length > 0) this.push(out);
      done();
    } catch (err) {
      done(
        new TollgateError(Errors.MASKING_FAILED, `masking failed: ${(err as Error).message}`, { cause: err }),
      );
    }
  }

  override _flush(done: TransformCallback): void {
    try {
      const out = this.masking.finish();
      if (out.length > 0) this.push(out);
      done();
    } catch (err) {
      done(
        new TollgateError(Errors.MASKING_FAILED, `masking failed: ${(err as Error).message}`, { cause: err }),
      );
    }
  }
}
