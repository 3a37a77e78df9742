/**
 * The gateway's side of a target connection: `connectTarget` opens one authenticated session
 * (TLS, start-up, SCRAM-SHA-256 / md5 / cleartext password) and hands back the raw socket;
 * `sendCancel` delivers a CancelRequest for one of its queries.
 */
export { sendCancel } from './cancel';
export { connectTarget } from './connect';
export { md5PasswordHash } from './md5';
export { saslPrep } from './saslprep';
export { MAX_SCRAM_ITERATIONS, ScramClient, ScramError } from './scram';
export {
  type CancelTarget,
  type TargetAuthMethod,
  type TargetConnection,
  TargetError,
  type TargetOptions,
} from './types';
