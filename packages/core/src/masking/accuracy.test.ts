/**
 * Accuracy of the masking engine on the labeled synthetic corpus (./testing/corpus).
 *
 * Per entity: recall = true spans detected with the same entity and exactly the same [start, end) byte range
 * / all true spans; precision = correct detections / all detections reported for that entity. The figures
 * are printed as a table and written to dist/masking/accuracy.json (copied into the docs by hand).
 *
 * Seeds: 1 and 2 by default; TOLLGATE_ACCURACY_SEEDS="1,2,3" runs and aggregates several corpora.
 */

import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { before, describe, it } from 'node:test';
import { Masker } from './masker';
import { generateLabeledCorpus, type LabeledCorpus } from './testing/corpus';
import { ENTITIES } from './testing/validators';

const SEEDS = (process.env.TOLLGATE_ACCURACY_SEEDS ?? '1,2')
  .split(',')
  .map((s) => Number(s.trim()))
  .filter((n) => Number.isInteger(n));

/** Minimum recall and precision per entity. */
const THRESHOLDS: Readonly<Record<string, number>> = Object.fromEntries(ENTITIES.map((e) => [e, 0.99]));

/** Values shorter than this are not searched for verbatim in the masked output. */
const MIN_VERBATIM_LENGTH = 6;

interface Detection {
  entity: string;
  start: number;
  end: number;
}

interface EntityFigures {
  true: number;
  detected: number;
  correct: number;
  recall: number;
  precision: number;
}

interface SeedRun {
  seed: number;
  corpus: LabeledCorpus;
  input: Buffer;
  detections: Detection[];
  output: Buffer;
  counts: Record<string, number>;
  detectMs: number;
  maskMs: number;
}

const runs: SeedRun[] = [];
const figures: Record<string, EntityFigures> = {};
const missesByFormat: Record<string, number> = {};
const falsePositivesByCause: Record<string, number> = {};
const nearMissHits: Record<string, number> = {};
const examples: Record<string, string[]> = {};

function example(entity: string, line: string): void {
  const list = examples[entity] ?? [];
  if (list.length < 8) list.push(line);
  examples[entity] = list;
}

function context(buf: Buffer, start: number, end: number): string {
  const from = Math.max(0, start - 30);
  const to = Math.min(buf.length, end + 30);
  const show = (b: Buffer) => b.toString().replaceAll('\n', '⏎');
  const value =
    end - start > 120
      ? `${show(buf.subarray(start, start + 60))}…${show(buf.subarray(end - 40, end))}`
      : show(buf.subarray(start, end));
  return `…${show(buf.subarray(from, start))}⟦${value}⟧${show(buf.subarray(end, to))}…`;
}

function countOccurrences(haystack: Buffer, needle: Buffer): number {
  if (needle.length === 0) return 0;
  let n = 0;
  for (let i = haystack.indexOf(needle); i !== -1; i = haystack.indexOf(needle, i + needle.length)) n++;
  return n;
}

function ratio(num: number, den: number, empty: number): number {
  return den === 0 ? empty : num / den;
}

