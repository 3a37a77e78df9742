/**
 * Masking and framing throughput, side by side in one run on the same generated corpus:
 * native block mode, native streaming (64 KiB chunks), the JavaScript RegExp baseline doing the
 * same redaction, PostgreSQL framing, and DataRow masking. Prints a table with GB/s and the
 * ratio to the baseline, and writes the figures as JSON.
 *
 *   node bench/dist/masking.bench.js [--mb 64] [--out bench/results/masking.local.json]
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { dirname, join } from 'node:path';
import { parseArgs } from 'node:util';
import { Masker, PgFrameReader } from '@tollgate/core';
import { generateMixedCorpusDetailed } from '@tollgate/core/dist/masking/testing/corpus';
import { framePgMessagesInto } from '@tollgate/native';
import { jsMask } from './js-baseline';

export interface Row {
  name: string;
  bytes: number;
  meanMs: number;
  /** GB/s and messages/s are from the median run: one slow run (a GC, a neighbour) does not move them. */
  medianMs: number;
  gbps: number;
  /** Throughput divided by the JS baseline's (masking rows only). */
  vsBaseline: number | null;
  /** Messages per second (framing rows only). */
  messagesPerSec: number | null;
}

export interface Report {
  date: string;
  node: string;
  cpu: string;
  corpusBytes: number;
  piiRows: number;
  rows: Row[];
}

const CHUNK = 64 * 1024;

/** DataRow-heavy backend traffic built from the corpus lines: 4 text columns per row. */
function dataRows(corpus: Buffer, targetBytes: number): { buf: Buffer; messages: number } {
  const lines = corpus.toString('latin1').split('\n');
  const parts: Buffer[] = [];
  let size = 0;
  let messages = 0;
  for (let i = 0; size < targetBytes; i++) {
    const line = lines[i % lines.length] ?? '';
    const cols = [String(i), line.slice(0, 40), line.slice(40), 'active'];
    const vals = cols.map((c) => Buffer.from(c, 'latin1'));
    const bodyLen = 2 + vals.reduce((n, v) => n + 4 + v.length, 0);
    const m = Buffer.alloc(1 + 4 + bodyLen);
    m.write('D', 0, 'latin1');
    m.writeInt32BE(4 + bodyLen, 1);
    m.writeInt16BE(cols.length, 5);
    let pos = 7;
    for (const v of vals) {
      m.writeInt32BE(v.length, pos);
      v.copy(m, pos + 4);
      pos += 4 + v.length;
    }
    parts.push(m);
    size += m.length;
    messages++;
  }
  return { buf: Buffer.concat(parts), messages };
}

/** Splits complete messages into chunks of about CHUNK bytes, cut on message boundaries. */
function messageChunks(buf: Buffer): Buffer[] {
  const out: Buffer[] = [];
  let start = 0;
  let pos = 0;
  while (pos < buf.length) {
    const len = buf.readInt32BE(pos + 1) + 1;
    if (pos + len - start > CHUNK && pos > start) {
      out.push(buf.subarray(start, pos));
      start = pos;
    }
    pos += len;
  }
  if (pos > start) out.push(buf.subarray(start, pos));
  return out;
}

