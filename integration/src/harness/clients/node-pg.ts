import { Client, type ClientConfig } from 'pg';
import type { PgEndpoint } from './endpoint';

export interface PgClientOptions {
  /** Bound on connecting and authenticating (default 10 s). */
  connectTimeoutMs?: number;
  /** Client-side bound on each query (node-postgres `query_timeout`; default none). */
  queryTimeoutMs?: number;
  /**
   * Pipeline mode (node-postgres 8.23): queries issued without awaiting are all written at once, each
   * ending with its own Sync, instead of one round trip at a time (default false).
   */
  pipeline?: boolean;
  /** Extra node-postgres settings (e.g. `statement_timeout`, `types`). */
  config?: Omit<ClientConfig, 'host' | 'port' | 'user' | 'password' | 'database' | 'ssl'>;
}

/**
 * A connected node-postgres `Client` for an endpoint (TLS when `sslmode` is `require`, without
 * certificate verification, as libpq's `require`). The caller ends it with `client.end()`. Rejects,
 * after closing the socket, when the connection or authentication fails or takes longer than the bound.
 */
export async function pgClient(ep: PgEndpoint, opts: PgClientOptions = {}): Promise<Client> {
  const client = new Client({
    application_name: `tollgate-node-pg-${ep.name}`,
    ...opts.config,
    host: ep.host,
    port: ep.port,
    user: ep.user,
    password: ep.password,
    database: ep.database,
    ssl: ep.sslmode === 'require' ? { rejectUnauthorized: false } : false,
    connectionTimeoutMillis: opts.connectTimeoutMs ?? 10_000,
    ...(opts.queryTimeoutMs !== undefined ? { query_timeout: opts.queryTimeoutMs } : {}),
    // `pipeline` is newer than @types/pg.
    ...(opts.pipeline ? ({ pipeline: true } as ClientConfig) : {}),
  });
  try {
    await client.connect();
  } catch (e) {
    await client.end().catch(() => undefined);
    throw e;
  }
  return client;
}
