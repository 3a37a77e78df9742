//! A native prefilter for the number-shaped entities (cards, SSNs, routing numbers, phone
//! numbers, IPv4, IPv6, IBANs), emails, JWTs and bearer tokens.
//!
//! Hyperscan is slow on patterns made only of character classes (`\d{13,19}` scans at about
//! 1 GB/s on digit-dense logs, and a set of them at 0.3 GB/s): they have no literal for its
//! literal matcher to anchor on. This scanner classifies 64-byte blocks with SIMD compares into
//! bit masks (digits, separators, colons, upper case, word bytes, …; AVX2 when the CPU has it,
//! and with AVX-512BW a nibble lookup in one register) and decides with bit operations over a
//! whole block which digit-run ends can end a value: the third or later group of a token
//! (digits joined by single `' '`, `'-'` or `'.'`) with the right group lengths, a lone run of
//! 9 or of 13 to 19 digits, or 4 digits or more within 20 bytes of a `'+'` or `'('` (phone
//! numbers); with AVX-512 those bit operations run for eight blocks at once, one block per
//! 64-bit lane. There is no loop over the runs themselves (a log line has
//! dozens); only those few ends are looked at one by one: the groups of the token are read back
//! off the masks into one packed integer whose shape is compared with the exact patterns'
//! shapes, and where the shape leaves one possible value, the value-only part of its validator
//! runs at once. IPv6 is looked at only around colons and IBANs only at an upper-case word
//! start followed by two digits. JWTs and bearer tokens are reported at the end of their
//! literals (`.eyJ`, `Bearer` and a blank: `literals`), found from three more byte masks; with
//! them in Hyperscan's set its literal matcher ran at half the speed. Emails are walked from
//! each `@` (`Window::email_ends`): Hyperscan scanned rows with an email each at 4 GB/s.
//!
//! Like a Hyperscan prefilter it only has to be a superset: it reports offsets where a value of
//! an entity may end (for JWTs and bearer tokens, where the engine starts carrying the report
//! to the value's end: `entities::Extend`), and the exact pattern and the validator decide. Every report depends only
//! on the `LOOKBEHIND` bytes before the end and the one byte after it, so a stream can scan the
//! new bytes of its buffer with that much left context and report exactly what a whole-buffer
//! scan reports (`scan`'s `from`/`to` window).

use crate::validators;

/// Bytes before a reported end that a report may depend on. An email is at most `EMAIL_MAX`
/// bytes long (its `@` and the byte before it are what a report starts from); every other value
/// this scanner serves is at most 43 bytes long; the rest is margin.
pub const LOOKBEHIND: usize = EMAIL_MAX + 64;

/// The longest email (the entity's `max_len`): a domain walk stops this far from its `@`.
pub const EMAIL_MAX: usize = 320;

/// Engine indices of the entities this scanner serves (None when not configured).
#[derive(Clone, Copy, Debug, Default)]
pub struct Targets {
    pub card: Option<u16>,
    pub ssn: Option<u16>,
    pub aba: Option<u16>,
    pub phone: Option<u16>,
    pub ipv4: Option<u16>,
    pub ipv6: Option<u16>,
    pub iban: Option<u16>,
    pub jwt: Option<u16>,
    pub bearer: Option<u16>,
    pub email: Option<u16>,
}

impl Targets {
    /// Every entity, numbered 0 to 9 in field order (for benchmarks and profiles).
    #[doc(hidden)]
    pub fn numbered() -> Targets {
        Targets {
            card: Some(0),
            ssn: Some(1),
            aba: Some(2),
            phone: Some(3),
            ipv4: Some(4),
            ipv6: Some(5),
            iban: Some(6),
            jwt: Some(7),
            bearer: Some(8),
            email: Some(9),
        }
    }

    pub fn any(&self) -> bool {
        self.numbers()
            || self.ipv6.is_some()
            || self.iban.is_some()
            || self.jwt.is_some()
            || self.bearer.is_some()
            || self.email.is_some()
    }

    fn numbers(&self) -> bool {
        self.card.is_some()
            || self.ssn.is_some()
            || self.aba.is_some()
            || self.phone.is_some()
            || self.ipv4.is_some()
    }
}

/// Bit masks of one block of up to 64 bytes: bit i is byte i.
#[derive(Clone, Copy, Default)]
struct Masks {
    digit: u64,
    colon: u64,
    upper: u64,
    word: u64,
    /// `' '`, `'-'` or `'.'`: the bytes that join digit groups.
    sep: u64,
    dot: u64,
    /// Hex digits and colons: the bytes of an IPv6 address.
    hex_colon: u64,
    /// `'+'` or `'('`: how a phone number in international or `(415) …` form begins.
    plus_paren: u64,
    /// The `J` of `.eyJ` and the last `r` of `earer` (see `literal_ends`).
    jwt: u64,
    bearer: u64,
    /// `'@'`.
    at: u64,
}

/// Where the literals of JWTs and bearer tokens may end in a block, from the masks of a few of
/// their bytes: at a `J` two bytes after an `e` and three after a dot (`.eyJ`, where a JWT's
/// payload begins), and at an `r` after `e?re` (`earer`). Bytes that would fall in the block
/// before are not looked at (their bits are let through): every bit is checked against the
/// text before anything is reported (`literals`). Three letters filter as well as five here,
/// for two compares less per block.
#[inline(always)]
fn literal_ends(dot: u64, e: u64, j: u64, r: u64) -> (u64, u64) {
    let jwt = j & (e << 2 | 3) & (dot << 3 | 7);
    let bearer = r & (e << 1 | 1) & (r << 2 | 3) & (e << 4 | 15);
    (jwt, bearer)
}

#[cfg(target_arch = "x86_64")]
#[inline(always)]
fn classify64(b: &[u8; 64]) -> Masks {
    use std::arch::x86_64::*;
    // SAFETY: SSE2 is part of the x86_64 baseline; loads are unaligned and within `b`.
    unsafe {
        let in_range = |v: __m128i, lo: u8, width: u8| {
            // (v - lo) as unsigned <= width - 1
            let t = _mm_sub_epi8(v, _mm_set1_epi8(lo as i8));
            _mm_cmpeq_epi8(_mm_min_epu8(t, _mm_set1_epi8((width - 1) as i8)), t)
        };
        let mut m = Masks::default();
        let mut letters = [0u64; 4]; // e, J, r, @
        for k in 0..4 {
            let v = _mm_loadu_si128(b.as_ptr().add(16 * k) as *const __m128i);
            let digit = in_range(v, b'0', 10);
            let upper = in_range(v, b'A', 26);
            let lower = in_range(v, b'a', 26);
            let under = _mm_cmpeq_epi8(v, _mm_set1_epi8(b'_' as i8));
            let colon = _mm_cmpeq_epi8(v, _mm_set1_epi8(b':' as i8));
            let dot = _mm_cmpeq_epi8(v, _mm_set1_epi8(b'.' as i8));
            let sep = _mm_or_si128(
                _mm_or_si128(
                    _mm_cmpeq_epi8(v, _mm_set1_epi8(b' ' as i8)),
                    _mm_cmpeq_epi8(v, _mm_set1_epi8(b'-' as i8)),
                ),
                dot,
            );
            let word = _mm_or_si128(_mm_or_si128(digit, upper), _mm_or_si128(lower, under));
            // a-f or A-F: case folded with 0x20 (no other byte folds into a-f)
            let af = in_range(_mm_or_si128(v, _mm_set1_epi8(0x20)), b'a', 6);
            let hex_colon = _mm_or_si128(_mm_or_si128(digit, colon), af);
            let plus_paren = _mm_or_si128(
                _mm_cmpeq_epi8(v, _mm_set1_epi8(b'+' as i8)),
                _mm_cmpeq_epi8(v, _mm_set1_epi8(b'(' as i8)),
            );
            let sh = 16 * k;
            m.digit |= (_mm_movemask_epi8(digit) as u16 as u64) << sh;
            m.upper |= (_mm_movemask_epi8(upper) as u16 as u64) << sh;
            m.colon |= (_mm_movemask_epi8(colon) as u16 as u64) << sh;
            m.word |= (_mm_movemask_epi8(word) as u16 as u64) << sh;
            m.sep |= (_mm_movemask_epi8(sep) as u16 as u64) << sh;
            m.dot |= (_mm_movemask_epi8(dot) as u16 as u64) << sh;
            m.hex_colon |= (_mm_movemask_epi8(hex_colon) as u16 as u64) << sh;
            m.plus_paren |= (_mm_movemask_epi8(plus_paren) as u16 as u64) << sh;
            for (l, c) in letters.iter_mut().zip(*b"eJr@") {
                let eq = _mm_cmpeq_epi8(v, _mm_set1_epi8(c as i8));
                *l |= (_mm_movemask_epi8(eq) as u16 as u64) << sh;
            }
        }
        let [e, j, r, at] = letters;
        (m.jwt, m.bearer) = literal_ends(m.dot, e, j, r);
        m.at = at;
        m
    }
}

#[cfg(not(target_arch = "x86_64"))]
#[inline(always)]
fn classify64(b: &[u8; 64]) -> Masks {
    classify_scalar(b)
}

