export * from './adapter';
export * from './host-key';
export * from './recording';
export { refuse, type SshAdapterOptions, type SshRecordingOptions, SshSession } from './session';
export * from './shell-words';
export { connectTarget, fingerprint, type TargetOptions } from './target';
