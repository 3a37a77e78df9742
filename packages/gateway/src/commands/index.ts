import { approvalsCommand } from './approvals';
import { auditCommand } from './audit';
import type { Command } from './command';
import { maskCommand } from './mask';
import { policyCommand } from './policy';
import { replayCommand } from './replay';
import { serveCommand } from './serve';
import { serviceAccountsCommand } from './service-accounts';

/** Every `tollgate` command, in the order `tollgate --help` lists them. One module each. */
export const COMMANDS: readonly Command[] = [
  serveCommand,
  maskCommand,
  approvalsCommand,
  policyCommand,
  serviceAccountsCommand,
  auditCommand,
  replayCommand,
];