/// `classify64` 32 bytes at a time.
///
/// # Safety
/// The CPU must have AVX2.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn classify64_avx2(b: &[u8; 64]) -> Masks {
    use std::arch::x86_64::*;
    // (v - lo) as unsigned <= width - 1
    macro_rules! in_range {
        ($v:expr, $lo:expr, $width:expr) => {{
            let t = _mm256_sub_epi8($v, _mm256_set1_epi8($lo as i8));
            _mm256_cmpeq_epi8(_mm256_min_epu8(t, _mm256_set1_epi8(($width - 1) as i8)), t)
        }};
    }
    let mut m = Masks::default();
    let mut letters = [0u64; 4]; // e, J, r, @
    for k in 0..2 {
        // SAFETY: an unaligned load within `b`
        let v = unsafe { _mm256_loadu_si256(b.as_ptr().add(32 * k) as *const __m256i) };
        let digit = in_range!(v, b'0', 10u8);
        let upper = in_range!(v, b'A', 26u8);
        let lower = in_range!(v, b'a', 26u8);
        let under = _mm256_cmpeq_epi8(v, _mm256_set1_epi8(b'_' as i8));
        let colon = _mm256_cmpeq_epi8(v, _mm256_set1_epi8(b':' as i8));
        let dot = _mm256_cmpeq_epi8(v, _mm256_set1_epi8(b'.' as i8));
        let sep = _mm256_or_si256(
            _mm256_or_si256(
                _mm256_cmpeq_epi8(v, _mm256_set1_epi8(b' ' as i8)),
                _mm256_cmpeq_epi8(v, _mm256_set1_epi8(b'-' as i8)),
            ),
            dot,
        );
        let word = _mm256_or_si256(_mm256_or_si256(digit, upper), _mm256_or_si256(lower, under));
        let af = in_range!(_mm256_or_si256(v, _mm256_set1_epi8(0x20)), b'a', 6u8);
        let hex_colon = _mm256_or_si256(_mm256_or_si256(digit, colon), af);
        let plus_paren = _mm256_or_si256(
            _mm256_cmpeq_epi8(v, _mm256_set1_epi8(b'+' as i8)),
            _mm256_cmpeq_epi8(v, _mm256_set1_epi8(b'(' as i8)),
        );
        let sh = 32 * k;
        m.digit |= (_mm256_movemask_epi8(digit) as u32 as u64) << sh;
        m.upper |= (_mm256_movemask_epi8(upper) as u32 as u64) << sh;
        m.colon |= (_mm256_movemask_epi8(colon) as u32 as u64) << sh;
        m.word |= (_mm256_movemask_epi8(word) as u32 as u64) << sh;
        m.sep |= (_mm256_movemask_epi8(sep) as u32 as u64) << sh;
        m.dot |= (_mm256_movemask_epi8(dot) as u32 as u64) << sh;
        m.hex_colon |= (_mm256_movemask_epi8(hex_colon) as u32 as u64) << sh;
        m.plus_paren |= (_mm256_movemask_epi8(plus_paren) as u32 as u64) << sh;
        for (l, c) in letters.iter_mut().zip(*b"eJr@") {
            let eq = _mm256_cmpeq_epi8(v, _mm256_set1_epi8(c as i8));
            *l |= (_mm256_movemask_epi8(eq) as u32 as u64) << sh;
        }
    }
    let [e, j, r, at] = letters;
    (m.jwt, m.bearer) = literal_ends(m.dot, e, j, r);
    m.at = at;
    m
}

/// `classify64` in one 64-byte register: a nibble lookup (`vpshufb` on each nibble, ANDed)
/// gives each byte its class bits, tested straight into mask registers (`vptestmb`); `'_'`,
/// `'+'`, `'('` and the hex letters, which would need more bits, are compares.
///
/// # Safety
/// The CPU must have AVX-512F and AVX-512BW.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512bw")]
unsafe fn classify64_avx512(b: &[u8; 64]) -> Masks {
    use std::arch::x86_64::*;
    // Class bits of the nibble lookup: a byte is in a class when the entries of its low and its
    // high nibble share the class's bit, so each bit is one rectangle of high × low nibbles
    // (the letters take four: A-O, P-Z, a-o, p-z).
    const NIB_DIGIT: u8 = 1; // 0x30-0x39
    const NIB_COLON: u8 = 2; // 0x3a
    const NIB_UPPER_AO: u8 = 4; // 0x41-0x4f
    const NIB_UPPER_PZ: u8 = 8; // 0x50-0x5a
    const NIB_LOWER_AO: u8 = 16; // 0x61-0x6f
    const NIB_LOWER_PZ: u8 = 32; // 0x70-0x7a
    const NIB_DOT: u8 = 64; // 0x2e
    const NIB_SPACE_DASH: u8 = 128; // 0x20, 0x2d

    // The low-nibble and high-nibble tables (high nibbles from 8 up, the non-ASCII bytes, are
    // in no class).
    const fn nibble_tables() -> ([u8; 16], [u8; 16]) {
        let mut lo = [0u8; 16];
        let mut i = 0;
        while i < 16 {
            let mut bits = 0;
            if i <= 9 {
                bits |= NIB_DIGIT;
            }
            if i == 0xa {
                bits |= NIB_COLON;
            }
            if i >= 1 {
                bits |= NIB_UPPER_AO | NIB_LOWER_AO;
            }
            if i <= 0xa {
                bits |= NIB_UPPER_PZ | NIB_LOWER_PZ;
            }
            if i == 0xe {
                bits |= NIB_DOT;
            }
            if i == 0 || i == 0xd {
                bits |= NIB_SPACE_DASH;
            }
            lo[i] = bits;
            i += 1;
        }
        let mut hi = [0u8; 16];
        hi[2] = NIB_DOT | NIB_SPACE_DASH;
        hi[3] = NIB_DIGIT | NIB_COLON;
        hi[4] = NIB_UPPER_AO;
        hi[5] = NIB_UPPER_PZ;
        hi[6] = NIB_LOWER_AO;
        hi[7] = NIB_LOWER_PZ;
        (lo, hi)
    }

    static NIBBLES: ([u8; 16], [u8; 16]) = nibble_tables();

    // SAFETY: unaligned loads of exactly `b` and the two tables
    let (v, lo_table, hi_table) = unsafe {
        (
            _mm512_loadu_si512(b.as_ptr().cast()),
            _mm512_broadcast_i32x4(_mm_loadu_si128(NIBBLES.0.as_ptr().cast())),
            _mm512_broadcast_i32x4(_mm_loadu_si128(NIBBLES.1.as_ptr().cast())),
        )
    };
    let hi = _mm512_and_si512(_mm512_srli_epi16(v, 4), _mm512_set1_epi8(0x0f));
    // `vpshufb` reads the low nibble of `v`, and gives 0 where its top bit is set (non-ASCII)
    let class = _mm512_and_si512(
        _mm512_shuffle_epi8(lo_table, v),
        _mm512_shuffle_epi8(hi_table, hi),
    );
    macro_rules! has {
        ($bits:expr) => {
            _mm512_test_epi8_mask(class, _mm512_set1_epi8($bits as i8))
        };
    }
    macro_rules! eq {
        ($c:expr) => {
            _mm512_cmpeq_epi8_mask(v, _mm512_set1_epi8($c as i8))
        };
    }
    let digit = has!(NIB_DIGIT);
    let colon = has!(NIB_COLON);
    let upper = NIB_UPPER_AO | NIB_UPPER_PZ;
    let letter = upper | NIB_LOWER_AO | NIB_LOWER_PZ;
    // a-f or A-F: case folded with 0x20, then (v - 'a') as unsigned < 6
    let af = _mm512_cmplt_epu8_mask(
        _mm512_sub_epi8(
            _mm512_or_si512(v, _mm512_set1_epi8(0x20)),
            _mm512_set1_epi8(b'a' as i8),
        ),
        _mm512_set1_epi8(6),
    );
    let dot = has!(NIB_DOT);
    let (jwt, bearer) = literal_ends(dot, eq!(b'e'), eq!(b'J'), eq!(b'r'));
    Masks {
        digit,
        colon,
        upper: has!(upper),
        word: has!(NIB_DIGIT | letter) | eq!(b'_'),
        sep: has!(NIB_DOT | NIB_SPACE_DASH),
        dot,
        hex_colon: digit | colon | af,
        plus_paren: eq!(b'+') | eq!(b'('),
        jwt,
        bearer,
        at: eq!(b'@'),
    }
}

// Which classifier a copy of the scan loop uses (`scan_with`'s `SIMD`).
const SSE2: u8 = 0;
#[cfg_attr(not(target_arch = "x86_64"), allow(dead_code))]
const AVX2: u8 = 1;
#[cfg_attr(not(target_arch = "x86_64"), allow(dead_code))]
const AVX512: u8 = 2;

/// The block classifier the scan loop uses: AVX2 or AVX-512 in the copy of the loop built for
/// it.
#[inline(always)]
fn classify<const SIMD: u8>(b: &[u8; 64]) -> Masks {
    #[cfg(target_arch = "x86_64")]
    if SIMD == AVX512 {
        // SAFETY: `scan` runs the AVX-512 copy only when the CPU has AVX-512BW
        return unsafe { classify64_avx512(b) };
    }
    #[cfg(target_arch = "x86_64")]
    if SIMD == AVX2 {
        // SAFETY: `scan` runs the AVX2 copy only when the CPU has AVX2
        return unsafe { classify64_avx2(b) };
    }
    classify64(b)
}

#[cfg(any(test, not(target_arch = "x86_64")))]
fn classify_scalar(b: &[u8]) -> Masks {
    let mut m = Masks::default();
    for (i, &c) in b.iter().enumerate() {
        let bit = 1u64 << i;
        if c.is_ascii_digit() {
            m.digit |= bit;
        }
        if c.is_ascii_uppercase() {
            m.upper |= bit;
        }
        if c == b':' {
            m.colon |= bit;
        }
        if is_word(c) {
            m.word |= bit;
        }
        if SEP[c as usize] != 0 {
            m.sep |= bit;
        }
        if c == b'.' {
            m.dot |= bit;
        }
        if is_hex_or_colon(c) {
            m.hex_colon |= bit;
        }
        if c == b'+' || c == b'(' {
            m.plus_paren |= bit;
        }
    }
    let letter = |l: u8| {
        b.iter()
            .enumerate()
            .filter(|&(_, &c)| c == l)
            .fold(0u64, |acc, (i, _)| acc | 1 << i)
    };
    (m.jwt, m.bearer) = literal_ends(m.dot, letter(b'e'), letter(b'J'), letter(b'r'));
    m.at = letter(b'@');
    m
}

fn is_word(c: u8) -> bool {
    c.is_ascii_alphanumeric() || c == b'_'
}

#[inline(always)]
fn is_hex_or_colon(c: u8) -> bool {
    c.is_ascii_hexdigit() || c == b':'
}

#[inline(always)]
fn is_upper_or_digit(c: u8) -> bool {
    c.is_ascii_uppercase() || c.is_ascii_digit()
}

// Separator codes in a packed group: the byte joining a group to the one before it.
const SEP_NONE: u64 = 0;
const SEP_SPACE: u64 = 1;
const SEP_DASH: u64 = 2;
const SEP_DOT: u64 = 3;

const fn sep_table() -> [u8; 256] {
    let mut t = [SEP_NONE as u8; 256];
    t[b' ' as usize] = SEP_SPACE as u8;
    t[b'-' as usize] = SEP_DASH as u8;
    t[b'.' as usize] = SEP_DOT as u8;
    t
}

static SEP: [u8; 256] = sep_table();

/// Shapes of several groups, one bit each in the pair tables.
const CARD_4444: u8 = 1; // \d{4}[ -]\d{4}[ -]\d{4}[ -]\d{1,4}
const CARD_4444_TAIL: u8 = 2; // … then [ -]\d{1,3}
const CARD_465: u8 = 4; // \d{4}[ -]\d{6}[ -]\d{4,5}
const CARD_4333: u8 = 8; // \d{4}[ -]\d{3}[ -]\d{3}[ -]\d{3}
const SSN_SHAPE: u8 = 16; // \d{3}-\d{2}-\d{4} | \d{3} \d{2} \d{4}
const PHONE_SHAPE: u8 = 32; // \d{3}[-.]\d{3}[-.]\d{4}
const IPV4_SHAPE: u8 = 64; // \d{1,3}(?:\.\d{1,3}){3}

