import { writeFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { parseArgs } from 'node:util';
import { closeStore } from '@tollgate/control-plane';
import { type AuditRecord, Errors, TollgateError } from '@tollgate/core';
import { eventBytes, type RecordingChunk, type StoredEvent, toAsciicast } from '@tollgate/protocol-ssh';
import { openLog, publicKey } from './audit';
import type { Command, CommandIo } from './command';

const USAGE = `Usage: tollgate replay SESSION [options]

Plays a recorded SSH session (its exec and shell channels, masked as the agent saw them) in this
terminal with its original timing, or exports it as an asciicast v2 file. The recording is read
from the audit store, and the audit chain is verified first.

  --store sqlite:PATH|postgres://...   the audit store (default: $TOLLGATE_STORE)
  --public-key FILE                    also check checkpoint signatures while verifying
                                       (default: $TOLLGATE_AUDIT_PUBLIC_KEY)
  --channel N                          the channel to play when the session has several
  --list                               list the session's recorded channels and exit
  --speed N                            play N times as fast (default 1)
  --max-idle SECONDS                   shorten longer pauses to this
  --no-timing                          write the output at once (the exact bytes the agent saw)
  --export FILE.cast                   write the channel as asciicast v2 instead of playing
                                       (asciinema play FILE.cast)
  --no-verify                          do not verify the audit chain (said on stderr)
  -h, --help                           show this help

Status lines go to stderr; stdout carries only the session's output.
`;

const PAGE = 10_000;

function usageError(message: string): TollgateError {
  return new TollgateError(Errors.CONFIG_INVALID, message, { hint: 'see tollgate replay --help' });
}

/** One recorded channel, its chunks in part order. */
interface Channel {
  readonly number: number;
  readonly chunks: RecordingChunk[];
  readonly seqs: number[];
}

function isChunk(d: unknown): d is RecordingChunk {
  const c = d as Partial<RecordingChunk> | undefined;
  return (
    c?.format === 'asciicast-v2' &&
    Number.isInteger(c.channel) &&
    Number.isInteger(c.part) &&
    Array.isArray(c.events)
  );
}

async function readChannels(
  store: Awaited<ReturnType<typeof openLog>>['store'],
  session: string,
): Promise<Map<number, Channel>> {
  const out = new Map<number, Channel>();
  let afterSeq = 0;
  for (;;) {
    const page: AuditRecord[] = await store.query({
      sessionId: session,
      types: ['recording'],
      afterSeq,
      limit: PAGE,
    });
    for (const r of page) {
      if (!isChunk(r.data)) continue;
      const ch = out.get(r.data.channel) ?? { number: r.data.channel, chunks: [], seqs: [] };
      ch.chunks.push(r.data);
      ch.seqs.push(r.seq);
      out.set(ch.number, ch);
    }
    const last = page.at(-1);
    if (!last || page.length < PAGE) break;
    afterSeq = last.seq;
  }
  for (const ch of out.values()) ch.chunks.sort((a, b) => a.part - b.part);
  return out;
}

/** What is wrong with a channel's chunk sequence: missing parts, no final chunk, truncation. */
export function gaps(ch: Channel): string[] {
  const notes: string[] = [];
  const missing: number[] = [];
  let expected = 0;
  for (const c of ch.chunks) {
    while (expected < c.part) missing.push(expected++);
    expected = c.part + 1;
  }
  if (missing.length) notes.push(`part${missing.length > 1 ? 's' : ''} ${missing.join(', ')} missing`);
  const last = ch.chunks.at(-1);
  if (!last?.final) notes.push('incomplete: no final chunk (channel still open, or the gateway stopped)');
  if (ch.chunks.some((c) => c.truncated)) notes.push('truncated at the recording size limit');
  return notes;
}

function events(ch: Channel): StoredEvent[] {
  return ch.chunks.flatMap((c) => c.events);
}

function describe(ch: Channel): string {
  const first = ch.chunks[0];
  const h = first?.header;
  const evs = events(ch);
  const duration = evs.at(-1)?.[0] ?? 0;
  const bytes = evs.filter((e) => e[1] === 'o' || e[1] === 'e').reduce((n, e) => n + eventBytes(e).length, 0);
  const started = h ? new Date(h.timestamp * 1000).toISOString() : 'unknown start';
  const what = first?.kind === 'exec' ? `exec ${JSON.stringify(h?.command ?? '')}` : 'shell';
  const size = h ? `${h.width}x${h.height}` : '?';
  const notes = gaps(ch);
  return `  ${String(ch.number).padStart(3)}  ${what}  ${size}  ${started}  ${duration.toFixed(1)} s  ${bytes} bytes${
    notes.length ? `  (${notes.join('; ')})` : ''
  }\n`;
}

function positive(value: string | undefined, flag: string): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!Number.isFinite(n) || n <= 0) throw usageError(`${flag}: expected a positive number: ${value}`);
  return n;
}

function write(out: NodeJS.WritableStream, data: Buffer | string): Promise<void> {
  return new Promise((resolve, reject) => out.write(data, (err) => (err ? reject(err) : resolve())));
}

