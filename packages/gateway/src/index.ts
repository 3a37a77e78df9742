export { main } from './cli';
export * from './config';
export * from './gateway';
export * from './mask-command';
/** Runs the real CLI in a child process (for tests of other packages). */
export { type CliRun, runCli } from './testing/run-cli';
