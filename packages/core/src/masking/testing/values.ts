/**
 * Generators of true sensitive values (one family per masking entity, in varied real-world formats) and of
 * near misses: strings that look like a sensitive value but must stay unmasked. Every generator is driven
 * by a seeded Prng, so the output is deterministic for a seed, and every result is checked against the
 * reference validators in ./validators before it is returned.
 */

import type { Prng } from './prng';
import {
  abaCheckDigit,
  abaChecksumValid,
  type CardBrand,
  cardIssuer,
  type Entity,
  IBAN_COUNTRIES,
  ibanCheckDigits,
  ibanMod97,
  isValidAba,
  isValidCard,
  isValidEntityValue,
  isValidIpv4,
  isValidIpv6,
  isValidJwt,
  isValidPhone,
  isValidSsn,
  luhnCheckDigit,
  luhnValid,
  numericHazards,
  ssnDigitsValid,
} from './validators';

export interface TrueValue {
  entity: Entity;
  /** The exact sensitive span as it appears in text. */
  value: string;
  /** Which layout/variant produced it (e.g. "visa/spaced", "iban/DE/grouped"). */
  format: string;
}

export interface NearMiss {
  /** Near-miss family, e.g. "card_luhn_fail", "version_word". */
  kind: string;
  /** The exact string that must survive masking unchanged. */
  value: string;
  /** The entities this string imitates. */
  imitates: Entity[];
}

const UPPER = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ';
const LOWER = 'abcdefghijklmnopqrstuvwxyz';
const DIGITS = '0123456789';
const ALNUM = UPPER + LOWER + DIGITS;
const HEX = '0123456789abcdef';
const BASE32_AWS = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';
const SECRET_ALPHABET = `${ALNUM}/+`;

/** Retry a generator until the predicate holds (generators are cheap; the bound guards against bugs). */
function until<T>(gen: () => T, ok: (v: T) => boolean, what: string): T {
  for (let i = 0; i < 10_000; i++) {
    const v = gen();
    if (ok(v)) return v;
  }
  throw new Error(`generator for ${what} could not satisfy its constraint`);
}

/** True when `s` contains no digit sequence an engine could read as a card or ABA number. */
export function numericallyInert(s: string): boolean {
  return numericHazards(s).length === 0;
}

function group(digits: string, sizes: readonly number[], sep: string): string {
  const parts: string[] = [];
  let i = 0;
  for (const n of sizes) {
    parts.push(digits.slice(i, i + n));
    i += n;
  }
  if (i < digits.length) parts.push(digits.slice(i));
  return parts.filter((p) => p !== '').join(sep);
}

export function base64url(buf: Buffer): string {
  return buf.toString('base64url');
}

// ---------------------------------------------------------------------------------------------------------
// Shared vocabulary

export const FIRST_NAMES = [
  'James',
  'Mary',
  'José',
  'Zoë',
  'Søren',
  'Aarav',
  'Mei',
  'Olga',
  'Chinedu',
  'Fatima',
  'Łukasz',
  'Ngọc',
  'Yuki',
  'Élodie',
  'Hans',
  'Priya',
  'Mateo',
  'Anya',
  'Omar',
  'Siobhán',
  'Liam',
  'Grace',
  'Dmitri',
  'Amara',
] as const;

export const LAST_NAMES = [
  'Smith',
  'Müller',
  'García',
  'Nguyễn',
  'Kowalski',
  'OBrien',
  'Tanaka',
  'Okafor',
  'Johansson',
  'Rossi',
  'Dubois',
  'Patel',
  'Kim',
  'Ivanova',
  'Haddad',
  'Silva',
  'Brown',
  'Novak',
  '李',
  'Schröder',
] as const;

const EMAIL_DOMAINS = [
  'example.com',
  'mail.example.com',
  'corp.example.org',
  'acme-corp.com',
  'eu.billing.acme-corp.com',
  'gmail.com',
  'outlook.com',
  'proton.me',
  'example.co.uk',
  'mx2.example.net',
  'startup.io',
  'university.edu',
  'city-hall.gov',
  'shop.example.de',
  'fr.example.fr',
  'dev.internal.example.technology',
  'tollgate.dev',
  'x9.example.app',
] as const;

/** ASCII-fold a name for use in e-mail local parts and domains. */
export function asciiFold(s: string): string {
  const map: Record<string, string> = { Ł: 'L', ł: 'l', ø: 'o', Ø: 'O', 李: 'li', ß: 'ss' };
  return s
    .normalize('NFD')
    .replace(/[\u0300-\u036f]/g, '')
    .replace(/[^ -~]/g, (c) => map[c] ?? 'x');
}

// ---------------------------------------------------------------------------------------------------------
// Cards

const CARD_BRANDS: Readonly<Record<CardBrand, { prefix: (r: Prng) => string; lengths: readonly number[] }>> =
  {
    visa: { prefix: () => '4', lengths: [13, 16, 16, 16, 19] },
    mastercard: {
      prefix: (r) => (r.chance(0.7) ? `5${r.int(1, 5)}` : String(r.int(2221, 2720))),
      lengths: [16],
    },
    amex: { prefix: (r) => r.pick(['34', '37']), lengths: [15] },
    discover: {
      prefix: (r) => r.pick(['6011', String(r.int(644, 649)), '65']),
      lengths: [16, 16, 19],
    },
    diners: {
      prefix: (r) => r.pick([String(r.int(300, 305)), '36', '38']),
      lengths: [14, 14, 16],
    },
    jcb: { prefix: (r) => String(r.int(3528, 3589)), lengths: [16, 16, 19] },
    unionpay: { prefix: () => '62', lengths: [16, 17, 18, 19] },
    maestro: {
      prefix: (r) => r.pick(['50', '56', '57', '58', '6304', '6759', '6761', '6763']),
      lengths: [13, 16, 18, 19],
    },
  };

