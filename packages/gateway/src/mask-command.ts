import { createReadStream, fstatSync } from 'node:fs';
import type { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import {
  BUILTIN_ENTITIES,
  type Counts,
  Errors,
  engineOptions,
  Masker,
  type MaskingConfig,
  STYLES,
  type Style,
  TollgateError,
} from '@tollgate/core';

export interface MaskArgs {
  files: string[];
  config?: string;
  entities?: string;
  styles: string[];
  hashKeyEnv?: string;
  report?: string;
}

export const MASK_USAGE = `Usage: tollgate mask [options] [FILE...]

Masks sensitive values in FILEs (or standard input) and writes the result to standard output.
Bytes that are not masked pass through unchanged (binary-safe, line endings kept); memory use is
constant whatever the input size.

Options:
  --config FILE         read the 'masking:' section of a Tollgate config file
  --entities LIST       built-in entities to look for, comma-separated (default: all)
                        ${BUILTIN_ENTITIES.join(', ')}
  --style [ENTITY=]STYLE
                        redaction style, for one entity or as the default (repeatable):
                        ${STYLES.join(', ')}
  --hash-key-env VAR    environment variable holding the key for the hash and format styles
                        (without one, a random key: tokens are stable within one run only)
  --report json         write per-entity counts as JSON to standard error
  -h, --help            show this help
`;

function usage(message: string): TollgateError {
  return new TollgateError(Errors.CONFIG_INVALID, message, { hint: 'see tollgate mask --help' });
}

/** Merges the config file's masking section with the command-line flags (flags win). */
export function resolveMaskingConfig(args: MaskArgs): MaskingConfig {
  // the config module (it reads every section, through the control plane's readers) is loaded
  // only when a config file is given: `tollgate mask` on its own starts in a third of the time
  const cfg: MaskingConfig = args.config
    ? ((require('./config') as typeof import('./config')).loadConfig(args.config).masking ?? {})
    : {};
  if (args.entities !== undefined) {
    const list = args.entities
      .split(',')
      .map((s) => s.trim())
      .filter((s) => s.length > 0);
    for (const e of list) {
      if (!BUILTIN_ENTITIES.includes(e)) {
        throw usage(`--entities: unknown entity '${e}' (built-in: ${BUILTIN_ENTITIES.join(', ')})`);
      }
    }
    if (list.length === 0) throw usage('--entities: give at least one entity');
    cfg.entities = list;
  }
  for (const s of args.styles) {
    const eq = s.indexOf('=');
    const style = eq < 0 ? s : s.slice(eq + 1);
    if (!(STYLES as readonly string[]).includes(style)) {
      throw usage(`--style: unknown style '${style}' (${STYLES.join(', ')})`);
    }
    if (eq < 0) {
      cfg.defaultStyle = style as Style;
    } else {
      cfg.styles = { ...cfg.styles, [s.slice(0, eq)]: style as Style };
    }
  }
  if (args.hashKeyEnv !== undefined) cfg.hashKey = { env: args.hashKeyEnv };
  if (args.report !== undefined && args.report !== 'json') {
    throw usage(`--report: unknown format '${args.report}' (json)`);
  }
  return cfg;
}

export interface MaskReport {
  files: number;
  bytesIn: number;
  bytesOut: number;
  counts: Counts;
  /** Peak resident memory of the process, in bytes. */
  maxRssBytes: number;
}

/**
 * Bytes per read. Node's default of 64 KiB made the stream machinery (not the masking) cost as
 * much as the masking itself on large exports; memory stays constant either way.
 */
const READ_CHUNK = 1 << 20;

/**
 * Standard input read in `READ_CHUNK` pieces when it is the process's own and a regular file
 * (`< export.csv`). Pipes and terminals stay with `process.stdin`: Node has made them
 * non-blocking, and file reads on them would fail with EAGAIN.
 */
function stdinOf(stdin: Readable): Readable {
  if (stdin !== process.stdin || !fstatSync(0).isFile()) return stdin;
  return createReadStream('', { fd: 0, highWaterMark: READ_CHUNK, autoClose: false });
}

/** Streams each input through its own masking stream into `out`. */
export async function runMask(
  args: MaskArgs,
  io: { stdin: Readable; stdout: Writable; stderr: Writable },
): Promise<MaskReport> {
  const masker = new Masker(engineOptions(resolveMaskingConfig(args)));
  const report: MaskReport = { files: 0, bytesIn: 0, bytesOut: 0, counts: {}, maxRssBytes: 0 };
  const inputs = args.files.length > 0 ? args.files : ['-'];
  for (const file of inputs) {
    const source = file === '-' ? stdinOf(io.stdin) : createReadStream(file, { highWaterMark: READ_CHUNK });
    const t = masker.transform();
    source.on('data', (c: Buffer) => {
      report.bytesIn += c.length;
    });
    t.on('data', (c: Buffer) => {
      report.bytesOut += c.length;
    });
    try {
      await pipeline(source, t, io.stdout, { end: false });
    } catch (err) {
      if (err instanceof TollgateError) throw err;
      const e = err as NodeJS.ErrnoException;
      throw new TollgateError(
        Errors.INPUT_UNREADABLE,
        `${file}: ${e.code === 'ENOENT' ? 'no such file' : e.message}`,
        {
          cause: err,
        },
      );
    }
    for (const [k, v] of Object.entries(t.masking.counts)) report.counts[k] = (report.counts[k] ?? 0) + v;
    report.files++;
  }
  report.maxRssBytes = process.resourceUsage().maxRSS * 1024;
  if (args.report === 'json') io.stderr.write(`${JSON.stringify(report)}\n`);
  return report;
}
