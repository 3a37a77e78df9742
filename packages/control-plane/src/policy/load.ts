import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { type TSchema, TypeGuard } from '@sinclair/typebox';
import { type ValueError, ValueErrorType } from '@sinclair/typebox/errors';
import { Value } from '@sinclair/typebox/value';
import {
  ACTION_CLASSES,
  BUILTIN_ENTITIES,
  Errors,
  type Protocol,
  TollgateError,
  YamlSource,
} from '@tollgate/core';
import { compilePattern, isPattern, parseDuration } from './match';
import { pathPatternProblem } from './paths';
import { Policy } from './policy';
import { NAME_TEXT, type PolicyDocument, PolicySchema } from './schema';

/** Longest approval timeout a rule may ask for. */
export const MAX_APPROVAL_TIMEOUT_MS = 24 * 3600 * 1000;
/** Most problems one error lists; the rest are counted. */
const MAX_PROBLEMS = 20;

export interface PolicyLoadOptions {
  /**
   * Masking entity names the gateway knows besides the built-ins (the custom entities of its
   * `masking:` config); masking profiles may name only these and the built-ins.
   */
  readonly entities?: readonly string[];
}

/**
 * A policy file that cannot be used. `message` lists every problem found (up to 20), one per
 * line, each `file:line:col: field: message`, in file order; `problems` holds the same lines.
 */
export class PolicyInvalidError extends TollgateError {
  readonly problems: readonly string[];
  constructor(problems: readonly string[]) {
    const shown = problems.slice(0, MAX_PROBLEMS);
    const more = problems.length - shown.length;
    super(Errors.CONFIG_INVALID, shown.join('\n') + (more > 0 ? `\n… and ${more} more` : ''), {
      hint: 'the policy reference is docs/policy.md; `tollgate policy schema` prints the JSON schema',
    });
    this.problems = problems;
  }
}

/** Reads, validates and compiles a policy file. Throws `PolicyInvalidError` (`CONFIG_INVALID`). */
export function loadPolicyFile(file: string, opts?: PolicyLoadOptions): Policy {
  return parsePolicy(readPolicyText(file), file, opts);
}

/** The file's text; a `CONFIG_INVALID` error naming the file and the errno code otherwise. */
export function readPolicyText(file: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? 'error';
    throw new TollgateError(Errors.CONFIG_INVALID, `${file}: cannot read the policy file (${code})`);
  }
}

/** Validates and compiles policy text; `file` names it in errors. */
export function parsePolicy(text: string, file: string, opts?: PolicyLoadOptions): Policy {
  const hash = createHash('sha256').update(text).digest('hex');
  const doc = validatePolicy(new YamlSource(file, text), opts);
  return new Policy(doc, { file, hash });
}

/** Schema and semantic checks; every problem names the file, line, column and field. */
export function validatePolicy(src: YamlSource, opts?: PolicyLoadOptions): PolicyDocument {
  if (src.root === null) throw new PolicyInvalidError([`${src.file}: the policy file is empty`]);
  let value: unknown;
  try {
    value = src.toJS();
  } catch (err) {
    throw new PolicyInvalidError([`${src.file}: ${(err as Error).message}`]);
  }
  const problems = new Problems(src);
  for (const e of Value.Errors(PolicySchema, value)) schemaProblem(problems, value, e);
  if (problems.size === 0) checkSemantics(problems, value as PolicyDocument, opts);
  if (problems.size > 0) throw new PolicyInvalidError(problems.lines());
  return value as PolicyDocument;
}

type Path = readonly (string | number)[];