export const CARD_BRAND_NAMES = Object.keys(CARD_BRANDS) as CardBrand[];

/**
 * Conventional printed grouping for a card length: 4-4-4-4 for 16 digits, Amex 4-6-5, Diners 4-6-4, the old
 * 13-digit Visa 4-3-3-3, and groups of four with a shorter last group for 17–19 digits.
 */
function cardGroups(length: number): readonly number[] {
  switch (length) {
    case 13:
      return [4, 3, 3, 3];
    case 14:
      return [4, 6, 4];
    case 15:
      return [4, 6, 5];
    default:
      return [4, 4, 4, 4, 3];
  }
}

export type DigitLayout = 'compact' | 'spaced' | 'dashed';

function layoutCard(digits: string, layout: DigitLayout): string {
  if (layout === 'compact') return digits;
  return group(digits, cardGroups(digits.length), layout === 'spaced' ? ' ' : '-');
}

export function genCardDigits(r: Prng, brand: CardBrand, length?: number): string {
  const spec = CARD_BRANDS[brand];
  const len = length ?? r.pick(spec.lengths);
  const prefix = spec.prefix(r);
  const body = prefix + r.digits(len - 1 - prefix.length);
  return body + luhnCheckDigit(body);
}

export function genCard(r: Prng, brand = r.pick(CARD_BRAND_NAMES), layout?: DigitLayout): TrueValue {
  const lay = layout ?? r.weighted<DigitLayout>(['compact', 'spaced', 'dashed'], [4, 4, 2]);
  const value = until(
    () => layoutCard(genCardDigits(r, brand), lay),
    // The only card-shaped digit sequence inside the value must be a valid reading of the value itself
    // (for 19-digit grouped numbers a 16-digit prefix may also pass; the full number is the correct answer).
    (v) => isValidCard(v.replace(/[ -]/g, '')) && numericHazards(v).every((h) => h.kind === 'card'),
    'card',
  );
  return { entity: 'card', value, format: `${brand}/${lay}` };
}

// ---------------------------------------------------------------------------------------------------------
// IBAN

export const IBAN_COUNTRY_CODES = Object.keys(IBAN_COUNTRIES);

function genBban(r: Prng, format: string, lengthDelta = 0): string {
  let out = '';
  for (const m of format.matchAll(/(\d+)([nac])/g)) {
    const n = Number(m[1]);
    const t = m[2];
    if (t === 'n') out += r.digits(n);
    else if (t === 'a') out += r.chars(UPPER, n);
    // Account fields typed "c" are mostly numeric in practice, with occasional letters.
    else out += r.chance(0.6) ? r.digits(n) : r.chars(`${UPPER}${DIGITS}${DIGITS}${DIGITS}`, n);
  }
  if (lengthDelta > 0) out += r.digits(lengthDelta);
  if (lengthDelta < 0) out = out.slice(0, out.length + lengthDelta);
  return out;
}

export function groupIban(compact: string): string {
  return compact.replace(/(.{4})(?=.)/g, '$1 ');
}

export function genIban(r: Prng, country = r.pick(IBAN_COUNTRY_CODES), grouped = r.chance(0.5)): TrueValue {
  const spec = IBAN_COUNTRIES[country];
  if (spec === undefined) throw new RangeError(`unknown IBAN country ${country}`);
  const value = until(
    () => {
      const bban = genBban(r, spec.bban);
      const compact = country + ibanCheckDigits(country, bban) + bban;
      return grouped ? groupIban(compact) : compact;
    },
    numericallyInert,
    'iban',
  );
  return { entity: 'iban', value, format: `${country}/${grouped ? 'grouped' : 'compact'}` };
}

// ---------------------------------------------------------------------------------------------------------
// SSN and ABA

export function genSsn(r: Prng, sep = r.chance(0.7) ? '-' : ' '): TrueValue {
  const area = until(
    () => r.int(1, 899),
    (a) => a !== 666,
    'ssn area',
  );
  const value = `${String(area).padStart(3, '0')}${sep}${String(r.int(1, 99)).padStart(2, '0')}${sep}${String(
    r.int(1, 9999),
  ).padStart(4, '0')}`;
  return { entity: 'ssn', value, format: sep === '-' ? 'dashed' : 'spaced' };
}

const ABA_PREFIXES = [
  ...Array.from({ length: 13 }, (_, i) => i),
  ...Array.from({ length: 12 }, (_, i) => 21 + i),
  ...Array.from({ length: 12 }, (_, i) => 61 + i),
  80,
];

export function genAbaDigits(r: Prng): string {
  const first8 = String(r.pick(ABA_PREFIXES)).padStart(2, '0') + r.digits(6);
  return first8 + abaCheckDigit(first8);
}

export function genAba(r: Prng): TrueValue {
  return { entity: 'aba_routing', value: genAbaDigits(r), format: 'nine-digit' };
}

