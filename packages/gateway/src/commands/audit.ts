import type { KeyObject } from 'node:crypto';
import { existsSync } from 'node:fs';
import { parseArgs } from 'node:util';
import {
  type AuditQuery,
  type AuditStore,
  closeStore,
  loadAuditPublicKey,
  openAuditStore,
  openPostgres,
  openSqlite,
  parseStoreFlag,
  type StoreDb,
  type VerifyReport,
} from '@tollgate/control-plane';
import { type AuditEventType, type AuditRecord, Errors, TollgateError } from '@tollgate/core';
import type { Command, CommandIo } from './command';

const USAGE = `Usage: tollgate audit <verify|query> [options]

  verify    walk the whole hash chain and report any altered, removed, inserted or
            reordered record by position (exit 0: intact, 1: findings)
  query     print audit records matching filters, as JSON Lines or a table

Common options:
  --store sqlite:PATH|postgres://...   the audit store (default: $TOLLGATE_STORE; prefer the
                                       variable for a URL that carries a password)
  --public-key FILE                    Ed25519 public key (PEM) that checks checkpoint and head
                                       signatures (default: $TOLLGATE_AUDIT_PUBLIC_KEY)
  -h, --help                           show this help

verify options:
  --format text|json                   (default text)

query options:
  --from TIME, --to TIME               time window [from, to): ISO 8601 (2026-07-01 is UTC
                                       midnight) or epoch milliseconds
  --identity SUBJECT                   identity subject (OIDC sub, SAML NameID, service account)
  --resource NAME  --session ID  --decision D  --approval ID
  --action CLASS                       action class (read, write, ddl, dangerous, exec, ...); repeatable
  --type TYPE                          event type (command, session.start, ...); repeatable
  --after-seq N                        only records after position N
  --limit N                            at most N records (default: all)
  --format jsonl|table                 (default jsonl)
  --with-approvals                     join each record with its approval.decision records
                                       (who approved or denied it, when, why)
  --verify                             then verify the whole chain and print the result;
                                       exit 1 when it has findings

The auditor's question "every high-risk command last quarter, who approved it, and prove that
nothing is missing" is one command:

  tollgate audit query --from 2026-07-01 --to 2026-10-01 --type command --action dangerous \\
    --with-approvals --verify --public-key audit.pub.pem
`;

const PAGE = 1000;

function usageError(message: string): TollgateError {
  return new TollgateError(Errors.CONFIG_INVALID, message, { hint: 'see tollgate audit --help' });
}

/** ISO 8601 date/time or epoch milliseconds. */
export function parseTime(value: string, flag: string): number {
  const t = /^\d+$/.test(value) ? Number(value) : Date.parse(value);
  if (!Number.isFinite(t)) throw usageError(`${flag}: not an ISO 8601 date or epoch milliseconds: ${value}`);
  return t;
}

/** Opens the audit store of `--store` (or $TOLLGATE_STORE) read-only; `tollgate replay` uses it too. */
export async function openLog(
  io: CommandIo,
  flag: string | undefined,
): Promise<{ db: StoreDb; store: AuditStore }> {
  const value = flag ?? io.env.TOLLGATE_STORE;
  if (!value) throw usageError('no store: pass --store sqlite:PATH|postgres://... or set TOLLGATE_STORE');
  const spec = parseStoreFlag(value);
  let db: StoreDb;
  if ('url' in spec) db = openPostgres({ connectionString: spec.url, connectionTimeoutMillis: 15_000 });
  else if ('sqlite' in spec) {
    if (!existsSync(spec.sqlite)) {
      throw new TollgateError(Errors.NOT_FOUND, `no audit store at ${spec.sqlite}`, {
        hint: 'check --store or TOLLGATE_STORE',
      });
    }
    db = openSqlite(spec.sqlite);
  } else throw usageError('--store: expected sqlite:PATH or a postgres:// URL');
  try {
    return { db, store: await openAuditStore(db, { readOnly: true }) };
  } catch (err) {
    await closeStore(db).catch(() => {});
    throw err;
  }
}

/** The public key of `--public-key` (or $TOLLGATE_AUDIT_PUBLIC_KEY), if any. */
export function publicKey(io: CommandIo, file: string | undefined): KeyObject | undefined {
  const path = file ?? io.env.TOLLGATE_AUDIT_PUBLIC_KEY;
  return path ? loadAuditPublicKey(path) : undefined;
}

