/**
 * Pure-JavaScript baseline masker: the comparison point for the native (Hyperscan) engine in the benches.
 *
 * Same entities and validators as the native engine (Luhn + issuer prefixes, IBAN mod-97 with country
 * lengths, ABA checksum and prefix ranges, SSN area/group/serial rules), implemented the way a competent
 * JavaScript developer would: a handful of global RegExps run over the latin1 view of the buffer (so that
 * string indices are byte offsets), validation in plain code, overlap resolution, then one Buffer.concat.
 * Each value is replaced by `[REDACTED:<entity>]`.
 */

export interface JsDetection {
  entity: string;
  start: number;
  end: number;
}

export interface JsMaskResult {
  output: Buffer;
  counts: Record<string, number>;
}

// ---------------------------------------------------------------------------------------------------------
// Validators

function luhn(d: string): boolean {
  let sum = 0;
  let dbl = false;
  for (let i = d.length - 1; i >= 0; i--) {
    let x = d.charCodeAt(i) - 48;
    if (dbl) {
      x *= 2;
      if (x > 9) x -= 9;
    }
    sum += x;
    dbl = !dbl;
  }
  return sum % 10 === 0;
}

function cardPrefixOk(d: string): boolean {
  const p2 = (d.charCodeAt(0) - 48) * 10 + (d.charCodeAt(1) - 48);
  const p3 = p2 * 10 + (d.charCodeAt(2) - 48);
  const p4 = p3 * 10 + (d.charCodeAt(3) - 48);
  if (p2 === 34 || p2 === 37) return d.length === 15; // Amex
  const first = d.charCodeAt(0);
  if (first === 52) return true; // Visa 4
  if (p2 >= 51 && p2 <= 55) return true; // Mastercard
  if (p4 >= 2221 && p4 <= 2720) return true; // Mastercard 2-series
  if (p3 >= 300 && p3 <= 305) return true; // Diners
  if (p2 === 36 || p2 === 38) return true; // Diners
  if (p4 >= 3528 && p4 <= 3589) return true; // JCB
  if (p2 === 50 || (p2 >= 56 && p2 <= 58)) return true; // Maestro
  return first === 54; // 6: Discover 6011/644–649/65, UnionPay 62, Maestro 6
}

function cardValid(raw: string): boolean {
  const d = raw.replace(/[ -]/g, '');
  return d.length >= 13 && d.length <= 19 && cardPrefixOk(d) && luhn(d);
}

function ssnValid(area: number, group: number, serial: number): boolean {
  return area !== 0 && area !== 666 && area < 900 && group !== 0 && serial !== 0;
}

const ABA_W = [3, 7, 1, 3, 7, 1, 3, 7, 1];
function abaValid(d: string): boolean {
  const p = (d.charCodeAt(0) - 48) * 10 + (d.charCodeAt(1) - 48);
  if (!(p <= 12 || (p >= 21 && p <= 32) || (p >= 61 && p <= 72) || p === 80)) return false;
  let sum = 0;
  for (let i = 0; i < 9; i++) sum += (d.charCodeAt(i) - 48) * (ABA_W[i] as number);
  return sum % 10 === 0;
}

// biome-ignore format: a table reads better on few lines
const IBAN_LENGTHS: Readonly<Record<string, number>> = {
  AD: 24, AE: 23, AL: 28, AT: 20, AZ: 28, BA: 20, BE: 16, BG: 22, BH: 22, BR: 29, BY: 28, CH: 21, CR: 22,
  CY: 28, CZ: 24, DE: 22, DK: 18, DO: 28, EE: 20, EG: 29, ES: 24, FI: 18, FO: 18, FR: 27, GB: 22, GE: 22,
  GI: 23, GL: 18, GR: 27, GT: 28, HR: 21, HU: 28, IE: 22, IL: 23, IQ: 23, IS: 26, IT: 27, JO: 30, KW: 30,
  KZ: 20, LB: 28, LC: 32, LI: 21, LT: 20, LU: 20, LV: 21, MC: 27, MD: 24, ME: 22, MK: 19, MR: 27, MT: 31,
  MU: 30, NL: 18, NO: 15, PK: 24, PL: 28, PS: 29, PT: 25, QA: 29, RO: 24, RS: 22, SA: 24, SC: 31, SE: 24,
  SI: 19, SK: 24, SM: 27, ST: 25, SV: 28, TL: 23, TN: 24, TR: 26, UA: 29, VA: 22, VG: 24, XK: 20,
};

function ibanMod97(compact: string): number {
  let rem = 0;
  const n = compact.length;
  for (let k = 0; k < n; k++) {
    const c = compact.charCodeAt((k + 4) % n);
    rem = c <= 57 ? (rem * 10 + (c - 48)) % 97 : (rem * 100 + (c - 55)) % 97;
  }
  return rem;
}

// ---------------------------------------------------------------------------------------------------------
// Patterns (all ASCII; run over the latin1 string so that index == byte offset)