// ---------------------------------------------------------------------------------------------------------
// E-mail

export function genEmail(r: Prng): TrueValue {
  const first = asciiFold(r.pick(FIRST_NAMES)).toLowerCase();
  const last = asciiFold(r.pick(LAST_NAMES)).toLowerCase();
  const shape = r.int(0, 8);
  let local: string;
  switch (shape) {
    case 0:
      local = `${first}.${last}`;
      break;
    case 1:
      local = `${first}.${last}+${r.pick(['news', 'billing', 'test', 'github', 'x'])}`;
      break;
    case 2:
      local = `${first[0] ?? 'x'}${last}${r.int(1, 999)}`;
      break;
    case 3:
      local = `${first}_${last}`;
      break;
    case 4:
      local = `${first}-${last}+${r.chars(LOWER + DIGITS, r.int(2, 8))}`;
      break;
    case 5:
      local = r.pick(['support', 'billing', 'no-reply', 'ops.alerts', 'admin', 'security+reports']);
      break;
    case 6:
      local = `${first[0]?.toUpperCase() ?? 'X'}${first.slice(1)}.${last[0]?.toUpperCase() ?? 'X'}${last.slice(1)}`;
      break;
    case 7:
      local = `${first}${r.int(1970, 2005)}`;
      break;
    default:
      local = `${first}.${r.chars(LOWER, 1)}.${last}`;
  }
  let domain: string = r.pick(EMAIL_DOMAINS);
  if (r.chance(0.1)) domain = domain.toUpperCase();
  const value = `${local}@${domain}`;
  return { entity: 'email', value, format: `shape${shape}` };
}

// ---------------------------------------------------------------------------------------------------------
// Phone

function naPart(r: Prng): string {
  // NXX with N in 2–9, avoiding N11 service codes.
  return until(
    () => `${r.int(2, 9)}${r.digits(2)}`,
    (s) => !s.endsWith('11'),
    'NXX',
  );
}

const E164_PLANS: ReadonlyArray<{ cc: string; national: (r: Prng) => string }> = [
  { cc: '1', national: (r) => naPart(r) + naPart(r) + r.digits(4) },
  { cc: '44', national: (r) => (r.chance(0.5) ? `20${r.digits(8)}` : `7${r.int(4, 9)}${r.digits(8)}`) },
  { cc: '49', national: (r) => r.pick(['30', '89', '40', '69']) + r.digits(8) },
  { cc: '33', national: (r) => `${r.int(1, 9)}${r.digits(8)}` },
  { cc: '34', national: (r) => `${r.pick(['6', '7', '9'])}${r.digits(8)}` },
  { cc: '39', national: (r) => `3${r.digits(9)}` },
  { cc: '31', national: (r) => `${r.int(1, 9)}${r.digits(8)}` },
  { cc: '61', national: (r) => `${r.pick(['2', '3', '4', '7', '8'])}${r.digits(8)}` },
  { cc: '81', national: (r) => `${r.int(3, 9)}${r.digits(r.chance(0.5) ? 8 : 9)}` },
  { cc: '91', national: (r) => `${r.int(6, 9)}${r.digits(9)}` },
  { cc: '65', national: (r) => `${r.pick(['6', '8', '9'])}${r.digits(7)}` },
  { cc: '41', national: (r) => `${r.int(2, 9)}${r.digits(8)}` },
];

export type PhoneFormat = 'e164' | 'na_paren' | 'na_dash' | 'na_dot' | 'na_plus1';
export const PHONE_FORMATS: readonly PhoneFormat[] = ['e164', 'na_paren', 'na_dash', 'na_dot', 'na_plus1'];

export function genPhone(r: Prng, format = r.pick(PHONE_FORMATS)): TrueValue {
  const value = until(
    () => {
      if (format === 'e164') {
        const plan = r.pick(E164_PLANS);
        return `+${plan.cc}${plan.national(r)}`;
      }
      const a = naPart(r);
      const e = naPart(r);
      const l = r.digits(4);
      switch (format) {
        case 'na_paren':
          return `(${a}) ${e}-${l}`;
        case 'na_dash':
          return `${a}-${e}-${l}`;
        case 'na_dot':
          return `${a}.${e}.${l}`;
        default:
          return `+1 ${a} ${e} ${l}`;
      }
    },
    (v) => isValidPhone(v) && numericallyInert(v),
    'phone',
  );
  return { entity: 'phone', value, format };
}

// ---------------------------------------------------------------------------------------------------------
// IP addresses

function octet(r: Prng): number {
  return r.weighted([0, 255, r.int(1, 9), r.int(10, 99), r.int(100, 254)], [1, 1, 3, 5, 5]);
}

export function genIpv4(r: Prng): TrueValue {
  const kind = r.int(0, 4);
  let parts: number[];
  switch (kind) {
    case 0:
      parts = [10, octet(r), octet(r), r.int(1, 254)];
      break;
    case 1:
      parts = [172, r.int(16, 31), octet(r), r.int(1, 254)];
      break;
    case 2:
      parts = [192, 168, octet(r), r.int(1, 254)];
      break;
    default:
      parts = [r.int(1, 223), octet(r), octet(r), octet(r)];
  }
  const value = parts.join('.');
  if (!isValidIpv4(value)) throw new Error(`bad ipv4 ${value}`);
  return {
    entity: 'ipv4',
    value,
    format: ['10/8', '172.16/12', '192.168/16', 'public', 'public'][kind] ?? 'public',
  };
}