/// One group of a shape, newest first: allowed lengths and separators before it (bit per
/// `SEP_*` code).
#[derive(Clone, Copy)]
struct Want(u8, u8, u8);

const ANY_SEP: u8 = 0b1111;
const SPACE_OR_DASH: u8 = 1 << SEP_SPACE | 1 << SEP_DASH;
const DASH_OR_DOT: u8 = 1 << SEP_DASH | 1 << SEP_DOT;
const DOT: u8 = 1 << SEP_DOT;

const SHAPES: [(u8, &[Want]); 7] = [
    (
        CARD_4444,
        &[
            Want(1, 4, SPACE_OR_DASH),
            Want(4, 4, SPACE_OR_DASH),
            Want(4, 4, SPACE_OR_DASH),
            Want(4, 4, ANY_SEP),
        ],
    ),
    (
        CARD_4444_TAIL,
        &[
            Want(1, 3, SPACE_OR_DASH),
            Want(1, 4, SPACE_OR_DASH),
            Want(4, 4, SPACE_OR_DASH),
            Want(4, 4, SPACE_OR_DASH),
            Want(4, 4, ANY_SEP),
        ],
    ),
    (
        CARD_465,
        &[
            Want(4, 5, SPACE_OR_DASH),
            Want(6, 6, SPACE_OR_DASH),
            Want(4, 4, ANY_SEP),
        ],
    ),
    (
        CARD_4333,
        &[
            Want(3, 3, SPACE_OR_DASH),
            Want(3, 3, SPACE_OR_DASH),
            Want(3, 3, SPACE_OR_DASH),
            Want(4, 4, ANY_SEP),
        ],
    ),
    (
        SSN_SHAPE,
        &[
            Want(4, 4, SPACE_OR_DASH),
            Want(2, 2, SPACE_OR_DASH),
            Want(3, 3, ANY_SEP),
        ],
    ),
    (
        PHONE_SHAPE,
        &[
            Want(4, 4, DASH_OR_DOT),
            Want(3, 3, DASH_OR_DOT),
            Want(3, 3, ANY_SEP),
        ],
    ),
    (
        IPV4_SHAPE,
        &[
            Want(1, 3, DOT),
            Want(1, 3, DOT),
            Want(1, 3, DOT),
            Want(1, 3, ANY_SEP),
        ],
    ),
];

/// `PAIRS[k][g_k | g_{k+1} << 7]`: the shapes whose groups k and k+1 accept those two groups.
/// A token fits a shape when all four pairs agree, so four lookups replace the shape checks.
type PairTables = [[u8; 1 << 14]; 4];

fn pair_tables() -> &'static PairTables {
    static TABLES: std::sync::OnceLock<Box<PairTables>> = std::sync::OnceLock::new();
    TABLES.get_or_init(|| {
        let fits = |w: Option<&Want>, g: usize| match w {
            None => true,
            Some(&Want(lo, hi, seps)) => {
                let (len, sep) = ((g & 31) as u8, (g >> 5) as u8);
                (lo..=hi).contains(&len) && seps & (1 << sep) != 0
            }
        };
        let mut t = Box::new([[0u8; 1 << 14]; 4]);
        for (k, table) in t.iter_mut().enumerate() {
            for (idx, slot) in table.iter_mut().enumerate() {
                let (a, b) = (idx & 127, idx >> 7);
                for (bit, wants) in SHAPES {
                    let mut ok = fits(wants.get(k), a) && fits(wants.get(k + 1), b);
                    if bit == SSN_SHAPE && k == 0 {
                        ok &= (a >> 5) == (b >> 5); // one separator kind throughout
                    }
                    if ok {
                        *slot |= bit;
                    }
                }
            }
        }
        t
    })
}

/// The shapes (`CARD_*`, `SSN_SHAPE`, …) the token's groups fit, ending with its newest group.
#[inline(always)]
fn fit(tables: &PairTables, packed: u64) -> u8 {
    let p = packed as usize;
    tables[0][p & 0x3fff]
        & tables[1][(p >> 7) & 0x3fff]
        & tables[2][(p >> 14) & 0x3fff]
        & tables[3][(p >> 21) & 0x3fff]
}

/// Reports the number-shaped entities whose exact pattern may end at `e`, the end of the
/// token's newest group.
///
/// The shape tells where each value that may end here starts (a lone run of 9 or of 13 to 19
/// digits, an SSN's 11 bytes, each card shape's oldest group), so the parts of the validator
/// that read only the value run here: a value that fails them cannot be confirmed, and most
/// near misses (order numbers, SSN-shaped placeholders) stop here instead of costing a
/// backward search each. They read only the value's bytes, so a report still depends on
/// nothing beyond `LOOKBEHIND`.
#[inline(never)]
fn shapes(
    t: &Targets,
    text: &[u8],
    fit: u8,
    packed: u64,
    e: usize,
    emit: &mut impl FnMut(usize, u16),
) {
    let l0 = (packed & 31) as usize;
    if let (Some(id), 9) = (t.aba, l0) {
        if validators::aba_value(&text[e - 9..e]) {
            emit(e, id);
        }
    }
    if let Some(id) = t.card {
        if (13..=19).contains(&l0) {
            // a lone run (no card shape has a group this long, so `fit` is 0)
            if validators::card_value(&text[e - l0..e]) {
                emit(e, checked(id, l0));
            }
        } else if [
            (CARD_4444, 4),
            (CARD_4444_TAIL, 5),
            (CARD_465, 3),
            (CARD_4333, 4),
        ]
        .into_iter()
        .any(|(bit, n)| {
            // a shape starts at its oldest group
            fit & bit != 0 && validators::card_value(&text[e - token_len(packed, n)..e])
        }) {
            emit(e, id);
        }
    }
    if let (Some(id), true) = (t.ssn, fit & SSN_SHAPE != 0) {
        if validators::ssn_value(&text[e - 11..e]) {
            emit(e, checked(id, 11));
        }
    }
    if let (Some(id), true) = (t.phone, fit & PHONE_SHAPE != 0) {
        emit(e, id);
    }
    if let (Some(id), true) = (t.ipv4, fit & IPV4_SHAPE != 0) {
        if ipv4_may_end(text, e - token_len(packed, 4), e) {
            emit(e, id);
        }
    }
}

/// The checks of an IPv4 address ending at `e` that read only it and the two bytes before it:
/// four octets (no leading zero, at most 255), no word byte before it and not the tail of a
/// longer dotted run (`1.3.6.1.4.1`, `v1.2.3.4`), which its validator refuses. Version strings
/// and OIDs, most of the IPv4-shaped text, stop here.
fn ipv4_may_end(text: &[u8], s: usize, e: usize) -> bool {
    let before = |k: usize| s.checked_sub(k).map(|i| text[i]);
    let word = |b: Option<u8>| b.is_some_and(|c| c.is_ascii_alphanumeric() || c == b'_');
    if word(before(1))
        || (before(1) == Some(b'.') && before(2).is_some_and(|c| c.is_ascii_alphanumeric()))
    {
        return false;
    }
    text[s..e].split(|&c| c == b'.').all(crate::starts::octet)
}

/// Bytes from the start of the token's `n`-th newest group to its end: the groups and the
/// separators between them.
fn token_len(packed: u64, n: usize) -> usize {
    (0..n)
        .map(|k| (packed >> (7 * k)) as usize & 31)
        .sum::<usize>()
        + n
        - 1
}

/// The window one call scans: reports go to ends in `(from, to]`, bytes are read in
/// `[lo, limit)`.
struct Window<'a> {
    text: &'a [u8],
    tables: &'a PairTables,
    lo: usize,
    from: usize,
    to: usize,
    limit: usize,
}

impl Window<'_> {
    #[inline(always)]
    fn reports(&self, e: usize) -> bool {
        e > self.from && e <= self.to
    }

    /// IPv6: a valid address is a whole run of hex digits and colons (its validator refuses any
    /// hex, colon or letter next to it), so the only end to report is the run's end, for runs
    /// of at most 39 bytes with a digit and either `::` or seven colons.
    fn ipv6_around(&self, c: usize, id: u16, emit: &mut impl FnMut(usize, u16)) -> usize {
        let text = self.text;
        let mut a = c;
        while a > self.lo && is_hex_or_colon(text[a - 1]) {
            if c - a >= 40 {
                return c + 1; // too long on the left
            }
            a -= 1;
        }
        let mut b = c + 1;
        while b < self.limit && is_hex_or_colon(text[b]) {
            if b - a >= 40 {
                // too long: skip past the rest of the run
                while b < self.limit && is_hex_or_colon(text[b]) {
                    b += 1;
                }
                return b;
            }
            b += 1;
        }
        if !self.reports(b) || b - a > 39 {
            return b;
        }
        if a > 0 && (text[a - 1].is_ascii_alphabetic() || text[a - 1] == b'_') {
            return b;
        }
        let run = &text[a..b];
        let colons = run.iter().filter(|&&x| x == b':').count();
        let double = run.windows(2).any(|w| w == b"::");
        let digit = run.iter().any(|x| x.is_ascii_digit());
        if digit && colons >= 2 && (double || colons == 7) {
            emit(b, id);
        }
        b
    }

    /// Email: the ends the prefilter `[A-Za-z0-9._%+-]@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*` then
    /// `\.[A-Za-z]{2,24}\b` has after the `@` at `a` (within `EMAIL_MAX` of it): in each label
    /// after the first, the end of its first 2 to 24 letters when no word byte follows them.
    /// The labels are walked from the `@`, a table lookup a byte.
    fn email_ends(&self, a: usize, id: u16, emit: &mut impl FnMut(usize, u16)) {
        let text = self.text;
        if a == 0 || !crate::entities::EMAIL_LOCAL[text[a - 1] as usize] {
            return;
        }
        let bound = self.limit.min(a + EMAIL_MAX);
        let label = |at: usize| {
            at + crate::entities::run_len(&crate::entities::EMAIL_LABEL, &text[at..bound])
        };
        let mut q = label((a + 1).min(bound));
        if q == a + 1 {
            return;
        }
        while q < bound && text[q] == b'.' {
            let ls = q + 1;
            q = label(ls);
            if q == ls {
                return;
            }
            let letters = text[ls..q]
                .iter()
                .position(|c| !c.is_ascii_alphabetic())
                .unwrap_or(q - ls);
            let e = ls + letters;
            if (2..=24).contains(&letters)
                && self.reports(e)
                && text.get(e).is_none_or(|&c| !is_word(c))
            {
                emit(e, id);
            }
        }
    }

    /// IBAN from a start `CCdd` at `i` (a word start): reports the end of the compact form and
    /// every end of the space-grouped form whose value from `i` passes the IBAN check (the
    /// validator reads nothing else; a value from a later start is checked from there).
    fn iban_from(&self, i: usize, id: u16, emit: &mut impl FnMut(usize, u16)) {
        let text = &self.text[..self.limit];
        if i + 4 > text.len()
            || !text[i + 1].is_ascii_uppercase()
            || !text[i + 2].is_ascii_digit()
            || !text[i + 3].is_ascii_digit()
        {
            return;
        }
        // the validator wants the country's registry length: only an end with that many
        // characters is checked
        let Some(want) = validators::iban_length(&text[i..i + 2]) else {
            return;
        };
        // compact: [A-Z0-9]{11,30} to the end of the word
        let mut j = i + 4;
        while j < text.len() && is_upper_or_digit(text[j]) && j - i <= 34 {
            j += 1;
        }
        if j - i == want
            && (15..=34).contains(&want)
            && self.reports(j)
            && validators::iban_value(&text[i..j])
        {
            emit(j, checked(id, j - i));
        }
        // grouped: ( [A-Z0-9]{4}){2,7} then ( [A-Z0-9]{1,4})?
        let mut p = i + 4;
        let mut groups = 0;
        while groups < 8 && p < text.len() && text[p] == b' ' && 4 + 4 * groups < want {
            let mut r = 0;
            while p + 1 + r < text.len() && r < 5 && is_upper_or_digit(text[p + 1 + r]) {
                r += 1;
            }
            match r {
                4 if groups < 7 => {
                    groups += 1;
                    p += 5;
                    if groups >= 2
                        && 4 + 4 * groups == want
                        && self.reports(p)
                        && validators::iban_value(&text[i..p])
                    {
                        emit(p, id);
                    }
                }
                1..=4 => {
                    let end = p + 1 + r;
                    if groups >= 2
                        && 4 + 4 * groups + r == want
                        && self.reports(end)
                        && validators::iban_value(&text[i..end])
                    {
                        emit(end, id);
                    }
                    return;
                }
                _ => return,
            }
        }
    }
}

