import type { Command, CommandEntry } from './command';

/** A command whose module (`./<name>`, exporting `command`) is required when it runs. */
function lazy(name: string, summary: string): CommandEntry {
  return { name, summary, load: () => (require(`./${name}`) as { command: Command }).command };
}

/** Every `tollgate` command, in the order `tollgate --help` lists them. One module each. */
export const COMMANDS: readonly CommandEntry[] = [
  lazy('serve', 'run the gateway (control plane and its HTTP API)'),
  lazy('mask', 'mask sensitive values in files or standard input'),
  lazy('approvals', 'list, show, approve or deny held commands (through the control-plane API)'),
  lazy('policy', 'check a policy file, ask what it decides, print its JSON schema'),
  lazy('service-accounts', 'create, list, revoke service accounts and register their SSH keys'),
  lazy('audit', 'verify the tamper-evident audit log, or query it (JSON Lines or table)'),
  lazy('replay', 'play a recorded SSH session in the terminal, or export it as asciicast v2'),
];
