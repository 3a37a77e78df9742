export { canonicalJson, checkpointPayload, GENESIS_HASH } from './canonical';
export {
  type AuditConfig,
  auditStoreOptions,
  loadAuditPublicKey,
  loadAuditSigningKey,
  readAuditConfig,
  retentionCutoff,
} from './config';
export { keyIdOf } from './signing';
export { openAuditStore } from './store';
export type {
  AuditQuery,
  AuditStore,
  AuditStoreOptions,
  AuditStoreStats,
  Checkpoint,
  PruneResult,
  VerifyFinding,
  VerifyFindingKind,
  VerifyReport,
} from './types';
