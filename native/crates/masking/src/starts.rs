//! Native start recovery for the built-in entities whose values are most common in table data
//! (cards, SSNs, IBANs, `+` phone numbers, emails, IPv4 addresses) and for the long tokens
//! (JWTs, bearer tokens), in place of the reverse DFA walk.
//!
//! Each finder reads the text around an end and either answers what the reverse walk followed
//! by "the leftmost start whose validator accepts" would answer, or says it does not know and
//! the walk runs as before. Answers are exact consequences of the entity's exact pattern (see
//! `entities.rs`); `engine/tests.rs` checks every answer against the walk on generated text.

use crate::validators;

/// A finder's answer about the starts of the exact pattern's matches ending at an end.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Starts {
    /// No match ends here.
    None,
    /// The only start that the entity's validator can accept (other starts, if any, fail it).
    Only(usize),
    /// The leftmost start; others may exist (the walk decides if this one fails validation).
    First(usize),
    /// Not decided here: walk back with the reverse DFA.
    Unknown,
}

/// The built-in entities with a native finder.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Card,
    Ssn,
    Iban,
    Phone,
    Email,
    Ipv4,
    Jwt,
    Bearer,
}

impl Kind {
    pub fn of(name: &str) -> Option<Kind> {
        Some(match name {
            "card" => Kind::Card,
            "ssn" => Kind::Ssn,
            "iban" => Kind::Iban,
            "phone" => Kind::Phone,
            "email" => Kind::Email,
            "ipv4" => Kind::Ipv4,
            "jwt" => Kind::Jwt,
            "bearer_token" => Kind::Bearer,
            _ => return None,
        })
    }

    /// The entity's validator at `s..e` when the value-only part of it is known to pass (the
    /// token scanner checked it): None when the validator does not split that way.
    #[inline]
    pub fn context_only(self, hay: &[u8], s: usize, e: usize) -> Option<bool> {
        match self {
            Kind::Card | Kind::Ssn => Some(validators::card_context(hay, s, e)),
            Kind::Iban => Some(true),
            Kind::Phone | Kind::Email | Kind::Ipv4 | Kind::Jwt | Kind::Bearer => None,
        }
    }

    /// Starts of matches ending at `e`, at or after `lo`, in `hay`.
    #[inline]
    pub fn starts(self, hay: &[u8], lo: usize, e: usize) -> Starts {
        if e > hay.len() || lo >= e {
            return Starts::Unknown;
        }
        match self {
            Kind::Card => card(hay, lo, e),
            Kind::Ssn => ssn(hay, lo, e),
            Kind::Iban => iban(hay, lo, e),
            Kind::Phone => phone(hay, lo, e),
            Kind::Email => email(hay, lo, e),
            Kind::Ipv4 => ipv4(hay, lo, e),
            Kind::Jwt => jwt(hay, lo, e),
            Kind::Bearer => bearer(hay, lo, e),
        }
    }
}

/// `\w` with Unicode off.
#[inline(always)]
fn word(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_'
}

/// `\b` between `hay[at - 1]` and `hay[at]`, given that one of them is a word byte: the other
/// one must not be (the text's ends count as non-word).
#[inline(always)]
fn word_before(hay: &[u8], at: usize) -> bool {
    at > 0 && word(hay[at - 1])
}

#[inline(always)]
fn word_after(hay: &[u8], at: usize) -> bool {
    hay.get(at).copied().is_some_and(word)
}

/// `\b(?:\d{13,19}|<grouped forms>)\b`: every grouped form ends with a group of at most five
/// digits after a separator, so a digit run of 13 to 19 ending at `e` can only be the lone
/// form, starting where the run starts.
fn card(hay: &[u8], lo: usize, e: usize) -> Starts {
    let mut s = e;
    while s > lo && hay[s - 1].is_ascii_digit() {
        s -= 1;
    }
    if !(13..=19).contains(&(e - s)) || (s == lo && word_before(hay, s)) {
        return Starts::Unknown;
    }
    if word_before(hay, s) || word_after(hay, e) {
        return Starts::None;
    }
    Starts::Only(s)
}

/// `\b(?:\d{3}-\d{2}-\d{4}|\d{3} \d{2} \d{4})\b`: eleven bytes, one possible start.
fn ssn(hay: &[u8], lo: usize, e: usize) -> Starts {
    if e < lo + 11 {
        return Starts::None;
    }
    let s = e - 11;
    let v = &hay[s..e];
    let d = |r: std::ops::Range<usize>| v[r].iter().all(u8::is_ascii_digit);
    let sep = v[3];
    let shaped = (sep == b'-' || sep == b' ')
        && v[6] == sep
        && d(0..3)
        && d(4..6)
        && d(7..11)
        && !word_before(hay, s)
        && !word_after(hay, e);
    if shaped {
        Starts::Only(s)
    } else {
        Starts::None
    }
}