const OCTET = '(?:25[0-5]|2[0-4]\\d|1\\d\\d|[1-9]?\\d)';
const NUM_L = '(?<![\\w.+-]|\\d[ -])'; // start of a whole number (not inside a longer digit chain)
const NUM_R = '(?![\\w]|[ -]\\d|\\.\\d)'; // end of a whole number

/** Digit-led entities: SSN, ABA, card, IPv4 and the phone layouts, in one pass. */
const NUMERIC = new RegExp(
  [
    `${NUM_L}(?:(?<ssn>\\d{3}(?<ssep>[- ])\\d{2}\\k<ssep>\\d{4})|(?<aba>\\d{9})|(?<card>\\d(?:[ -]?\\d){12,18}))${NUM_R}`,
    `(?<![\\w.])(?<ipv4>${OCTET}(?:\\.${OCTET}){3})(?![\\w]|\\.\\d)`,
    `(?<![\\w+])(?<e164>\\+[1-9]\\d{7,14})(?![\\w])`,
    `(?<![\\w+])(?<plus1>\\+1 [2-9]\\d{2} [2-9]\\d{2} \\d{4})(?![\\w]| \\d)`,
    `(?<![\\w])(?<paren>\\([2-9]\\d{2}\\) [2-9]\\d{2}-\\d{4})(?![\\w]|-\\d)`,
    `${NUM_L}(?<na>[2-9]\\d{2}(?<nsep>[-.])[2-9]\\d{2}\\k<nsep>\\d{4})(?![\\w]|[-.]\\d)`,
  ].join('|'),
  'g',
);

const H = '[0-9A-Fa-f]{1,4}';
const IPV6 = new RegExp(
  `(?<![\\w:.])(?:${H}(?::${H}){7}|(?:${H}(?::${H}){0,6})?::(?:${H}(?::${H}){0,6})?)(?![\\w:]|\\.\\d)`,
  'g',
);

const EMAIL =
  /(?<![A-Za-z0-9._%+-])[A-Za-z0-9_%+-]+(?:\.[A-Za-z0-9_%+-]+)*@(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z]{2,24}(?![A-Za-z0-9-]|\.[A-Za-z0-9])/g;

/** Literal-led secrets in one pass. */
const SECRETS = new RegExp(
  [
    '(?<pem>-----BEGIN (?<label>(?:[A-Z0-9]+ )*)PRIVATE KEY-----[\\s\\S]{1,16384}?-----END \\k<label>PRIVATE KEY-----)',
    '(?<![A-Za-z0-9_-])(?<jwt>eyJ[A-Za-z0-9_-]+\\.eyJ[A-Za-z0-9_-]+\\.[A-Za-z0-9_-]+)',
    '(?<![A-Za-z0-9])[Bb]earer +(?<bearer>[A-Za-z0-9._~+/=-]{16,})',
    '(?<![A-Za-z0-9])(?<akid>(?:AKIA|ASIA)[A-Z2-7]{16})(?![A-Za-z0-9])',
    '(?:aws_secret_access_key|AWS_SECRET_ACCESS_KEY|[Ss]ecretAccessKey|secret_access_key)"?\\s*[:=]\\s*"?(?<secret>[A-Za-z0-9/+]{40})(?![A-Za-z0-9/+=])',
  ].join('|'),
  'g',
);

