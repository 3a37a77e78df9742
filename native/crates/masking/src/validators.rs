//! Checks that run on a candidate after its pattern matched: checksums, number-plan rules and the
//! context around the value. `hay` is the text the candidate lives in; `s..e` is the whole match.

/// Byte before `s`, if any.
fn before(hay: &[u8], s: usize) -> Option<u8> {
    s.checked_sub(1).map(|i| hay[i])
}

fn after(hay: &[u8], e: usize) -> Option<u8> {
    hay.get(e).copied()
}

fn is_word(b: Option<u8>) -> bool {
    matches!(b, Some(c) if c.is_ascii_alphanumeric() || c == b'_')
}

/// True when the digits at `s..e` continue into a neighbouring digit group, as in
/// `1234 4111 1111 1111 1111` or `4111-1111-1111-1111-12`: the candidate is a piece of a longer number.
fn glued_to_digits(hay: &[u8], s: usize, e: usize, seps: &[u8]) -> bool {
    let left = s >= 2 && seps.contains(&hay[s - 1]) && hay[s - 2].is_ascii_digit();
    let right = e + 1 < hay.len() && seps.contains(&hay[e]) && hay[e + 1].is_ascii_digit();
    left || right
}

fn digits(v: &[u8]) -> impl Iterator<Item = u8> + '_ {
    v.iter().filter(|b| b.is_ascii_digit()).map(|b| b - b'0')
}

/// Up to 64 bytes gathered on the stack (validators run for every candidate: no allocation).
struct Small {
    buf: [u8; 64],
    len: usize,
}

impl Small {
    /// None when the iterator yields more than 64 bytes (longer than any value checked here).
    fn gather(it: impl Iterator<Item = u8>) -> Option<Small> {
        let mut s = Small {
            buf: [0; 64],
            len: 0,
        };
        for b in it {
            *s.buf.get_mut(s.len)? = b;
            s.len += 1;
        }
        Some(s)
    }

    fn digits(v: &[u8]) -> Option<Small> {
        Small::gather(digits(v))
    }

    fn as_slice(&self) -> &[u8] {
        &self.buf[..self.len]
    }
}

pub fn luhn(v: &[u8]) -> bool {
    Small::digits(v).is_some_and(|ds| luhn_digits(ds.as_slice()))
}

/// Luhn over digit values (0 to 9).
fn luhn_digits(ds: &[u8]) -> bool {
    // each digit doubled, less 9 when that makes two digits
    const DOUBLED: [u32; 10] = [0, 2, 4, 6, 8, 1, 3, 5, 7, 9];
    if ds.len() < 2 {
        return false;
    }
    let mut sum = 0u32;
    for (i, d) in ds.iter().rev().enumerate() {
        let d = (*d).min(9) as usize;
        sum += if i % 2 == 1 { DOUBLED[d] } else { d as u32 };
    }
    sum.is_multiple_of(10)
}

/// Known issuer identification number ranges, with the lengths each brand issues.
fn card_issuer_known(ds: &[u8]) -> bool {
    // every range below begins with 2 to 6: epoch timestamps and most order numbers stop here
    if !(2..=6).contains(&ds[0]) {
        return false;
    }
    let n = ds.len();
    let p = |k: usize| ds[..k].iter().fold(0u32, |a, d| a * 10 + *d as u32);
    let p1 = p(1);
    let p2 = p(2);
    let p3 = p(3);
    let p4 = p(4);
    let p6 = p(6);
    match () {
        _ if p1 == 4 => matches!(n, 13 | 16 | 19), // Visa
        _ if (51..=55).contains(&p2) || (2221..=2720).contains(&p4) => n == 16, // Mastercard
        _ if p2 == 34 || p2 == 37 => n == 15,      // American Express
        _ if p4 == 6011
            || (644..=649).contains(&p3)
            || p2 == 65
            || (622126..=622925).contains(&p6) =>
        {
            (16..=19).contains(&n) // Discover
        }
        _ if (300..=305).contains(&p3) || p2 == 36 || p2 == 38 || p2 == 39 => {
            (14..=19).contains(&n)
        } // Diners
        _ if (3528..=3589).contains(&p4) => (16..=19).contains(&n), // JCB
        _ if p2 == 62 => (16..=19).contains(&n),                    // UnionPay
        _ if p2 == 50 || (56..=58).contains(&p2) || p1 == 6 => (12..=19).contains(&n), // Maestro
        _ => false,
    }
}

