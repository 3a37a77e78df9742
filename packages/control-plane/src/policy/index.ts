export {
  loadPolicyFile,
  MAX_APPROVAL_TIMEOUT_MS,
  PolicyInvalidError,
  type PolicyLoadOptions,
  parsePolicy,
  readPolicyText,
  validatePolicy,
} from './load';
export { formatDuration as formatPolicyDuration, parseDuration as parsePolicyDuration } from './match';
export { compilePathPattern, normalisePath, type PathMatcher, pathPatternProblem } from './paths';
export {
  EVALUATION_ORDER,
  type Explanation,
  Policy,
  type PolicyRole,
  type RuleCheck,
  type RuleEffect,
  type RuleTrace,
} from './policy';
export {
  type MaskingProfileSpec,
  type PolicyDocument,
  PolicySchema,
  policyJsonSchema,
  type ResourceSpec,
  type RuleSpec,
  type SubjectSpec,
} from './schema';
export {
  type PolicyReloadResult,
  PolicyWatcher,
  type PolicyWatcherOptions,
  type ReloadTrigger,
} from './watcher';
export { POLICY_SCHEMA_FILE, policySchemaText } from './write-schema';