export async function runMaskingBench(options: { mb: number; iterations?: number }): Promise<Report> {
  const bytes = Math.round(options.mb * 1024 * 1024);
  const corpus = generateMixedCorpusDetailed(1, bytes);
  const input = corpus.buffer;
  const masker = new Masker();
  const rows = dataRows(input, bytes);
  const rowChunks = messageChunks(rows.buf);
  const plan = masker.rowPlan([
    { action: 'keep' },
    { action: 'scan' },
    { action: 'scan' },
    { action: 'keep' },
  ]);
  const iterations = options.iterations ?? 5;
  // tinybench is ESM-only; this package is CommonJS
  const { Bench } = await import('tinybench');
  const bench = new Bench({ iterations, time: 0, warmupIterations: 1, warmupTime: 0 });
  const sizes = new Map<string, { bytes: number; messages?: number }>();
  // Between runs (untimed) the event loop turns once, as it does between a server's reads:
  // Node frees a collected Buffer's memory in a later turn, so a run started straight after
  // the last one would pay for fresh pages in place of the ones the last run let go (in a
  // synchronous loop of whole-corpus calls that is a third of the time, none of it masking).
  const turn = () => new Promise<void>((resolve) => setImmediate(resolve));
  const add = (name: string, size: number, fn: () => void, messages?: number) => {
    bench.add(name, fn, { afterEach: turn });
    sizes.set(name, messages === undefined ? { bytes: size } : { bytes: size, messages });
  };
  add('native masking, block (whole corpus per call)', input.length, () => {
    masker.mask(input);
  });
  add('native masking, stream (64 KiB chunks)', input.length, () => {
    const s = masker.stream();
    for (let i = 0; i < input.length; i += CHUNK) s.write(input.subarray(i, i + CHUNK));
    s.finish();
  });
  add(
    'PG framing, PgFrameReader.push (object per message)',
    rows.buf.length,
    () => {
      // cuts fall inside messages, as TCP reads do: the reader carries the tails
      const reader = new PgFrameReader({ maxMessageLength: 1 << 20 });
      for (let i = 0; i < rows.buf.length; i += CHUNK) reader.push(rows.buf.subarray(i, i + CHUNK));
    },
    rows.messages,
  );
  add(
    'PG framing, PgFrameReader.pushFrames (index, no objects)',
    rows.buf.length,
    () => {
      const reader = new PgFrameReader({ maxMessageLength: 1 << 20 });
      for (let i = 0; i < rows.buf.length; i += CHUNK) reader.pushFrames(rows.buf.subarray(i, i + CHUNK));
    },
    rows.messages,
  );
  add(
    'PG framing, framePgMessagesInto alone (offset carry)',
    rows.buf.length,
    () => {
      // the native call alone: one boundary index per chunk into a kept array, the tail
      // carried by offset (a chunk holds about 540 messages here: the array has room)
      const out = new Uint32Array(2 + 3 * 4096);
      let from = 0;
      for (let end = CHUNK; from < rows.buf.length; end += CHUNK) {
        const n = framePgMessagesInto(
          rows.buf.subarray(from, Math.min(end, rows.buf.length)),
          1 << 20,
          false,
          out,
        );
        if (2 + 3 * n > out.length) throw new Error(`a chunk of ${n} messages: the index array is too small`);
        const consumed = out[0] as number;
        from += consumed;
        if (end >= rows.buf.length && consumed === 0) break;
      }
    },
    rows.messages,
  );
  add('DataRow masking, scan 2 of 4 columns (64 KiB chunks)', rows.buf.length, () => {
    for (const c of rowChunks) masker.maskDataRows(c, plan);
  });
  // last: its garbage (strings, arrays of matches) slowed the native tasks that came after it
  add('JS RegExp baseline, same redaction', input.length, () => {
    jsMask(input);
  });
  await bench.run();
  const out: Row[] = [];
  let baseline = 0;
  for (const task of bench.tasks) {
    const r = task.result;
    if (!('latency' in r)) throw new Error(`${task.name}: ${'error' in r ? String(r.error) : r.state}`);
    const size = sizes.get(task.name) as { bytes: number; messages?: number };
    const meanMs = r.latency.mean;
    const medianMs = r.latency.p50;
    const gbps = size.bytes / (medianMs / 1000) / 1e9;
    if (task.name.startsWith('JS RegExp')) baseline = gbps;
    out.push({
      name: task.name,
      bytes: size.bytes,
      meanMs,
      medianMs,
      gbps,
      vsBaseline: null,
      messagesPerSec: size.messages === undefined ? null : size.messages / (medianMs / 1000),
    });
  }
  for (const row of out)
    if (!row.name.startsWith('PG framing')) row.vsBaseline = baseline > 0 ? row.gbps / baseline : null;
  return {
    date: new Date().toISOString(),
    node: process.version,
    cpu: cpus()[0]?.model ?? 'unknown',
    corpusBytes: input.length,
    piiRows: corpus.piiRows,
    rows: out,
  };
}

export function formatReport(r: Report): string {
  const lines = [
    `corpus: ${(r.corpusBytes / 1048576).toFixed(0)} MiB, ${r.piiRows} rows with PII; ${r.cpu}; node ${r.node}`,
    `${'benchmark'.padEnd(56)} ${'GB/s'.padStart(7)} ${'x JS'.padStart(7)} ${'msgs/s'.padStart(12)}`,
  ];
  for (const row of r.rows) {
    lines.push(
      `${row.name.padEnd(56)} ${row.gbps.toFixed(2).padStart(7)} ${(row.vsBaseline === null ? '' : row.vsBaseline.toFixed(1)).padStart(7)} ${(row.messagesPerSec === null ? '' : `${(row.messagesPerSec / 1e6).toFixed(1)}M`).padStart(12)}`,
    );
  }
  return lines.join('\n');
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      mb: { type: 'string', default: process.env.TOLLGATE_BENCH_MB ?? '64' },
      out: { type: 'string', default: join(__dirname, '..', 'results', 'masking.local.json') },
    },
  });
  const report = await runMaskingBench({ mb: Number(values.mb) });
  console.log(formatReport(report));
  mkdirSync(dirname(values.out), { recursive: true });
  writeFileSync(values.out, `${JSON.stringify(report, null, 2)}\n`);
  console.log(`\nwritten to ${values.out}`);
}

if (require.main === module) {
  main().catch((err) => {
    console.error(err);
    process.exitCode = 1;
  });
}