const IBAN_START = /(?<![A-Za-z0-9])([A-Z]{2})\d{2}(?=[ A-Z0-9])/g;
const IBAN_GROUPED = /^[A-Z0-9]{4}(?: [A-Z0-9]{4})*(?: [A-Z0-9]{1,4})?$/;
const IBAN_COMPACT = /^[A-Z0-9]+$/;
const JWT_WHOLE = /^eyJ[A-Za-z0-9_-]+\.eyJ[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/;
/** "version"/"ver" just before a dotted quad makes it a version number, not an address (16-byte window). */
const VERSION_BEFORE = /(?:^|[^A-Za-z])(?:version|ver)\.?:?\s{0,3}$/i;

/** Overlap priority: a PEM block or JWT wins over anything found inside it. */
const PRIORITY: Readonly<Record<string, number>> = {
  private_key: 9,
  jwt: 8,
  bearer_token: 7,
  aws_secret_key: 6,
  aws_access_key: 6,
  iban: 5,
  email: 4,
  card: 3,
  ipv6: 3,
  phone: 2,
  ssn: 2,
  aba_routing: 1,
  ipv4: 1,
};

interface Cand extends JsDetection {
  prio: number;
}

function isAlnum(c: number): boolean {
  return (c >= 48 && c <= 57) || (c >= 65 && c <= 90) || (c >= 97 && c <= 122);
}

function scan(s: string): Cand[] {
  const out: Cand[] = [];
  const add = (entity: string, start: number, end: number) =>
    out.push({ entity, start, end, prio: PRIORITY[entity] ?? 0 });

  NUMERIC.lastIndex = 0;
  for (let m = NUMERIC.exec(s); m !== null; m = NUMERIC.exec(s)) {
    const g = m.groups as Record<string, string | undefined>;
    const start = m.index;
    const end = start + m[0].length;
    if (g.card !== undefined) {
      if (cardValid(g.card)) add('card', start, end);
    } else if (g.ssn !== undefined) {
      const t = g.ssn;
      if (ssnValid(Number(t.slice(0, 3)), Number(t.slice(4, 6)), Number(t.slice(7)))) add('ssn', start, end);
    } else if (g.aba !== undefined) {
      if (abaValid(g.aba)) add('aba_routing', start, end);
    } else if (g.ipv4 !== undefined) {
      if (!VERSION_BEFORE.test(s.slice(Math.max(0, start - 16), start))) add('ipv4', start, end);
    } else {
      add('phone', start, end);
    }
  }

  IPV6.lastIndex = 0;
  for (let m = IPV6.exec(s); m !== null; m = IPV6.exec(s)) {
    const t = m[0];
    if (t.includes('::')) {
      const groups = t.split(':').filter((x) => x !== '').length;
      if (groups === 0 || groups > 7) continue;
    }
    add('ipv6', m.index, m.index + t.length);
  }

  EMAIL.lastIndex = 0;
  for (let m = EMAIL.exec(s); m !== null; m = EMAIL.exec(s)) add('email', m.index, m.index + m[0].length);

  SECRETS.lastIndex = 0;
  for (let m = SECRETS.exec(s); m !== null; m = SECRETS.exec(s)) {
    const g = m.groups as Record<string, string | undefined>;
    const end = m.index + m[0].length;
    if (g.pem !== undefined) add('private_key', m.index, end);
    else if (g.jwt !== undefined) add('jwt', m.index, end);
    else if (g.bearer !== undefined) {
      const tok = g.bearer;
      add(JWT_WHOLE.test(tok) ? 'jwt' : 'bearer_token', end - tok.length, end);
    } else if (g.akid !== undefined) add('aws_access_key', m.index, end);
    else if (g.secret !== undefined) add('aws_secret_key', end - 40, end);
  }

  IBAN_START.lastIndex = 0;
  for (let m = IBAN_START.exec(s); m !== null; m = IBAN_START.exec(s)) {
    const len = IBAN_LENGTHS[m[1] as string];
    if (len === undefined) continue;
    const start = m.index;
    const grouped = s.charCodeAt(start + 4) === 32;
    const spanLen = grouped ? len + Math.floor((len - 1) / 4) : len;
    const text = s.slice(start, start + spanLen);
    if (text.length !== spanLen) continue;
    const after = s.charCodeAt(start + spanLen);
    if (!Number.isNaN(after) && isAlnum(after)) continue;
    if (!(grouped ? IBAN_GROUPED : IBAN_COMPACT).test(text)) continue;
    const compact = grouped ? text.replaceAll(' ', '') : text;
    if (ibanMod97(compact) === 1) add('iban', start, start + spanLen);
  }
  return out;
}

/** Resolve overlaps: within each cluster of overlapping candidates keep higher priority, then longer. */
function resolve(cands: Cand[]): JsDetection[] {
  cands.sort((a, b) => a.start - b.start || b.end - a.end);
  const out: JsDetection[] = [];
  let i = 0;
  while (i < cands.length) {
    const first = cands[i] as Cand;
    let clusterEnd = first.end;
    let j = i + 1;
    while (j < cands.length && (cands[j] as Cand).start < clusterEnd) {
      clusterEnd = Math.max(clusterEnd, (cands[j] as Cand).end);
      j++;
    }
    if (j === i + 1) {
      out.push({ entity: first.entity, start: first.start, end: first.end });
    } else {
      const cluster = cands
        .slice(i, j)
        .sort((a, b) => b.prio - a.prio || b.end - b.start - (a.end - a.start));
      const kept: Cand[] = [];
      for (const c of cluster) {
        if (kept.every((k) => c.end <= k.start || c.start >= k.end)) kept.push(c);
      }
      kept.sort((a, b) => a.start - b.start);
      for (const k of kept) out.push({ entity: k.entity, start: k.start, end: k.end });
    }
    i = j;
  }
  return out;
}

/** Sensitive values found in `input`, as byte ranges, sorted and non-overlapping. */
export function jsDetect(input: Buffer): JsDetection[] {
  return resolve(scan(input.toString('latin1')));
}

const REPLACEMENTS = new Map<string, Buffer>();
function replacement(entity: string): Buffer {
  let b = REPLACEMENTS.get(entity);
  if (b === undefined) {
    b = Buffer.from(`[REDACTED:${entity}]`);
    REPLACEMENTS.set(entity, b);
  }
  return b;
}

/** Mask every sensitive value in `input` with `[REDACTED:<entity>]`; returns the output and per-entity counts. */
export function jsMask(input: Buffer): JsMaskResult {
  const found = jsDetect(input);
  const counts: Record<string, number> = {};
  if (found.length === 0) return { output: Buffer.from(input), counts };
  const parts: Buffer[] = [];
  let pos = 0;
  for (const d of found) {
    if (d.start > pos) parts.push(input.subarray(pos, d.start));
    parts.push(replacement(d.entity));
    pos = d.end;
    counts[d.entity] = (counts[d.entity] ?? 0) + 1;
  }
  if (pos < input.length) parts.push(input.subarray(pos));
  return { output: Buffer.concat(parts), counts };
}
