import { dirname, resolve as resolvePath } from 'node:path';
import type {
  ActionRequest,
  ApprovalRequirement,
  ColumnMaskRule,
  Decision,
  Identity,
  MaskingProfile,
  PolicyDecider,
  Resource,
} from '@tollgate/core';
import {
  type CompiledSubject,
  compilePattern,
  compileSubject,
  type NameMatcher,
  parseDuration,
} from './match';
import { compilePathPattern, normalisePath, type PathMatcher } from './paths';
import { DEFAULT_CAPTURE_BYTES, type PolicyDocument, type RuleSpec } from './schema';

/** Control-plane roles: `admin` manages the gateway, `reviewer` acts on approval requests. */
export type PolicyRole = 'admin' | 'reviewer';

export type RuleEffect = RuleSpec['effect'];

/** One check of a rule against a request, for `explain`. */
export interface RuleCheck {
  readonly ok: boolean;
  /** Why it passed or failed, e.g. `group agents matches`, `action 'ddl' is not in [read]`. */
  readonly detail: string;
}

/** How one rule fared against a request. */
export interface RuleTrace {
  readonly rule: string;
  /** Position in the file's `rules` list, from 0. */
  readonly index: number;
  readonly effect: RuleEffect;
  /** All four checks passed. */
  readonly matched: boolean;
  /** This rule made the decision. */
  readonly decisive: boolean;
  readonly subject: RuleCheck;
  readonly resource: RuleCheck;
  readonly action: RuleCheck;
  /** The rule's `when` conditions (passes when it has none). */
  readonly when: RuleCheck;
  /** One line: `decides`, `matches, but …`, or the first failed check. */
  readonly outcome: string;
}

/** The decision for a request and how every rule was considered, in file order. */
export interface Explanation {
  readonly decision: Decision;
  readonly rules: readonly RuleTrace[];
}

/** How rules combine; `tollgate policy test` prints it and docs/policy.md explains it. */
export const EVALUATION_ORDER =
  'a matching deny rule wins over everything; otherwise a matching require-approval rule; otherwise a ' +
  'matching allow rule; among matching rules of the same effect the first in the file decides; no ' +
  'matching rule: denied';

interface CompiledRule {
  readonly spec: RuleSpec;
  readonly index: number;
  readonly subjects: readonly CompiledSubject[];
  readonly resources: readonly NameMatcher[];
  readonly actions: ReadonlySet<string> | 'any';
  readonly tables: readonly NameMatcher[] | undefined;
  readonly programs: readonly NameMatcher[] | undefined;
  readonly destinations: readonly NameMatcher[] | undefined;
  readonly paths: readonly PathMatcher[] | undefined;
  readonly decision: Decision;
}

const PRECEDENCE: Record<RuleEffect, number> = { deny: 0, 'require-approval': 1, allow: 2 };

/**
 * A loaded, validated policy: the gateway's `PolicyDecider`. Immutable; a reload builds a new
 * one (see `PolicyWatcher`). Build it with `loadPolicyFile` or `parsePolicy`, which validate;
 * the constructor trusts its document.
 *
 * Evaluation (see `EVALUATION_ORDER`): deny by default. A rule matches a request when one of
 * its subjects matches the identity, one of its resource patterns the resource, its actions the
 * action class, and its `when` conditions the request detail. Then a matching deny wins, else a
 * matching require-approval, else a matching allow; within one effect, file order decides.
 */
export class Policy implements PolicyDecider {
  /** The file it was read from (as given). */
  readonly file: string;
  /** Hex SHA-256 of the file's text: identifies this version in `policy.reload` audit events. */
  readonly hash: string;
  /** The validated document. */
  readonly document: PolicyDocument;
  readonly #rules: readonly CompiledRule[];
  readonly #resources: ReadonlyMap<string, Resource>;
  readonly #profiles: ReadonlyMap<string, MaskingProfile>;
  readonly #roles: Readonly<Record<PolicyRole, readonly CompiledSubject[]>>;

