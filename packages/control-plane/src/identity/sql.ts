import type Database from 'better-sqlite3';
import type { StoreDb } from '../store/database';

/**
 * The few statements identity needs, on either store. SQL is written with `?` placeholders and
 * portable types; for PostgreSQL the placeholders become `$1, $2, …`.
 */
export interface Sql {
  readonly kind: StoreDb['kind'];
  all<T>(sql: string, params?: readonly unknown[]): Promise<T[]>;
  /** Runs a statement; resolves to the number of rows it changed. */
  run(sql: string, params?: readonly unknown[]): Promise<number>;
  /** Runs DDL statements once, serialised across processes (PostgreSQL advisory lock). */
  migrate(statements: readonly string[], lockName: string): Promise<void>;
}

export function sqlFor(store: StoreDb): Sql {
  return store.kind === 'sqlite' ? sqliteSql(store.db) : postgresSql(store);
}

function sqliteSql(db: Database.Database): Sql {
  const cache = new Map<string, Database.Statement>();
  const stmt = (sql: string) => {
    let s = cache.get(sql);
    if (!s) {
      s = db.prepare(sql);
      cache.set(sql, s);
    }
    return s;
  };
  return {
    kind: 'sqlite',
    async all<T>(sql: string, params: readonly unknown[] = []) {
      return stmt(sql).all(...params) as T[];
    },
    async run(sql, params = []) {
      return stmt(sql).run(...params).changes;
    },
    async migrate(statements) {
      db.transaction(() => {
        for (const s of statements) db.exec(s);
      })();
    },
  };
}

function postgresSql(store: Extract<StoreDb, { kind: 'postgres' }>): Sql {
  const texts = new Map<string, string>();
  const numbered = (sql: string) => {
    let t = texts.get(sql);
    if (t === undefined) {
      let n = 0;
      t = sql.replace(/\?/g, () => `$${++n}`);
      texts.set(sql, t);
    }
    return t;
  };
  return {
    kind: 'postgres',
    async all<T>(sql: string, params: readonly unknown[] = []) {
      const r = await store.pool.query(numbered(sql), params as unknown[]);
      return r.rows as T[];
    },
    async run(sql, params = []) {
      const r = await store.pool.query(numbered(sql), params as unknown[]);
      return r.rowCount ?? 0;
    },
    async migrate(statements, lockName) {
      const client = await store.pool.connect();
      try {
        await client.query('BEGIN');
        // concurrent CREATE TABLE IF NOT EXISTS can still collide; gateways starting together wait here
        await client.query('SELECT pg_advisory_xact_lock(hashtext($1))', [lockName]);
        for (const s of statements) await client.query(s);
        await client.query('COMMIT');
      } catch (err) {
        await client.query('ROLLBACK').catch(() => {});
        throw err;
      } finally {
        client.release();
      }
    },
  };
}