#[inline(always)]
fn upper_or_digit(b: u8) -> bool {
    b.is_ascii_uppercase() || b.is_ascii_digit()
}

/// `\b[A-Z]{2}\d{2}(?:[A-Z0-9]{11,30}|(?: [A-Z0-9]{4}){2,7}(?: [A-Z0-9]{1,4})?)\b`: when the
/// five bytes before `e` are word bytes the grouped form (a blank at most five bytes before its
/// end) cannot end here, and the compact form starts at the word's start (`\b`).
fn iban(hay: &[u8], lo: usize, e: usize) -> Starts {
    let mut w = e;
    while w > lo && word(hay[w - 1]) {
        w -= 1;
    }
    if e - w < 5 {
        return iban_grouped(hay, lo, e, w);
    }
    if word_before(hay, w) || word_after(hay, e) {
        return Starts::None; // no start inside a word, and no start before `lo`
    }
    let v = &hay[w..e];
    let shaped = (15..=34).contains(&v.len())
        && v[0].is_ascii_uppercase()
        && v[1].is_ascii_uppercase()
        && v[2].is_ascii_digit()
        && v[3].is_ascii_digit()
        && v[4..].iter().all(|&b| upper_or_digit(b));
    if shaped {
        Starts::Only(w)
    } else {
        Starts::None
    }
}

/// The grouped form, `\b[A-Z]{2}\d{2}(?: [A-Z0-9]{4}){2,7}(?: [A-Z0-9]{1,4})?\b`, ending at
/// `e` with its last group at `w..e` (the word before `e`, 1 to 4 bytes). Every group before the
/// last is 4 bytes after a single blank, so the groups are found by stepping back 5 bytes at a
/// time; a start is a `CCdd` group after a non-word byte with 2 to 7 whole groups (and maybe
/// the tail) after it. The leftmost such start is the walk's first.
fn iban_grouped(hay: &[u8], lo: usize, e: usize, w: usize) -> Starts {
    let last = &hay[w..e];
    if w == e || !last.iter().all(|&b| upper_or_digit(b)) || word_after(hay, e) {
        return Starts::None;
    }
    // groups counted back from the last (j = 0); a start at group j needs j - 1 whole groups
    // and the tail after it, or j whole groups when the last has four bytes
    let fewest = if last.len() == 4 { 2 } else { 3 };
    let mut leftmost = None;
    let mut g = w; // start of group j
    for j in 1..=8 {
        if g < lo + 5 {
            break; // the walk stops at `lo` too
        }
        if hay[g - 1] != b' ' {
            break;
        }
        let x = g - 5; // start of group j
        let group = &hay[x..g - 1];
        if !group.iter().all(|&b| upper_or_digit(b)) {
            break;
        }
        let starts_here = j >= fewest
            && !word_before(hay, x)
            && group[0].is_ascii_uppercase()
            && group[1].is_ascii_uppercase()
            && group[2].is_ascii_digit()
            && group[3].is_ascii_digit();
        if starts_here {
            leftmost = Some(x);
        }
        if word_before(hay, x) {
            break; // a longer word: no group
        }
        g = x;
    }
    leftmost.map_or(Starts::None, Starts::First)
}

#[inline(always)]
fn phone_sep(b: u8) -> bool {
    matches!(b, b' ' | b'.' | b'-')
}

/// The `+` forms of the phone pattern, `\+[1-9]\d{7,14}\b` and
/// `\+1[ .-]?(?:\([2-9]\d{2}\)|[2-9]\d{2})[ .-]?[2-9]\d{2}[ .-]?\d{4}\b`. No form has a `+`
/// anywhere but at its start, so only the last `+` before `e` can start a match, and a match
/// from there is the leftmost one; without it, the other forms may start only after that `+`.
fn phone(hay: &[u8], lo: usize, e: usize) -> Starts {
    let Some(p) = hay[lo..e].iter().rposition(|&b| b == b'+').map(|k| lo + k) else {
        return phone_local(hay, lo, e);
    };
    if word_after(hay, e) || !hay[e - 1].is_ascii_digit() {
        return Starts::None; // every form ends with a digit and `\b`
    }
    if plus_form(&hay[p + 1..e]) {
        Starts::First(p)
    } else {
        phone_local(hay, p + 1, e)
    }
}