function score(run: SeedRun): void {
  const { corpus, input, detections } = run;
  const truth = new Map<string, (typeof corpus.spans)[number]>();
  for (const s of corpus.spans) truth.set(`${s.entity}:${s.start}:${s.end}`, s);
  const matched = new Set<string>();

  const entities = new Set<string>([...ENTITIES, ...detections.map((d) => d.entity)]);
  for (const e of entities) figures[e] ??= { true: 0, detected: 0, correct: 0, recall: 0, precision: 0 };
  for (const s of corpus.spans) (figures[s.entity] as EntityFigures).true++;

  // Index true spans and near misses by start for overlap diagnostics.
  const spansByPos = [...corpus.spans].sort((a, b) => a.start - b.start);
  const nearByPos = [...corpus.nearMisses].sort((a, b) => a.start - b.start);
  const overlapping = <T extends { start: number; end: number }>(list: T[], d: Detection): T | undefined => {
    let lo = 0;
    let hi = list.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if ((list[mid] as T).end <= d.start) lo = mid + 1;
      else hi = mid;
    }
    const c = list[lo];
    return c !== undefined && c.start < d.end ? c : undefined;
  };

  for (const d of detections) {
    const f = figures[d.entity] as EntityFigures;
    f.detected++;
    const key = `${d.entity}:${d.start}:${d.end}`;
    if (truth.has(key) && !matched.has(key)) {
      matched.add(key);
      f.correct++;
      continue;
    }
    // A false positive: explain it.
    let cause: string;
    const nm = overlapping(nearByPos, d);
    const sp = overlapping(spansByPos, d);
    if (truth.has(key)) cause = 'duplicate detection';
    else if (nm !== undefined) {
      cause = `near miss ${nm.kind}`;
      nearMissHits[nm.kind] = (nearMissHits[nm.kind] ?? 0) + 1;
    } else if (sp !== undefined && sp.entity === d.entity) cause = 'wrong boundaries';
    else if (sp !== undefined) cause = `overlaps true ${sp.entity}`;
    else cause = 'unlabeled text';
    const k = `${d.entity}: ${cause}`;
    falsePositivesByCause[k] = (falsePositivesByCause[k] ?? 0) + 1;
    example(d.entity, `  false positive (${cause}) seed ${run.seed}: ${context(input, d.start, d.end)}`);
  }

  for (const s of corpus.spans) {
    if (matched.has(`${s.entity}:${s.start}:${s.end}`)) continue;
    const k = `${s.entity}:${s.format}`;
    missesByFormat[k] = (missesByFormat[k] ?? 0) + 1;
    example(s.entity, `  missed ${s.format} seed ${run.seed}: ${context(input, s.start, s.end)}`);
  }
}

function printTable(): void {
  const rows = Object.entries(figures).sort(([a], [b]) => a.localeCompare(b));
  const pct = (x: number) => `${(x * 100).toFixed(2)}%`.padStart(8);
  console.log('\nMasking accuracy (seeds %s)', SEEDS.join(','));
  console.log(
    `${'entity'.padEnd(16)} ${'true'.padStart(6)} ${'detected'.padStart(9)} ${'recall'.padStart(8)} ${'precision'.padStart(9)}`,
  );
  for (const [e, f] of rows) {
    console.log(
      `${e.padEnd(16)} ${String(f.true).padStart(6)} ${String(f.detected).padStart(9)} ${pct(f.recall)} ${pct(f.precision).padStart(9)}`,
    );
  }
  if (Object.keys(missesByFormat).length > 0) console.log('\nmisses by format:', missesByFormat);
  if (Object.keys(falsePositivesByCause).length > 0)
    console.log('false positives by cause:', falsePositivesByCause);
  for (const [e, lines] of Object.entries(examples)) console.log(`\nexamples for ${e}:\n${lines.join('\n')}`);
}