pub fn card(hay: &[u8], s: usize, e: usize) -> bool {
    card_context(hay, s, e) && card_value(&hay[s..e])
}

/// The part of `card` (and of `ssn`) that reads around the value: not one piece of a longer
/// grouped number.
pub fn card_context(hay: &[u8], s: usize, e: usize) -> bool {
    !glued_to_digits(hay, s, e, b" -")
}

/// The part of `card` that reads only the value: 13 to 19 digits, a known issuer, Luhn.
pub fn card_value(v: &[u8]) -> bool {
    if (13..=19).contains(&v.len()) && v.iter().all(u8::is_ascii_digit) {
        // the common case, one run of digits: no gathering, and most runs (timestamps, ids)
        // fail the issuer's first digit
        if !(b'2'..=b'6').contains(&v[0]) {
            return false;
        }
        let mut ds = [0u8; 19];
        for (d, b) in ds.iter_mut().zip(v) {
            *d = b - b'0';
        }
        let ds = &ds[..v.len()];
        return card_issuer_known(ds) && luhn_digits(ds);
    }
    let Some(ds) = Small::digits(v) else {
        return false;
    };
    let ds = ds.as_slice();
    (13..=19).contains(&ds.len()) && card_issuer_known(ds) && luhn_digits(ds)
}

pub fn ssn(hay: &[u8], s: usize, e: usize) -> bool {
    card_context(hay, s, e) && ssn_value(&hay[s..e])
}

/// The part of `ssn` that reads only the value: the area, group and serial rules.
pub fn ssn_value(v: &[u8]) -> bool {
    let Some(ds) = Small::digits(v) else {
        return false;
    };
    let ds = ds.as_slice();
    if ds.len() != 9 {
        return false;
    }
    let area = ds[0] as u32 * 100 + ds[1] as u32 * 10 + ds[2] as u32;
    let group = ds[3] as u32 * 10 + ds[4] as u32;
    let serial = ds[5..].iter().fold(0u32, |a, d| a * 10 + *d as u32);
    area != 0 && area != 666 && area < 900 && group != 0 && serial != 0
}

pub fn aba_checksum(ds: &[u8]) -> bool {
    if ds.len() != 9 {
        return false;
    }
    let w = [3u32, 7, 1, 3, 7, 1, 3, 7, 1];
    let sum: u32 = ds.iter().zip(w).map(|(d, w)| *d as u32 * w).sum();
    let prefix = ds[0] as u32 * 10 + ds[1] as u32;
    sum.is_multiple_of(10) && matches!(prefix, 0..=12 | 21..=32 | 61..=72 | 80)
}

pub fn aba(hay: &[u8], s: usize, e: usize) -> bool {
    !glued_to_digits(hay, s, e, b" -.") && aba_value(&hay[s..e])
}

/// The part of `aba` that reads only the value: nine digits, the checksum and the prefix.
pub fn aba_value(v: &[u8]) -> bool {
    let Some(ds) = Small::digits(v) else {
        return false;
    };
    aba_checksum(ds.as_slice())
}

/// The registry length of IBANs of the country `cc` (None: not an IBAN country), from a table
/// of every pair of capitals.
#[inline]
pub(crate) fn iban_length(cc: &[u8]) -> Option<usize> {
    static TABLE: std::sync::OnceLock<[u8; 26 * 26]> = std::sync::OnceLock::new();
    let &[a @ b'A'..=b'Z', b @ b'A'..=b'Z'] = cc else {
        return None;
    };
    let table = TABLE.get_or_init(|| {
        let mut t = [0u8; 26 * 26];
        for (k, slot) in t.iter_mut().enumerate() {
            let cc = [b'A' + (k / 26) as u8, b'A' + (k % 26) as u8];
            *slot = registry_length(&cc).map_or(0, |n| n as u8);
        }
        t
    });
    match table[(a - b'A') as usize * 26 + (b - b'A') as usize] {
        0 => None,
        n => Some(n as usize),
    }
}

