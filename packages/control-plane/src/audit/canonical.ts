import * as crypto from 'node:crypto';

/**
 * The canonical form that audit hashes and checkpoint signatures are computed over. It is the
 * JSON Canonicalization Scheme (RFC 8785) applied to the value as `JSON.stringify` sees it:
 * object keys sorted by UTF-16 code units, no whitespace, members whose value is `undefined`
 * left out, strings and numbers written exactly as ECMAScript's `JSON.stringify` writes them.
 * docs/audit.md describes it for auditors who re-implement verification elsewhere.
 */
export function canonicalJson(value: unknown): string {
  const out = canon(value);
  if (out === undefined) throw new TypeError('audit: a value with no JSON form cannot be canonicalised');
  return out;
}

function canon(v: unknown): string | undefined {
  switch (typeof v) {
    case 'string':
    case 'boolean':
      return JSON.stringify(v);
    case 'number':
      return JSON.stringify(v);
    case 'undefined':
    case 'function':
    case 'symbol':
      return undefined;
    case 'bigint':
      throw new TypeError('audit: BigInt values are not JSON');
  }
  if (v === null) return 'null';
  const withJson = v as { toJSON?: () => unknown };
  if (typeof withJson.toJSON === 'function') return canon(withJson.toJSON());
  if (Array.isArray(v)) {
    let out = '[';
    for (let i = 0; i < v.length; i++) out += (i === 0 ? '' : ',') + (canon(v[i]) ?? 'null');
    return `${out}]`;
  }
  const obj = v as Record<string, unknown>;
  const keys = Object.keys(obj);
  // Default sort compares UTF-16 code units, as RFC 8785 asks.
  if (keys.length > 1) keys.sort();
  let out = '{';
  let first = true;
  for (const key of keys) {
    const s = canon(obj[key]);
    if (s === undefined) continue;
    out += `${first ? '' : ','}${JSON.stringify(key)}:${s}`;
    first = false;
  }
  return `${out}}`;
}

export const GENESIS_HASH = '0'.repeat(64);

type OneShotHash = (algorithm: string, data: string, encoding: 'hex') => string;
// crypto.hash (Node >= 20.12) hashes a small string without a Hash object: about a third faster.
const oneShot = (crypto as unknown as { hash?: OneShotHash }).hash;

export const sha256Hex: (text: string) => string = oneShot
  ? (text) => oneShot('sha256', text, 'hex')
  : (text) => crypto.createHash('sha256').update(text, 'utf8').digest('hex');

/**
 * The fields of a record that its hash covers, as stored: identity and data are already in
 * canonical JSON text (`identityJson`, `dataJson`); absent fields are `undefined`.
 */
export interface RecordFields {
  readonly type: string;
  readonly at: number;
  readonly sessionId: string | undefined;
  readonly identityJson: string | undefined;
  readonly resource: string | undefined;
  readonly action: string | undefined;
  readonly decision: string | undefined;
  readonly approvalId: string | undefined;
  readonly dataJson: string | undefined;
}

/**
 * A record's canonical text split around the two values only known inside the chain-extending
 * transaction (`prevHash`, `seq`): text = head + prevHash + middle + seq + tail. Keys in sorted
 * order: action, approvalId, at, data, decision, identity, prevHash, resource, seq, sessionId, type.
 */
export interface CanonicalParts {
  readonly head: string;
  readonly middle: string;
  readonly tail: string;
}

function member(key: string, json: string | undefined): string {
  return json === undefined ? '' : `"${key}":${json},`;
}

function str(s: string | undefined): string | undefined {
  return s === undefined ? undefined : JSON.stringify(s);
}

export function canonicalParts(f: RecordFields): CanonicalParts {
  const head =
    '{' +
    member('action', str(f.action)) +
    member('approvalId', str(f.approvalId)) +
    member('at', JSON.stringify(f.at)) +
    member('data', f.dataJson) +
    member('decision', str(f.decision)) +
    member('identity', f.identityJson) +
    '"prevHash":"';
  const middle = `",${member('resource', str(f.resource))}"seq":`;
  const sessionId = f.sessionId === undefined ? '' : `,"sessionId":${JSON.stringify(f.sessionId)}`;
  const tail = `${sessionId},"type":${JSON.stringify(f.type)}}`;
  return { head, middle, tail };
}

export function canonicalRecordText(p: CanonicalParts, seq: number, prevHash: string): string {
  return p.head + prevHash + p.middle + String(seq) + p.tail;
}

export function recordHash(p: CanonicalParts, seq: number, prevHash: string): string {
  return sha256Hex(canonicalRecordText(p, seq, prevHash));
}

/** What a checkpoint (and the chain head) signs: `canonicalJson` of this object, UTF-8. */
export function checkpointPayload(seq: number, hash: string, at: number): string {
  return canonicalJson({ v: 'tollgate-audit-checkpoint/1', seq, hash, at });
}