describe('masking accuracy on the labeled corpus', () => {
  before(() => {
    const masker = new Masker();
    for (const seed of SEEDS) {
      const corpus = generateLabeledCorpus(seed);
      const input = Buffer.from(corpus.text);
      let t0 = process.hrtime.bigint();
      const detections = masker.detect(input);
      const detectMs = Number(process.hrtime.bigint() - t0) / 1e6;
      t0 = process.hrtime.bigint();
      const { output, counts } = masker.mask(input);
      const maskMs = Number(process.hrtime.bigint() - t0) / 1e6;
      runs.push({ seed, corpus, input, detections, output, counts, detectMs, maskMs });
    }
    for (const run of runs) score(run);
    for (const f of Object.values(figures)) {
      f.recall = ratio(f.correct, f.true, 1);
      f.precision = ratio(f.correct, f.detected, f.true === 0 ? 1 : 0);
    }
    printTable();

    const report = {
      seeds: SEEDS,
      corpus: {
        bytes: runs.reduce((n, r) => n + r.input.length, 0),
        trueValues: runs.reduce((n, r) => n + r.corpus.spans.length, 0),
        nearMisses: runs.reduce((n, r) => n + r.corpus.nearMisses.length, 0),
      },
      thresholds: THRESHOLDS,
      entities: Object.fromEntries(
        Object.entries(figures)
          .sort(([a], [b]) => a.localeCompare(b))
          .map(([e, f]) => [
            e,
            {
              true: f.true,
              detected: f.detected,
              correct: f.correct,
              recall: Number(f.recall.toFixed(4)),
              precision: Number(f.precision.toFixed(4)),
            },
          ]),
      ),
      missesByFormat,
      falsePositivesByCause,
      detectMs: runs.map((r) => Number(r.detectMs.toFixed(1))),
      maskMs: runs.map((r) => Number(r.maskMs.toFixed(1))),
    };
    writeFileSync(join(__dirname, 'accuracy.json'), `${JSON.stringify(report, null, 2)}\n`);
  });

  for (const entity of ENTITIES) {
    const min = THRESHOLDS[entity] ?? 0.95;
    it(`${entity}: recall and precision >= ${min}`, () => {
      const f = figures[entity];
      assert.ok(f !== undefined && f.true >= 300, `${entity}: too few true values in the corpus`);
      assert.ok(
        f.recall >= min,
        `${entity} recall ${f.recall.toFixed(4)} < ${min}\n${(examples[entity] ?? []).join('\n')}`,
      );
      assert.ok(
        f.precision >= min,
        `${entity} precision ${f.precision.toFixed(4)} < ${min}\n${(examples[entity] ?? []).join('\n')}`,
      );
    });
  }

  it('mask() leaves no true value verbatim in the output', () => {
    const leaks: string[] = [];
    let checked = 0;
    for (const run of runs) {
      // Text outside the true spans: a value that also occurs there (e.g. inside a near miss) may remain.
      const residue = Buffer.from(run.input);
      for (const s of run.corpus.spans) residue.fill(0x23, s.start, s.end);
      const seen = new Set<string>();
      for (const s of run.corpus.spans) {
        if (s.value.length < MIN_VERBATIM_LENGTH || seen.has(s.value)) continue;
        seen.add(s.value);
        const needle = Buffer.from(s.value);
        if (residue.includes(needle)) continue;
        checked++;
        if (run.output.includes(needle))
          leaks.push(`${s.entity} (${s.format}): ${JSON.stringify(s.value.slice(0, 80))}`);
      }
    }
    assert.ok(checked > 1000, `only ${checked} values checked`);
    assert.deepEqual(leaks.slice(0, 25), [], `${leaks.length} true values survive masking verbatim`);
  });

  it('mask() keeps every near miss verbatim', () => {
    const lost: string[] = [];
    for (const run of runs) {
      const residue = Buffer.from(run.input);
      for (const s of run.corpus.spans) residue.fill(0x23, s.start, s.end);
      const unique = new Map<string, string>();
      for (const n of run.corpus.nearMisses) unique.set(n.value, n.kind);
      for (const [value, kind] of unique) {
        const needle = Buffer.from(value);
        const expected = countOccurrences(residue, needle);
        const actual = countOccurrences(run.output, needle);
        if (actual < expected)
          lost.push(`${kind}: ${JSON.stringify(value.slice(0, 80))} (${actual}/${expected} left)`);
      }
    }
    assert.deepEqual(lost.slice(0, 25), [], `${lost.length} near misses were altered by mask()`);
  });

  it('detect() reports nothing inside a near miss', () => {
    assert.deepEqual(nearMissHits, {}, 'detections overlapping near misses, by near-miss kind');
  });

  it('mask() counts agree with detect()', () => {
    for (const run of runs) {
      const fromDetect: Record<string, number> = {};
      for (const d of run.detections) fromDetect[d.entity] = (fromDetect[d.entity] ?? 0) + 1;
      const nonZero = (o: Record<string, number>) =>
        Object.fromEntries(Object.entries(o).filter(([, n]) => n > 0));
      assert.deepEqual(nonZero(run.counts), nonZero(fromDetect), `seed ${run.seed}`);
    }
  });
});
