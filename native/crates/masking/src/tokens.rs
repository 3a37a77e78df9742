//! A native prefilter for the number-shaped entities (cards, SSNs, routing numbers, bare phone
//! numbers, IPv4, IPv6, IBANs).
//!
//! Hyperscan is slow on patterns made only of character classes (`\d{13,19}` scans at about
//! 1 GB/s on digit-dense logs, and a set of them at 0.3 GB/s): they have no literal for its
//! literal matcher to anchor on. This scanner walks the bytes once with O(1) state — digit
//! groups and their separators, hex-and-colon runs, and `CCdd` IBAN starts — and reports the
//! offsets where a value of each entity may end. Like a Hyperscan prefilter it only has to be a
//! superset: the exact pattern and the validator decide. The state carries across chunks, and a
//! hit depends only on the bytes before it and the one byte after, so any chunking of a stream
//! reports the same hits as one whole buffer.

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
}

impl Targets {
    pub fn any(&self) -> bool {
        self.card.is_some()
            || self.ssn.is_some()
            || self.aba.is_some()
            || self.phone.is_some()
            || self.ipv4.is_some()
            || self.ipv6.is_some()
            || self.iban.is_some()
    }
}

const OTHER: u8 = 0;
const DIGIT: u8 = 1;
const HEX_UPPER: u8 = 2;
const UPPER: u8 = 3;
const HEX_LOWER: u8 = 4;
const LOWER: u8 = 5; // g-z and '_': word bytes that break every token here
const SPACE: u8 = 6;
const DASH: u8 = 7;
const DOT: u8 = 8;
const COLON: u8 = 9;

const fn class_table() -> [u8; 256] {
    let mut t = [OTHER; 256];
    let mut b = 0;
    while b < 256 {
        let c = b as u8;
        t[b] = match c {
            b'0'..=b'9' => DIGIT,
            b'A'..=b'F' => HEX_UPPER,
            b'G'..=b'Z' => UPPER,
            b'a'..=b'f' => HEX_LOWER,
            b'g'..=b'z' | b'_' => LOWER,
            b' ' => SPACE,
            b'-' => DASH,
            b'.' => DOT,
            b':' => COLON,
            _ => OTHER,
        };
        b += 1;
    }
    t
}

static CLASS: [u8; 256] = class_table();

/// Digit groups kept for shape checks: the current one and the three before it.
const RING: usize = 4;

#[derive(Clone, Debug)]
pub struct TokenScanner {
    t: Targets,
    /// Stream offset of the next byte.
    pos: usize,
    // -- digit groups separated by single ' ', '-' or '.' --
    cur: u32,     // length of the digit group in progress (0: none)
    cur_sep: u8,  // separator before the group in progress (0: first group of its token)
    pend_sep: u8, // separator just seen after a group, waiting for a digit
    lens: [u32; RING],
    seps: [u8; RING],
    ngroups: usize, // completed groups in this token (capped at RING)
    // -- hex and colon runs (IPv6) --
    hx_active: bool,
    hx_colons: u32,
    hx_double: bool,
    hx_prev_colon: bool,
    hx_digit: bool,
    // -- IBAN: [A-Z]{2}[0-9]{2} at a word start, then [A-Z0-9] with single spaces --
    ib: i32, // characters of the candidate so far; -1 none
    ib_prev_space: bool,
    prev_word: bool,
}

impl TokenScanner {
    pub fn new(t: Targets) -> TokenScanner {
        TokenScanner {
            t,
            pos: 0,
            cur: 0,
            cur_sep: 0,
            pend_sep: 0,
            lens: [0; RING],
            seps: [0; RING],
            ngroups: 0,
            hx_active: false,
            hx_colons: 0,
            hx_double: false,
            hx_prev_colon: false,
            hx_digit: false,
            ib: -1,
            ib_prev_space: false,
            prev_word: false,
        }
    }

    /// A digit group ended at `end`: report the entities whose shape fits.
    #[inline(always)]
    fn group_end(&mut self, end: usize, emit: &mut impl FnMut(usize, u16)) {
        if self.ngroups == 0 && self.cur < 9 {
            // a lone short number, the common case: it only joins the ring
            self.lens[0] = self.cur;
            self.seps[0] = self.cur_sep;
            self.ngroups = 1;
            self.cur = 0;
            return;
        }
        self.shapes(end, emit);
    }