/// Reports `(end, entity)` for every candidate end `e` with `from < e <= to`.
///
/// Reads `text[from - LOOKBEHIND .. to + 1]` (clipped to the text): the byte at `to`, when the
/// text has it, tells whether a value ends at `to`; `to == text.len()` means the text ends
/// there (the end of a stream or a buffer). Reports are in no particular order and may repeat.
pub fn scan(t: &Targets, text: &[u8], from: usize, to: usize, mut emit: impl FnMut(usize, u16)) {
    scan_checked(t, text, from, to, |e, packed| emit(e, packed & 0xff))
}

/// An entity id with the length of the value ending at the reported end whose value-only
/// validator checks passed (see `shapes`): `id | len << 8`.
#[inline(always)]
fn checked(id: u16, len: usize) -> u16 {
    debug_assert!(id < 256 && len < 256);
    id | (len as u16) << 8
}

/// `scan`, with each report's id in the low byte and, in the high byte, the length of the value
/// ending there that already passed the value-only part of its validator (0: none did, or not
/// checked): a start recovered natively at that distance needs only the context checks.
pub(crate) fn scan_checked(
    t: &Targets,
    text: &[u8],
    from: usize,
    to: usize,
    emit: impl FnMut(usize, u16),
) {
    #[cfg(target_arch = "x86_64")]
    match simd_support() {
        // SAFETY: the CPU has the features
        (_, true) => return unsafe { scan_avx512(t, text, from, to, emit) },
        // SAFETY: the CPU has the features
        (true, false) => return unsafe { scan_avx2(t, text, from, to, emit) },
        _ => {}
    }
    scan_with::<SSE2>(t, text, from, to, emit)
}

/// Which SIMD copies of the scan loop the CPU can run: (AVX2, AVX-512).
#[cfg(target_arch = "x86_64")]
fn simd_support() -> (bool, bool) {
    use std::is_x86_feature_detected as has;
    let avx2 = has!("avx2") && has!("bmi1") && has!("lzcnt") && has!("popcnt");
    (avx2, avx2 && has!("avx512f") && has!("avx512bw"))
}

