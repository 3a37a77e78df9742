import { parseArgs } from 'node:util';
import { MASK_USAGE, runMask } from '../mask-command';
import type { Command } from './command';

export const command: Command = {
  async run(args, io) {
    const { values, positionals } = parseArgs({
      args,
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
      io.stdout.write(MASK_USAGE);
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
      io,
    );
    return 0;
  },
};
