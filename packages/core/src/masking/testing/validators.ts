/**
 * Reference validators for the masking entities, written independently of the native engine so that the
 * generators can prove what they produce (true values pass, near misses fail).
 */

/** Entity names exactly as the masking engine reports them. */
export const ENTITIES = [
  'card',
  'ssn',
  'iban',
  'aba_routing',
  'email',
  'phone',
  'ipv4',
  'ipv6',
  'aws_access_key',
  'aws_secret_key',
  'jwt',
  'bearer_token',
  'private_key',
] as const;

export type Entity = (typeof ENTITIES)[number];

/** Entities whose detection is backed by a checksum or a numbering-plan rule. */
export const CHECKSUM_ENTITIES: readonly Entity[] = ['card', 'iban', 'aba_routing', 'ssn'];

// ---------------------------------------------------------------------------------------------------------
// Payment cards

/** Luhn (mod 10) check over a string of decimal digits. */
export function luhnValid(digits: string): boolean {
  if (!/^\d+$/.test(digits)) return false;
  let sum = 0;
  let double = false;
  for (let i = digits.length - 1; i >= 0; i--) {
    let d = digits.charCodeAt(i) - 48;
    if (double) {
      d *= 2;
      if (d > 9) d -= 9;
    }
    sum += d;
    double = !double;
  }
  return sum % 10 === 0;
}

/** The Luhn check digit to append to `partial` so that the whole number is Luhn valid. */
export function luhnCheckDigit(partial: string): string {
  for (let d = 0; d <= 9; d++) {
    if (luhnValid(partial + d)) return String(d);
  }
  throw new Error('unreachable: some check digit always satisfies Luhn');
}

export type CardBrand =
  | 'visa'
  | 'mastercard'
  | 'amex'
  | 'discover'
  | 'diners'
  | 'jcb'
  | 'unionpay'
  | 'maestro';

/**
 * Issuer recognised from the prefix (and, for Amex, the length), or null. Length must be 13–19.
 * Prefixes: Visa 4; Mastercard 51–55, 2221–2720; Amex 34/37 (15 digits only); Discover 6011, 644–649, 65;
 * Diners 300–305, 36, 38; JCB 3528–3589; UnionPay 62; Maestro 50, 56–58, 6.
 */
export function cardIssuer(digits: string): CardBrand | null {
  if (!/^\d{13,19}$/.test(digits)) return null;
  const p2 = Number(digits.slice(0, 2));
  const p3 = Number(digits.slice(0, 3));
  const p4 = Number(digits.slice(0, 4));
  if (p2 === 34 || p2 === 37) return digits.length === 15 ? 'amex' : null;
  if (digits[0] === '4') return 'visa';
  if ((p2 >= 51 && p2 <= 55) || (p4 >= 2221 && p4 <= 2720)) return 'mastercard';
  if (p4 === 6011 || (p3 >= 644 && p3 <= 649) || p2 === 65) return 'discover';
  if ((p3 >= 300 && p3 <= 305) || p2 === 36 || p2 === 38) return 'diners';
  if (p4 >= 3528 && p4 <= 3589) return 'jcb';
  if (p2 === 62) return 'unionpay';
  if (p2 === 50 || (p2 >= 56 && p2 <= 58) || digits[0] === '6') return 'maestro';
  return null;
}

/** A card number as the engine should accept it: 13–19 digits, known issuer prefix, Luhn valid. */
export function isValidCard(digits: string): boolean {
  return cardIssuer(digits) !== null && luhnValid(digits);
}

// ---------------------------------------------------------------------------------------------------------
// US Social Security numbers

/** SSN rules on the 9 digits: area not 000/666/900–999, group not 00, serial not 0000. */
export function ssnDigitsValid(digits: string): boolean {
  if (!/^\d{9}$/.test(digits)) return false;
  const area = Number(digits.slice(0, 3));
  const group = Number(digits.slice(3, 5));
  const serial = Number(digits.slice(5));
  return area !== 0 && area !== 666 && area < 900 && group !== 0 && serial !== 0;
}

/** A written SSN: NNN-NN-NNNN or NNN NN NNNN (one separator style) with valid digits. */
export function isValidSsn(text: string): boolean {
  const m = /^(\d{3})([- ])(\d{2})\2(\d{4})$/.exec(text);
  return m !== null && ssnDigitsValid(`${m[1]}${m[3]}${m[4]}`);
}

// ---------------------------------------------------------------------------------------------------------
// ABA routing numbers

const ABA_WEIGHTS = [3, 7, 1, 3, 7, 1, 3, 7, 1] as const;

export function abaChecksumValid(digits: string): boolean {
  if (!/^\d{9}$/.test(digits)) return false;
  let sum = 0;
  for (let i = 0; i < 9; i++) sum += (digits.charCodeAt(i) - 48) * (ABA_WEIGHTS[i] as number);
  return sum % 10 === 0;
}

