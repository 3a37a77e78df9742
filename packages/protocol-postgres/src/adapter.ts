import type { Socket } from 'node:net';
import type { ConnectionContext, ProtocolAdapter } from '@tollgate/core';
import { CancelKeys } from './session/cancel';
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

  constructor(private readonly opts: PostgresAdapterOptions) {}

  async serve(socket: Socket, ctx: ConnectionContext): Promise<void> {
    socket.setNoDelay(true);
    await new PostgresSession(socket, ctx, this.opts, this.#cancelKeys, this.#classified).run();
  }
}