export function genIpv6(r: Prng, compressed = r.chance(0.65)): TrueValue {
  const value = until(
    () => {
      const groups: number[] = [];
      const head = r.weighted([0x2001, 0xfe80, 0xfd00 + r.int(0, 255), 0x2600 + r.int(0, 255)], [4, 2, 1, 2]);
      groups.push(head);
      if (head === 0x2001) groups.push(r.chance(0.5) ? 0x0db8 : r.int(0, 0xffff));
      while (groups.length < 8) groups.push(r.chance(0.3) ? 0 : r.int(0, 0xffff));
      if (compressed) {
        // Force a run of >= 2 zero groups somewhere after the first group.
        const runLen = r.int(2, 5);
        const start = r.int(1, 8 - runLen);
        for (let i = start; i < start + runLen; i++) groups[i] = 0;
      }
      const upper = r.chance(0.15);
      let hex = groups.map((g) => g.toString(16));
      if (!compressed && r.chance(0.4)) hex = hex.map((h) => h.padStart(4, '0'));
      let text: string;
      if (compressed) {
        // RFC 5952: compress the longest run of zero groups (first one on ties).
        let bestStart = -1;
        let bestLen = 0;
        for (let i = 0; i < 8; ) {
          if (groups[i] !== 0) {
            i++;
            continue;
          }
          let j = i;
          while (j < 8 && groups[j] === 0) j++;
          if (j - i > bestLen) {
            bestStart = i;
            bestLen = j - i;
          }
          i = j;
        }
        text = `${hex.slice(0, bestStart).join(':')}::${hex.slice(bestStart + bestLen).join(':')}`;
      } else {
        text = hex.join(':');
      }
      return upper ? text.toUpperCase() : text;
    },
    (v) => isValidIpv6(v) && numericallyInert(v) && v.split(':').filter((g) => g !== '').length >= 2,
    'ipv6',
  );
  return { entity: 'ipv6', value, format: compressed ? 'compressed' : 'full' };
}

// ---------------------------------------------------------------------------------------------------------
// Secrets

export function genAwsAccessKey(r: Prng): TrueValue {
  const prefix = r.chance(0.7) ? 'AKIA' : 'ASIA';
  const value = until(() => prefix + r.chars(BASE32_AWS, 16), numericallyInert, 'aws access key');
  return { entity: 'aws_access_key', value, format: prefix };
}

export function genAwsSecretKey(r: Prng): TrueValue {
  const value = until(
    () => r.chars(SECRET_ALPHABET, 40),
    (v) => numericallyInert(v) && !/(?:AKIA|ASIA)[A-Z2-7]{16}/.test(v),
    'aws secret key',
  );
  return { entity: 'aws_secret_key', value, format: 'forty' };
}