/** First two digits in 00–12, 21–32, 61–72 or 80 (Federal Reserve routing symbol ranges). */
export function abaPrefixValid(digits: string): boolean {
  const p = Number(digits.slice(0, 2));
  return p <= 12 || (p >= 21 && p <= 32) || (p >= 61 && p <= 72) || p === 80;
}

export function isValidAba(digits: string): boolean {
  return abaChecksumValid(digits) && abaPrefixValid(digits);
}

/** The ninth digit that makes the first eight a checksum-valid routing number. */
export function abaCheckDigit(first8: string): string {
  let sum = 0;
  for (let i = 0; i < 8; i++) sum += (first8.charCodeAt(i) - 48) * (ABA_WEIGHTS[i] as number);
  return String((10 - (sum % 10)) % 10);
}

// ---------------------------------------------------------------------------------------------------------
// IBAN

/** BBAN structure per country, in ISO 13616 notation: n digits, a upper-case letters, c upper-case alnum. */
export const IBAN_COUNTRIES: Readonly<Record<string, { length: number; bban: string }>> = {
  AT: { length: 20, bban: '16n' },
  BE: { length: 16, bban: '12n' },
  CH: { length: 21, bban: '5n12c' },
  CZ: { length: 24, bban: '20n' },
  DE: { length: 22, bban: '18n' },
  DK: { length: 18, bban: '14n' },
  ES: { length: 24, bban: '20n' },
  FI: { length: 18, bban: '14n' },
  FR: { length: 27, bban: '10n11c2n' },
  GB: { length: 22, bban: '4a14n' },
  GR: { length: 27, bban: '7n16c' },
  HU: { length: 28, bban: '24n' },
  IE: { length: 22, bban: '4a14n' },
  IT: { length: 27, bban: '1a10n12c' },
  LT: { length: 20, bban: '16n' },
  LU: { length: 20, bban: '3n13c' },
  MT: { length: 31, bban: '4a5n18c' },
  NL: { length: 18, bban: '4a10n' },
  NO: { length: 15, bban: '11n' },
  PL: { length: 28, bban: '24n' },
  PT: { length: 25, bban: '21n' },
  SA: { length: 24, bban: '2n18c' },
  SE: { length: 24, bban: '20n' },
  TR: { length: 26, bban: '5n1n16c' },
};

/** ISO 7064 mod 97-10 of an IBAN (compact, upper-case), after moving the first four characters to the end. */
export function ibanMod97(compact: string): number {
  const rearranged = compact.slice(4) + compact.slice(0, 4);
  let rem = 0;
  for (let i = 0; i < rearranged.length; i++) {
    const code = rearranged.charCodeAt(i);
    if (code >= 48 && code <= 57) {
      rem = (rem * 10 + (code - 48)) % 97;
    } else if (code >= 65 && code <= 90) {
      rem = (rem * 100 + (code - 55)) % 97;
    } else {
      return -1;
    }
  }
  return rem;
}

/** Check digits ("02".."98") for a country code and BBAN. */
export function ibanCheckDigits(country: string, bban: string): string {
  const rem = ibanMod97(`${country}00${bban}`);
  return String(98 - rem).padStart(2, '0');
}

/** A valid IBAN: known country, correct length, mod-97 == 1. Accepts compact or groups of 4 with single spaces. */
export function isValidIban(text: string): boolean {
  let compact = text;
  if (text.includes(' ')) {
    if (!/^[A-Z0-9]{4}(?: [A-Z0-9]{4})*(?: [A-Z0-9]{1,4})?$/.test(text)) return false;
    compact = text.replaceAll(' ', '');
  }
  if (!/^[A-Z]{2}\d{2}[A-Z0-9]+$/.test(compact)) return false;
  const spec = IBAN_COUNTRIES[compact.slice(0, 2)];
  if (spec === undefined || spec.length !== compact.length) return false;
  return ibanMod97(compact) === 1;
}

// ---------------------------------------------------------------------------------------------------------
// Network addresses and other shapes

const OCTET = '(?:25[0-5]|2[0-4]\\d|1\\d\\d|[1-9]?\\d)';
const IPV4_RE = new RegExp(`^${OCTET}(?:\\.${OCTET}){3}$`);

/** Dotted quad, each octet 0–255, no leading zeros. */
export function isValidIpv4(text: string): boolean {
  return IPV4_RE.test(text);
}

/** Full (8 groups) or "::"-compressed IPv6 without embedded IPv4 or zone id. */
export function isValidIpv6(text: string): boolean {
  if (!/^[0-9A-Fa-f:]+$/.test(text)) return false;
  const doubles = text.split('::').length - 1;
  if (doubles > 1) return false;
  const groupOk = (g: string) => /^[0-9A-Fa-f]{1,4}$/.test(g);
  if (doubles === 0) {
    const groups = text.split(':');
    return groups.length === 8 && groups.every(groupOk);
  }
  const [left = '', right = ''] = text.split('::');
  const l = left === '' ? [] : left.split(':');
  const r = right === '' ? [] : right.split(':');
  return l.every(groupOk) && r.every(groupOk) && l.length + r.length <= 7;
}

