// SASLprep (RFC 4013 on RFC 3454) as PostgreSQL applies it to SCRAM passwords (src/common/saslprep.c):
// pure ASCII passes unchanged; otherwise map, check, then NFKC. When the check fails PostgreSQL
// uses the password as given, and so do we, so both sides derive the same key.

type Ranges = ReadonlyArray<readonly [number, number]>;

function inRanges(cp: number, ranges: Ranges): boolean {
  for (const [lo, hi] of ranges) {
    if (cp < lo) return false;
    if (cp <= hi) return true;
  }
  return false;
}

// C.1.2, mapped to U+0020
const NON_ASCII_SPACE: Ranges = [
  [0x00a0, 0x00a0],
  [0x1680, 0x1680],
  [0x2000, 0x200b],
  [0x202f, 0x202f],
  [0x205f, 0x205f],
  [0x3000, 0x3000],
];

// B.1, mapped to nothing
const MAPPED_TO_NOTHING: Ranges = [
  [0x00ad, 0x00ad],
  [0x034f, 0x034f],
  [0x1806, 0x1806],
  [0x180b, 0x180d],
  [0x200b, 0x200d],
  [0x2060, 0x2060],
  [0xfe00, 0xfe0f],
  [0xfeff, 0xfeff],
];

// C.1.2 – C.9, sorted
const PROHIBITED: Ranges = [
  [0x0000, 0x001f],
  [0x007f, 0x009f],
  [0x00a0, 0x00a0],
  [0x0340, 0x0341],
  [0x06dd, 0x06dd],
  [0x070f, 0x070f],
  [0x1680, 0x1680],
  [0x180e, 0x180e],
  [0x2000, 0x200f],
  [0x2028, 0x202f],
  [0x205f, 0x2063],
  [0x206a, 0x206f],
  [0x2ff0, 0x2ffb],
  [0x3000, 0x3000],
  [0xd800, 0xf8ff],
  [0xfdd0, 0xfdef],
  [0xfeff, 0xfeff],
  [0xfff9, 0xffff],
  [0x1d173, 0x1d17a],
  [0x1fffe, 0x1ffff],
  [0x2fffe, 0x2ffff],
  [0x3fffe, 0x3ffff],
  [0x4fffe, 0x4ffff],
  [0x5fffe, 0x5ffff],
  [0x6fffe, 0x6ffff],
  [0x7fffe, 0x7ffff],
  [0x8fffe, 0x8ffff],
  [0x9fffe, 0x9ffff],
  [0xafffe, 0xaffff],
  [0xbfffe, 0xbffff],
  [0xcfffe, 0xcffff],
  [0xdfffe, 0xdffff],
  [0xe0001, 0xe0001],
  [0xe0020, 0xe007f],
  [0xefffe, 0x10ffff],
];

// D.1: characters with bidirectional property R or AL
const RAND_AL_CAT: Ranges = [
  [0x05be, 0x05be],
  [0x05c0, 0x05c0],
  [0x05c3, 0x05c3],
  [0x05d0, 0x05ea],
  [0x05f0, 0x05f4],
  [0x061b, 0x061b],
  [0x061f, 0x061f],
  [0x0621, 0x063a],
  [0x0640, 0x064a],
  [0x066d, 0x066f],
  [0x0671, 0x06d5],
  [0x06dd, 0x06dd],
  [0x06e5, 0x06e6],
  [0x06fa, 0x06fe],
  [0x0700, 0x070d],
  [0x0710, 0x0710],
  [0x0712, 0x072c],
  [0x0780, 0x07a5],
  [0x07b1, 0x07b1],
  [0x200f, 0x200f],
  [0xfb1d, 0xfb1d],
  [0xfb1f, 0xfb28],
  [0xfb2a, 0xfb36],
  [0xfb38, 0xfb3c],
  [0xfb3e, 0xfb3e],
  [0xfb40, 0xfb41],
  [0xfb43, 0xfb44],
  [0xfb46, 0xfbb1],
  [0xfbd3, 0xfd3d],
  [0xfd50, 0xfd8f],
  [0xfd92, 0xfdc7],
  [0xfdf0, 0xfdfc],
  [0xfe70, 0xfe74],
  [0xfe76, 0xfefc],
];

// A.1 (unassigned) and D.2 (LCat) are large tables; current Unicode data stands in for them:
// unassigned today is unassigned in 3.2, and LCat is approximated by letters and spacing marks.
const UNASSIGNED = /\p{Cn}/u;
const LEFT_TO_RIGHT = /[\p{L}\p{Mc}]/u;

function isAscii(s: string): boolean {
  for (let i = 0; i < s.length; i++) if (s.charCodeAt(i) > 0x7f) return false;
  return true;
}

/**
 * The SASLprep'd form of a password as PostgreSQL computes it for SCRAM: ASCII unchanged;
 * else mapped (non-ASCII spaces → space, B.1 → nothing), checked (prohibited, unassigned,
 * bidi) and NFKC-normalised. A failed check (or an empty result) yields the input unchanged.
 */
export function saslPrep(password: string): string {
  if (isAscii(password)) return password;
  const mapped: number[] = [];
  for (const ch of password) {
    const cp = ch.codePointAt(0) as number;
    if (inRanges(cp, NON_ASCII_SPACE)) mapped.push(0x20);
    else if (!inRanges(cp, MAPPED_TO_NOTHING)) mapped.push(cp);
  }
  if (mapped.length === 0) return password;
  // PostgreSQL checks the mapped characters (before normalisation): so do we
  let randAL = false;
  for (const cp of mapped) {
    if (inRanges(cp, PROHIBITED) || UNASSIGNED.test(String.fromCodePoint(cp))) return password;
    if (inRanges(cp, RAND_AL_CAT)) randAL = true;
  }
  if (randAL) {
    const first = mapped[0] as number;
    const last = mapped[mapped.length - 1] as number;
    if (!inRanges(first, RAND_AL_CAT) || !inRanges(last, RAND_AL_CAT)) return password;
    for (const cp of mapped) {
      if (!inRanges(cp, RAND_AL_CAT) && LEFT_TO_RIGHT.test(String.fromCodePoint(cp))) return password;
    }
  }
  return String.fromCodePoint(...mapped).normalize('NFKC');
}
