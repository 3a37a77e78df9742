/**
 * Real PostgreSQL clients for the integration suites and benchmarks, all aimed at a `PgEndpoint` (a
 * harness target directly, PgBouncer, or the gateway): pgbench, psql scripts, psycopg 3 snippets and
 * node-postgres clients, plus the seeded `customers` table with PII-looking columns.
 */
export { describeEndpoint, endpointFromTarget, libpqEnv, type PgEndpoint } from './endpoint';
export { ClientRunError } from './errors';
export { type PgClientOptions, pgClient } from './node-pg';
export { type LatencySummary, percentile, summarizeLatencies } from './percentiles';
export {
  type PgbenchInitOptions,
  type PgbenchInitResult,
  type PgbenchMode,
  type PgbenchOptions,
  type PgbenchResult,
  parsePgbenchLog,
  parsePgbenchReport,
  pgbench,
  pgbenchBinary,
  pgbenchInit,
} from './pgbench';
export { type PsqlScriptOptions, psqlScript } from './psql';
export { type PsycopgOptions, type PsycopgResult, psycopg, psycopgVersion, pythonBinary } from './psycopg';
export { customersSeedSql, seedCustomers } from './seed';
