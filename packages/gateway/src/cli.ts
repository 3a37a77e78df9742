import { parseArgs } from 'node:util';
import { TollgateError } from '@tollgate/core';
import { MASK_USAGE, runMask } from './mask-command';

const USAGE = `Usage: tollgate <command> [options]

Commands:
  mask      mask sensitive values in files or standard input

Run 'tollgate <command> --help' for a command's options.
`;

/** Runs the CLI; resolves to the process exit code. */
export async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  try {
    switch (command) {
      case 'mask': {
        const { values, positionals } = parseArgs({
          args: rest,
          allowPositionals: true,
          options: {
            config: { type: 'string' },
            entities: { type: 'string' },
            style: { type: 'string', multiple: true },
            'hash-key-env': { type: 'string' },
            report: { type: 'string' },
            help: { type: 'boolean', short: 'h' },
          },
        });
        if (values.help) {
          process.stdout.write(MASK_USAGE);
          return 0;
        }
        await runMask(
          {
            files: positionals,
            config: values.config,
            entities: values.entities,
            styles: values.style ?? [],
            hashKeyEnv: values['hash-key-env'],
            report: values.report,
          },
          { stdin: process.stdin, stdout: process.stdout, stderr: process.stderr },
        );
        return 0;
      }
      case undefined:
      case '-h':
      case '--help':
      case 'help':
        process.stdout.write(USAGE);
        return command === undefined ? 2 : 0;
      default:
        process.stderr.write(`tollgate: unknown command '${command}'\n\n${USAGE}`);
        return 2;
    }
  } catch (err) {
    return fail(err);
  }
}

function fail(err: unknown): number {
  if (err instanceof TollgateError) {
    process.stderr.write(`tollgate: ${err.message}\n${err.hint ? `hint: ${err.hint}\n` : ''}`);
    return err.kind.source === 'config' ? 2 : 1;
  }
  const e = err as Error & { code?: string };
  if (e.code?.startsWith('ERR_PARSE_ARGS')) {
    process.stderr.write(`tollgate: ${e.message}\nhint: see tollgate --help\n`);
    return 2;
  }
  if (e.code === 'EPIPE') return 0;
  process.stderr.write(`tollgate: internal error: ${e.message}\n`);
  return 1;
}
