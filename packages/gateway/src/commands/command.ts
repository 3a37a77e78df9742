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
  run(args: string[], io: CommandIo): Promise<number>;
}

/**
 * A command as `tollgate --help` lists it. Its module is loaded only when it runs: `tollgate mask`
 * in a shell loop does not load the gateway, its stores and its protocol stacks each time.
 */
export interface CommandEntry {
  readonly name: string;
  /** One line for `tollgate --help`. */
  readonly summary: string;
  load(): Command;
}
