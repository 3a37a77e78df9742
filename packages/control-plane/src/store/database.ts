import Database from 'better-sqlite3';
import { Pool, type PoolConfig } from 'pg';

/**
 * Where control-plane state lives: an embedded SQLite file (default, one gateway) or a shared
 * PostgreSQL database (several gateways). Each subsystem (audit, approvals, service accounts)
 * owns its own tables and creates them with `CREATE TABLE IF NOT EXISTS` on open.
 */
export type StoreDb =
  | { readonly kind: 'sqlite'; readonly db: Database.Database; readonly path: string }
  | { readonly kind: 'postgres'; readonly pool: Pool; readonly config: PoolConfig };

/**
 * Opens (creating if needed) a SQLite database in WAL mode with `synchronous = FULL`, so a
 * committed transaction survives power loss.
 */
export function openSqlite(path: string): StoreDb {
  const db = new Database(path);
  db.pragma('journal_mode = WAL');
  db.pragma('synchronous = FULL');
  db.pragma('busy_timeout = 5000');
  db.pragma('foreign_keys = ON');
  return { kind: 'sqlite', db, path };
}

export function openPostgres(config: PoolConfig): StoreDb {
  const pool = new Pool({ max: 8, ...config });
  // An idle client that errors (server restart) must not crash the process; the next query
  // reports the failure to its caller.
  pool.on('error', () => {});
  return { kind: 'postgres', pool, config };
}

export async function closeStore(store: StoreDb): Promise<void> {
  if (store.kind === 'sqlite') store.db.close();
  else await store.pool.end();
}