function findingLines(r: VerifyReport): string[] {
  const lines = r.findings.map((f) => {
    const at = f.endSeq !== undefined ? `seq ${f.seq}..${f.endSeq}` : `seq ${f.seq}`;
    return `  ${at}: ${f.kind}${f.subject && f.subject !== 'record' ? ` (${f.subject})` : ''}: ${f.message}`;
  });
  if (r.moreFindings > 0) lines.push(`  … and ${r.moreFindings} more findings`);
  return lines;
}

function verifyText(r: VerifyReport): string {
  const head = `head: seq ${r.head.seq}, hash ${r.head.hash} (${r.head.signed ? 'signed' : 'unsigned'})`;
  const anchor = r.anchor ? `\nstarts after pruning, from the signed anchor at seq ${r.anchor.seq}` : '';
  return `${r.summary}\n${head}${anchor}\n${findingLines(r)
    .map((l) => `${l}\n`)
    .join('')}`;
}

async function runVerify(args: string[], io: CommandIo): Promise<number> {
  const { values } = parseArgs({
    args,
    options: {
      store: { type: 'string' },
      'public-key': { type: 'string' },
      format: { type: 'string', default: 'text' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help) {
    io.stdout.write(USAGE);
    return 0;
  }
  if (values.format !== 'text' && values.format !== 'json')
    throw usageError('--format: expected text or json');
  const key = publicKey(io, values['public-key']);
  const { db, store } = await openLog(io, values.store);
  try {
    const r = await store.verify(key ? { publicKey: key } : {});
    io.stdout.write(values.format === 'json' ? `${JSON.stringify(r)}\n` : verifyText(r));
    if (!key)
      io.stderr.write(
        'tollgate: warning: no --public-key: checkpoint and head signatures were not checked\n',
      );
    return r.ok ? 0 : 1;
  } finally {
    await store.close();
    await closeStore(db);
  }
}

function cell(v: unknown, width: number): string {
  const s = v === undefined || v === null ? '' : String(v).replace(/\s+/g, ' ');
  return s.length > width ? `${s.slice(0, width - 1)}…` : s.padEnd(width);
}

function approvalSummary(approvals: AuditRecord[]): string {
  return approvals
    .map((a) => {
      const d = (a.data ?? {}) as { reviewer?: unknown; verdict?: unknown };
      return `${String(d.reviewer ?? '?')}:${String(d.verdict ?? a.decision ?? '?')}`;
    })
    .join(', ');
}

function tableRow(r: AuditRecord, approvals: AuditRecord[] | undefined): string {
  const data = (r.data ?? {}) as { command?: unknown };
  const cols = [
    cell(r.seq, 8),
    cell(new Date(r.at).toISOString(), 24),
    cell(r.type, 17),
    cell(r.identity?.subject, 16),
    cell(r.resource, 14),
    cell(r.action, 10),
    cell(r.decision, 16),
  ];
  if (approvals) cols.push(cell(approvalSummary(approvals) || '-', 28));
  cols.push(typeof data.command === 'string' ? cell(data.command, 60).trimEnd() : '');
  return `${cols.join(' ').trimEnd()}\n`;
}

function tableHeader(withApprovals: boolean): string {
  const cols = [
    cell('SEQ', 8),
    cell('TIME', 24),
    cell('TYPE', 17),
    cell('IDENTITY', 16),
    cell('RESOURCE', 14),
    cell('ACTION', 10),
    cell('DECISION', 16),
  ];
  if (withApprovals) cols.push(cell('APPROVALS', 28));
  cols.push('COMMAND');
  return `${cols.join(' ')}\n`;
}

async function runQuery(args: string[], io: CommandIo): Promise<number> {
  const { values } = parseArgs({
    args,
    options: {
      store: { type: 'string' },
      from: { type: 'string' },
      to: { type: 'string' },
      identity: { type: 'string' },
      resource: { type: 'string' },
      session: { type: 'string' },
      decision: { type: 'string' },
      approval: { type: 'string' },
      action: { type: 'string', multiple: true },
      type: { type: 'string', multiple: true },
      'after-seq': { type: 'string' },
      limit: { type: 'string' },
      format: { type: 'string', default: 'jsonl' },
      'with-approvals': { type: 'boolean' },
      verify: { type: 'boolean' },
      'public-key': { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help) {
    io.stdout.write(USAGE);
    return 0;
  }
  const format = values.format;
  if (format !== 'jsonl' && format !== 'table') throw usageError('--format: expected jsonl or table');
  const q: AuditQuery = {};
  if (values.from !== undefined) q.from = parseTime(values.from, '--from');
  if (values.to !== undefined) q.to = parseTime(values.to, '--to');
  if (values.identity !== undefined) q.subject = values.identity;
  if (values.resource !== undefined) q.resource = values.resource;
  if (values.session !== undefined) q.sessionId = values.session;
  if (values.decision !== undefined) q.decision = values.decision;
  if (values.approval !== undefined) q.approvalId = values.approval;
  if (values.action) q.actions = values.action;
  if (values.type) q.types = values.type as AuditEventType[];
  let afterSeq = 0;
  if (values['after-seq'] !== undefined) {
    afterSeq = Number(values['after-seq']);
    if (!Number.isSafeInteger(afterSeq) || afterSeq < 0) {
      throw usageError(`--after-seq: expected a whole number: ${values['after-seq']}`);
    }
  }
  let limit = Number.POSITIVE_INFINITY;
  if (values.limit !== undefined) {
    limit = Number(values.limit);
    if (!Number.isInteger(limit) || limit < 0)
      throw usageError(`--limit: expected a whole number: ${values.limit}`);
  }
  const withApprovals = values['with-approvals'] === true;
  const key = values.verify ? publicKey(io, values['public-key']) : undefined;
  const { db, store } = await openLog(io, values.store);
  try {
    if (format === 'table') io.stdout.write(tableHeader(withApprovals));
    let printed = 0;
    while (printed < limit) {
      const page = await store.query({ ...q, afterSeq, limit: Math.min(PAGE, limit - printed) });
      const approvals = withApprovals ? await approvalsFor(store, page) : undefined;
      let out = '';
      for (const r of page) {
        const joined = approvals ? (r.approvalId ? (approvals.get(r.approvalId) ?? []) : []) : undefined;
        if (format === 'jsonl') out += `${JSON.stringify(joined ? { ...r, approvals: joined } : r)}\n`;
        else out += tableRow(r, joined);
      }
      if (out) await write(io, out);
      printed += page.length;
      const last = page[page.length - 1];
      if (!last || page.length < PAGE) break;
      afterSeq = last.seq;
    }
    if (!values.verify) return 0;
    const r = await store.verify(key ? { publicKey: key } : {});
    if (format === 'jsonl') await write(io, `${JSON.stringify({ verify: { matched: printed, ...r } })}\n`);
    else await write(io, `\n${printed} record${printed === 1 ? '' : 's'} matched\nverify: ${verifyText(r)}`);
    if (!key)
      io.stderr.write(
        'tollgate: warning: no --public-key: checkpoint and head signatures were not checked\n',
      );
    return r.ok ? 0 : 1;
  } finally {
    await store.close();
    await closeStore(db);
  }
}

/** The approval.decision records for the approval ids a page of records refers to. */
async function approvalsFor(store: AuditStore, page: AuditRecord[]): Promise<Map<string, AuditRecord[]>> {
  const out = new Map<string, AuditRecord[]>();
  for (const id of new Set(page.map((r) => r.approvalId).filter((x): x is string => x !== undefined))) {
    out.set(id, await store.query({ approvalId: id, types: ['approval.decision'], limit: 100 }));
  }
  return out;
}

function write(io: CommandIo, text: string): Promise<void> {
  return new Promise((resolve, reject) => {
    io.stdout.write(text, (err) => (err ? reject(err) : resolve()));
  });
}

export const command: Command = {
  async run(args, io) {
    const [sub, ...rest] = args;
    if (sub === undefined || sub === '-h' || sub === '--help' || sub === 'help') {
      io.stdout.write(USAGE);
      return sub === undefined ? 2 : 0;
    }
    if (sub === 'verify') return runVerify(rest, io);
    if (sub === 'query') return runQuery(rest, io);
    throw usageError(`unknown audit command '${sub}' (verify, query)`);
  },
};
