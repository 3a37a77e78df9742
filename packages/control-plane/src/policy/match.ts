import type { Identity } from '@tollgate/core';
import type { SubjectSpec } from './schema';

/** Tests a name against a policy pattern: literal, or with `*` matching any run of characters. */
export type NameMatcher = (name: string) => boolean;

export function isPattern(p: string): boolean {
  return p.includes('*');
}

export function compilePattern(p: string): NameMatcher {
  if (p === '*') return () => true;
  if (!isPattern(p)) return (name) => name === p;
  const source = p
    .split('*')
    .map((part) => part.replace(/[\\^$.|?+()[\]{}]/g, '\\$&'))
    .join('.*');
  const re = new RegExp(`^${source}$`, 's');
  return (name) => re.test(name);
}

/** A subject of a rule or role, ready to match identities. */
export interface CompiledSubject {
  readonly spec: SubjectSpec;
  /** `group agents`, `identity alice@bank.example (issuer https://idp)`, `serviceAccount etl-bot`. */
  readonly label: string;
  matches(identity: Identity): boolean;
}

export function compileSubject(spec: SubjectSpec): CompiledSubject {
  const issuer = 'issuer' in spec ? spec.issuer : undefined;
  const fromIssuer = (id: Identity) => issuer === undefined || id.issuer === issuer;
  const suffix = issuer === undefined ? '' : ` (issuer ${issuer})`;
  if ('group' in spec) {
    const m = compilePattern(spec.group);
    return {
      spec,
      label: `group ${spec.group}${suffix}`,
      matches: (id) => fromIssuer(id) && id.groups.some(m),
    };
  }
  if ('identity' in spec) {
    const m = compilePattern(spec.identity);
    return {
      spec,
      label: `identity ${spec.identity}${suffix}`,
      matches: (id) => id.kind !== 'service-account' && fromIssuer(id) && m(id.subject),
    };
  }
  const m = compilePattern(spec.serviceAccount);
  return {
    spec,
    label: `serviceAccount ${spec.serviceAccount}`,
    matches: (id) => id.kind === 'service-account' && m(id.subject),
  };
}

/** Parses `1h30m`, `15m`, `90s` into milliseconds; `undefined` when the text is not a duration. */
export function parseDuration(text: string): number | undefined {
  const m = /^(?:(\d{1,6})h)?(?:(\d{1,6})m)?(?:(\d{1,6})s)?$/.exec(text);
  if (!m || text === '') return undefined;
  const [h, min, s] = [m[1], m[2], m[3]].map((x) => Number(x ?? 0)) as [number, number, number];
  return ((h * 60 + min) * 60 + s) * 1000;
}

/** `90000` → `1m30s`. */
export function formatDuration(ms: number): string {
  const total = Math.round(ms / 1000);
  const h = Math.floor(total / 3600);
  const m = Math.floor((total % 3600) / 60);
  const s = total % 60;
  const out = `${h ? `${h}h` : ''}${m ? `${m}m` : ''}${s ? `${s}s` : ''}`;
  return out || '0s';
}