/// Registry lengths of IBANs by country (SWIFT IBAN registry).
fn registry_length(cc: &[u8]) -> Option<usize> {
    let len = match cc {
        b"AD" => 24,
        b"AE" => 23,
        b"AL" => 28,
        b"AT" => 20,
        b"AZ" => 28,
        b"BA" => 20,
        b"BE" => 16,
        b"BG" => 22,
        b"BH" => 22,
        b"BR" => 29,
        b"BY" => 28,
        b"CH" => 21,
        b"CR" => 22,
        b"CY" => 28,
        b"CZ" => 24,
        b"DE" => 22,
        b"DK" => 18,
        b"DO" => 28,
        b"EE" => 20,
        b"EG" => 29,
        b"ES" => 24,
        b"FI" => 18,
        b"FO" => 18,
        b"FR" => 27,
        b"GB" => 22,
        b"GE" => 22,
        b"GI" => 23,
        b"GL" => 18,
        b"GR" => 27,
        b"GT" => 28,
        b"HR" => 21,
        b"HU" => 28,
        b"IE" => 22,
        b"IL" => 23,
        b"IQ" => 23,
        b"IS" => 26,
        b"IT" => 27,
        b"JO" => 30,
        b"KW" => 30,
        b"KZ" => 20,
        b"LB" => 28,
        b"LC" => 32,
        b"LI" => 21,
        b"LT" => 20,
        b"LU" => 20,
        b"LV" => 21,
        b"LY" => 25,
        b"MC" => 27,
        b"MD" => 24,
        b"ME" => 22,
        b"MK" => 19,
        b"MR" => 27,
        b"MT" => 31,
        b"MU" => 30,
        b"NL" => 18,
        b"NO" => 15,
        b"PK" => 24,
        b"PL" => 28,
        b"PS" => 29,
        b"PT" => 25,
        b"QA" => 29,
        b"RO" => 24,
        b"RS" => 22,
        b"SA" => 24,
        b"SC" => 31,
        b"SD" => 18,
        b"SE" => 24,
        b"SI" => 19,
        b"SK" => 24,
        b"SM" => 27,
        b"ST" => 25,
        b"SV" => 28,
        b"TL" => 23,
        b"TN" => 24,
        b"TR" => 26,
        b"UA" => 29,
        b"VA" => 22,
        b"VG" => 24,
        b"XK" => 20,
        _ => return None,
    };
    Some(len)
}

/// ISO 13616 check: move the first four characters to the end, letters to 10..35, mod 97 == 1.
pub fn iban_checksum(compact: &[u8]) -> bool {
    if compact.len() < 5 {
        return false;
    }
    // The rearranged number in three independent parts (the two halves of the rest, then the
    // first four characters), so that their multiply-add chains overlap; then
    // `(a * 10^|b| + b) * 10^|c| + c` (mod 97), `|x|` counting decimal digits.
    let rest = &compact[4..];
    let (a, b) = rest.split_at(rest.len() / 2);
    let (ra, _, bad_a) = mod97(a);
    let (rb, nb, bad_b) = mod97(b);
    let (rc, nc, bad_c) = mod97(&compact[..4]);
    let ab = (ra * POW10_MOD97[nb] + rb) % 97;
    !(bad_a || bad_b || bad_c) && (ab * POW10_MOD97[nc] + rc) % 97 == 1
}

/// The IBAN digits of `s` as one number, mod 97; how many decimal digits that number has
/// (letters count two); whether a byte is not an IBAN character.
#[inline(always)]
fn mod97(s: &[u8]) -> (u64, usize, bool) {
    // reduced every eight characters, not after each: below 97 times 100^8 the number fits in
    // 64 bits (a reduction that depends on the value would sit in the multiply-add chain)
    let mut rem = 0u64;
    let mut digits = 0usize;
    let mut bad = false;
    for chunk in s.chunks(8) {
        for &c in chunk {
            let (scale, value) = IBAN_DIGIT[c as usize];
            bad |= scale == 0;
            digits += 1 + (scale == 100) as usize;
            rem = rem * scale as u64 + value as u64;
        }
        rem %= 97;
    }
    (rem, digits.min(128), bad)
}

/// `10^k mod 97` for every digit count an IBAN can have (at most 64 characters, two digits each).
static POW10_MOD97: [u64; 129] = {
    let mut t = [1u64; 129];
    let mut k = 1;
    while k < 129 {
        t[k] = t[k - 1] * 10 % 97;
        k += 1;
    }
    t
};

/// Per byte: what the running number is multiplied by and what is added (`0`-`9`: 10 and the
/// digit; `A`-`Z`: 100 and 10 to 35); 0 for a byte an IBAN cannot hold.
static IBAN_DIGIT: [(u8, u8); 256] = {
    let mut t = [(0u8, 0u8); 256];
    let mut c = 0;
    while c < 256 {
        t[c] = match c as u8 {
            b'0'..=b'9' => (10, c as u8 - b'0'),
            b'A'..=b'Z' => (100, c as u8 - b'A' + 10),
            _ => (0, 0),
        };
        c += 1;
    }
    t
};