export function isValidEmail(text: string): boolean {
  return /^[A-Za-z0-9_%+-]+(?:\.[A-Za-z0-9_%+-]+)*@(?:[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?\.)+[A-Za-z]{2,}$/.test(
    text,
  );
}

/** The phone formats listed in the entity contract (E.164 and four North American layouts). */
export function isValidPhone(text: string): boolean {
  if (/^\+[1-9]\d{7,14}$/.test(text)) return true;
  return (
    /^\([2-9]\d{2}\) [2-9]\d{2}-\d{4}$/.test(text) ||
    /^[2-9]\d{2}-[2-9]\d{2}-\d{4}$/.test(text) ||
    /^[2-9]\d{2}\.[2-9]\d{2}\.\d{4}$/.test(text) ||
    /^\+1 [2-9]\d{2} [2-9]\d{2} \d{4}$/.test(text)
  );
}

export function isValidAwsAccessKey(text: string): boolean {
  return /^(?:AKIA|ASIA)[A-Z2-7]{16}$/.test(text);
}

export function isValidAwsSecretKey(text: string): boolean {
  return /^[A-Za-z0-9/+]{40}$/.test(text);
}

export function isValidJwt(text: string): boolean {
  return /^eyJ[A-Za-z0-9_-]+\.eyJ[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/.test(text);
}

export function isValidBearerToken(text: string): boolean {
  return /^[A-Za-z0-9._~+/=-]{16,}$/.test(text) && !isValidJwt(text);
}

export function isValidPrivateKeyBlock(text: string): boolean {
  return /^-----BEGIN ((?:[A-Z0-9]+ )*)PRIVATE KEY-----[\s\S]+?-----END \1PRIVATE KEY-----$/.test(text);
}

/** Shape check of a true value for its entity (used by the generator self-test). */
export function isValidEntityValue(entity: Entity, value: string): boolean {
  switch (entity) {
    case 'card':
      return /^\d+(?:([ -])\d+(?:\1\d+)*)?$/.test(value) && isValidCard(value.replace(/[ -]/g, ''));
    case 'ssn':
      return isValidSsn(value);
    case 'iban':
      return isValidIban(value);
    case 'aba_routing':
      return isValidAba(value);
    case 'email':
      return isValidEmail(value);
    case 'phone':
      return isValidPhone(value);
    case 'ipv4':
      return isValidIpv4(value);
    case 'ipv6':
      return isValidIpv6(value);
    case 'aws_access_key':
      return isValidAwsAccessKey(value);
    case 'aws_secret_key':
      return isValidAwsSecretKey(value);
    case 'jwt':
      return isValidJwt(value);
    case 'bearer_token':
      return isValidBearerToken(value);
    case 'private_key':
      return isValidPrivateKeyBlock(value.replaceAll('\\n', '\n'));
  }
}

// ---------------------------------------------------------------------------------------------------------
// Hazard scanning: digit sequences that an engine could legitimately read as a card or routing number.

/**
 * Digit "chains" in `text`: maximal runs of digits joined by exactly one space or dash. For every contiguous
 * sub-chain of whole runs whose digit count is 13–19 and that is a valid card, report it; also report every
 * maximal 9-digit run that is a valid ABA number. Runs are delimited by any non-digit (stricter than a word
 * boundary), so digits inside hex ids or base64 are covered too.
 */
export function numericHazards(
  text: string,
): Array<{ kind: 'card' | 'aba_routing'; digits: string; index: number }> {
  const hazards: Array<{ kind: 'card' | 'aba_routing'; digits: string; index: number }> = [];
  const runs: Array<{ start: number; end: number }> = [];
  const runRe = /\d+/g;
  for (let m = runRe.exec(text); m !== null; m = runRe.exec(text)) {
    runs.push({ start: m.index, end: m.index + m[0].length });
    if (m[0].length === 9 && isValidAba(m[0]))
      hazards.push({ kind: 'aba_routing', digits: m[0], index: m.index });
  }
  let i = 0;
  while (i < runs.length) {
    // Extend the chain while the gap between runs is exactly one space or dash.
    let j = i;
    while (j + 1 < runs.length) {
      const a = runs[j] as { start: number; end: number };
      const b = runs[j + 1] as { start: number; end: number };
      const gap = text.slice(a.end, b.start);
      if (gap === ' ' || gap === '-') j++;
      else break;
    }
    for (let s = i; s <= j; s++) {
      let digits = '';
      for (let e = s; e <= j; e++) {
        const r = runs[e] as { start: number; end: number };
        digits += text.slice(r.start, r.end);
        if (digits.length > 19) break;
        if (digits.length >= 13 && isValidCard(digits)) {
          hazards.push({ kind: 'card', digits, index: (runs[s] as { start: number }).start });
        }
      }
    }
    i = j + 1;
  }
  return hazards;
}
