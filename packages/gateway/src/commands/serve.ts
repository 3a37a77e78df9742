import { parseArgs } from 'node:util';
import { Errors, TollgateError } from '@tollgate/core';
import { controlPlaneConfig, loadConfig, parseHostPort } from '../config';
import { Gateway } from '../gateway';
import type { Command } from './command';

const USAGE = `Usage: tollgate serve --config FILE

Runs the gateway: opens the store (SQLite by default), loads the policy (reloaded on SIGHUP and
when the file changes), and serves the control-plane API (approvals, audit, policy tests,
service accounts, health, readiness, metrics). Stops cleanly on SIGINT or SIGTERM.

Options:
  --config FILE   the gateway config (see deploy/examples/tollgate.yaml)
  --listen H:P    override api.listen (port 0: any free port)
  -h, --help      show this help
`;

export const command: Command = {
  async run(args, io) {
    const { values } = parseArgs({
      args,
      options: {
        config: { type: 'string' },
        listen: { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
    });
    if (values.help) {
      io.stdout.write(USAGE);
      return 0;
    }
    if (!values.config) {
      throw new TollgateError(Errors.CONFIG_INVALID, 'serve: --config FILE is required', {
        hint: 'start from deploy/examples/tollgate.yaml',
      });
    }
    const file = loadConfig(values.config);
    const cfg = controlPlaneConfig(file, values.config);
    const api = values.listen ? parseListen(values.listen) : cfg.api;
    const log = (line: string) => io.stderr.write(`${new Date().toISOString()} ${line}\n`);
    const gw = await Gateway.start({
      controlPlane: { ...cfg, ...(api ? { api } : {}) },
      ...(file.postgres ? { postgres: file.postgres } : {}),
      ...(file.ssh ? { ssh: file.ssh } : {}),
      ...(file.masking ? { masking: file.masking } : {}),
      env: io.env,
      log,
    });
    const cp = gw.controlPlane;
    log(`tollgate ready (store: ${cp.store.kind}, policy: ${cp.policy.file})`);
    await new Promise<void>((resolve) => {
      const stop = (signal: string) => {
        log(`${signal}: shutting down`);
        process.off('SIGINT', stop);
        process.off('SIGTERM', stop);
        resolve();
      };
      process.on('SIGINT', stop);
      process.on('SIGTERM', stop);
    });
    await gw.stop();
    log('stopped');
    return 0;
  },
};

function parseListen(v: string): { host: string; port: number } {
  const p = parseHostPort(v);
  if (!p) throw new TollgateError(Errors.CONFIG_INVALID, `--listen: expected host:port, got '${v}'`);
  return p;
}
