import { ContainersProvider, probeDocker } from './containers';
import { LocalProvider } from './local';
import { harnessLog } from './logs';
import type { TargetProvider } from './provider';

export * from './clients/index';
export { ContainersProvider, type DockerProbe, probeDocker } from './containers';
export { describeFailure, type RunOptions, type RunResult, run, runOk, tailLines } from './exec';
export { findPostgres, LocalProvider, type PostgresInstall } from './local';
export { FailureTracker, harnessLog, keepLogsFromEnv, logsDir, saveLog } from './logs';
export {
  type PgBouncerInstance,
  type PgBouncerOptions,
  pgbouncerBinary,
  startPgBouncer,
} from './pgbouncer';
export { freePort } from './ports';
export * from './provider';
export { libpqFreeEnv, type PsqlConnection, type PsqlOptions, psql, psqlBinary } from './psql';
export { publicKeyFingerprint, SSHD, sshKeygen, startLocalSshd } from './sshd';

let selected: Promise<TargetProvider> | undefined;

async function choose(): Promise<TargetProvider> {
  const forced = (process.env.TOLLGATE_TARGETS ?? 'auto').trim().toLowerCase();
  switch (forced) {
    case 'local':
      harnessLog('target provider: local processes (TOLLGATE_TARGETS=local)');
      return new LocalProvider();
    case 'containers':
    case 'testcontainers': {
      const probe = await probeDocker();
      if (!probe.reachable) {
        harnessLog(
          `TOLLGATE_TARGETS=${forced}, but no Docker engine answered (${probe.detail}); trying anyway`,
        );
      }
      harnessLog(`target provider: testcontainers (TOLLGATE_TARGETS=${forced})`);
      return new ContainersProvider();
    }
    case '':
    case 'auto': {
      const probe = await probeDocker();
      if (probe.reachable) {
        harnessLog(`target provider: testcontainers (Docker engine at ${probe.detail})`);
        return new ContainersProvider();
      }
      harnessLog(`target provider: local processes (no Docker engine reachable: ${probe.detail})`);
      return new LocalProvider();
    }
    default:
      throw new Error(`TOLLGATE_TARGETS=${forced} is not one of: auto, containers, testcontainers, local`);
  }
}

/**
 * The target provider for this process: testcontainers when a Docker engine is reachable, local processes
 * otherwise; TOLLGATE_TARGETS=containers|local forces one. Decided once per process and logged.
 */
export function selectProvider(): Promise<TargetProvider> {
  selected ??= choose().catch((e: unknown) => {
    selected = undefined;
    throw e;
  });
  return selected;
}
