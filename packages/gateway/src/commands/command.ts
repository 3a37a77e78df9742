import type { Readable, Writable } from 'node:stream';

export interface CommandIo {
  stdin: Readable;
  stdout: Writable;
  stderr: Writable;
  env: NodeJS.ProcessEnv;
}

/**
 * One `tollgate <name>` command. `run` gets the arguments after the command name and resolves
 * to the exit code; it throws `TollgateError` for failures the CLI reports (config errors exit 2,
 * others 1) and prints its own `--help`.
 */
export interface Command {
  readonly name: string;
  /** One line for `tollgate --help`. */
  readonly summary: string;
  run(args: string[], io: CommandIo): Promise<number>;
}