pub fn iban(hay: &[u8], s: usize, e: usize) -> bool {
    iban_value(&hay[s..e])
}

/// `iban` reads only the value: the country's length and the mod-97 check, spaces ignored.
pub fn iban_value(v: &[u8]) -> bool {
    if !v.contains(&b' ') {
        return v.len() >= 2 && iban_length(&v[..2]) == Some(v.len()) && iban_checksum(v);
    }
    let Some(compact) = Small::gather(v.iter().copied().filter(|b| *b != b' ')) else {
        return false;
    };
    let compact = compact.as_slice();
    iban_length(&compact[..2.min(compact.len())]) == Some(compact.len()) && iban_checksum(compact)
}

/// Shared context rule for emails: the local part may not continue to the left.
pub fn email(hay: &[u8], s: usize, e: usize) -> bool {
    let b = before(hay, s);
    let ok_left = !matches!(b, Some(c) if c.is_ascii_alphanumeric() || b"._%+-".contains(&c));
    let ok_right =
        !matches!(after(hay, e), Some(c) if c.is_ascii_alphanumeric() || c == b'-' || c == b'_');
    ok_left && ok_right && !hay[s..e].contains(&b'\n')
}

pub fn phone(hay: &[u8], s: usize, e: usize) -> bool {
    let b = before(hay, s);
    if is_word(b) || b == Some(b'+') || is_word(after(hay, e)) {
        return false;
    }
    // a bare 10-digit NANP number must not be one piece of a longer dotted or dashed number
    if hay[s].is_ascii_digit() && glued_to_digits(hay, s, e, b"-.") {
        return false;
    }
    let Some(ds) = Small::digits(&hay[s..e]) else {
        return false;
    };
    let ds = ds.as_slice();
    (8..=15).contains(&ds.len())
}

/// True when the word just before `s` (past blanks, ':' and '=') names a version or build,
/// as in `version 1.2.3.4` or `build: 10.0.19045.1`. Whole words only: `server 10.0.0.5` is an address.
fn has_version_word_before(hay: &[u8], s: usize) -> bool {
    let lo = s.saturating_sub(CONTEXT_WINDOW);
    let ctx = &hay[lo..s];
    let mut end = ctx.len();
    while end > 0 && matches!(ctx[end - 1], b' ' | b'\t' | b':' | b'=' | b'.') {
        end -= 1;
    }
    let mut start = end;
    while start > 0 && ctx[start - 1].is_ascii_alphabetic() {
        start -= 1;
    }
    if start == 0 && lo > 0 {
        return false; // the word runs past the context window: not one of the short words below
    }
    let word = ctx[start..end].to_ascii_lowercase();
    matches!(
        word.as_slice(),
        b"v" | b"ver" | b"version" | b"build" | b"release" | b"rev" | b"revision"
    )
}

/// Bytes of left context validators may read (kept in step with `engine::CONTEXT`).
const CONTEXT_WINDOW: usize = 16;

pub fn ipv4(hay: &[u8], s: usize, e: usize) -> bool {
    // part of a longer dotted sequence (1.2.3.4.5) or of a version string (v1.2.3.4, "version 1.2.3.4")
    let left_dotted = s >= 2 && hay[s - 1] == b'.' && hay[s - 2].is_ascii_alphanumeric();
    let right_dotted = e + 1 < hay.len() && hay[e] == b'.' && hay[e + 1].is_ascii_digit();
    !(left_dotted
        || right_dotted
        || is_word(before(hay, s))
        || is_word(after(hay, e))
        || has_version_word_before(hay, s))
}

pub fn ipv6(hay: &[u8], s: usize, e: usize) -> bool {
    let edge = |b: Option<u8>| matches!(b, Some(c) if c.is_ascii_hexdigit() || c == b':' || c == b'_' || c.is_ascii_alphabetic());
    if edge(before(hay, s)) || edge(after(hay, e)) {
        return false;
    }
    let v = &hay[s..e];
    // words that happen to be hex (add::ecb, dead::beef) are not addresses: ask for a digit
    if !v.iter().any(|b| b.is_ascii_digit()) {
        return false;
    }
    let groups = v.split(|b| *b == b':').filter(|g| !g.is_empty()).count();
    if groups < 2 && !v.starts_with(b"::") {
        return false;
    }
    std::str::from_utf8(v)
        .ok()
        .and_then(|t| t.parse::<std::net::Ipv6Addr>().ok())
        .is_some()
}