/// A copy of the scan loop compiled for CPU features (`lzcnt`, `tzcnt` and `popcnt` for the bit
/// work in both).
macro_rules! scan_loop {
    ($(#[$doc:meta])* $name:ident, $features:literal, $simd:ident) => {
        $(#[$doc])*
        ///
        /// # Safety
        /// The CPU must have those features.
        #[cfg(target_arch = "x86_64")]
        #[target_feature(enable = $features)]
        unsafe fn $name(
            t: &Targets,
            text: &[u8],
            from: usize,
            to: usize,
            emit: impl FnMut(usize, u16),
        ) {
            scan_with::<$simd>(t, text, from, to, emit)
        }
    };
}

scan_loop!(
    /// The scan loop built for AVX-512BW: blocks classified in one register each, and the
    /// number masks of eight blocks computed at once (`number_masks_x8`).
    scan_avx512,
    "avx512f,avx512bw,avx2,bmi1,lzcnt,popcnt",
    AVX512
);
scan_loop!(
    /// The scan loop built for AVX2.
    scan_avx2,
    "avx2,bmi1,lzcnt,popcnt",
    AVX2
);

#[inline(always)]
fn scan_with<const SIMD: u8>(
    t: &Targets,
    text: &[u8],
    from: usize,
    to: usize,
    mut emit: impl FnMut(usize, u16),
) {
    let to = to.min(text.len());
    if to <= from || !t.any() {
        return;
    }
    let w = Window {
        text,
        tables: pair_tables(),
        lo: from.saturating_sub(LOOKBEHIND),
        from,
        to,
        limit: if to < text.len() { to + 1 } else { to },
    };
    let numbers = t.numbers();
    let mut prev = Masks::default(); // the block before, zero before the window
    let mut ipv6_done = 0usize;
    let mut pos = w.lo;
    let mut tail = [0u8; 64];
    #[cfg(target_arch = "x86_64")]
    if SIMD == AVX512 && numbers && w.limit - pos >= 64 * LANES {
        // Eight whole blocks at a time, their number masks computed side by side. The masks
        // of two batches take turns in `ring` (the block before a batch's first is the last
        // of the other half): copying them as a whole would read back as one wide load what
        // `classify` has just written field by field, which the CPU cannot forward.
        let mut ring = [Masks::default(); 2 * LANES];
        let before = |i: usize| (i + 2 * LANES - 1) % (2 * LANES);
        let mut base = 0;
        while w.limit - pos >= 64 * LANES {
            for j in 0..LANES {
                let at = pos + 64 * j;
                ring[base + j] = classify::<SIMD>(text[at..at + 64].try_into().expect("64 bytes"));
            }
            let ms: &[Masks; LANES] = ring[base..base + LANES].try_into().expect("a batch");
            // SAFETY: `scan_checked` runs the AVX-512 copy only when the CPU has AVX-512F
            let (ends, phones) = unsafe { number_masks_x8(&ring[before(base)], ms) };
            for j in 0..LANES {
                let (m, p) = (&ring[base + j], &ring[before(base + j)]);
                report_number_ends(t, &w, pos, m, p, ends[j], phones[j], &mut emit);
                colons_and_words(t, &w, pos, m, p, &mut ipv6_done, &mut emit);
                literals(t, &w, pos, m, &mut emit);
                pos += 64;
            }
            base ^= LANES;
        }
        prev = ring[before(base)];
    }
    while pos < w.limit {
        let n = (w.limit - pos).min(64);
        let m = if n == 64 {
            classify::<SIMD>(text[pos..pos + 64].try_into().expect("64 bytes"))
        } else {
            // the last partial block, zero-padded: padding is no digit, colon or letter
            tail[..n].copy_from_slice(&text[pos..pos + n]);
            tail[n..].fill(0);
            classify::<SIMD>(&tail)
        };
        if numbers {
            let (ends, phone) = number_masks(&m, &prev);
            report_number_ends(t, &w, pos, &m, &prev, ends, phone, &mut emit);
        }
        colons_and_words(t, &w, pos, &m, &prev, &mut ipv6_done, &mut emit);
        literals(t, &w, pos, &m, &mut emit);
        prev = m;
        pos += n;
    }
    if numbers && prev.digit >> 63 != 0 {
        // a run to the end of a full last block ends at `limit`, as if a non-digit followed
        let (ends, phone) = number_masks(&Masks::default(), &prev);
        report_number_ends(t, &w, pos, &Masks::default(), &prev, ends, phone, &mut emit);
    }
}

/// The IPv6 and IBAN reports of the block at `pos` (`prev`: the block before).
#[inline(always)]
fn colons_and_words(
    t: &Targets,
    w: &Window,
    pos: usize,
    m: &Masks,
    prev: &Masks,
    ipv6_done: &mut usize,
    emit: &mut impl FnMut(usize, u16),
) {
    if let Some(id) = t.ipv6 {
        // An address has `::` or seven colons within 39 bytes. Its seven colons are all
        // inside the run (a hex digit or colon on both sides; across the block's end,
        // assume one), so at least four of those are in one of the (at most two) blocks it
        // touches. A run with `::` has a colon inside it too, unless the block's start
        // cuts the `::`. The first colon looked at covers its whole run. JSON's `":"` and
        // timestamps (`12:30:45`) mostly never get here.
        let prev_colon = prev.colon >> 63;
        let prev_hex_colon = prev.hex_colon >> 63;
        let double = m.colon & ((m.colon << 1) | prev_colon);
        let inner = m.colon
            & (((m.hex_colon << 1) | prev_hex_colon) & ((m.hex_colon >> 1) | 1 << 63) | prev_colon);
        let mut c = if double != 0 || inner.count_ones() >= 4 {
            inner
        } else {
            0
        };
        while c != 0 {
            let at = pos + c.trailing_zeros() as usize;
            c &= c - 1;
            if at >= *ipv6_done {
                *ipv6_done = w.ipv6_around(at, id, emit);
            }
        }
    }
    if let Some(id) = t.iban {
        // upper case at a word start, followed by upper case: `CC` of `CCdd`
        let starts = m.upper & !((m.word << 1) | prev.word >> 63);
        // bits near the block's end may continue in the next block: let them through
        let mut u = starts
            & ((m.upper >> 1) | (1 << 63))
            & ((m.digit >> 2) | (3 << 62))
            & ((m.digit >> 3) | (7 << 61));
        while u != 0 {
            let at = pos + u.trailing_zeros() as usize;
            u &= u - 1;
            w.iban_from(at, id, emit);
        }
    }
}

/// The JWT, bearer-token and email reports of the block at `pos`: the end of a `.eyJ` after a
/// base64url byte (where a JWT's payload begins; the engine carries the report on to the
/// value's end, see `entities::Extend`), the end of a word `Bearer` or `bearer` followed by a
/// blank, and the ends of an email's domain after each `@` (`Window::email_ends`). Reads at
/// most 6 bytes before the end (back to the `@` for an email) and the byte after it.
#[inline(always)]
fn literals(t: &Targets, w: &Window, pos: usize, m: &Masks, emit: &mut impl FnMut(usize, u16)) {
    let text = w.text;
    if let Some(id) = t.jwt {
        let mut c = m.jwt;
        while c != 0 {
            let j = pos + c.trailing_zeros() as usize; // a `J`
            c &= c - 1;
            if j >= 4
                && w.reports(j + 1)
                && &text[j - 3..j] == b".ey"
                && crate::entities::BASE64URL[text[j - 4] as usize]
            {
                emit(j + 1, id);
            }
        }
    }
    if let Some(id) = t.email {
        let mut c = m.at;
        while c != 0 {
            let a = pos + c.trailing_zeros() as usize;
            c &= c - 1;
            w.email_ends(a, id, emit);
        }
    }
    if let Some(id) = t.bearer {
        let mut c = m.bearer;
        while c != 0 {
            let j = pos + c.trailing_zeros() as usize; // an `r`
            c &= c - 1;
            if j >= 5
                && j + 1 < w.limit
                && w.reports(j + 1)
                && text[j - 5] | 0x20 == b'b'
                && &text[j - 4..j] == b"eare"
                && matches!(text[j + 1], b' ' | b'\t')
                && (j == 5 || !is_word(text[j - 6]))
            {
                emit(j + 1, id);
            }
        }
    }
}

/// Which digit-run ends of a block can end a number-shaped value, and which can end a phone
/// number in its `+…` or `(415) …` form (before the word-boundary check).
///
/// Works on the block and the one before it as one 128-bit window (bit 64 + i is byte
/// `pos + i`), without a per-run loop: which ends can be a shape's end is decided for all of
/// them at once with bit operations, from the shapes' group counts and a few group lengths
/// (dates, times and version numbers mostly stop there), and a lone run needs 9 digits or more.
/// Only the few ends left are looked at one by one (`report_number_ends`), their groups read
/// back off the masks and checked exactly. A value this serves is at most 23 bytes of groups,
/// so 64 bytes of look-back cover everything a report depends on. `number_masks_x8` is the same
/// computation for eight blocks side by side.
#[inline(always)]
fn number_masks(m: &Masks, prev: &Masks) -> (u64, u64) {
    let digit = (m.digit as u128) << 64 | prev.digit as u128;
    let sep = (m.sep as u128) << 64 | prev.sep as u128;
    let dot = (m.dot as u128) << 64 | prev.dot as u128;
    let other = !digit;
    // the first byte of each run (bit 0 may be a run that began earlier: it is never joined)
    let starts = digit & (other << 1);
    // adding a run's first bit carries through the run and lands on the byte after it
    let end_of = |first: u128| digit.wrapping_add(first) & other;
    // groups joined to the one before (one separator byte, then its last digit), and those
    // that are the third, fourth or fifth group of their token or later
    let joined = starts & (sep << 1) & (digit << 2);
    let third = joined & (end_of(joined) << 1);
    let fourth = joined & (end_of(third) << 1);
    let fifth = joined & (end_of(fourth) << 1);
    // run lengths, read at the byte after the run: at least 3, 4, 5, 6, 9 digits
    let two = digit & (digit << 1);
    let three = two & (digit << 2);
    let four = two & (two << 2);
    let five = four & (digit << 4);
    let six = four & (two << 4);
    let seven = six & (digit << 6);
    let nine = four & (four << 4) & (digit << 8);
    let ten = nine & (digit << 9);
    let thirteen = nine & (four << 9);
    let twenty = thirteen & (seven << 13);
    let (ge2, ge3, ge4, ge5) = (two << 1, three << 1, four << 1, five << 1);
    let (ge6, ge7, ge9, ge10) = (six << 1, seven << 1, nine << 1, ten << 1);
    let (ge13, ge20) = (thirteen << 1, twenty << 1);
    // three groups (card 4-6-5, SSN 3-2-4, phone 3-3-4) end with 4 or 5 digits after a group
    // of 6, 2 or 3; four (cards 4-4-4-4 and 4-3-3-3, IPv4) have 3 or 4 digits or a dot before
    // the last group; five: the card tail
    let middle = sep & ((ge2 & !ge4) | (ge6 & !ge7));
    let three_groups = end_of(third & (middle << 1)) & ge4 & !ge6;
    let before_last = (ge3 & !ge5 & other) | dot;
    let four_groups = end_of(fourth & (before_last << 1));
    // a lone run: 9 digits (routing number) or 13 to 19 (card)
    let long_end = ((ge9 & !ge10) | (ge13 & !ge20)) & other;
    let ends = ((three_groups | four_groups | end_of(fifth) | long_end) >> 64) as u64;
    // the `+…` and `(415) …` forms: at most 20 bytes from a '+' or '(' to 4 digits or more
    // (the bare `415-555-2671` form is a shape)
    let lead = (m.plus_paren as u128) << 64 | prev.plus_paren as u128;
    let two = lead | (lead << 1);
    let four = two | (two << 2);
    let eight = four | (four << 4);
    let sixteen = eight | (eight << 8);
    let twenty = sixteen | (sixteen << 4); // bit i: a lead byte in i - 19 ..= i
    let phone = ((ge4 & other & (twenty << 1)) >> 64) as u64;
    (ends, phone)
}

/// Blocks `number_masks_x8` computes side by side.
#[cfg_attr(not(target_arch = "x86_64"), allow(dead_code))]
const LANES: usize = 8;

/// `number_masks` for eight consecutive blocks (`prev` is the block before the first), one
/// block per 64-bit lane of an AVX-512 register: each 128-bit value of `number_masks` is a pair
/// of registers, the low halves holding the block before each lane's block.
///
/// # Safety
/// The CPU must have AVX-512F.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
unsafe fn number_masks_x8(prev: &Masks, ms: &[Masks; LANES]) -> ([u64; LANES], [u64; LANES]) {
    use std::arch::x86_64::*;
    #[derive(Clone, Copy)]
    struct W {
        lo: __m512i,
        hi: __m512i,
    }
    // Each field's lanes are put together from registers: eight 8-byte stores read back as
    // one 64-byte load cannot be forwarded, and that wait was most of this function's time.
    // The low halves are the same lanes moved up by one, with `prev` in lane 0.
    let load = |f: fn(&Masks) -> u64| {
        let v = |i: usize| f(&ms[i]) as i64;
        let hi = _mm512_set_epi64(v(7), v(6), v(5), v(4), v(3), v(2), v(1), v(0));
        W {
            lo: _mm512_alignr_epi64::<7>(hi, _mm512_set1_epi64(f(prev) as i64)),
            hi,
        }
    };
    let and = |a: W, b: W| W {
        lo: _mm512_and_si512(a.lo, b.lo),
        hi: _mm512_and_si512(a.hi, b.hi),
    };
    let or = |a: W, b: W| W {
        lo: _mm512_or_si512(a.lo, b.lo),
        hi: _mm512_or_si512(a.hi, b.hi),
    };
    // a & !b
    let and_not = |a: W, b: W| W {
        lo: _mm512_andnot_si512(b.lo, a.lo),
        hi: _mm512_andnot_si512(b.hi, a.hi),
    };
    macro_rules! shl {
        ($x:expr, $k:literal) => {{
            let x: W = $x;
            W {
                lo: _mm512_slli_epi64::<$k>(x.lo),
                hi: _mm512_or_si512(
                    _mm512_slli_epi64::<$k>(x.hi),
                    _mm512_srli_epi64::<{ 64 - $k }>(x.lo),
                ),
            }
        }};
    }
    let one = _mm512_set1_epi64(1);
    let add = |a: W, b: W| {
        let lo = _mm512_add_epi64(a.lo, b.lo);
        let carry = _mm512_cmplt_epu64_mask(lo, a.lo);
        let hi = _mm512_add_epi64(a.hi, b.hi);
        W {
            lo,
            hi: _mm512_mask_add_epi64(hi, carry, hi, one),
        }
    };
    let digit = load(|m| m.digit);
    let sep = load(|m| m.sep);
    let dot = load(|m| m.dot);
    let lead = load(|m| m.plus_paren);
    let end_of = |first: W| and_not(add(digit, first), digit);
    let starts = and_not(digit, shl!(digit, 1));
    let starts = W {
        // bit 0 of the window is never a start (`other << 1` shifts a zero in)
        lo: _mm512_and_si512(starts.lo, _mm512_set1_epi64(-2)),
        hi: starts.hi,
    };
    let joined = and(and(starts, shl!(sep, 1)), shl!(digit, 2));
    let third = and(joined, shl!(end_of(joined), 1));
    let third_end = end_of(third);
    let fourth = and(joined, shl!(third_end, 1));
    let fifth = and(joined, shl!(end_of(fourth), 1));
    let two = and(digit, shl!(digit, 1));
    let three = and(two, shl!(digit, 2));
    let four = and(two, shl!(two, 2));
    let five = and(four, shl!(digit, 4));
    let six = and(four, shl!(two, 4));
    let seven = and(six, shl!(digit, 6));
    let nine = and(and(four, shl!(four, 4)), shl!(digit, 8));
    let ten = and(nine, shl!(digit, 9));
    let thirteen = and(nine, shl!(four, 9));
    let twenty = and(thirteen, shl!(seven, 13));
    let (ge2, ge3, ge4, ge5) = (shl!(two, 1), shl!(three, 1), shl!(four, 1), shl!(five, 1));
    let (ge6, ge7, ge9, ge10) = (shl!(six, 1), shl!(seven, 1), shl!(nine, 1), shl!(ten, 1));
    let (ge13, ge20) = (shl!(thirteen, 1), shl!(twenty, 1));
    let middle = and(sep, or(and_not(ge2, ge4), and_not(ge6, ge7)));
    let three_groups = and_not(and(end_of(and(third, shl!(middle, 1))), ge4), ge6);
    let before_last = or(and_not(and_not(ge3, ge5), digit), dot);
    let four_groups = end_of(and(fourth, shl!(before_last, 1)));
    let long_end = and_not(or(and_not(ge9, ge10), and_not(ge13, ge20)), digit);
    let ends = or(or(three_groups, four_groups), or(end_of(fifth), long_end));
    let two = or(lead, shl!(lead, 1));
    let four = or(two, shl!(two, 2));
    let eight = or(four, shl!(four, 4));
    let sixteen = or(eight, shl!(eight, 8));
    let twenty = or(sixteen, shl!(sixteen, 4));
    let phone = and_not(and(ge4, shl!(twenty, 1)), digit);
    let (mut e, mut p) = ([0u64; LANES], [0u64; LANES]);
    // SAFETY: unaligned stores of 8 u64 within `e` and `p`
    unsafe {
        _mm512_storeu_si512(e.as_mut_ptr() as *mut _, ends.hi);
        _mm512_storeu_si512(p.as_mut_ptr() as *mut _, phone.hi);
    }
    (e, p)
}

/// Reports for the ends `number_masks` let through in the block at `pos`.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
fn report_number_ends(
    t: &Targets,
    w: &Window,
    pos: usize,
    m: &Masks,
    prev: &Masks,
    mut ends: u64,
    phone: u64,
    emit: &mut impl FnMut(usize, u16),
) {
    if let Some(id) = t.phone {
        // and a word boundary after the digits
        let mut phone = phone & !m.word;
        while phone != 0 {
            let e = pos + phone.trailing_zeros() as usize;
            phone &= phone - 1;
            if w.reports(e) {
                emit(e, id);
            }
        }
    }
    if ends == 0 {
        return;
    }
    let digit = (m.digit as u128) << 64 | prev.digit as u128;
    let sep = (m.sep as u128) << 64 | prev.sep as u128;
    while ends != 0 {
        let i = ends.trailing_zeros() as usize;
        ends &= ends - 1;
        let e = pos + i;
        if !w.reports(e) {
            continue;
        }
        let packed = groups_before(w.text, pos, digit, sep, 64 + i);
        let f = fit(w.tables, packed);
        if f != 0 || packed & 31 >= 9 {
            shapes(t, w.text, f, packed, e, emit);
        }
    }
}

/// The digit groups of the token ending at window bit `x` (see `number_ends`), newest in the
/// low bits: 7 bits each, the length (capped at 31) and the separator before it (`SEP_*`, or
/// `SEP_NONE` for the token's first group). Stops at the first group longer than 6 digits:
/// every shape wants shorter groups after the newest, so older ones cannot change a fit.
#[inline(always)]
fn groups_before(text: &[u8], pos: usize, digit: u128, sep: u128, mut x: usize) -> u64 {
    let mut packed = 0u64;
    for k in 0..5 {
        let before = !digit & ((1u128 << x) - 1);
        if before == 0 {
            // the run began before the window: longer than any group a shape has
            packed |= 31 << (7 * k);
            break;
        }
        let s = 128 - before.leading_zeros() as usize;
        let len = (x - s).min(31) as u64;
        let joined = s >= 2 && (digit >> (s - 2)) & 1 != 0 && (sep >> (s - 1)) & 1 != 0;
        if !joined || len > 6 {
            packed |= len << (7 * k);
            break;
        }
        // window bit s - 1 is byte pos - 64 + s - 1
        let code = SEP[text[pos + s - 65] as usize] as u64;
        packed |= (len | code << 5) << (7 * k);
        x = s - 1;
    }
    packed
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use regex_automata::hybrid::dfa::{OverlappingState, DFA};
    use regex_automata::util::syntax;
    use regex_automata::{Anchored, Input, MatchKind};

    /// The scanner as it was before `number_ends`: a state machine over every digit run, kept
    /// as the reference the bit-parallel one must agree with exactly.
    mod reference {
        use super::super::*;

        /// The digit groups of the token in progress, newest in the low bits: 7 bits each, the length
        /// (capped at 31: every shape here is shorter) and the separator before it (`SEP_*`).
        #[derive(Clone, Copy)]
        struct Groups {
            packed: u64,
            /// Offset just past the previous group (usize::MAX when none).
            last_end: usize,
        }

        impl Default for Groups {
            fn default() -> Groups {
                Groups {
                    packed: 0,
                    last_end: usize::MAX,
                }
            }
        }

        impl Groups {
            /// A run of digits at `s..e`.
            #[inline(always)]
            fn push(&mut self, text: &[u8], s: usize, e: usize) {
                let len = (e - s).min(31) as u64;
                // joined when exactly one separator byte lies between this run and the last; written
                // without branches: most runs are lone numbers and the branch would mispredict
                let adjacent = (self.last_end.wrapping_add(1) == s) as u64;
                let sep = SEP[text[s.saturating_sub(1)] as usize] as u64 * adjacent;
                let joined =
                    ((self.packed << 7) | len | (sep << 5)) & ((sep != 0) as u64).wrapping_neg();
                self.packed = joined | (len & ((sep == 0) as u64).wrapping_neg());
                self.last_end = e;
            }
        }

        pub(super) fn scan(
            t: &Targets,
            text: &[u8],
            from: usize,
            to: usize,
            mut emit: impl FnMut(usize, u16),
        ) {
            // ids only, like `scan` (shapes also pass on what they checked)
            let mut emit = |e: usize, packed: u16| emit(e, packed & 0xff);
            let to = to.min(text.len());
            if to <= from || !t.any() {
                return;
            }
            let w = Window {
                text,
                tables: pair_tables(),
                lo: from.saturating_sub(LOOKBEHIND),
                from,
                to,
                limit: if to < text.len() { to + 1 } else { to },
            };
            let numbers = t.numbers();
            let mut groups = Groups::default();
            let mut run_start: Option<usize> = None; // a digit run crossing a block edge
            let mut ipv6_done = 0usize;
            let mut prev_word = false; // was the byte before the block a word byte
            let mut prev_colon = false;
            let mut pos = w.lo;
            let mut tail = [0u8; 64];
            while pos < w.limit {
                let n = (w.limit - pos).min(64);
                let m = if n == 64 {
                    classify64(text[pos..pos + 64].try_into().expect("64 bytes"))
                } else {
                    // the last partial block, zero-padded: padding is no digit, colon or letter
                    tail[..n].copy_from_slice(&text[pos..pos + n]);
                    tail[n..].fill(0);
                    classify64(&tail)
                };
                if numbers {
                    let mut d = m.digit;
                    if let Some(s) = run_start {
                        let ones = (!d).trailing_zeros() as usize;
                        if ones == 64 {
                            pos += n;
                            prev_word = true;
                            prev_colon = false;
                            continue;
                        }
                        end_group(t, &w, &mut groups, s, pos + ones, &mut emit);
                        run_start = None;
                        d &= !((1u64 << ones) - 1);
                    }
                    while d != 0 {
                        let low = d & d.wrapping_neg();
                        let s = low.trailing_zeros() as usize;
                        let sum = d.wrapping_add(low);
                        if sum & !d == 0 {
                            // the run reaches the block's last bit
                            run_start = Some(pos + s);
                            break;
                        }
                        let e = (sum & !d).trailing_zeros() as usize;
                        end_group(t, &w, &mut groups, pos + s, pos + e, &mut emit);
                        d &= sum;
                    }
                }
                if let Some(id) = t.ipv6 {
                    // An address has `::` or seven colons within 39 bytes, so at least four of them in
                    // one of the (at most two) blocks it touches; the first colon looked at covers its
                    // whole run. Timestamps (`12:30:45`) mostly never get here.
                    let double = m.colon & ((m.colon << 1) | prev_colon as u64);
                    let mut c = if double != 0 || m.colon.count_ones() >= 4 {
                        m.colon
                    } else {
                        0
                    };
                    while c != 0 {
                        let at = pos + c.trailing_zeros() as usize;
                        c &= c - 1;
                        if at >= ipv6_done {
                            ipv6_done = w.ipv6_around(at, id, &mut emit);
                        }
                    }
                }
                if let Some(id) = t.iban {
                    // upper case at a word start, followed by upper case: `CC` of `CCdd`
                    let starts = m.upper & !((m.word << 1) | prev_word as u64);
                    // bits near the block's end may continue in the next block: let them through
                    let mut u = starts
                        & ((m.upper >> 1) | (1 << 63))
                        & ((m.digit >> 2) | (3 << 62))
                        & ((m.digit >> 3) | (7 << 61));
                    while u != 0 {
                        let at = pos + u.trailing_zeros() as usize;
                        u &= u - 1;
                        w.iban_from(at, id, &mut emit);
                    }
                }
                prev_word = m.word >> 63 != 0;
                prev_colon = m.colon >> 63 != 0;
                pos += n;
            }
            if let Some(s) = run_start {
                // a run to the end of what was read: it ends the text only when the text ends here
                end_group(t, &w, &mut groups, s, w.limit, &mut emit);
            }
        }

        #[inline(always)]
        fn end_group(
            t: &Targets,
            w: &Window,
            groups: &mut Groups,
            s: usize,
            e: usize,
            emit: &mut impl FnMut(usize, u16),
        ) {
            groups.push(w.text, s, e);
            // one well-predicted branch: a lone group shorter than 9 digits fits no shape, and the
            // pair tables refuse most joined ones (dates, times, versions)
            let f = fit(w.tables, groups.packed);
            if (f != 0 || groups.packed & 31 >= 9) && w.reports(e) {
                shapes(t, w.text, f, groups.packed, e, emit);
            }
        }
    }

    fn targets() -> Targets {
        Targets::numbered()
    }

    fn hits_window(text: &[u8], from: usize, to: usize) -> Vec<(usize, u16)> {
        let mut out = Vec::new();
        scan(&targets(), text, from, to, |e, id| out.push((e, id)));
        out.sort_unstable();
        out.dedup();
        out
    }

    fn hits(text: &[u8]) -> Vec<(usize, u16)> {
        hits_window(text, 0, text.len())
    }

    fn names(text: &str) -> Vec<(String, &'static str)> {
        const N: [&str; 10] = [
            "card", "ssn", "aba", "phone", "ipv4", "ipv6", "iban", "jwt", "bearer", "email",
        ];
        hits(text.as_bytes())
            .into_iter()
            .map(|(e, id)| (text[..e].to_string(), N[id as usize]))
            .collect()
    }

    #[test]
    fn simd_classes_match_the_scalar_ones() {
        let mut rng = crate::testing::XorShift(0x9e37_79b9_7f4a_7c15);
        for _ in 0..200 {
            let mut b = [0u8; 64];
            for v in b.iter_mut() {
                *v = rng.next() as u8;
            }
            let s = fields(&classify_scalar(&b));
            #[cfg(target_arch = "x86_64")]
            if std::is_x86_feature_detected!("avx2") {
                // SAFETY: the CPU has AVX2
                assert_eq!(fields(&unsafe { classify64_avx2(&b) }), s);
            }
            assert_eq!(fields(&classify64(&b)), s);
        }
    }

    #[test]
    fn shapes_are_reported_at_their_end() {
        let has = |t: &str, n: &str| names(t).iter().any(|(pre, k)| *k == n && pre == t);
        assert!(has("4111 1111 1111 1111", "card"));
        assert!(has("4111-1111-1111-1111", "card"));
        assert!(has("4111 1111 1111 1111 128", "card"));
        // shaped like one, but no card number: stops in the scanner
        assert!(!has("4111 1111 1111 1111 123", "card"));
        assert!(has("378282246310005", "card"));
        assert!(has("3782 822463 10005", "card"));
        assert!(has("4222 222 222 222", "card"));
        assert!(has("123-45-6789", "ssn"));
        assert!(has("123 45 6789", "ssn"));
        assert!(has("021000021", "aba"));
        assert!(has("415-555-2671", "phone"));
        assert!(has("415.555.2671", "phone"));
        assert!(has("+1 (415) 555-2671", "phone"));
        assert!(has("(415) 555-2671", "phone"));
        assert!(has("+442079460958", "phone"));
        assert!(has("192.168.0.1", "ipv4"));
        assert!(has("2001:db8::1", "ipv6"));
        assert!(has("1:2:3:4:5:6:7:8", "ipv6"));
        assert!(has("GB82 WEST 1234 5698 7654 32", "iban"));
        assert!(has("DE89370400440532013000", "iban"));
        assert!(has("KW81CBKU0000000000001234560101", "iban"));
        // in context, with a block edge inside the value
        let mut long = "x".repeat(60);
        long.push_str(" 4111 1111 1111 1111");
        assert!(names(&long)
            .iter()
            .any(|(pre, k)| *k == "card" && *pre == long));
    }

    #[test]
    fn common_numbers_stay_quiet() {
        for t in [
            "2024-05-06 12:30:45.123",
            "v1.2.3",
            "12:30:45",
            "bytes=1234 took=56ms",
            "id 12345678",
            "deadbeef cafe",
            "INFO DEBUG",
            "71d8b8c3-eb99-444a-8036-c1488369e0e6",
        ] {
            assert!(hits(t.as_bytes()).is_empty(), "{t}: {:?}", names(t));
        }
    }

    #[test]
    fn windows_report_what_the_whole_scan_reports() {
        let text = b"a 4111 1111 1111 1111, 123-45-6789; 021000021 GB82 WEST 1234 5698 7654 32 fe80::1 10.0.0.1 415.555.2671 x DE89370400440532013000";
        let whole = hits(text);
        assert!(whole.len() >= 8, "{whole:?}");
        for cut in 0..=text.len() {
            // a stream that has seen `cut` bytes reports ends up to cut - 1, then the rest
            let mut got = hits_window(&text[..cut], 0, cut.saturating_sub(1));
            got.extend(hits_window(text, cut.saturating_sub(1), text.len()));
            got.sort_unstable();
            got.dedup();
            assert_eq!(got, whole, "cut {cut}");
        }
    }

    /// Every end of a value the exact pattern matches and the validator accepts, found the slow
    /// way: an anchored forward search from every start.
    fn oracle(text: &[u8]) -> Vec<(usize, u16)> {
        const NAMES: [&str; 7] = [
            "card",
            "ssn",
            "aba_routing",
            "phone",
            "ipv4",
            "ipv6",
            "iban",
        ];
        let mut out = Vec::new();
        for (id, name) in NAMES.iter().enumerate() {
            let def = crate::entities::builtin(name).unwrap();
            let dfa = DFA::builder()
                .syntax(syntax::Config::new().unicode(false).utf8(false))
                .configure(DFA::config().match_kind(MatchKind::All))
                .build(&def.exact)
                .unwrap();
            let mut cache = dfa.create_cache();
            for s in 0..text.len() {
                let input = Input::new(text).range(s..).anchored(Anchored::Yes);
                let mut state = OverlappingState::start();
                loop {
                    dfa.try_search_overlapping_fwd(&mut cache, &input, &mut state)
                        .unwrap();
                    let Some(m) = state.get_match() else { break };
                    let e = m.offset();
                    if def.validator.is_none_or(|v| v(text, s, e)) {
                        out.push((e, id as u16));
                    }
                }
            }
        }
        out.sort_unstable();
        out.dedup();
        out
    }

    fn piece() -> impl Strategy<Value = String> {
        prop_oneof![
            "[0-9]{1,20}",
            "[0-9]{1,5}([ .-][0-9]{1,6}){1,5}",
            "[0-9a-fA-F]{0,4}(::?[0-9a-fA-F]{1,4}){1,8}",
            "[A-Z]{2}[0-9]{2}[A-Z0-9]{8,32}",
            "[A-Z]{2}[0-9]{2}( [A-Z0-9]{1,5}){1,9}",
            "[a-zA-Z_:. -]{0,6}",
            Just("4111 1111 1111 1111".to_string()),
            Just("3782 822463 10005".to_string()),
            Just("4111 1111 1111 1111 128".to_string()),
            Just("4111-1111 1111-1111".to_string()),
            Just("4222 222 222 222".to_string()),
            Just("12 4111 1111 1111 1111".to_string()),
            Just("123-45-6789".to_string()),
            Just("021000021".to_string()),
            Just("415.555.2671".to_string()),
            Just("+1 (415) 555-2671".to_string()),
            Just("+1-415-555-2671".to_string()),
            Just("(415) 555-2671".to_string()),
            Just("+14155552671".to_string()),
            Just("+442079460958".to_string()),
            "[+(]{1,2}[0-9 ().-]{1,18}",
            Just("192.168.0.1".to_string()),
            Just("2001:db8::1".to_string()),
            Just("GB82 WEST 1234 5698 7654 32".to_string()),
            Just("DE89370400440532013000".to_string()),
        ]
    }

    #[test]
    fn the_oracle_finds_values() {
        let text = b"x 4111 1111 1111 1111 y 123-45-6789 z 2001:db8::1 DE89370400440532013000";
        let found = oracle(text);
        for want in [(21, 0), (35, 1), (49, 5), (72, 6)] {
            assert!(found.contains(&want), "{want:?} not in {found:?}");
        }
    }

    type Reports = Vec<(usize, u16)>;

    /// The scanner and the reference, without phones (the reference has no `+…` form) and
    /// literals (`literal_oracle` is theirs).
    fn both(text: &[u8], from: usize, to: usize) -> (Reports, Reports) {
        let (mut new, mut old) = (Vec::new(), Vec::new());
        let t = Targets {
            phone: None,
            jwt: None,
            bearer: None,
            email: None,
            ..targets()
        };
        scan(&t, text, from, to, |e, id| new.push((e, id)));
        reference::scan(&t, text, from, to, |e, id| old.push((e, id)));
        // every copy of the loop the CPU runs reports the same
        let all = every_loop(&targets(), text, from, to);
        for other in &all[1..] {
            assert_eq!(
                other,
                &all[0],
                "{from}..{to}: {:?}",
                String::from_utf8_lossy(text)
            );
        }
        for v in [&mut new, &mut old] {
            v.sort_unstable();
            v.dedup();
        }
        (new, old)
    }

    fn fields(m: &Masks) -> [u64; 11] {
        [
            m.digit,
            m.colon,
            m.upper,
            m.word,
            m.sep,
            m.dot,
            m.hex_colon,
            m.plus_paren,
            m.jwt,
            m.bearer,
            m.at,
        ]
    }

    type Oracle = fn(&[u8], usize, usize) -> Reports;

    /// Every copy of the scan loop reports what `oracle` says for `(from, to]`; returns how many.
    fn loops_agree(t: &Targets, oracle: Oracle, text: &[u8], from: usize, to: usize) -> usize {
        let want = oracle(text, from, to);
        for got in every_loop(t, text, from, to) {
            assert_eq!(
                got,
                want,
                "{from}..{to}: {:?}",
                String::from_utf8_lossy(text)
            );
        }
        want.len()
    }

    /// `loops_agree` for each value at every offset against block edges (and in the batches of
    /// eight past 512 bytes), whole and in windows cut `cuts` bytes after the value's start;
    /// returns the reports in the whole texts.
    fn at_every_offset(t: &Targets, oracle: Oracle, values: &[&str], cuts: &[usize]) -> usize {
        let mut found = 0;
        for pad in (0..140).chain(440..600) {
            for value in values {
                let text = format!("{}{value}", "e".repeat(pad));
                let n = text.len();
                found += loops_agree(t, oracle, text.as_bytes(), 0, n);
                for cut in cuts {
                    let to = (pad + cut).min(n);
                    loops_agree(t, oracle, text.as_bytes(), 0, to);
                    loops_agree(t, oracle, text.as_bytes(), to, n);
                }
            }
        }
        found
    }

    /// `loops_agree` on `rounds` random texts of `alphabet` (lengths stepping by `step`), whole
    /// and cut at a random point.
    fn on_random_text(
        t: &Targets,
        oracle: Oracle,
        rng: &mut crate::testing::XorShift,
        alphabet: &[u8],
        rounds: usize,
        step: usize,
    ) {
        for round in 0..rounds {
            let len = 1 + (round * step) % 1400;
            let text = rng.text(alphabet, len);
            let cut = (rng.0 as usize) % (text.len() + 1);
            for (from, to) in [(0, text.len()), (cut, text.len()), (0, cut)] {
                loops_agree(t, oracle, &text, from, to);
            }
        }
    }

    /// The email prefilter's ends the slow way (id 9): an anchored search of the pattern the
    /// scanner implements from the byte before every `@`, every end it matches at most
    /// `EMAIL_MAX` bytes after the `@`, in `(from, to]`.
    fn email_oracle(text: &[u8], from: usize, to: usize) -> Reports {
        let dfa = DFA::builder()
            .syntax(syntax::Config::new().unicode(false).utf8(false))
            .configure(DFA::config().match_kind(MatchKind::All))
            .build(crate::entities::EMAIL_PRE)
            .unwrap();
        let mut cache = dfa.create_cache();
        let mut out = Vec::new();
        for a in (1..text.len()).filter(|&a| text[a] == b'@') {
            let input = Input::new(text).range(a - 1..).anchored(Anchored::Yes);
            let mut state = OverlappingState::start();
            loop {
                dfa.try_search_overlapping_fwd(&mut cache, &input, &mut state)
                    .unwrap();
                let Some(m) = state.get_match() else { break };
                let e = m.offset();
                if e > from && e <= to.min(text.len()) && e <= a + EMAIL_MAX {
                    out.push((e, 9));
                }
            }
        }
        out.sort_unstable();
        out.dedup();
        out
    }

    #[test]
    fn email_ends_are_the_prefilters() {
        let t = Targets {
            email: Some(9),
            ..Targets::default()
        };
        let check =
            |text: &[u8], from: usize, to: usize| loops_agree(&t, email_oracle, text, from, to);
        let values = [
            "ann.lee+tag@mail.example.co.uk,",
            "a@b.co",
            "x@b.c0m.io-x y",
            "x@localhost z",
            "@a.bc",
            "a@@b.cd",
            "a@b..cd",
            "a@b.cd_e",
            "a@-.ab-cd.xyz9",
        ];
        let found = at_every_offset(&t, email_oracle, &values, &[3, 6, 9, 14]);
        assert!(found > 1000, "{found}");
        // long domains: a window reads back to the `@` (up to EMAIL_MAX), and the walk stops
        // EMAIL_MAX bytes after it
        for (long, ends) in [
            (format!("x a@{}com x", "bcdefghij.".repeat(31)), 31),
            (format!("a@{}.com x", "b.".repeat(200)), 0),
        ] {
            let n = long.len();
            assert_eq!(check(long.as_bytes(), 0, n), ends);
            for cut in (0..n).step_by(7) {
                check(long.as_bytes(), 0, cut);
                check(long.as_bytes(), cut, n);
            }
        }
        let mut rng = crate::testing::XorShift(0x3c6e_f372_fe94_f82b);
        on_random_text(
            &t,
            email_oracle,
            &mut rng,
            b"ab@.@.co-x_9Z .ab@cd.ef",
            300,
            67,
        );
    }

    /// The literal reports the slow way: every `[A-Za-z0-9_-]\.eyJ` end (JWT, id 7) and every
    /// `\b[Bb]earer` end followed by a blank (bearer, id 8), in `(from, to]`.
    fn literal_oracle(text: &[u8], from: usize, to: usize) -> Reports {
        let word = |c: u8| c.is_ascii_alphanumeric() || c == b'_';
        let b64 = |c: u8| word(c) || c == b'-';
        let mut out = Vec::new();
        for e in from + 1..=to.min(text.len()) {
            if e >= 5 && &text[e - 4..e] == b".eyJ" && b64(text[e - 5]) {
                out.push((e, 7));
            }
            if e >= 6
                && (text[e - 6] == b'B' || text[e - 6] == b'b')
                && &text[e - 5..e] == b"earer"
                && (e == 6 || !word(text[e - 7]))
                && matches!(text.get(e), Some(b' ' | b'\t'))
            {
                out.push((e, 8));
            }
        }
        out
    }

    #[test]
    fn literals_are_reported_at_their_end() {
        let t = Targets {
            jwt: Some(7),
            bearer: Some(8),
            ..Targets::default()
        };
        // each literal with the bytes around it that decide; windows that stop right after the
        // literal or before its last byte
        let values = [
            "a.eyJhbGci",
            ".eyJx",
            "-.eyJ",
            "Bearer abc",
            "bearer\tx",
            "xBearer y",
            "_Bearer y",
            "Bearer",
            "Bearerr z",
            "(Bearer\t",
            "a.eyj",
            "Baerer x",
        ];
        let found = at_every_offset(&t, literal_oracle, &values, &[6, 7, 8]);
        assert!(found > 1000, "{found}");
        // random text dense in the literals' bytes
        let mut rng = crate::testing::XorShift(0x1f83_d9ab_fb41_bd6b);
        on_random_text(
            &t,
            literal_oracle,
            &mut rng,
            b".eyJBbearr .eyJ Bearer \teaJr_x-0",
            400,
            61,
        );
    }

    #[test]
    #[cfg(target_arch = "x86_64")]
    fn avx512_classes_match_the_scalar_ones() {
        if !(std::is_x86_feature_detected!("avx512f") && std::is_x86_feature_detected!("avx512bw"))
        {
            eprintln!("skipped: the CPU has no AVX-512BW");
            return;
        }
        let check = |b: &[u8; 64]| {
            // SAFETY: the CPU has AVX-512F and AVX-512BW
            let v = unsafe { classify64_avx512(b) };
            assert_eq!(fields(&v), fields(&classify_scalar(b)), "{b:?}");
        };
        let mut rng = crate::testing::XorShift(0x51_7cc1_b727_220a);
        let mut b = [0u8; 64];
        for _ in 0..2000 {
            for v in b.iter_mut() {
                *v = rng.next() as u8;
            }
            check(&b);
        }
        // every byte value at every position, among random bytes and alone
        for c in 0..=255u8 {
            check(&[c; 64]);
            for i in 0..64 {
                for v in b.iter_mut() {
                    *v = rng.next() as u8;
                }
                b[i] = c;
                check(&b);
            }
        }
    }

    /// Reports of every copy of the scan loop this CPU can run (the scalar one, AVX2, AVX-512),
    /// sorted and without repeats, with `scan_checked`'s packed ids.
    fn every_loop(t: &Targets, text: &[u8], from: usize, to: usize) -> Vec<Reports> {
        type Loop<'a> = &'a dyn Fn(&mut dyn FnMut(usize, u16));
        let run = |f: Loop| {
            let mut v = Vec::new();
            f(&mut |e, id| v.push((e, id)));
            v.sort_unstable();
            v.dedup();
            v
        };
        let mut out = vec![run(&|emit| scan_with::<SSE2>(t, text, from, to, emit))];
        #[cfg(target_arch = "x86_64")]
        {
            let (avx2, avx512) = simd_support();
            if avx2 {
                // SAFETY: the CPU has the features
                out.push(run(&|emit| unsafe { scan_avx2(t, text, from, to, emit) }));
            }
            if avx512 {
                // SAFETY: the CPU has the features
                out.push(run(&|emit| unsafe { scan_avx512(t, text, from, to, emit) }));
            }
        }
        out
    }

    #[test]
    fn every_copy_of_the_scan_loop_reports_the_same() {
        let mut rng = crate::testing::XorShift(0x5851_f42d_4c95_7f2d);
        let alphabets: [&[u8]; 5] = [
            b"0123456789012345678901234567890123456789 - . :xA",
            b"0123456789 -.+(:abcdefABCDEF GB",
            b"01234567890123456789012345678901234567890123456789 -.:(+_ xqAfFGBZ\xe9",
            b"0123456789 .eyJ Bearer bearer \t-_:eJr",
            b"0123456789 ab@.cd.ef-x_ @",
        ];
        for round in 0..400 {
            let len = 1 + (round * 53) % 1500;
            let text = rng.text(alphabets[round % 5], len);
            let cut = (rng.0 as usize) % (text.len() + 1);
            for (from, to) in [(0, text.len()), (cut, text.len()), (0, cut)] {
                let all = every_loop(&targets(), &text, from, to);
                for other in &all[1..] {
                    assert_eq!(
                        other,
                        &all[0],
                        "{from}..{to}: {:?}",
                        String::from_utf8_lossy(&text)
                    );
                }
            }
        }
    }

    #[test]
    fn agrees_with_the_reference_on_digit_dense_text() {
        // long texts: every alignment of tokens against block edges, runs crossing two blocks
        let mut rng = crate::testing::XorShift(0x2545_f491_4f6c_dd1d);
        let alphabet = b"0123456789012345678901234567890123456789 - . :xA";
        for round in 0..300 {
            let len = 1 + (round * 37) % 700;
            let text = rng.text(alphabet, len);
            let (new, old) = both(&text, 0, text.len());
            assert_eq!(new, old, "{:?}", String::from_utf8_lossy(&text));
            let cut = (rng.0 as usize) % (text.len() + 1);
            let (new, old) = both(&text, cut, text.len());
            assert_eq!(new, old, "from {cut}: {:?}", String::from_utf8_lossy(&text));
            let (new, old) = both(&text, 0, cut);
            assert_eq!(new, old, "to {cut}: {:?}", String::from_utf8_lossy(&text));
        }
        // IPv6 runs at every offset against block edges, among colons that are not addresses
        // (and past 512 bytes, in the batches of eight blocks)
        for pad in (0..140).chain(440..600) {
            for value in [
                "fe80:a167::,",
                "::1 ",
                "1:2:3:4:5:6:7:8;",
                "2001:db8::ff00:42:8329 ",
            ] {
                let text = format!("{} {value}\"k\":\"v\",\"t\":\"12:30:45\"", "x".repeat(pad));
                let (new, old) = both(text.as_bytes(), 0, text.len());
                assert_eq!(new, old, "{text}");
                assert!(!new.is_empty(), "{text}");
            }
        }
        // a run to the very end of a full block, and runs longer than the window
        for text in [
            "1".repeat(64),
            "1".repeat(128),
            format!("{}123-45-6789", "9".repeat(53)),
            format!("{} 4111 1111 1111 1111", "7".repeat(200)),
            format!("{}.1.2.3.4", "5".repeat(70)),
        ] {
            let (new, old) = both(text.as_bytes(), 0, text.len());
            assert_eq!(new, old, "{text}");
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(300))]

        /// The scanner is a prefilter: it may report too much, never too little.
        #[test]
        fn every_valid_value_end_is_reported(
            pieces in proptest::collection::vec(piece(), 1..12),
            glue in proptest::collection::vec(prop_oneof![Just(""), Just(" "), Just("-"), Just("."), Just(":"), Just("x")], 12),
            cut in any::<usize>(),
        ) {
            let mut text = String::new();
            for (i, p) in pieces.iter().enumerate() {
                text.push_str(p);
                text.push_str(glue[i % glue.len()]);
            }
            let text = text.as_bytes();
            let reported = hits(text);
            for want in oracle(text) {
                prop_assert!(reported.contains(&want), "{want:?} missed in {:?}", String::from_utf8_lossy(text));
            }
            // and a stream cut anywhere reports the same
            let (new, old) = both(text, 0, text.len());
            prop_assert_eq!(new, old);
            let cut = cut % (text.len() + 1);
            let mut got = hits_window(&text[..cut], 0, cut.saturating_sub(1));
            got.extend(hits_window(text, cut.saturating_sub(1), text.len()));
            got.sort_unstable();
            got.dedup();
            prop_assert_eq!(got, reported);
        }
    }
}
