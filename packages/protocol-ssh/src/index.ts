export * from './adapter';
export * from './host-key';
export { refuse, type SshAdapterOptions, SshSession } from './session';
export * from './shell-words';
export { connectTarget, fingerprint, type TargetOptions } from './target';
