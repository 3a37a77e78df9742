import type { Socket } from 'node:net';
import type { ConnectionContext, ProtocolAdapter } from '@tollgate/core';
import { CancelKeys } from './session/cancel';
import { CatalogRegistry } from './session/catalog';
import { ClassificationCache } from './session/classify';
import { type CancelRoute, type PostgresAdapterOptions, PostgresSession } from './session/session';

/**
 * The PostgreSQL adapter: unmodified clients (psql, pgbench, node-postgres, psycopg, JDBC) connect
 * with their gateway token as the password, the identity as `user` and the policy resource as
 * `database`. See docs/postgres.md for the session lifecycle.
 */
export class PostgresAdapter implements ProtocolAdapter {
  readonly protocol = 'postgres' as const;
  readonly #cancelKeys = new CancelKeys<CancelRoute>();
  /** Statement classifications by text, shared by all sessions (never decisions). */
  readonly #classified = new ClassificationCache();
  /** Table OID → name from each target's catalog, for `table:` column rules. */
  readonly #catalogs: CatalogRegistry | undefined;

  constructor(private readonly opts: PostgresAdapterOptions) {
    this.#catalogs = opts.tableLookup === false ? undefined : new CatalogRegistry(opts.tableLookup);
  }

  async serve(socket: Socket, ctx: ConnectionContext): Promise<void> {
    socket.setNoDelay(true);
    await new PostgresSession(
      socket,
      ctx,
      this.opts,
      this.#cancelKeys,
      this.#classified,
      this.#catalogs,
    ).run();
  }
}