function uuid(r: Prng): string {
  const h = r.chars(HEX, 32);
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-4${h.slice(13, 16)}-${r.pick(['8', '9', 'a', 'b'])}${h.slice(17, 20)}-${h.slice(20)}`;
}

export function genJwt(r: Prng): TrueValue {
  const alg = r.pick(['HS256', 'RS256', 'ES256', 'RS512', 'EdDSA']);
  const header: Record<string, string> = r.chance(0.5) ? { alg, typ: 'JWT' } : { typ: 'JWT', alg };
  if (alg !== 'HS256' && r.chance(0.7)) header.kid = r.chars(HEX + UPPER, 16);
  const iat = 1_700_000_000 + r.int(0, 40_000_000);
  const payload: Record<string, string | number | string[]> = {
    iss: r.pick([
      'https://idp.example.com/',
      'https://login.acme-corp.com/oauth2',
      'https://accounts.example.org',
    ]),
    sub: r.chance(0.5) ? uuid(r) : `user:${r.int(1000, 99999)}`,
    aud: r.pick(['tollgate', 'api://default', 'https://api.example.com']),
    iat,
    exp: iat + r.pick([300, 900, 3600, 86400]),
  };
  if (r.chance(0.5)) payload.scope = r.pick(['read', 'read write', 'openid profile email', 'db:query']);
  if (r.chance(0.3)) payload.groups = ['sre', 'oncall'];
  if (r.chance(0.4)) payload.jti = r.chars(ALNUM, 22);
  const sigLen = alg === 'HS256' ? 32 : alg.startsWith('RS') ? 256 : 64;
  const value = until(
    () =>
      `${base64url(Buffer.from(JSON.stringify(header)))}.${base64url(Buffer.from(JSON.stringify(payload)))}.${base64url(
        r.bytes(sigLen),
      )}`,
    (v) => isValidJwt(v) && numericallyInert(v),
    'jwt',
  );
  return { entity: 'jwt', value, format: alg };
}

export function genBearerToken(r: Prng): TrueValue {
  const shape = r.int(0, 4);
  const value = until(
    () => {
      switch (shape) {
        case 0:
          return r.bytes(r.int(18, 48)).toString('base64'); // may contain + / and = padding
        case 1:
          return r.chars(HEX, r.pick([32, 40, 64]));
        case 2:
          return `${r.pick(['tgk', 'pat', 'sess', 'sl', 'oat'])}.${r.chars(ALNUM, r.int(24, 40))}`;
        case 3:
          return `${r.pick(['v1', 'live', 'svc'])}-${r.chars(ALNUM, r.int(8, 16))}-${r.chars(ALNUM, r.int(16, 32))}`;
        default: {
          // RFC 6750 b64token characters, including ~ . - + /
          const alphabet = `${ALNUM}${ALNUM}~.-+/`;
          return r.chars(ALNUM, 4) + r.chars(alphabet, r.int(20, 44)) + r.chars(ALNUM, 2);
        }
      }
    },
    (v) =>
      v.length >= 16 &&
      /^[A-Za-z0-9._~+/=-]+$/.test(v) &&
      !v.startsWith('eyJ') &&
      !/\.\./.test(v) &&
      !/\d+\.\d+\.\d+\.\d+/.test(v) &&
      !/[0-9a-fA-F]{1,4}::/.test(v) &&
      numericallyInert(v),
    'bearer token',
  );
  return {
    entity: 'bearer_token',
    value,
    format: ['base64', 'hex', 'dotted', 'dashed', 'b64token'][shape] ?? 'x',
  };
}

// ---------------------------------------------------------------------------------------------------------
// PEM blocks

function pem(label: string, der: Buffer, lineLength = 64, eol = '\n'): string {
  const b64 = der.toString('base64');
  const lines: string[] = [];
  for (let i = 0; i < b64.length; i += lineLength) lines.push(b64.slice(i, i + lineLength));
  return `-----BEGIN ${label}-----${eol}${lines.join(eol)}${eol}-----END ${label}-----`;
}

function derWithPrefix(r: Prng, prefixHex: string, total: number): Buffer {
  const prefix = Buffer.from(prefixHex, 'hex');
  return Buffer.concat([prefix, r.bytes(total - prefix.length)]);
}

export type PrivateKeyKind = 'rsa' | 'ec' | 'openssh' | 'pkcs8' | 'pkcs8_ec' | 'encrypted';
export const PRIVATE_KEY_KINDS: readonly PrivateKeyKind[] = [
  'rsa',
  'ec',
  'openssh',
  'pkcs8',
  'pkcs8_ec',
  'encrypted',
];

/** A PEM private key block with a realistic DER prefix and random body, newline-separated. */
export function genPrivateKeyBlock(
  r: Prng,
  kind = r.pick(PRIVATE_KEY_KINDS),
): { text: string; kind: PrivateKeyKind } {
  let text: string;
  switch (kind) {
    case 'rsa': // PKCS#1 RSA 2048: 30 82 04 a4 02 01 00 02 82 01 01 00 …
      text = pem('RSA PRIVATE KEY', derWithPrefix(r, '308204a40201000282010100', 1192));
      break;
    case 'ec': // SEC1 P-256: 30 77 02 01 01 04 20 …
      text = pem('EC PRIVATE KEY', derWithPrefix(r, '30770201010420', 121));
      break;
    case 'openssh': {
      // openssh-key-v1\0 + "none" cipher header; OpenSSH wraps at 70 columns.
      const head = Buffer.concat([
        Buffer.from('openssh-key-v1\0', 'latin1'),
        Buffer.from('000000046e6f6e65000000046e6f6e650000000000000001', 'hex'),
      ]);
      text = pem('OPENSSH PRIVATE KEY', Buffer.concat([head, r.bytes(r.pick([260, 340, 1800]))]), 70);
      break;
    }
    case 'pkcs8': // PKCS#8 RSA: 30 82 04 bd 02 01 00 30 0d 06 09 2a 86 48 86 f7 0d 01 01 01 05 00 04 82 04 a7
      text = pem(
        'PRIVATE KEY',
        derWithPrefix(r, '308204bd020100300d06092a864886f70d0101010500048204a7', 1217),
      );
      break;
    case 'pkcs8_ec': // PKCS#8 P-256
      text = pem(
        'PRIVATE KEY',
        derWithPrefix(r, '308187020100301306072a8648ce3d020106082a8648ce3d030107046d306b0201010420', 138),
      );
      break;
    default: // PKCS#8 encrypted (PBES2)
      text = pem('ENCRYPTED PRIVATE KEY', derWithPrefix(r, '308205163040', 1306));
  }
  return { text, kind };
}

/** A true private_key value. `jsonEscaped` renders the newlines as the two characters \n (as in JSON files). */
export function genPrivateKey(r: Prng, jsonEscaped = false): TrueValue {
  const value = until(
    () => {
      const { text } = genPrivateKeyBlock(r);
      return jsonEscaped ? text.replaceAll('\n', '\\n') : text;
    },
    numericallyInert,
    'private key',
  );
  const kind = /BEGIN ([A-Z ]*)PRIVATE KEY/.exec(value)?.[1]?.trim() || 'PKCS8';
  return { entity: 'private_key', value, format: `${kind}${jsonEscaped ? '/json' : ''}` };
}

// ---------------------------------------------------------------------------------------------------------
// Dispatch

export function genTrueValue(r: Prng, entity: Entity): TrueValue {
  let v: TrueValue;
  switch (entity) {
    case 'card':
      v = genCard(r);
      break;
    case 'ssn':
      v = genSsn(r);
      break;
    case 'iban':
      v = genIban(r);
      break;
    case 'aba_routing':
      v = genAba(r);
      break;
    case 'email':
      v = genEmail(r);
      break;
    case 'phone':
      v = genPhone(r);
      break;
    case 'ipv4':
      v = genIpv4(r);
      break;
    case 'ipv6':
      v = genIpv6(r);
      break;
    case 'aws_access_key':
      v = genAwsAccessKey(r);
      break;
    case 'aws_secret_key':
      v = genAwsSecretKey(r);
      break;
    case 'jwt':
      v = genJwt(r);
      break;
    case 'bearer_token':
      v = genBearerToken(r);
      break;
    case 'private_key':
      v = genPrivateKey(r, r.chance(0.25));
      break;
  }
  if (!isValidEntityValue(entity, v.value))
    throw new Error(`generator produced an invalid ${entity}: ${v.value}`);
  return v;
}

// ---------------------------------------------------------------------------------------------------------
// Near misses

/** A card-shaped digit string with a known prefix that fails Luhn. */
function luhnFailingCardDigits(r: Prng): string {
  const brand = r.pick(CARD_BRAND_NAMES);
  const good = genCardDigits(r, brand);
  const last = Number(good.slice(-1));
  return good.slice(0, -1) + String((last + r.int(1, 9)) % 10);
}

function unknownPrefixLuhnDigits(r: Prng): string {
  const len = r.pick([13, 14, 15, 16, 16, 16, 17, 18, 19]);
  // 1, 7, 8, 9 and 20xx/29xx belong to no brand in the contract (39 is left out: some references count
  // 38–39 as Diners, so it would not be a clean near miss).
  const prefix = r.pick(['1', '7', '8', '9', '9', '20', '29']);
  const body = prefix + r.digits(len - 1 - prefix.length);
  return body + luhnCheckDigit(body);
}

function anyLayout(r: Prng, digits: string): string {
  return layoutCard(digits, r.weighted<DigitLayout>(['compact', 'spaced', 'dashed'], [5, 3, 2]));
}

function dottedNumbers(r: Prng, n: number, max = 255): string {
  return Array.from({ length: n }, () => r.int(0, max)).join('.');
}

function isoDate(r: Prng): string {
  return `${r.int(2019, 2026)}-${String(r.int(1, 12)).padStart(2, '0')}-${String(r.int(1, 28)).padStart(2, '0')}`;
}

function clock(r: Prng): string {
  return `${String(r.int(0, 23)).padStart(2, '0')}:${String(r.int(0, 59)).padStart(2, '0')}:${String(r.int(0, 59)).padStart(2, '0')}`;
}

export function timestamp(r: Prng): string {
  const ms = String(r.int(0, 999)).padStart(3, '0');
  switch (r.int(0, 3)) {
    case 0:
      return `${isoDate(r)} ${clock(r)}`;
    case 1:
      return `${isoDate(r)}T${clock(r)}.${ms}Z`;
    case 2:
      return `${isoDate(r)}T${clock(r)}+0${r.int(0, 9)}:00`;
    default:
      return `${clock(r)}.${ms}`;
  }
}

export function genUuid(r: Prng): string {
  return until(() => uuid(r), numericallyInert, 'uuid');
}

export function genHexId(r: Prng, n: number): string {
  return until(
    () => r.chars(HEX, n),
    (s) => numericallyInert(s) && !/\d{9}/.test(s),
    'hex id',
  );
}

function genPublicPem(r: Prng): string {
  switch (r.int(0, 2)) {
    case 0:
      return pem(
        'PUBLIC KEY',
        derWithPrefix(r, '30820122300d06092a864886f70d01010105000382010f003082010a0282010100', 294),
      );
    case 1:
      return pem('CERTIFICATE', derWithPrefix(r, '308203', r.int(700, 1100)));
    default:
      return pem('RSA PUBLIC KEY', derWithPrefix(r, '3082010a0282010100', 270));
  }
}

/** Near-miss families and the entities each one imitates. */
export const NEAR_MISS_KINDS: Readonly<Record<string, { imitates: Entity[]; gen: (r: Prng) => string }>> = {
  card_luhn_fail: { imitates: ['card'], gen: (r) => anyLayout(r, luhnFailingCardDigits(r)) },
  order_number: {
    imitates: ['card'],
    gen: (r) => {
      const d = until(
        () => `${r.int(1, 9)}${r.digits(15)}`,
        (s) => !luhnValid(s),
        'order number',
      );
      return d;
    },
  },
  card_unknown_prefix: { imitates: ['card'], gen: (r) => anyLayout(r, unknownPrefixLuhnDigits(r)) },
  card_too_long: {
    imitates: ['card'],
    gen: (r) => {
      const body = `4${r.digits(18)}`;
      return body + luhnCheckDigit(body);
    },
  },
  epoch_millis: {
    imitates: ['card'],
    gen: (r) => String(1_600_000_000_000 + r.int(0, 200_000_000) * 1000 + r.int(0, 999)),
  },
  epoch_micros: {
    imitates: ['card'],
    gen: (r) => `${1_600_000_000 + r.int(0, 200_000_000)}${r.digits(6)}`,
  },
  ssn_bad_area: {
    imitates: ['ssn'],
    gen: (r) => {
      const area = r.pick(['000', '666', String(r.int(900, 999))]);
      const sep = r.chance(0.7) ? '-' : ' ';
      return `${area}${sep}${String(r.int(1, 99)).padStart(2, '0')}${sep}${String(r.int(1, 9999)).padStart(4, '0')}`;
    },
  },
  ssn_bad_group: {
    imitates: ['ssn'],
    gen: (r) => {
      const sep = r.chance(0.7) ? '-' : ' ';
      return `${String(r.int(1, 665)).padStart(3, '0')}${sep}00${sep}${String(r.int(1, 9999)).padStart(4, '0')}`;
    },
  },
  ssn_bad_serial: {
    imitates: ['ssn'],
    gen: (r) => {
      const sep = r.chance(0.7) ? '-' : ' ';
      return `${String(r.int(1, 665)).padStart(3, '0')}${sep}${String(r.int(1, 99)).padStart(2, '0')}${sep}0000`;
    },
  },
  ssn_bare_digits: {
    imitates: ['ssn', 'aba_routing'],
    gen: (r) =>
      until(
        () => r.digits(9),
        (s) => ssnDigitsValid(s) && !isValidAba(s),
        'bare ssn',
      ),
  },
  iban_bad_checksum: {
    imitates: ['iban'],
    gen: (r) => {
      const country = r.pick(IBAN_COUNTRY_CODES);
      const spec = IBAN_COUNTRIES[country] ?? { length: 22, bban: '18n' };
      const compact = until(
        () => {
          const bban = genBban(r, spec.bban);
          const good = Number(ibanCheckDigits(country, bban));
          const bad = until(
            () => r.int(2, 98),
            (n) => n !== good,
            'check digits',
          );
          return country + String(bad).padStart(2, '0') + bban;
        },
        (s) => ibanMod97(s) !== 1,
        'bad iban',
      );
      return r.chance(0.5) ? groupIban(compact) : compact;
    },
  },
  iban_bad_length: {
    imitates: ['iban'],
    gen: (r) => {
      const country = r.pick(IBAN_COUNTRY_CODES);
      const spec = IBAN_COUNTRIES[country] ?? { length: 22, bban: '18n' };
      const compact = until(
        () => {
          const bban = genBban(r, spec.bban, r.pick([-2, -1, 1, 2]));
          return country + ibanCheckDigits(country, bban) + bban;
        },
        // Also make sure the prefix of the country's length (if longer) is not valid by accident.
        (s) => s.length <= spec.length || ibanMod97(s.slice(0, spec.length)) !== 1,
        'wrong-length iban',
      );
      return r.chance(0.5) ? groupIban(compact) : compact;
    },
  },
  aba_bad_checksum: {
    imitates: ['aba_routing'],
    gen: (r) =>
      until(
        () => String(r.pick(ABA_PREFIXES)).padStart(2, '0') + r.digits(7),
        (s) => !abaChecksumValid(s),
        'bad aba',
      ),
  },
  aba_bad_prefix: {
    imitates: ['aba_routing'],
    gen: (r) => {
      const p = r.pick([r.int(13, 20), r.int(33, 60), r.int(73, 79), r.int(81, 99)]);
      const first8 = String(p) + r.digits(6);
      return first8 + abaCheckDigit(first8);
    },
  },
  version_v: {
    imitates: ['ipv4'],
    gen: (r) => `${r.pick(['v', 'V'])}${r.int(1, 20)}.${r.int(0, 30)}.${r.int(0, 99)}.${r.int(0, 255)}`,
  },
  version_word: {
    imitates: ['ipv4'],
    gen: (r) =>
      r.chance(0.25)
        ? `version 10.0.${r.int(17000, 22631)}.${r.int(1, 3000)}`
        : `${r.pick(['version', 'Version', 'ver', 'version:', 'ver.'])} ${r.int(1, 20)}.${r.int(0, 30)}.${r.int(0, 200)}.${r.int(0, 255)}`,
  },
  dotted_long: {
    imitates: ['ipv4'],
    gen: (r) =>
      r.chance(0.3) ? `1.3.6.1.4.1.${r.int(1, 60000)}.${r.int(1, 30)}` : dottedNumbers(r, r.int(5, 6)),
  },
  ipv4_bad_octet: {
    imitates: ['ipv4'],
    gen: (r) => {
      const parts = [r.int(1, 254), r.int(0, 255), r.int(0, 255), r.int(1, 254)].map(String);
      const i = r.int(0, 3);
      parts[i] = r.chance(0.7) ? String(r.int(256, 999)) : `0${r.int(1, 99)}`;
      return parts.join('.');
    },
  },
  timestamp: { imitates: ['ipv6', 'phone', 'card'], gen: (r) => timestamp(r) },
  iso_date: { imitates: ['ssn', 'phone'], gen: (r) => isoDate(r) },
  uuid: { imitates: ['card', 'ipv6'], gen: (r) => genUuid(r) },
  git_sha: {
    imitates: ['aws_secret_key', 'bearer_token'],
    gen: (r) => genHexId(r, r.chance(0.6) ? 40 : r.int(7, 12)),
  },
  semver: {
    imitates: ['ipv4'],
    gen: (r) =>
      `${r.chance(0.3) ? 'v' : ''}${r.int(0, 30)}.${r.int(0, 40)}.${r.int(0, 99)}${r.chance(0.3) ? r.pick(['-rc.1', '-beta.2', '+build.7', '-alpha']) : ''}`,
  },
  price: {
    imitates: ['card'],
    gen: (r) => {
      const whole = r.int(0, 99999);
      const cents = String(r.int(0, 99)).padStart(2, '0');
      const grouped = (sep: string) => String(whole).replace(/\B(?=(\d{3})+$)/g, sep);
      switch (r.int(0, 3)) {
        case 0:
          return `$${grouped(',')}.${cents}`;
        case 1:
          return `USD ${whole}.${cents}`;
        case 2:
          return `€${grouped('.')},${cents}`;
        default:
          return `£${whole}.${cents}`;
      }
    },
  },
  base64_blob: {
    imitates: ['jwt', 'aws_secret_key'],
    gen: (r) =>
      r.chance(0.3)
        ? Buffer.from(JSON.stringify({ kind: 'cursor', offset: r.int(0, 1e6), v: 2 })).toString('base64')
        : until(
            () => r.bytes(r.int(24, 120)).toString('base64'),
            (s) => s.length !== 40 && numericallyInert(s),
            'base64 blob',
          ),
  },
  jwt_two_segments: {
    imitates: ['jwt'],
    gen: (r) =>
      `${base64url(Buffer.from(JSON.stringify({ alg: 'HS256', typ: 'JWT' })))}.${base64url(
        Buffer.from(JSON.stringify({ sub: `user:${r.int(1, 99999)}`, iat: 1_700_000_000 + r.int(0, 1e7) })),
      )}`,
  },
  bearer_short: {
    imitates: ['bearer_token'],
    gen: (r) => (r.chance(0.3) ? 'Bearer realm=api' : `Bearer ${r.chars(ALNUM, r.int(4, 15))}`),
  },
  mac_address: {
    imitates: ['ipv6'],
    gen: (r) => {
      const sep = r.chance(0.7) ? ':' : '-';
      const hex = Array.from({ length: 6 }, () => r.chars(HEX, 2));
      const s = hex.join(sep);
      return r.chance(0.3) ? s.toUpperCase() : s;
    },
  },
  aws_key_malformed: {
    imitates: ['aws_access_key'],
    gen: (r) =>
      r.chance(0.5)
        ? `AKIA${r.chars(BASE32_AWS, r.int(8, 14))}`
        : until(
            () => `${r.pick(['AKIA', 'ASIA'])}${r.chars(`${BASE32_AWS}0189`, 16)}`,
            (s) => /[0189]/.test(s.slice(4)),
            'malformed aws key',
          ),
  },
  secret_without_key: {
    imitates: ['aws_secret_key'],
    gen: (r) => until(() => r.chars(SECRET_ALPHABET, 40), numericallyInert, 'unkeyed secret'),
  },
  public_pem: { imitates: ['private_key'], gen: (r) => genPublicPem(r) },
  phone_bad_area: {
    imitates: ['phone'],
    gen: (r) => {
      let a = naPart(r);
      let e = naPart(r);
      if (r.chance(0.5)) a = `${r.int(0, 1)}${a.slice(1)}`;
      else e = `${r.int(0, 1)}${e.slice(1)}`;
      const l = r.digits(4);
      switch (r.int(0, 3)) {
        case 0:
          return `(${a}) ${e}-${l}`;
        case 1:
          return `${a}-${e}-${l}`;
        case 2:
          return `${a}.${e}.${l}`;
        default:
          return `+1 ${a} ${e} ${l}`;
      }
    },
  },
  phone_short: { imitates: ['phone'], gen: (r) => `${naPart(r)}-${r.digits(4)}` },
  code_path: {
    imitates: ['ipv6'],
    gen: (r) =>
      r.pick(['std::vector<int>', 'tollgate_masking::engine::scan', 'Foo::Bar::baz', 'std::string::npos']),
  },
  email_like: {
    imitates: ['email'],
    gen: (r) => {
      const n = asciiFold(r.pick(FIRST_NAMES)).toLowerCase();
      return r.chance(0.5) ? `@${n}_${r.int(1, 99)}` : `${n} at example dot com`;
    },
  },
};

export const NEAR_MISS_KIND_NAMES = Object.keys(NEAR_MISS_KINDS);

/** Verify that a near miss is not a true value of any entity it imitates (by the reference validators). */
export function nearMissIsInert(nm: NearMiss): boolean {
  const v = nm.value;
  if (!numericallyInert(v)) return false;
  if (isValidPhone(v) || isValidIpv4(v) || isValidIpv6(v) || isValidJwt(v)) return false;
  if (isValidSsn(v)) return false;
  const compact = v.replaceAll(' ', '');
  if (/^[A-Z]{2}\d{2}[A-Z0-9]+$/.test(compact) && isValidEntityValue('iban', compact)) return false;
  if (/^\d{9}$/.test(v) && isValidAba(v)) return false;
  if (
    /^\d{13,19}$/.test(v.replace(/[ -]/g, '')) &&
    cardIssuer(v.replace(/[ -]/g, '')) !== null &&
    luhnValid(v.replace(/[ -]/g, ''))
  )
    return false;
  return true;
}

export function genNearMiss(r: Prng, kind = r.pick(NEAR_MISS_KIND_NAMES)): NearMiss {
  const spec = NEAR_MISS_KINDS[kind];
  if (spec === undefined) throw new RangeError(`unknown near-miss kind ${kind}`);
  return until(
    () => ({ kind, value: spec.gen(r), imitates: spec.imitates }),
    nearMissIsInert,
    `near miss ${kind}`,
  );
}