  constructor(document: PolicyDocument, source: { file: string; hash: string }) {
    this.file = source.file;
    this.hash = source.hash;
    this.document = document;
    this.#resources = new Map(
      Object.entries(document.resources ?? {}).map(([name, r]) => [
        name,
        buildResource(name, r, source.file),
      ]),
    );
    this.#profiles = new Map(
      Object.entries(document.maskingProfiles ?? {}).map(([name, p]) => [name, buildProfile(name, p)]),
    );
    this.#roles = {
      admin: (document.roles?.admin ?? []).map(compileSubject),
      reviewer: (document.roles?.reviewer ?? []).map(compileSubject),
    };
    this.#rules = (document.rules ?? []).map(compileRule);
  }

  /** Decides one request. Unknown resources and requests no rule matches are denied (`rule: null`). */
  decide(req: ActionRequest): Decision {
    if (!this.#resources.has(req.resource)) return unknownResource(req);
    let best: CompiledRule | undefined;
    for (const rule of this.#rules) {
      if (best !== undefined && PRECEDENCE[rule.spec.effect] >= PRECEDENCE[best.spec.effect]) continue;
      if (!matches(rule, req)) continue;
      best = rule;
      if (rule.spec.effect === 'deny') break;
    }
    return best?.decision ?? defaultDeny(req);
  }

  /** The decision plus, for every rule in file order, whether it matched and why (not). */
  explain(req: ActionRequest): Explanation {
    const decision = this.decide(req);
    const decider = decision.rule;
    const rules = this.#rules.map((rule): RuleTrace => {
      const subject = checkSubject(rule, req.identity);
      const resource = checkResource(rule, req.resource, this.#resources.has(req.resource));
      const action = checkAction(rule, req.action);
      const when = checkWhen(rule, req);
      const matched = subject.ok && resource.ok && action.ok && when.ok;
      const decisive = matched && rule.spec.name === decider;
      const failed = [subject, resource, action, when].find((c) => !c.ok);
      const outcome = decisive
        ? `decides: ${rule.spec.effect}`
        : matched
          ? `matches, but rule '${decider}' (${decision.effect}) decides`
          : `no match: ${failed?.detail ?? ''}`;
      return {
        rule: rule.spec.name,
        index: rule.index,
        effect: rule.spec.effect,
        matched,
        decisive,
        subject,
        resource,
        action,
        when,
        outcome,
      };
    });
    return { decision, rules };
  }

  /** True when one of the role's subjects matches the identity. `admin` does not imply `reviewer`. */
  hasRole(identity: Identity, role: PolicyRole): boolean {
    return this.#roles[role].some((s) => s.matches(identity));
  }

  resource(name: string): Resource | undefined {
    return this.#resources.get(name);
  }

  /** Every resource, in file order. */
  resources(): Resource[] {
    return [...this.#resources.values()];
  }

  maskingProfile(name: string): MaskingProfile | undefined {
    return this.#profiles.get(name);
  }

  /** The rule names in file order. */
  ruleNames(): string[] {
    return this.#rules.map((r) => r.spec.name);
  }
}

function unknownResource(req: ActionRequest): Decision {
  return { effect: 'deny', rule: null, reason: `resource '${req.resource}' is not defined in the policy` };
}

function defaultDeny(req: ActionRequest): Decision {
  const who = req.identity.kind === 'service-account' ? 'service account' : 'identity';
  return {
    effect: 'deny',
    rule: null,
    reason: `no policy rule allows action '${req.action}' on resource '${req.resource}' for ${who} '${req.identity.subject}' (denied by default)`,
  };
}