/// Whether `v`, the bytes after a `+`, is the rest of one of the `+` forms.
fn plus_form(v: &[u8]) -> bool {
    // \+[1-9]\d{7,14}
    if (8..=15).contains(&v.len()) && v[0] != b'0' && v.iter().all(u8::is_ascii_digit) {
        return true;
    }
    // \+1[ .-]?(?:\([2-9]\d{2}\)|[2-9]\d{2})[ .-]?[2-9]\d{2}[ .-]?\d{4}: every optional
    // separator is followed by a digit or `(`, so each is taken exactly when present
    let at = |i: usize| v.get(i).copied().unwrap_or(0);
    let area = |i: usize| {
        matches!(at(i), b'2'..=b'9') && at(i + 1).is_ascii_digit() && at(i + 2).is_ascii_digit()
    };
    if at(0) != b'1' {
        return false;
    }
    let mut i = 1;
    if phone_sep(at(i)) {
        i += 1;
    }
    if at(i) == b'(' {
        if !area(i + 1) || at(i + 4) != b')' {
            return false;
        }
        i += 5;
    } else {
        if !area(i) {
            return false;
        }
        i += 3;
    }
    if phone_sep(at(i)) {
        i += 1;
    }
    if !area(i) {
        return false;
    }
    i += 3;
    if phone_sep(at(i)) {
        i += 1;
    }
    i + 4 == v.len() && v[i..].iter().all(u8::is_ascii_digit)
}

/// The forms without a `+` (when no `+` lies in `lo..e`): `\([2-9]\d{2}\) ?[2-9]\d{2}[-. ]\d{4}\b`
/// and `\b[2-9]\d{2}[-.][2-9]\d{2}[-.]\d{4}\b`, each of a fixed length or two. The byte nine
/// before the end is `)` or a blank in the first and `-` or `.` in the second: at most one
/// of them matches, at one start.
fn phone_local(hay: &[u8], lo: usize, e: usize) -> Starts {
    let digits = |r: std::ops::Range<usize>| hay[r].iter().all(u8::is_ascii_digit);
    let first = |i: usize| matches!(hay[i], b'2'..=b'9');
    if e < lo + 12 || word_after(hay, e) || !digits(e - 4..e) {
        return Starts::None;
    }
    // the exchange and the line: [2-9]\d{2} then the separator and \d{4}
    let x = e - 8;
    if !first(x) || !digits(x + 1..x + 3) {
        return Starts::None;
    }
    let sep = hay[e - 5];
    // `(415) 555-2671`, `(415)555-2671`
    let paren = |s: usize| {
        s >= lo && hay[s] == b'(' && first(s + 1) && digits(s + 2..s + 4) && hay[s + 4] == b')'
    };
    if matches!(sep, b'-' | b'.' | b' ') {
        if hay[x - 1] == b')' && e >= lo + 13 && paren(e - 13) {
            return Starts::Only(e - 13);
        }
        if hay[x - 1] == b' ' && e >= lo + 14 && paren(e - 14) {
            return Starts::Only(e - 14);
        }
    }
    // `415-555-2671`, `415.555.2671`
    let s = e - 12;
    if matches!(sep, b'-' | b'.')
        && matches!(hay[x - 1], b'-' | b'.')
        && first(s)
        && digits(s + 1..s + 3)
        && !word_before(hay, s)
    {
        return Starts::Only(s);
    }
    Starts::None
}

/// `[A-Za-z0-9._%+-]+@(?:[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?\.)+[A-Za-z]{2,24}\b`: a match
/// holds exactly one `@`, the last one before `e`, and its starts are the bytes of the local
/// part; the validator refuses a local-part byte before the start, so only the first one can
/// be accepted.
fn email(hay: &[u8], lo: usize, e: usize) -> Starts {
    let Some(a) = hay[lo..e].iter().rposition(|&b| b == b'@').map(|k| lo + k) else {
        return Starts::None;
    };
    if word_after(hay, e) {
        return Starts::None; // the domain ends in a letter: `\b` wants a non-word byte after
    }
    let domain = &hay[a + 1..e];
    let Some(dot) = domain.iter().rposition(|&b| b == b'.') else {
        return Starts::None;
    };
    let tld = &domain[dot + 1..];
    if !(2..=24).contains(&tld.len()) || !tld.iter().all(u8::is_ascii_alphabetic) {
        return Starts::None;
    }
    let label_ok = |l: &[u8]| {
        !l.is_empty()
            && l[0].is_ascii_alphanumeric()
            && l[l.len() - 1].is_ascii_alphanumeric()
            && l.iter().all(|&b| b.is_ascii_alphanumeric() || b == b'-')
    };
    if !domain[..dot].split(|&b| b == b'.').all(label_ok) {
        return Starts::None;
    }
    let mut w = a;
    while w > lo && crate::entities::EMAIL_LOCAL[hay[w - 1] as usize] {
        w -= 1;
    }
    if w == a {
        return Starts::None;
    }
    Starts::Only(w)
}

