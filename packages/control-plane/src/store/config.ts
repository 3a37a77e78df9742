import { mkdirSync, readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { Errors, TollgateError, type YamlSource } from '@tollgate/core';
import type { Node } from 'yaml';
import { openPostgres, openSqlite, type StoreDb } from './database';

/**
 * The `store:` config section and the `--store` CLI flag.
 *
 *   store: { sqlite: ./data/tollgate.db }                       # default: one gateway
 *   store: { postgres: { env: TOLLGATE_STORE_URL } }             # shared by several gateways
 *
 * A PostgreSQL URL carries a password, so it is always a reference (env or file), never inline.
 */
export type StoreSpec =
  | { readonly sqlite: string }
  | { readonly postgres: { env: string } | { file: string } };

export const DEFAULT_STORE: { readonly sqlite: string } = { sqlite: 'tollgate-data/tollgate.db' };

export function readStoreConfig(src: YamlSource, node: Node): StoreSpec {
  const m = src.map(node, 'store', ['sqlite', 'postgres']);
  const sqlite = m.get('sqlite');
  const pg = m.get('postgres');
  if ((sqlite === undefined) === (pg === undefined)) {
    throw src.error(
      node,
      'store',
      'give exactly one of sqlite (a file path) or postgres ({ env } or { file } holding the URL)',
    );
  }
  if (sqlite !== undefined) return { sqlite: resolve(dirname(src.file), src.string(sqlite, 'store.sqlite')) };
  const ref = src.map(pg, 'store.postgres', ['env', 'file']);
  const env = ref.get('env');
  const file = ref.get('file');
  if (env !== undefined) return { postgres: { env: src.string(env, 'store.postgres.env') } };
  if (file !== undefined)
    return { postgres: { file: resolve(dirname(src.file), src.string(file, 'store.postgres.file')) } };
  throw src.error(pg, 'store.postgres', 'give env or file');
}

/** `sqlite:PATH`, a bare path, or a `postgres://` / `postgresql://` URL. */
export function parseStoreFlag(value: string): StoreSpec | { readonly url: string } {
  if (/^postgres(ql)?:\/\//.test(value)) return { url: value };
  return { sqlite: resolve(value.startsWith('sqlite:') ? value.slice('sqlite:'.length) : value) };
}

/** Opens the store a spec names; creates the SQLite file's directory when needed. */
export function openStore(
  spec: StoreSpec | { readonly url: string },
  env: NodeJS.ProcessEnv = process.env,
): StoreDb {
  if ('url' in spec) return openPostgres({ connectionString: spec.url });
  if ('sqlite' in spec) {
    mkdirSync(dirname(spec.sqlite), { recursive: true });
    try {
      return openSqlite(spec.sqlite);
    } catch (err) {
      throw new TollgateError(
        Errors.AUDIT_UNAVAILABLE,
        `cannot open the SQLite store ${spec.sqlite}: ${(err as Error).message}`,
        {
          cause: err,
        },
      );
    }
  }
  const ref = spec.postgres;
  let url: string | undefined;
  if ('env' in ref) url = env[ref.env];
  else {
    try {
      url = readFileSync(ref.file, 'utf8').trim();
    } catch {
      url = undefined;
    }
  }
  if (!url) {
    const name = 'env' in ref ? `environment variable ${ref.env}` : `file ${ref.file}`;
    throw new TollgateError(Errors.CREDENTIAL_UNAVAILABLE, `store.postgres: ${name} is not set or empty`);
  }
  return openPostgres({ connectionString: url });
}