    #[inline(never)]
    fn shapes(&mut self, end: usize, emit: &mut impl FnMut(usize, u16)) {
        let l0 = self.cur;
        let s0 = self.cur_sep;
        let g = |k: usize| -> (u32, u8) {
            // k-th completed group back (1 = the one before the current)
            if k <= self.ngroups {
                (
                    self.lens[(self.ngroups - k) % RING],
                    self.seps[(self.ngroups - k) % RING],
                )
            } else {
                (0, 0)
            }
        };
        let (l1, s1) = g(1);
        let (l2, s2) = g(2);
        let (l3, _) = g(3);
        if let Some(id) = self.t.aba {
            if l0 == 9 {
                emit(end, id);
            }
        }
        if let Some(id) = self.t.card {
            let mut sum = l0;
            let mut hit = (13..=19).contains(&l0);
            let mut sep = s0;
            let mut k = 1;
            while !hit && k <= 4 && (sep == b' ' || sep == b'-') {
                let (lk, sk) = g(k);
                if lk == 0 {
                    break;
                }
                sum += lk;
                hit = k >= 2 && (13..=19).contains(&sum);
                sep = sk;
                k += 1;
            }
            if hit {
                emit(end, id);
            }
        }
        let dashed_or_spaced = |a: u8, b: u8| a == b && (a == b'-' || a == b' ');
        if let Some(id) = self.t.ssn {
            if l0 == 4 && l1 == 2 && l2 == 3 && dashed_or_spaced(s0, s1) {
                emit(end, id);
            }
        }
        if let Some(id) = self.t.phone {
            if l0 == 4
                && l1 == 3
                && l2 == 3
                && (s0 == b'-' || s0 == b'.')
                && (s1 == b'-' || s1 == b'.')
            {
                emit(end, id);
            }
        }
        if let Some(id) = self.t.ipv4 {
            if l0 <= 3
                && (1..=3).contains(&l1)
                && (1..=3).contains(&l2)
                && (1..=3).contains(&l3)
                && s0 == b'.'
                && s1 == b'.'
                && s2 == b'.'
            {
                emit(end, id);
            }
        }
        // the group joins the ring
        self.lens[self.ngroups % RING] = l0;
        self.seps[self.ngroups % RING] = s0;
        self.ngroups += 1;
        if self.ngroups >= 2 * RING {
            self.ngroups -= RING; // keep indices small, same ring positions
        }
        self.cur = 0;
    }

    fn end_token(&mut self) {
        self.ngroups = 0;
        self.pend_sep = 0;
    }

    fn hex_end(&mut self, end: usize, emit: &mut impl FnMut(usize, u16)) {
        if let Some(id) = self.t.ipv6 {
            if self.hx_digit && (self.hx_double || self.hx_colons == 7) && self.hx_colons >= 2 {
                emit(end, id);
            }
        }
        self.hx_active = false;
    }

    fn iban_end(&mut self, end: usize, emit: &mut impl FnMut(usize, u16)) {
        if let Some(id) = self.t.iban {
            if self.ib >= 15 && !self.ib_prev_space {
                emit(end, id);
            }
        }
    }

    /// Scans the next chunk of the stream; `emit(end, entity)` gets stream offsets.
    pub fn scan(&mut self, chunk: &[u8], mut emit: impl FnMut(usize, u16)) {
        let base = self.pos;
        let mut i = 0;
        let n = chunk.len();
        while i < n {
            // Fast path: outside every token, skip bytes that cannot start one.
            if self.cur == 0 && self.pend_sep == 0 && !self.hx_active && self.ib < 0 {
                while i < n {
                    let c = CLASS[chunk[i] as usize];
                    // a letter inside a word starts nothing: hex runs and IBANs begin at a word start
                    if c == LOWER
                        || (self.prev_word && (c == HEX_LOWER || c == HEX_UPPER || c == UPPER))
                    {
                        self.prev_word = true;
                        i += 1;
                    } else if c == OTHER || c == SPACE || c == DASH || c == DOT {
                        self.prev_word = false;
                        i += 1;
                    } else {
                        break;
                    }
                }
                if i == n {
                    break;
                }
            }
            let b = chunk[i];
            let c = CLASS[b as usize];
            let at = base + i;
            // digit groups
            if c == DIGIT {
                if self.cur == 0 {
                    if self.pend_sep == 0 {
                        self.ngroups = 0;
                    }
                    self.cur_sep = self.pend_sep;
                    self.pend_sep = 0;
                }
                self.cur += 1;
            } else if self.cur > 0 {
                self.group_end(at, &mut emit);
                if c == SPACE || c == DASH || c == DOT {
                    self.pend_sep = b;
                } else {
                    self.end_token();
                }
            } else if self.pend_sep != 0 {
                self.end_token();
            }
            // hex and colon runs
            let hexish = c == DIGIT || c == HEX_UPPER || c == HEX_LOWER;
            if hexish || c == COLON {
                if !self.hx_active {
                    if self.prev_word && c != COLON {
                        // starts mid-word: not an address; wait for the word to end
                    } else {
                        self.hx_active = true;
                        self.hx_colons = 0;
                        self.hx_double = false;
                        self.hx_prev_colon = false;
                        self.hx_digit = false;
                    }
                }
                if self.hx_active {
                    if c == COLON {
                        if self.hx_prev_colon {
                            self.hx_double = true;
                        }
                        self.hx_colons += 1;
                        self.hx_prev_colon = true;
                        if self.hx_colons > 8 {
                            self.hx_active = false;
                        }
                    } else {
                        self.hx_prev_colon = false;
                        self.hx_digit |= c == DIGIT;
                    }
                }
            } else if self.hx_active {
                self.hex_end(at, &mut emit);
            }
            // IBAN candidates
            match c {
                HEX_UPPER | UPPER => {
                    if self.ib < 0 {
                        if !self.prev_word {
                            self.ib = 1;
                        }
                    } else if self.ib == 1 || self.ib >= 4 {
                        self.ib += 1;
                    } else {
                        self.ib = -1;
                    }
                    self.ib_prev_space = false;
                }
                DIGIT => {
                    if self.ib == 2 || self.ib == 3 || self.ib >= 4 {
                        self.ib += 1;
                    } else {
                        self.ib = -1;
                    }
                    self.ib_prev_space = false;
                }
                SPACE if self.ib >= 4 && !self.ib_prev_space => {
                    self.iban_end(at, &mut emit);
                    self.ib_prev_space = true;
                }
                _ => {
                    if self.ib >= 0 {
                        self.iban_end(at, &mut emit);
                    }
                    self.ib = -1;
                    self.ib_prev_space = false;
                }
            }
            if self.ib > 64 {
                self.ib = 64; // longer than any IBAN; keep reporting ends, bounded counter
            }
            self.prev_word = matches!(c, DIGIT | HEX_UPPER | UPPER | HEX_LOWER | LOWER);
            i += 1;
        }
        self.pos = base + n;
    }

