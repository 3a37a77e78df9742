import type { PostgresTarget } from '../provider';
import { libpqFreeEnv } from '../psql';

/**
 * Where a PostgreSQL client connects: a target directly, PgBouncer, or the gateway. Every client runner
 * (pgbench, psql, psycopg, node-postgres) takes one, so a suite written against a direct target runs
 * unchanged through a proxy by swapping the endpoint.
 */
export interface PgEndpoint {
  /** Short label for tables and messages (`direct`, `pgbouncer`, `tollgate`). */
  name: string;
  host: string;
  port: number;
  user: string;
  /** Sent to clients only through their environment or connection object, never on a command line. */
  password: string;
  database: string;
  /** libpq `sslmode`; unset means libpq's default (`prefer`). */
  sslmode?: 'disable' | 'require';
}

/** The endpoint of a harness target reached directly (no TLS: harness targets have none). */
export function endpointFromTarget(target: PostgresTarget, name = 'direct'): PgEndpoint {
  return {
    name,
    host: target.host,
    port: target.port,
    user: target.user,
    password: target.password,
    database: target.database,
    sslmode: 'disable',
  };
}

/** `name (user@host:port/database)`, for messages: never includes the password. */
export function describeEndpoint(ep: PgEndpoint): string {
  const host = ep.host.includes(':') ? `[${ep.host}]` : ep.host;
  return `${ep.name} (${ep.user}@${host}:${ep.port}/${ep.database})`;
}

/**
 * The environment for a libpq client (psql, pgbench, psycopg): the current one without any PG* variable,
 * plus PGHOST, PGPORT, PGUSER, PGPASSWORD, PGDATABASE, PGSSLMODE, PGCONNECT_TIMEOUT and PGAPPNAME.
 */
export function libpqEnv(ep: PgEndpoint, appName = `tollgate-${ep.name}`): NodeJS.ProcessEnv {
  return {
    ...libpqFreeEnv(),
    PGHOST: ep.host,
    PGPORT: String(ep.port),
    PGUSER: ep.user,
    PGPASSWORD: ep.password,
    PGDATABASE: ep.database,
    PGCONNECT_TIMEOUT: '10',
    PGAPPNAME: appName,
    ...(ep.sslmode ? { PGSSLMODE: ep.sslmode } : {}),
  };
}
