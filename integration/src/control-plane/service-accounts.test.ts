import { after, afterEach } from 'node:test';
import { closeStore, openPostgres } from '@tollgate/control-plane';
import { serviceAccountsSuite } from '@tollgate/control-plane/dist/identity/testing/service-accounts-suite';
import { FailureTracker, type PostgresTarget, selectProvider } from '../harness/index';

// The service-account repository suite that runs on SQLite in the unit tests, here on a real
// PostgreSQL. Each `open()` is a separate pool, so revocation is checked across connections.
let started: Promise<PostgresTarget> | undefined;
const postgres = (): Promise<PostgresTarget> => {
  started ??= selectProvider().then((p) => p.startPostgres({ suite: 'control-plane-service-accounts' }));
  return started;
};
const failures = new FailureTracker();
afterEach(failures.afterEach);
after(
  async () => {
    if (started) await (await started).stop({ keepLogs: failures.failed });
  },
  { timeout: 60_000 },
);

serviceAccountsSuite('PostgreSQL', {
  open: async () => openPostgres({ connectionString: (await postgres()).connectionString() }),
  close: closeStore,
});