/** Relative file paths in a resource (credential file, CA file, known_hosts) are relative to the policy file. */
function buildResource(
  name: string,
  r: NonNullable<PolicyDocument['resources']>[string],
  file: string,
): Resource {
  const base = dirname(file);
  const credential =
    r.credential === undefined
      ? undefined
      : 'file' in r.credential
        ? { file: resolvePath(base, r.credential.file) }
        : { ...r.credential };
  const tls =
    r.tls === undefined
      ? undefined
      : r.tls.caFile
        ? { ...r.tls, caFile: resolvePath(base, r.tls.caFile) }
        : { ...r.tls };
  return Object.freeze({
    name,
    protocol: r.protocol,
    address: r.address,
    tls: tls === undefined ? undefined : Object.freeze(tls),
    username: r.username,
    credential: credential === undefined ? undefined : Object.freeze(credential),
    hostKey: r.hostKey,
    ...(r.knownHosts === undefined ? {} : { knownHosts: resolvePath(base, r.knownHosts) }),
    ...(r.env === undefined ? {} : { env: Object.freeze([...r.env]) }),
    database: r.protocol === 'postgres' ? (r.database ?? name) : undefined,
  });
}

function buildProfile(
  name: string,
  p: NonNullable<PolicyDocument['maskingProfiles']>[string],
): MaskingProfile {
  const columns = (p.columns ?? []).map((c): ColumnMaskRule => {
    const rule: { column?: string; table?: string; type?: string; action: ColumnMaskRule['action'] } = {
      action: c.action,
    };
    if (c.column !== undefined) rule.column = c.column;
    if (c.table !== undefined) rule.table = c.table;
    if (c.type !== undefined) rule.type = c.type;
    return Object.freeze(rule);
  });
  return Object.freeze({
    name,
    columns: Object.freeze(columns),
    otherwise: p.otherwise ?? 'scan',
    entities: p.entities,
    styles: Object.freeze({ ...(p.styles ?? {}) }),
    defaultStyle: p.defaultStyle,
    ...(p.capture === undefined
      ? {}
      : {
          capture: Object.freeze({
            rows: p.capture.rows,
            maxBytes: p.capture.maxBytes ?? DEFAULT_CAPTURE_BYTES,
          }),
        }),
  });
}

function compileRule(spec: RuleSpec, index: number): CompiledRule {
  const list = (l: readonly string[] | undefined) => l?.map(compilePattern);
  return {
    spec,
    index,
    subjects: spec.subjects.map(compileSubject),
    resources: spec.resources.map(compilePattern),
    actions: spec.actions.includes('*') ? 'any' : new Set(spec.actions),
    tables: list(spec.when?.tables),
    programs: list(spec.when?.programs),
    destinations: list(spec.when?.destinations),
    paths: spec.when?.paths?.map(compilePathPattern),
    decision: ruleDecision(spec),
  };
}

function ruleDecision(spec: RuleSpec): Decision {
  if (spec.effect === 'deny') {
    return Object.freeze({
      effect: 'deny',
      rule: spec.name,
      reason: spec.reason ?? `denied by policy rule '${spec.name}'`,
    });
  }
  if (spec.effect === 'allow')
    return Object.freeze({ effect: 'allow', rule: spec.name, masking: spec.masking });
  const a = spec.approval;
  const approval: ApprovalRequirement = Object.freeze({
    reviewers: Object.freeze([...(a?.reviewers ?? [])]),
    approvals: a?.approvals ?? 1,
    timeoutMs: parseDuration(a?.timeout ?? '') ?? 0,
  });
  return Object.freeze({ effect: 'require-approval', rule: spec.name, approval, masking: spec.masking });
}

function matches(rule: CompiledRule, req: ActionRequest): boolean {
  return (
    (rule.actions === 'any' || rule.actions.has(req.action)) &&
    rule.resources.some((m) => m(req.resource)) &&
    rule.subjects.some((s) => s.matches(req.identity)) &&
    whenMatches(rule, req)
  );
}

/**
 * Conditions on the request detail. A request without the detail never matches a rule that asks
 * for it. Tables: a granting rule needs every touched table to match (a join with one other table
 * must not ride on it); a deny rule matches when any touched table does. Paths: a path that cannot
 * be normalised (relative: the adapter could not resolve it) matches deny and require-approval
 * rules, never allow rules.
 */