/** Writes the channel's output (stdout and stderr events) with its timing, or at once. */
async function play(
  ch: Channel,
  io: CommandIo,
  t: { timing: boolean; speed: number; maxIdle: number },
): Promise<void> {
  let prev = 0;
  let batch: Buffer[] = [];
  for (const ev of events(ch)) {
    if (ev[1] !== 'o' && ev[1] !== 'e') continue;
    if (t.timing) {
      const wait = Math.min(ev[0] - prev, t.maxIdle) / t.speed;
      prev = ev[0];
      if (wait > 0.001) {
        if (batch.length) await write(io.stdout, Buffer.concat(batch));
        batch = [];
        await sleep(wait * 1000);
      }
    }
    batch.push(eventBytes(ev));
    if (batch.length >= 256) {
      await write(io.stdout, Buffer.concat(batch));
      batch = [];
    }
  }
  if (batch.length) await write(io.stdout, Buffer.concat(batch));
}

async function run(args: string[], io: CommandIo): Promise<number> {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: {
      store: { type: 'string' },
      'public-key': { type: 'string' },
      channel: { type: 'string' },
      list: { type: 'boolean' },
      speed: { type: 'string' },
      'max-idle': { type: 'string' },
      'no-timing': { type: 'boolean' },
      export: { type: 'string' },
      'no-verify': { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help) {
    io.stdout.write(USAGE);
    return 0;
  }
  const [session, ...extra] = positionals;
  if (!session) throw usageError('which session? tollgate replay SESSION (ses_…, from tollgate audit query)');
  if (extra.length) throw usageError(`unexpected argument: ${extra[0]}`);
  const speed = positive(values.speed, '--speed') ?? 1;
  const maxIdle = positive(values['max-idle'], '--max-idle') ?? Number.POSITIVE_INFINITY;
  let wanted: number | undefined;
  if (values.channel !== undefined) {
    wanted = Number(values.channel);
    if (!Number.isInteger(wanted) || wanted < 1)
      throw usageError(`--channel: expected a channel number: ${values.channel}`);
  }
  const key = values['no-verify'] ? undefined : publicKey(io, values['public-key']);

  const { db, store } = await openLog(io, values.store);
  try {
    const channels = await readChannels(store, session);
    if (channels.size === 0) {
      const any = await store.query({ sessionId: session, limit: 1 });
      if (any.length === 0)
        throw new TollgateError(Errors.NOT_FOUND, `no session ${session} in the audit store`, {
          hint: 'session ids (ses_…) are in every record: tollgate audit query --type session.start',
        });
      throw new TollgateError(Errors.NOT_FOUND, `session ${session} has no recording`, {
        hint: 'only SSH exec and shell channels are recorded (not sftp, port forwards or other protocols)',
      });
    }
    const list = [...channels.values()].sort((a, b) => a.number - b.number);
    if (values.list) {
      io.stdout.write(`session ${session}: ${list.length} recorded channel${list.length === 1 ? '' : 's'}\n`);
      for (const ch of list) io.stdout.write(describe(ch));
      return 0;
    }
    let ch: Channel | undefined;
    if (wanted !== undefined) {
      ch = channels.get(wanted);
      if (!ch) {
        io.stderr.write(`recorded channels of ${session}:\n${list.map(describe).join('')}`);
        throw new TollgateError(Errors.NOT_FOUND, `session ${session} has no recorded channel ${wanted}`);
      }
    } else if (list.length === 1) ch = list[0];
    else {
      io.stderr.write(
        `session ${session} has ${list.length} recorded channels:\n${list.map(describe).join('')}`,
      );
      throw usageError('choose one with --channel N');
    }
    const channel = ch as Channel;

    if (values['no-verify']) {
      io.stderr.write('tollgate: warning: --no-verify: the audit chain was NOT verified\n');
    } else {
      const r = await store.verify(key ? { publicKey: key } : {});
      if (!r.ok) {
        io.stderr.write(
          `tollgate: the audit chain does not verify; not replaying\n${r.summary}\n${r.findings
            .map((f) => `  seq ${f.seq}: ${f.kind}: ${f.message}\n`)
            .join('')}`,
        );
        return 1;
      }
      const late = channel.seqs.filter((s) => s > r.lastSeq).length;
      io.stderr.write(
        `tollgate: audit chain verified (${r.records} records, signatures ${
          key ? 'verified' : 'not checked: no --public-key'
        })${late ? `; ${late} recording records written after the check are not covered` : ''}\n`,
      );
    }
    for (const note of gaps(channel))
      io.stderr.write(`tollgate: warning: channel ${channel.number}: ${note}\n`);

    if (values.export !== undefined) {
      writeFileSync(values.export, toAsciicast(channel.chunks));
      io.stderr.write(`tollgate: wrote ${values.export} (asciicast v2, channel ${channel.number})\n`);
      return 0;
    }
    await play(channel, io, { timing: !values['no-timing'], speed, maxIdle });
    return 0;
  } finally {
    await store.close();
    await closeStore(db);
  }
}

export const command: Command = {
  run(args, io) {
    if (args[0] === 'help') {
      io.stdout.write(USAGE);
      return Promise.resolve(0);
    }
    return run(args, io);
  },
};
