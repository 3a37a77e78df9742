import { TollgateError } from '@tollgate/core';
import type { CommandIo } from './commands/command';
import { COMMANDS } from './commands/index';

function usage(): string {
  const width = Math.max(...COMMANDS.map((c) => c.name.length)) + 2;
  const lines = COMMANDS.map((c) => `  ${c.name.padEnd(width)}${c.summary}`);
  return `Usage: tollgate <command> [options]\n\nCommands:\n${lines.join('\n')}\n\nRun 'tollgate <command> --help' for a command's options.\n`;
}

/** Runs the CLI; resolves to the process exit code. */
export async function main(argv: string[], io?: Partial<CommandIo>): Promise<number> {
  const full: CommandIo = {
    stdin: io?.stdin ?? process.stdin,
    stdout: io?.stdout ?? process.stdout,
    stderr: io?.stderr ?? process.stderr,
    env: io?.env ?? process.env,
  };
  const [name, ...rest] = argv;
  if (name === undefined || name === '-h' || name === '--help' || name === 'help') {
    full.stdout.write(usage());
    return name === undefined ? 2 : 0;
  }
  const command = COMMANDS.find((c) => c.name === name);
  if (!command) {
    full.stderr.write(`tollgate: unknown command '${name}'\n\n${usage()}`);
    return 2;
  }
  try {
    return await command.load().run(rest, full);
  } catch (err) {
    return fail(err, full);
  }
}

function fail(err: unknown, io: CommandIo): number {
  if (err instanceof TollgateError) {
    io.stderr.write(`tollgate: ${err.message}\n${err.hint ? `hint: ${err.hint}\n` : ''}`);
    return err.kind.source === 'config' ? 2 : 1;
  }
  const e = err as Error & { code?: string };
  if (e.code?.startsWith('ERR_PARSE_ARGS')) {
    io.stderr.write(`tollgate: ${e.message}\nhint: see tollgate --help\n`);
    return 2;
  }
  if (e.code === 'EPIPE') return 0;
  io.stderr.write(`tollgate: internal error: ${e.message}\n`);
  return 1;
}
