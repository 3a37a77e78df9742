import { describeFailure, type RunResult } from '../exec';
import { describeEndpoint, type PgEndpoint } from './endpoint';

/**
 * A client program (pgbench, psql, python3) failed or its output could not be read. The message names
 * the client, the endpoint (without password) and quotes the command line and the last lines of its
 * output; `result` keeps the whole of both streams.
 */
export class ClientRunError extends Error {
  override readonly name = 'ClientRunError';
  constructor(
    readonly client: string,
    readonly endpoint: PgEndpoint,
    readonly result: RunResult,
    detail?: string,
  ) {
    super(
      `${client} against ${describeEndpoint(endpoint)}${detail ? ` ${detail}` : ''}: ${describeFailure(result)}`,
    );
  }
}
