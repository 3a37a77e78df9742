import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import {
  closeStore,
  openStore,
  parseOpenSshPublicKey,
  parseStoreFlag,
  type ServiceAccount,
  ServiceAccounts,
  type StoreDb,
} from '@tollgate/control-plane';
import { Errors, TollgateError } from '@tollgate/core';
import type { Command, CommandIo } from './command';

const USAGE = `Usage: tollgate service-accounts <create|list|revoke|add-key> [options]

Manages service accounts (agents that present an API key or a registered SSH key) directly in
the control-plane store. Changes take effect at once in every gateway using that store.

  create NAME --groups a,b [--expires 30d|2027-01-31] [--description TEXT]
                              prints the new API key on standard output, once: it is not stored
  list [--json]               every account with its status, groups, expiry and SSH keys
  revoke NAME                 the API key and SSH keys stop working at once
  add-key NAME PUBKEYFILE     registers an OpenSSH public key (a .pub file; - reads stdin)

Options:
  --store sqlite:PATH|postgres://...   the control-plane store (default: $TOLLGATE_STORE);
                                       prefer $TOLLGATE_STORE for a URL with a password
  -h, --help                           show this help
`;

const SUBCOMMANDS = ['create', 'list', 'revoke', 'add-key'] as const;

function usageError(message: string): TollgateError {
  return new TollgateError(Errors.CONFIG_INVALID, message, { hint: 'see tollgate service-accounts --help' });
}

/** `30d`, `12h`, `90m`, `2w`, `3600s`, or an ISO date/time; returns epoch milliseconds. */
export function parseExpiry(value: string, now = Date.now()): number {
  const m = /^(\d+)([smhdw])$/.exec(value);
  if (m) {
    const unit = { s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000, w: 604_800_000 }[m[2] as 's'];
    const ms = Number(m[1]) * unit;
    if (ms > 0) return now + ms;
  } else if (/^\d{4}-\d{2}-\d{2}([T ][\d:.]+(Z|[+-]\d{2}:?\d{2})?)?$/.test(value)) {
    const at = Date.parse(value);
    if (Number.isFinite(at)) return at;
  }
  throw usageError(
    `--expires ${JSON.stringify(value)}: give a duration (30d, 12h, 2w) or a date (2027-01-31)`,
  );
}

function when(ms: number | undefined): string {
  return ms === undefined ? '-' : new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z');
}

function table(accounts: readonly ServiceAccount[]): string {
  const rows = [
    ['NAME', 'STATUS', 'GROUPS', 'EXPIRES', 'KEY', 'SSH KEYS'],
    ...accounts.map((a) => [
      a.name,
      a.status,
      a.groups.join(',') || '-',
      when(a.expiresAt),
      `tgk_${a.keyId}_…`,
      String(a.sshKeys.length),
    ]),
  ];
  const widths = rows[0]?.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? '').length))) ?? [];
  return rows
    .map((r) =>
      r
        .map((c, i) => c.padEnd(widths[i] ?? 0))
        .join('  ')
        .trimEnd(),
    )
    .join('\n');
}

async function withAccounts<T>(
  io: CommandIo,
  store: string | undefined,
  fn: (a: ServiceAccounts) => Promise<T>,
): Promise<T> {
  const flag = store ?? io.env.TOLLGATE_STORE;
  if (!flag) throw usageError('no store: pass --store sqlite:PATH|postgres://... or set TOLLGATE_STORE');
  const db: StoreDb = openStore(parseStoreFlag(flag), io.env);
  try {
    const accounts = await ServiceAccounts.open(db);
    try {
      return await fn(accounts);
    } finally {
      await accounts.close();
    }
  } finally {
    await closeStore(db);
  }
}

function readPublicKey(file: string, io: CommandIo): Promise<string> {
  if (file !== '-') {
    try {
      return Promise.resolve(readFileSync(file, 'utf8'));
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      throw new TollgateError(
        Errors.INPUT_UNREADABLE,
        `${file}: ${code === 'ENOENT' ? 'no such file' : code}`,
      );
    }
  }
  return new Promise((resolve, reject) => {
    let text = '';
    io.stdin.setEncoding('utf8');
    io.stdin.on('data', (c: string) => {
      text += c;
      if (text.length > 64 * 1024)
        reject(usageError('standard input: more than 64 KiB; expected one public key'));
    });
    io.stdin.on('end', () => resolve(text));
    io.stdin.on('error', reject);
  });
}

export const command: Command = {
  async run(args, io) {
    const { values, positionals } = parseArgs({
      args,
      allowPositionals: true,
      options: {
        store: { type: 'string' },
        groups: { type: 'string' },
        expires: { type: 'string' },
        description: { type: 'string' },
        json: { type: 'boolean' },
        help: { type: 'boolean', short: 'h' },
      },
    });
    const [sub, ...rest] = positionals;
    if (values.help || sub === undefined) {
      io.stdout.write(USAGE);
      return values.help ? 0 : 2;
    }
    if (!(SUBCOMMANDS as readonly string[]).includes(sub)) throw usageError(`unknown subcommand '${sub}'`);
    const expect = (count: number, what: string) => {
      if (rest.length !== count) throw usageError(`${sub}: expected ${what}`);
    };
    switch (sub) {
      case 'create': {
        expect(1, 'NAME');
        if (values.groups === undefined) throw usageError('create: --groups is required (comma-separated)');
        const groups = values.groups
          .split(',')
          .map((g) => g.trim())
          .filter((g) => g !== '');
        const expiresAt = values.expires === undefined ? undefined : parseExpiry(values.expires);
        const { account, apiKey } = await withAccounts(io, values.store, (a) =>
          a.create({
            name: rest[0] as string,
            groups,
            ...(expiresAt === undefined ? {} : { expiresAt }),
            ...(values.description === undefined ? {} : { description: values.description }),
          }),
        );
        io.stdout.write(`${apiKey}\n`);
        io.stderr.write(
          `created service account ${account.name} (groups: ${account.groups.join(', ') || 'none'}; expires: ${account.expiresAt === undefined ? 'never' : when(account.expiresAt)})\n` +
            'the API key above is shown only this once; store it in a secret manager now\n',
        );
        return 0;
      }
      case 'list': {
        expect(0, 'no arguments');
        const accounts = await withAccounts(io, values.store, (a) => a.list());
        if (values.json) {
          for (const a of accounts) io.stdout.write(`${JSON.stringify(a)}\n`);
        } else {
          io.stdout.write(accounts.length === 0 ? 'no service accounts\n' : `${table(accounts)}\n`);
        }
        return 0;
      }
      case 'revoke': {
        expect(1, 'NAME');
        await withAccounts(io, values.store, (a) => a.revoke(rest[0] as string));
        io.stdout.write(`revoked service account ${rest[0]}\n`);
        return 0;
      }
      default: {
        expect(2, 'NAME PUBKEYFILE');
        const text = await readPublicKey(rest[1] as string, io);
        const key = parseOpenSshPublicKey(text);
        await withAccounts(io, values.store, (a) => a.addPublicKey(rest[0] as string, text));
        io.stdout.write(
          `registered ${key.algorithm} key ${key.fingerprint} for service account ${rest[0]}\n`,
        );
        return 0;
      }
    }
  },
};