/// `\b(?:(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)\.){3}(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)\b`:
/// an octet is a whole digit run (a dot or `\b` on either side), so the only start is that of
/// the fourth run back.
fn ipv4(hay: &[u8], lo: usize, e: usize) -> Starts {
    let mut end = e;
    for k in 0..4 {
        let mut s = end;
        while s > lo && end - s < 4 && hay[s - 1].is_ascii_digit() {
            s -= 1;
        }
        if !octet(&hay[s..end]) {
            return Starts::None;
        }
        if k == 3 {
            if word_before(hay, s) || word_after(hay, e) {
                return Starts::None;
            }
            return Starts::Only(s);
        }
        if s <= lo || hay[s - 1] != b'.' {
            return Starts::None;
        }
        end = s - 1;
    }
    Starts::None
}

/// One to three digits without a leading zero (but `0`), at most 255.
#[inline(always)]
pub(crate) fn octet(g: &[u8]) -> bool {
    match *g {
        [a] => a.is_ascii_digit(),
        [a, b] => (b'1'..=b'9').contains(&a) && b.is_ascii_digit(),
        [a, b, c] => {
            (b'1'..=b'2').contains(&a)
                && b.is_ascii_digit()
                && c.is_ascii_digit()
                && (a - b'0') as u32 * 100 + (b - b'0') as u32 * 10 + (c - b'0') as u32 <= 255
        }
        _ => false,
    }
}

/// The start of the run of `class` bytes ending at `e`: None when it reaches `lo` above the
/// text's start (the walk would stop there too: let it decide).
#[inline(always)]
fn run_back(hay: &[u8], lo: usize, e: usize, class: crate::entities::Class) -> Option<usize> {
    let s = hay[lo..e]
        .iter()
        .rposition(|&b| !class[b as usize])
        .map_or(lo, |k| lo + k + 1);
    (s > lo || lo == 0).then_some(s)
}

/// `eyJ[A-Za-z0-9_-]+\.eyJ[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*`: no part holds a dot, so the
/// signature, payload and header are the base64url runs between the dots back from `e`; the
/// matches start at an `eyJ` inside the header's run, and the validator refuses a base64url
/// byte before the start, so only the run's own start can be accepted.
fn jwt(hay: &[u8], lo: usize, e: usize) -> Starts {
    use crate::entities::BASE64URL as B;
    let dot_before = |s: usize| s > 0 && hay[s - 1] == b'.';
    let part = |s: usize, end: usize| end - s >= 4 && hay[s..].starts_with(b"eyJ");
    let Some(sig) = run_back(hay, lo, e, &B) else {
        return Starts::Unknown;
    };
    if !dot_before(sig) {
        return Starts::None;
    }
    let Some(payload) = run_back(hay, lo, sig - 1, &B) else {
        return Starts::Unknown;
    };
    if !part(payload, sig - 1) || !dot_before(payload) {
        return Starts::None;
    }
    let Some(header) = run_back(hay, lo, payload - 1, &B) else {
        return Starts::Unknown;
    };
    if part(header, payload - 1) {
        Starts::Only(header)
    } else {
        Starts::None
    }
}

/// `\b[Bb]earer[ \t]+[A-Za-z0-9._~+/=-]+`: the token is the run of token bytes back from `e`,
/// the blanks before it, and the word before those: one possible start.
fn bearer(hay: &[u8], lo: usize, e: usize) -> Starts {
    use crate::entities::{BLANK, TOKEN};
    let Some(token) = run_back(hay, lo, e, &TOKEN) else {
        return Starts::Unknown;
    };
    if token == e || token == 0 || !BLANK[hay[token - 1] as usize] {
        return Starts::None;
    }
    let Some(blanks) = run_back(hay, lo, token, &BLANK) else {
        return Starts::Unknown;
    };
    if blanks < lo + 6 {
        return if lo == 0 {
            Starts::None
        } else {
            Starts::Unknown
        };
    }
    let s = blanks - 6;
    let v = &hay[s..blanks];
    if v[0] | 0x20 != b'b' || &v[1..] != b"earer" || word_before(hay, s) {
        return Starts::None;
    }
    Starts::Only(s)
}