fn base64url_decode(seg: &[u8]) -> Option<Vec<u8>> {
    let val = |c: u8| -> Option<u32> {
        Some(match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'-' | b'+' => 62,
            b'_' | b'/' => 63,
            _ => return None,
        } as u32)
    };
    let mut out = Vec::with_capacity(seg.len() * 3 / 4);
    let mut acc = 0u32;
    let mut bits = 0;
    for &c in seg {
        if c == b'=' {
            break;
        }
        acc = (acc << 6) | val(c)?;
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
            acc &= (1 << bits) - 1;
        }
    }
    Some(out)
}

pub fn jwt(hay: &[u8], s: usize, e: usize) -> bool {
    let tokenish =
        |b: Option<u8>| matches!(b, Some(c) if c.is_ascii_alphanumeric() || c == b'-' || c == b'_');
    if tokenish(before(hay, s)) || tokenish(after(hay, e)) {
        return false;
    }
    let header = hay[s..e].split(|b| *b == b'.').next().unwrap_or(&[]);
    match base64url_decode(header) {
        Some(h) => h.starts_with(b"{") && h.windows(5).any(|w| w == b"\"alg\"" || w == b"\"typ\""),
        None => false,
    }
}

pub fn bearer(hay: &[u8], s: usize, e: usize) -> bool {
    let tokenchar = |c: u8| c.is_ascii_alphanumeric() || b"._~+/=-".contains(&c);
    if matches!(after(hay, e), Some(c) if tokenchar(c)) || is_word(before(hay, s)) {
        return false;
    }
    // A JWT presented as a bearer token is a bearer token too: where the `jwt` entity is
    // wanted as well, both claim the same span and the JWT wins on priority; where it is not
    // (not configured, or not in a column's plan), the token is still masked.
    let (vs, _) = bearer_value(&hay[s..e]);
    e - (s + vs) >= BEARER_MIN
}

/// The shortest bearer token masked: `Bearer abc` in prose or docs is not a credential.
pub const BEARER_MIN: usize = 16;

/// The token part of `Bearer <token>`: offsets relative to the match.
pub fn bearer_value(m: &[u8]) -> (usize, usize) {
    let mut i = 6; // "Bearer"
    while i < m.len() && (m[i] == b' ' || m[i] == b'\t') {
        i += 1;
    }
    (i, m.len())
}

pub fn aws_secret(hay: &[u8], _s: usize, e: usize) -> bool {
    let keychar = |c: u8| c.is_ascii_alphanumeric() || c == b'/' || c == b'+';
    !matches!(after(hay, e), Some(c) if keychar(c))
}

pub fn aws_access_key(hay: &[u8], s: usize, e: usize) -> bool {
    !is_word(before(hay, s)) && !is_word(after(hay, e))
}

/// A PEM private-key block: the body between the markers holds only base64, blanks and header
/// lines (`Proc-Type: 4,ENCRYPTED`), and the BEGIN and END labels agree.
pub fn pem_block(hay: &[u8], s: usize, e: usize) -> bool {
    let v = &hay[s..e];
    let Some(begin_end) = find(v, b"-----", 11) else {
        return false;
    };
    let label_begin = &v[11..begin_end];
    let Some(end_at) = rfind(v, b"-----END ") else {
        return false;
    };
    let label_end = &v[end_at + 9..v.len() - 5];
    let body = &v[begin_end + 5..end_at];
    label_begin == label_end
        && label_begin.ends_with(b"PRIVATE KEY")
        && body
            .iter()
            .all(|c| c.is_ascii_alphanumeric() || b"+/=:,- \t\r\n\\".contains(c))
}

pub(crate) fn find(h: &[u8], needle: &[u8], from: usize) -> Option<usize> {
    h.get(from..)?
        .windows(needle.len())
        .position(|w| w == needle)
        .map(|i| i + from)
}