    /// Ends the stream: values that run to the last byte are reported.
    pub fn finish(&mut self, mut emit: impl FnMut(usize, u16)) {
        let end = self.pos;
        if self.cur > 0 {
            self.group_end(end, &mut emit);
        }
        if self.hx_active {
            self.hex_end(end, &mut emit);
        }
        if self.ib >= 0 {
            self.iban_end(end, &mut emit);
        }
        self.end_token();
        self.ib = -1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn targets() -> Targets {
        Targets {
            card: Some(0),
            ssn: Some(1),
            aba: Some(2),
            phone: Some(3),
            ipv4: Some(4),
            ipv6: Some(5),
            iban: Some(6),
        }
    }

    fn hits(chunks: &[&[u8]]) -> Vec<(usize, u16)> {
        let mut s = TokenScanner::new(targets());
        let mut out = Vec::new();
        for c in chunks {
            s.scan(c, |e, id| out.push((e, id)));
        }
        s.finish(|e, id| out.push((e, id)));
        out
    }

    fn names(text: &str) -> Vec<(String, &'static str)> {
        const N: [&str; 7] = ["card", "ssn", "aba", "phone", "ipv4", "ipv6", "iban"];
        let mut v: Vec<(String, &'static str)> = hits(&[text.as_bytes()])
            .into_iter()
            .map(|(e, id)| (text[..e].to_string(), N[id as usize]))
            .collect();
        v.sort();
        v.dedup();
        v
    }

    #[test]
    fn shapes_are_reported_at_their_end() {
        let has = |t: &str, n: &str| names(t).iter().any(|(pre, k)| *k == n && pre == t);
        assert!(has("4111 1111 1111 1111", "card"));
        assert!(has("4111-1111-1111-1111", "card"));
        assert!(has("378282246310005", "card"));
        assert!(has("3782 822463 10005", "card"));
        assert!(has("123-45-6789", "ssn"));
        assert!(has("123 45 6789", "ssn"));
        assert!(has("021000021", "aba"));
        assert!(has("415-555-2671", "phone"));
        assert!(has("415.555.2671", "phone"));
        assert!(has("192.168.0.1", "ipv4"));
        assert!(has("2001:db8::1", "ipv6"));
        assert!(has("1:2:3:4:5:6:7:8", "ipv6"));
        assert!(has("GB82 WEST 1234 5698 7654 32", "iban"));
        assert!(has("DE89370400440532013000", "iban"));
        assert!(has("KW81CBKU0000000000001234560101", "iban"));
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
        ] {
            assert!(hits(&[t.as_bytes()]).is_empty(), "{t}: {:?}", names(t));
        }
    }

    #[test]
    fn any_chunking_gives_the_same_hits() {
        let text = b"a 4111 1111 1111 1111, 123-45-6789; 021000021 GB82 WEST 1234 5698 7654 32 fe80::1 10.0.0.1 415.555.2671 x";
        let whole = hits(&[text]);
        assert!(whole.len() >= 8);
        for cut in 0..=text.len() {
            assert_eq!(hits(&[&text[..cut], &text[cut..]]), whole, "cut {cut}");
        }
        let singles: Vec<&[u8]> = text.chunks(1).collect();
        assert_eq!(hits(&singles), whole);
    }
}