/** Problems keyed by field path (the first one per field wins), sorted by position. */
class Problems {
  readonly #src: YamlSource;
  readonly #byField = new Map<string, { offset: number; line: string }>();
  constructor(src: YamlSource) {
    this.#src = src;
  }
  get size(): number {
    return this.#byField.size;
  }
  /** `at` is where to point when it is not the field itself (e.g. the mapping missing it). */
  add(path: Path, message: string, opts?: { key?: boolean; at?: Path }): void {
    const field = fieldName(path);
    if (this.#byField.has(field)) return;
    const node = this.#src.nodeAt(opts?.at ?? path, opts);
    const line = this.#src.error(node, field || '(top level)', message).message;
    this.#byField.set(field, { offset: node?.range?.[0] ?? -1, line });
  }
  lines(): string[] {
    return [...this.#byField.values()].sort((a, b) => a.offset - b.offset).map((p) => p.line);
  }
}

/** `['rules', 1, 'effect']` → `rules[1].effect`. */
export function fieldName(path: Path): string {
  let out = '';
  for (const seg of path) {
    if (typeof seg === 'number') out += `[${seg}]`;
    else if (/^[A-Za-z0-9_$-]+$/.test(seg)) out += out === '' ? seg : `.${seg}`;
    else out += `[${JSON.stringify(seg)}]`;
  }
  return out;
}

function show(v: unknown): string {
  const s = typeof v === 'string' ? `'${v}'` : JSON.stringify(v);
  return s === undefined ? String(v) : s.length > 60 ? `${s.slice(0, 57)}…` : s;
}

function pointerToPath(root: unknown, pointer: string): (string | number)[] {
  const out: (string | number)[] = [];
  let cur: unknown = root;
  for (const raw of pointer.split('/').slice(1)) {
    const seg = raw.replace(/~1/g, '/').replace(/~0/g, '~');
    if (Array.isArray(cur) && /^\d+$/.test(seg)) {
      out.push(Number(seg));
      cur = cur[Number(seg)];
    } else {
      out.push(seg);
      cur = cur !== null && typeof cur === 'object' ? (cur as Record<string, unknown>)[seg] : undefined;
    }
  }
  return out;
}

function isObject(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

function schemaProblem(problems: Problems, root: unknown, e: ValueError): void {
  const path = pointerToPath(root, e.path);
  if (e.type === ValueErrorType.Union) unionProblem(problems, root, e, path);
  else if (e.type === ValueErrorType.ObjectAdditionalProperties)
    problems.add(path, schemaMessage(e), { key: true });
  else if (e.type === ValueErrorType.ObjectRequiredProperty)
    problems.add(path, schemaMessage(e), { at: path.slice(0, -1), key: true });
  else problems.add(path, schemaMessage(e));
}

/** Plain words for one schema error; `description` says what a pattern wants. */
function schemaMessage(e: ValueError): string {
  const s = e.schema as TSchema & Record<string, unknown>;
  const desc = typeof s.description === 'string' ? s.description : undefined;
  switch (e.type) {
    case ValueErrorType.ObjectAdditionalProperties:
      if (isObject(s.patternProperties)) return `not a valid key here (${desc ?? NAME_TEXT})`;
      return `unknown field (allowed here: ${Object.keys((s.properties as object | undefined) ?? {}).join(', ')})`;
    case ValueErrorType.ObjectRequiredProperty:
      return 'missing (required)';
    case ValueErrorType.Object:
      return `must be a mapping${got(e.value)}`;
    case ValueErrorType.Array:
      return `must be a list${got(e.value)}`;
    case ValueErrorType.ArrayMinItems:
      return s.minItems === 1 ? 'must not be empty' : `needs at least ${s.minItems} entries`;
    case ValueErrorType.ArrayMaxItems:
      return `may have at most ${s.maxItems} entries`;
    case ValueErrorType.ArrayUniqueItems:
      return 'lists the same entry twice';
    case ValueErrorType.Literal:
      return `must be ${show(s.const)}${got(e.value)}`;
    case ValueErrorType.String:
      return `must be a string${desc ? ` (${desc})` : ''}${got(e.value)}`;
    case ValueErrorType.StringPattern:
      return `must be ${desc ?? `a string matching ${s.pattern}`}${got(e.value)}`;
    case ValueErrorType.StringMinLength:
      return s.minLength === 1 ? 'must not be empty' : `must be ${desc ?? 'longer'}`;
    case ValueErrorType.StringMaxLength:
      return `must be at most ${s.maxLength} characters`;
    case ValueErrorType.Integer:
    case ValueErrorType.Number:
      return `must be a whole number${got(e.value)}`;
    case ValueErrorType.IntegerMinimum:
      return `must be at least ${s.minimum}${got(e.value)}`;
    case ValueErrorType.IntegerMaximum:
      return `must be at most ${s.maximum}${got(e.value)}`;
    default:
      return e.message;
  }
}

function got(v: unknown): string {
  return v === undefined ? '' : ` (got ${show(v)})`;
}

function describeVariant(s: TSchema): string {
  if (TypeGuard.IsLiteral(s)) return show(s.const);
  if (TypeGuard.IsObject(s)) return `a mapping with ${(s.required ?? []).join(', ')}`;
  if (TypeGuard.IsArray(s)) return 'a list';
  return `a ${String(s.type ?? 'value')}`;
}

function describeUnion(variants: TSchema[]): string {
  const objects = variants.filter((v) => TypeGuard.IsObject(v));
  const parts = variants.filter((v) => !TypeGuard.IsObject(v)).map(describeVariant);
  if (objects.length === 1 && objects[0]) parts.push(describeVariant(objects[0]));
  if (objects.length > 1) {
    const keys = objects.map((o) => (TypeGuard.IsObject(o) ? (o.required?.[0] ?? '') : ''));
    parts.push(`a mapping with one of the fields ${keys.join(', ')}`);
  }
  return parts.length <= 1 ? (parts[0] ?? 'valid') : `${parts.slice(0, -1).join(', ')} or ${parts.at(-1)}`;
}

/** A union error: find the variant the writer meant and report its problems, or list the forms. */
function unionProblem(problems: Problems, root: unknown, e: ValueError, path: Path): void {
  const variants = (e.schema.anyOf ?? []) as TSchema[];
  const meant = meantVariant(variants, e.value);
  if (typeof meant === 'number') {
    for (const inner of e.errors[meant] ?? []) schemaProblem(problems, root, inner);
  } else {
    problems.add(path, meant);
  }
}

/** The index of the variant `v` was meant to be, or the message when there is none. */
function meantVariant(variants: TSchema[], v: unknown): number | string {
  if (variants.every((s) => TypeGuard.IsLiteral(s))) {
    const values = variants.map((s) => String(TypeGuard.IsLiteral(s) ? s.const : ''));
    return `must be one of ${values.join(', ')}${got(v)}`;
  }
  if (isObject(v)) {
    const hits = variants
      .map((s, i) => ({ s, i }))
      .filter(({ s }) => TypeGuard.IsObject(s) && (s.required ?? []).some((k) => k in v));
    if (hits.length > 1) {
      const keys = hits.map(({ s }) => (TypeGuard.IsObject(s) ? s.required?.[0] : ''));
      return `give exactly one of ${keys.join(', ')}`;
    }
    if (hits[0]) return hits[0].i;
  } else {
    const kind = Array.isArray(v) ? 'array' : typeof v;
    const i = variants.findIndex((s) => !TypeGuard.IsLiteral(s) && s.type === kind);
    if (i >= 0) return i;
  }
  return `must be ${describeUnion(variants)}${got(v)}`;
}

// --- semantic checks -------------------------------------------------------------------------

function checkSemantics(problems: Problems, doc: PolicyDocument, opts?: PolicyLoadOptions): void {
  const entities = new Set([...BUILTIN_ENTITIES, ...(opts?.entities ?? [])]);
  for (const [name, r] of Object.entries(doc.resources ?? {})) {
    const at = ['resources', name];
    const port = Number(r.address.slice(r.address.lastIndexOf(':') + 1));
    if (port < 1 || port > 65535) problems.add([...at, 'address'], `port ${port} is outside 1-65535`);
    if (r.database !== undefined && r.protocol !== 'postgres')
      problems.add([...at, 'database'], `applies to postgres resources only (this one is ${r.protocol})`, {
        key: true,
      });
    if (r.hostKey !== undefined && r.protocol !== 'ssh')
      problems.add([...at, 'hostKey'], `applies to ssh resources only (this one is ${r.protocol})`, {
        key: true,
      });
    if (r.env !== undefined && r.protocol !== 'ssh')
      problems.add([...at, 'env'], `applies to ssh resources only (this one is ${r.protocol})`, {
        key: true,
      });
    if (r.knownHosts !== undefined && r.protocol !== 'ssh')
      problems.add([...at, 'knownHosts'], `applies to ssh resources only (this one is ${r.protocol})`, {
        key: true,
      });
    if (r.protocol === 'ssh' && r.hostKey === undefined && r.knownHosts === undefined)
      problems.add(
        [...at, 'protocol'],
        "ssh resources need hostKey (the target's host key fingerprint: ssh-keygen -lf <key>.pub) or knownHosts (an OpenSSH known_hosts file)",
      );
    if (r.protocol === 'ssh' && r.tls !== undefined)
      problems.add([...at, 'tls'], 'does not apply to ssh resources (the host key is pinned instead)', {
        key: true,
      });
    if (r.tls?.caFile !== undefined && r.tls.mode !== 'verify-full')
      problems.add([...at, 'tls', 'caFile'], `is used only with mode verify-full (mode is ${r.tls.mode})`, {
        key: true,
      });
  }
  for (const [name, p] of Object.entries(doc.maskingProfiles ?? {})) {
    checkProfile(problems, ['maskingProfiles', name], p, entities);
  }
  const names = new Map<string, number>();
  (doc.rules ?? []).forEach((rule, i) => {
    const first = names.get(rule.name);
    if (first !== undefined)
      problems.add(['rules', i, 'name'], `another rule is already named '${rule.name}' (rules[${first}])`);
    else names.set(rule.name, i);
    checkRule(problems, doc, rule, ['rules', i]);
  });
}

function checkEntity(problems: Problems, path: Path, entity: string, known: Set<string>): void {
  if (!known.has(entity)) {
    problems.add(path, `unknown entity '${entity}' (known: ${[...known].join(', ')})`);
  }
}

function checkProfile(
  problems: Problems,
  at: Path,
  p: NonNullable<PolicyDocument['maskingProfiles']>[string],
  known: Set<string>,
): void {
  p.entities?.forEach((e, i) => {
    checkEntity(problems, [...at, 'entities', i], e, known);
  });
  const enabled = new Set(p.entities ?? known);
  for (const e of Object.keys(p.styles ?? {})) {
    if (!enabled.has(e)) {
      const list = p.entities ? 'this profile scans for' : 'known';
      problems.add([...at, 'styles', e], `'${e}' is not an entity ${list} (${[...enabled].join(', ')})`, {
        key: true,
      });
    }
  }
  p.columns?.forEach((c, i) => {
    const cat = [...at, 'columns', i];
    if (c.column === undefined && c.table === undefined && c.type === undefined)
      problems.add(cat, 'give at least one of column, table, type (otherwise covers every other column)');
    if (typeof c.action === 'object' && 'redactAs' in c.action)
      checkEntity(problems, [...cat, 'action', 'redactAs'], c.action.redactAs, known);
    if (typeof c.action === 'object' && 'scan' in c.action && Array.isArray(c.action.scan))
      c.action.scan.forEach((e, j) => {
        checkEntity(problems, [...cat, 'action', 'scan', j], e, known);
      });
  });
}

function checkRule(
  problems: Problems,
  doc: PolicyDocument,
  rule: NonNullable<PolicyDocument['rules']>[number],
  at: Path,
): void {
  const resources = Object.entries(doc.resources ?? {});
  const protocols = new Set<Protocol>();
  rule.resources.forEach((p, i) => {
    const m = compilePattern(p);
    const hits = resources.filter(([name]) => m(name));
    if (hits.length === 0 && p !== '*') {
      const known = resources.map(([n]) => n).join(', ') || 'none defined';
      const what = isPattern(p) ? `pattern '${p}' matches no resource` : `unknown resource '${p}'`;
      problems.add([...at, 'resources', i], `${what} (resources: ${known})`);
    }
    for (const [, r] of hits) protocols.add(r.protocol);
  });
  checkActions(problems, rule, at, protocols);
  checkConditions(problems, rule, at, protocols);
  const effect = rule.effect;
  if (effect === 'require-approval') {
    if (rule.approval === undefined)
      problems.add(
        [...at, 'effect'],
        'require-approval needs an approval: { reviewers, approvals, timeout }',
      );
  } else if (rule.approval !== undefined) {
    problems.add([...at, 'approval'], `is used only with effect require-approval (effect is ${effect})`, {
      key: true,
    });
  }
  if (rule.approval !== undefined) {
    const ms = parseDuration(rule.approval.timeout);
    if (ms === undefined || ms < 1000 || ms > MAX_APPROVAL_TIMEOUT_MS)
      problems.add([...at, 'approval', 'timeout'], 'must be between 1s and 24h');
  }
  if (rule.masking !== undefined) {
    if (effect === 'deny')
      problems.add([...at, 'masking'], 'a deny rule has no results to mask', { key: true });
    else if (!doc.maskingProfiles?.[rule.masking]) {
      const known = Object.keys(doc.maskingProfiles ?? {}).join(', ') || 'none defined';
      problems.add([...at, 'masking'], `unknown masking profile '${rule.masking}' (profiles: ${known})`);
    }
  }
  if (rule.reason !== undefined && effect !== 'deny')
    problems.add([...at, 'reason'], `is used only with effect deny (effect is ${effect})`, { key: true });
}

function checkActions(
  problems: Problems,
  rule: NonNullable<PolicyDocument['rules']>[number],
  at: Path,
  protocols: Set<Protocol>,
): void {
  if (rule.actions.includes('*') && rule.actions.length > 1) {
    problems.add([...at, 'actions'], "'*' already covers every action; list either '*' or actions");
    return;
  }
  const scope = protocols.size > 0 ? [...protocols] : (Object.keys(ACTION_CLASSES) as Protocol[]);
  const valid = new Set<string>(scope.flatMap((p) => ACTION_CLASSES[p]));
  rule.actions.forEach((a, i) => {
    if (a === '*' || valid.has(a)) return;
    const lists = scope
      .map(
        (p) => `${p}: ${ACTION_CLASSES[p].length > 0 ? ACTION_CLASSES[p].join(', ') : "none yet, use '*'"}`,
      )
      .join('; ');
    problems.add(
      [...at, 'actions', i],
      `'${a}' is not an action class of the resources this rule names (${lists})`,
    );
  });
}

function checkConditions(
  problems: Problems,
  rule: NonNullable<PolicyDocument['rules']>[number],
  at: Path,
  protocols: Set<Protocol>,
): void {
  const w = rule.when;
  if (w === undefined) return;
  w.paths?.forEach((p, i) => {
    const problem = pathPatternProblem(p);
    if (problem !== undefined) problems.add([...at, 'when', 'paths', i], problem);
  });
  const sftp = rule.actions.some((a) => a === '*' || a === 'sftp-read' || a === 'sftp-write');
  if (w.paths !== undefined && !sftp)
    problems.add(
      [...at, 'when', 'paths'],
      'applies to sftp-read and sftp-write, and this rule names neither',
      {
        key: true,
      },
    );
  if (protocols.size === 0) return;
  if (w.tables !== undefined && !protocols.has('postgres'))
    problems.add([...at, 'when', 'tables'], 'applies to postgres resources, and this rule names none', {
      key: true,
    });
  for (const k of ['programs', 'destinations', 'paths'] as const) {
    if (w[k] !== undefined && !protocols.has('ssh'))
      problems.add([...at, 'when', k], 'applies to ssh resources, and this rule names none', { key: true });
  }
}