pub(crate) fn rfind(h: &[u8], needle: &[u8]) -> Option<usize> {
    h.windows(needle.len()).rposition(|w| w == needle)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The IBAN check one character at a time, as ISO 13616 states it.
    fn iban_reference(c: &[u8]) -> bool {
        if c.len() < 5 {
            return false;
        }
        let mut rem = 0u32;
        for &b in c[4..].iter().chain(&c[..4]) {
            rem = match b {
                b'0'..=b'9' => (rem * 10 + (b - b'0') as u32) % 97,
                b'A'..=b'Z' => (rem * 100 + (b - b'A' + 10) as u32) % 97,
                _ => return false,
            };
        }
        rem == 1
    }

    #[test]
    fn iban_checksum_agrees_with_the_reference() {
        let mut rng = crate::testing::XorShift(0x9e37_79b9_7f4a_7c15);
        let alphabet = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789 a";
        let mut valid = 0;
        for round in 0..200_000 {
            let len = round % 66;
            let mut v = rng.text(alphabet, len);
            // make about one in ten valid: fix the check digits
            if len >= 6
                && round % 10 == 0
                && v.iter()
                    .all(|b| b.is_ascii_alphanumeric() && !b.is_ascii_lowercase())
            {
                v[2] = b'0';
                v[3] = b'0';
                let mut rem = 0u32;
                for &b in v[4..].iter().chain(&v[..4]) {
                    rem = if b.is_ascii_digit() {
                        (rem * 10 + (b - b'0') as u32) % 97
                    } else {
                        (rem * 100 + (b - b'A' + 10) as u32) % 97
                    };
                }
                let check = 98 - rem;
                v[2] = b'0' + (check / 10) as u8;
                v[3] = b'0' + (check % 10) as u8;
            }
            let want = iban_reference(&v);
            valid += want as usize;
            assert_eq!(iban_checksum(&v), want, "{:?}", String::from_utf8_lossy(&v));
        }
        assert!(valid > 1000, "{valid}");
    }

    fn whole(f: fn(&[u8], usize, usize) -> bool, v: &str) -> bool {
        f(v.as_bytes(), 0, v.len())
    }

    #[test]
    fn luhn_and_issuers() {
        assert!(whole(card, "4111 1111 1111 1111"));
        assert!(whole(card, "5500-0000-0000-0004"));
        assert!(whole(card, "378282246310005"));
        assert!(whole(card, "6011111111111117"));
        assert!(!whole(card, "4111 1111 1111 1112"), "Luhn");
        assert!(
            !whole(card, "1234567812345670"),
            "Luhn-valid but no known issuer"
        );
        let hay = b"1234 4111 1111 1111 1111";
        assert!(!card(hay, 5, hay.len()), "piece of a longer number");
    }

    #[test]
    fn ssn_rules() {
        assert!(whole(ssn, "123-45-6789"));
        assert!(whole(ssn, "123 45 6789"));
        for bad in [
            "000-12-3456",
            "666-12-3456",
            "900-12-3456",
            "123-00-4567",
            "123-45-0000",
        ] {
            assert!(!whole(ssn, bad), "{bad}");
        }
    }

    #[test]
    fn aba_and_iban() {
        assert!(whole(aba, "021000021"));
        assert!(whole(aba, "011000015"));
        assert!(!whole(aba, "021000022"));
        assert!(whole(iban, "DE89370400440532013000"));
        assert!(whole(iban, "GB82 WEST 1234 5698 7654 32"));
        assert!(!whole(iban, "DE89370400440532013001"));
        assert!(!whole(iban, "DE8937040044053201300"), "wrong length for DE");
    }

    #[test]
    fn ip_rules() {
        assert!(whole(ipv4, "192.168.1.20"));
        let v = b"version 1.2.3.4";
        assert!(!ipv4(v, 8, v.len()));
        let v = b"build: 10.0.19.1";
        assert!(!ipv4(v, 7, v.len()));
        let srv = b"server 10.0.0.5";
        assert!(ipv4(srv, 7, srv.len()));
        let d = b"1.2.3.4.5";
        assert!(!ipv4(d, 0, 7));
        assert!(whole(ipv6, "2001:db8::ff00:42:8329"));
        assert!(whole(ipv6, "fe80::1"));
        assert!(!whole(ipv6, "12:30:45"));
        assert!(!whole(ipv6, "dead::beef"));
    }

    #[test]
    fn jwt_header_must_decode() {
        let t = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U";
        assert!(whole(jwt, t));
        assert!(!whole(jwt, "eyJub3QganNvbg.eyJzdWIiOiIxIn0.abc"));
    }
}
