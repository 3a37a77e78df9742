import type { Command } from './command';
import { maskCommand } from './mask';

/** Every `tollgate` command, in the order `tollgate --help` lists them. One module each. */
export const COMMANDS: readonly Command[] = [maskCommand];