function whenMatches(rule: CompiledRule, req: ActionRequest): boolean {
  const d = req.detail;
  if (rule.programs && !(d?.program !== undefined && rule.programs.some((m) => m(d.program as string))))
    return false;
  if (
    rule.destinations &&
    !(d?.destination !== undefined && rule.destinations.some((m) => m(d.destination as string)))
  )
    return false;
  if (rule.paths && !pathMatches(rule, d?.path)) return false;
  if (rule.tables) {
    const tables = d?.tables ?? [];
    if (tables.length === 0) return false;
    const ms = rule.tables;
    const hit = (t: string) => ms.some((m) => m(t));
    return rule.spec.effect === 'deny' ? tables.some(hit) : tables.every(hit);
  }
  return true;
}

function pathMatches(rule: CompiledRule, path: string | undefined): boolean {
  if (path === undefined) return false;
  // unresolvable: every rule that restricts matches (fail closed), none that grants
  if (normalisePath(path) === undefined) return rule.spec.effect !== 'allow';
  return (rule.paths ?? []).some((m) => m(path));
}

function checkSubject(rule: CompiledRule, id: Identity): RuleCheck {
  const hit = rule.subjects.find((s) => s.matches(id));
  if (hit) return { ok: true, detail: `${hit.label} matches` };
  const groups = id.groups.length > 0 ? id.groups.join(', ') : 'none';
  return {
    ok: false,
    detail: `no subject matches ${id.kind} '${id.subject}' (groups: ${groups}); subjects: ${rule.subjects.map((s) => s.label).join(', ')}`,
  };
}

function checkResource(rule: CompiledRule, resource: string, known: boolean): RuleCheck {
  const i = rule.resources.findIndex((m) => m(resource));
  const patterns = rule.spec.resources;
  if (!known) return { ok: false, detail: `resource '${resource}' is not defined in the policy` };
  if (i >= 0) return { ok: true, detail: `resource '${resource}' matches '${patterns[i]}'` };
  return { ok: false, detail: `resource '${resource}' is not in [${patterns.join(', ')}]` };
}

function checkAction(rule: CompiledRule, action: string): RuleCheck {
  if (rule.actions === 'any') return { ok: true, detail: `every action ('*')` };
  if (rule.actions.has(action)) return { ok: true, detail: `action '${action}' is listed` };
  return { ok: false, detail: `action '${action}' is not in [${rule.spec.actions.join(', ')}]` };
}

function checkWhen(rule: CompiledRule, req: ActionRequest): RuleCheck {
  const w = rule.spec.when;
  if (w === undefined) return { ok: true, detail: 'no conditions' };
  const ok = whenMatches(rule, req);
  const d = req.detail;
  const parts: string[] = [];
  const seen = (v: string | undefined) => (v === undefined ? 'none reported' : `'${v}'`);
  if (w.tables) {
    const tables = d?.tables?.length ? `[${d.tables.join(', ')}]` : 'none reported';
    const need = rule.spec.effect === 'deny' ? 'any may match' : 'every one must match';
    parts.push(`tables ${tables} vs [${w.tables.join(', ')}] (${need})`);
  }
  if (w.programs) parts.push(`program ${seen(d?.program)} vs [${w.programs.join(', ')}]`);
  if (w.destinations) parts.push(`destination ${seen(d?.destination)} vs [${w.destinations.join(', ')}]`);
  if (w.paths) {
    const p = d?.path;
    const normal = p === undefined ? undefined : normalisePath(p);
    const shown =
      p === undefined
        ? 'none reported'
        : normal === undefined
          ? `'${p}' (unresolved: matches deny and require-approval rules only)`
          : `'${normal}'`;
    parts.push(`path ${shown} vs [${w.paths.join(', ')}]`);
  }
  return { ok, detail: `when ${ok ? 'holds' : 'does not hold'}: ${parts.join('; ')}` };
}
