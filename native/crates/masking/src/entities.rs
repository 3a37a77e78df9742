//! The built-in entity set and user-defined entities.
//!
//! Each entity has two patterns over the same language: `prefilter`, compiled into the shared
//! Hyperscan database without start-of-match tracking, reports every offset where a value may end;
//! `exact` (or a hand-written finder) recovers the start from that end, natively. A prefilter must
//! accept every end the exact pattern accepts: it may only be looser. Patterns are ASCII-only, as
//! both engines read them with Unicode off (`\b`, `\d`, `\s` are ASCII classes).

use crate::validators as v;

pub type Validator = fn(&[u8], usize, usize) -> bool;

/// How the start of a value is recovered from its end.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Finder {
    /// Reverse search with the exact pattern; the leftmost start that validates wins.
    Exact,
    /// The nearest `-----BEGIN … PRIVATE KEY-----` line before the end marker.
    PemBlock,
}

/// Which part of a match is the sensitive value that gets replaced.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ValueSpan {
    Whole,
    /// After `Bearer` and its blanks.
    BearerToken,
    /// The last N bytes (a secret after its key name).
    Last(usize),
}

/// How a value is normalised before keyed hashing, so `4111 1111…` and `4111-1111…` hash alike.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Normalize {
    Raw,
    Digits,
    AlnumUpper,
    Lower,
}

#[derive(Clone, Debug)]
pub struct Definition {
    pub name: String,
    /// Hyperscan prefilter; None for entities found only by the native token scanner.
    pub prefilter: Option<String>,
    pub exact: String,
    pub finder: Finder,
    /// Longest possible match in bytes; bounds every backward search and the stream hold-back.
    pub max_len: usize,
    pub validator: Option<Validator>,
    pub value: ValueSpan,
    pub normalize: Normalize,
    /// Lower wins when two entities claim the same span.
    pub priority: u8,
    /// Also reported by the native token scanner (built-in number-shaped entities, emails, JWTs
    /// and bearer tokens only).
    pub tokens: bool,
    /// A cheap test of the byte after a hit, run before any backward search: prefilters with an
    /// open-ended tail report every prefix end, and only the last one can be a value.
    pub right_guard: Option<fn(Option<u8>) -> bool>,
    /// For hits that come once inside a value instead of at every end it may have: how the
    /// value runs on from the hit to its end (an open-ended tail such as `[A-Za-z0-9_-]*` in a
    /// prefilter would report every prefix end of a long token: hundreds for one JWT).
    pub extend: Option<Extend>,
}

/// A set of bytes, one flag per byte value.
pub type Class = &'static [bool; 256];

/// How many bytes at the start of `s` are in `class`.
#[inline]
pub fn run_len(class: Class, s: &[u8]) -> usize {
    s.iter()
        .position(|&c| !class[c as usize])
        .unwrap_or(s.len())
}

/// How an extending entity's hit becomes its value's end (`Definition::extend`).
#[derive(Clone, Copy, Debug)]
pub struct Extend {
    /// What the hit is carried over first: a run of one or more bytes of the class, then the
    /// stop byte when there is one (skipped). A hit whose lead is empty, is not followed by its
    /// stop byte or is longer than the entity's longest value has no value.
    pub lead: Option<(Class, Option<u8>)>,
    /// The value's bytes from there on: it ends at the first byte outside the class.
    pub run: Class,
}

/// The table of the bytes `$test` accepts (a macro: a `const fn` cannot call a function
/// pointer).
macro_rules! class {
    ($test:expr) => {{
        let mut t = [false; 256];
        let mut c = 0;
        while c < 256 {
            t[c] = $test(c as u8);
            c += 1;
        }
        t
    }};
}

/// `[A-Za-z0-9_-]`: the bytes of a JWT's three parts.
pub static BASE64URL: [bool; 256] = class!(is_base64url);
/// `[A-Za-z0-9._~+/=-]`: the bytes of a bearer token.
pub static TOKEN: [bool; 256] = class!(is_token_byte);
/// `[ \t]`: what separates `Bearer` from its token.
pub static BLANK: [bool; 256] = class!(is_blank);
/// `[A-Za-z0-9._%+-]`: the bytes of an email's local part.
pub static EMAIL_LOCAL: [bool; 256] = class!(is_email_local);
/// `[A-Za-z0-9-]`: the bytes of a domain label.
pub static EMAIL_LABEL: [bool; 256] = class!(is_label_byte);

/// Where a built-in entity's hits come from.
#[derive(Clone, Copy)]
enum Pre {
    /// The exact pattern itself, in Hyperscan.
    Exact,
    /// A looser pattern in Hyperscan.
    Hs(&'static str),
    /// The native token scanner only (`tokens.rs`): number shapes, emails from their `@`, and
    /// the literals that JWTs and bearer tokens begin with (with those two in it, Hyperscan
    /// scanned the whole set at half the speed; with emails, at 4 GB/s on rows with an email
    /// each).
    Tokens,
}

struct B {
    name: &'static str,
    prefilter: Pre,
    exact: &'static str,
    finder: Finder,
    max_len: usize,
    validator: Validator,
    value: ValueSpan,
    normalize: Normalize,
}

const CARD: &str = concat!(
    r"\b(?:\d{13,19}",
    r"|\d{4}[ -]\d{4}[ -]\d{4}[ -]\d{1,4}(?:[ -]\d{1,3})?",
    r"|\d{4}[ -]\d{6}[ -]\d{4,5}",
    r"|\d{4}[ -]\d{3}[ -]\d{3}[ -]\d{3})\b"
);
const SSN: &str = r"\b(?:\d{3}-\d{2}-\d{4}|\d{3} \d{2} \d{4})\b";
const IBAN: &str = r"\b[A-Z]{2}\d{2}(?:[A-Z0-9]{11,30}|(?: [A-Z0-9]{4}){2,7}(?: [A-Z0-9]{1,4})?)\b";
const ABA: &str = r"\b\d{9}\b";
const EMAIL_EXACT: &str =
    r"[A-Za-z0-9._%+-]+@(?:[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?\.)+[A-Za-z]{2,24}\b";
/// The email prefilter the token scanner implements (`tokens::Window::email_ends`; its tests
/// compare the two), once Hyperscan's.
#[cfg(test)]
pub(crate) const EMAIL_PRE: &str =
    r"[A-Za-z0-9._%+-]@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,24}\b";
const PHONE: &str = concat!(
    r"(?:\+[1-9]\d{7,14}\b",
    r"|\+1[ .-]?(?:\([2-9]\d{2}\)|[2-9]\d{2})[ .-]?[2-9]\d{2}[ .-]?\d{4}\b",
    r"|\([2-9]\d{2}\) ?[2-9]\d{2}[-. ]\d{4}\b",
    r"|\b[2-9]\d{2}[-.][2-9]\d{2}[-.]\d{4}\b)"
);
const IPV4: &str =
    r"\b(?:(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)\.){3}(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)\b";
const IPV6: &str = concat!(
    r"(?:(?:[0-9A-Fa-f]{1,4}:){7}[0-9A-Fa-f]{1,4}",
    r"|(?:[0-9A-Fa-f]{1,4}(?::[0-9A-Fa-f]{1,4}){0,6})?::(?:[0-9A-Fa-f]{1,4}(?::[0-9A-Fa-f]{1,4}){0,6})?)"
);
const AWS_ACCESS: &str =
    r"\b(?:AKIA|ASIA|ABIA|ACCA|AGPA|AIDA|AIPA|ANPA|ANVA|AROA|APKA|ASCA)[A-Z2-7]{16}\b";
const AWS_SECRET: &str = r#"(?i:aws_?secret_?access_?key|aws_?secret_?key|secret_?access_?key)["']?\s{0,3}[:=]\s{0,3}["']?[A-Za-z0-9/+]{40}"#;
const JWT_EXACT: &str = r"eyJ[A-Za-z0-9_-]+\.eyJ[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*";
const BEARER_EXACT: &str = r"\b[Bb]earer[ \t]+[A-Za-z0-9._~+/=-]+";
const PEM_END: &str = r"-----END (?:[A-Z0-9]{1,12} ){0,3}PRIVATE KEY-----";

/// The longest PEM private-key block the masker recognises (an RSA-8192 key is about 6.5 KB).
pub const PEM_MAX: usize = 16 * 1024;

const BUILTINS: &[B] = &[
    B {
        name: "card",
        prefilter: Pre::Tokens,
        exact: CARD,
        finder: Finder::Exact,
        max_len: 23,
        validator: v::card,
        value: ValueSpan::Whole,
        normalize: Normalize::Digits,
    },
    B {
        name: "ssn",
        prefilter: Pre::Tokens,
        exact: SSN,
        finder: Finder::Exact,
        max_len: 11,
        validator: v::ssn,
        value: ValueSpan::Whole,
        normalize: Normalize::Digits,
    },
    B {
        name: "iban",
        prefilter: Pre::Tokens,
        exact: IBAN,
        finder: Finder::Exact,
        max_len: 42,
        validator: v::iban,
        value: ValueSpan::Whole,
        normalize: Normalize::AlnumUpper,
    },
    B {
        name: "aba_routing",
        prefilter: Pre::Tokens,
        exact: ABA,
        finder: Finder::Exact,
        max_len: 9,
        validator: v::aba,
        value: ValueSpan::Whole,
        normalize: Normalize::Digits,
    },
    B {
        name: "email",
        prefilter: Pre::Tokens,
        exact: EMAIL_EXACT,
        finder: Finder::Exact,
        max_len: crate::tokens::EMAIL_MAX,
        validator: v::email,
        value: ValueSpan::Whole,
        normalize: Normalize::Lower,
    },
    B {
        name: "phone",
        prefilter: Pre::Tokens,
        exact: PHONE,
        finder: Finder::Exact,
        max_len: 20,
        validator: v::phone,
        value: ValueSpan::Whole,
        normalize: Normalize::Digits,
    },
    B {
        name: "ipv4",
        prefilter: Pre::Tokens,
        exact: IPV4,
        finder: Finder::Exact,
        max_len: 15,
        validator: v::ipv4,
        value: ValueSpan::Whole,
        normalize: Normalize::Raw,
    },
    B {
        name: "ipv6",
        prefilter: Pre::Tokens,
        exact: IPV6,
        finder: Finder::Exact,
        max_len: 39,
        validator: v::ipv6,
        value: ValueSpan::Whole,
        normalize: Normalize::Lower,
    },
    B {
        name: "aws_access_key",
        prefilter: Pre::Exact,
        exact: AWS_ACCESS,
        finder: Finder::Exact,
        max_len: 20,
        validator: v::aws_access_key,
        value: ValueSpan::Whole,
        normalize: Normalize::Raw,
    },
    B {
        name: "aws_secret_key",
        prefilter: Pre::Exact,
        exact: AWS_SECRET,
        finder: Finder::Exact,
        max_len: 72,
        validator: v::aws_secret,
        value: ValueSpan::Last(40),
        normalize: Normalize::Raw,
    },
    B {
        name: "jwt",
        prefilter: Pre::Tokens,
        exact: JWT_EXACT,
        finder: Finder::Exact,
        max_len: 12 * 1024,
        validator: v::jwt,
        value: ValueSpan::Whole,
        normalize: Normalize::Raw,
    },
    B {
        name: "bearer_token",
        prefilter: Pre::Tokens,
        exact: BEARER_EXACT,
        finder: Finder::Exact,
        max_len: 4 * 1024,
        validator: v::bearer,
        value: ValueSpan::BearerToken,
        normalize: Normalize::Raw,
    },
    B {
        name: "private_key",
        prefilter: Pre::Hs(PEM_END),
        exact: PEM_END,
        finder: Finder::PemBlock,
        max_len: PEM_MAX,
        validator: v::pem_block,
        value: ValueSpan::Whole,
        normalize: Normalize::Raw,
    },
];

const fn is_token_byte(c: u8) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, b'.' | b'_' | b'~' | b'+' | b'/' | b'=' | b'-')
}

const fn is_email_local(c: u8) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, b'.' | b'_' | b'%' | b'+' | b'-')
}

const fn is_label_byte(c: u8) -> bool {
    c.is_ascii_alphanumeric() || c == b'-'
}

const fn is_blank(c: u8) -> bool {
    c == b' ' || c == b'\t'
}

const fn is_base64url(c: u8) -> bool {
    c.is_ascii_alphanumeric() || c == b'-' || c == b'_'
}

fn not_followed_by_token(b: Option<u8>) -> bool {
    !b.is_some_and(|c| TOKEN[c as usize])
}

fn not_followed_by_base64url(b: Option<u8>) -> bool {
    !b.is_some_and(|c| BASE64URL[c as usize])
}

/// Names of the built-in entities, in their default order.
pub fn builtin_names() -> Vec<&'static str> {
    BUILTINS.iter().map(|b| b.name).collect()
}

pub fn builtin(name: &str) -> Option<Definition> {
    BUILTINS.iter().position(|b| b.name == name).map(|i| {
        let b = &BUILTINS[i];
        Definition {
            name: b.name.to_string(),
            prefilter: match b.prefilter {
                Pre::Exact => Some(b.exact.to_string()),
                Pre::Hs(p) => Some(p.to_string()),
                Pre::Tokens => None,
            },
            tokens: matches!(b.prefilter, Pre::Tokens),
            exact: b.exact.to_string(),
            finder: b.finder,
            max_len: b.max_len,
            validator: Some(b.validator),
            value: b.value,
            normalize: b.normalize,
            priority: i as u8,
            right_guard: match b.name {
                "jwt" => Some(not_followed_by_base64url),
                "bearer_token" => Some(not_followed_by_token),
                _ => None,
            },
            extend: match b.name {
                // the token scanner reports the end of the payload's `.eyJ`: the payload runs
                // to the second dot, the signature from there
                "jwt" => Some(Extend {
                    lead: Some((&BASE64URL, Some(b'.'))),
                    run: &BASE64URL,
                }),
                // and the end of `Bearer`: blanks, then the token
                "bearer_token" => Some(Extend {
                    lead: Some((&BLANK, None)),
                    run: &TOKEN,
                }),
                _ => None,
            },
        }
    })
}

/// A user-defined entity: a bounded regex or a word list, optionally validated.
#[derive(Clone, Debug, Default)]
pub struct CustomSpec {
    pub name: String,
    pub pattern: Option<String>,
    pub words: Option<Vec<String>>,
    pub case_insensitive: bool,
    /// One of `luhn`, `iban`, `aba`, `ssn`.
    pub validator: Option<String>,
}

/// The longest value a user-defined pattern may match.
pub const CUSTOM_MAX: usize = 4096;

fn custom_validator(name: &str) -> Option<Validator> {
    Some(match name {
        "luhn" => |h: &[u8], s: usize, e: usize| v::luhn(&h[s..e]),
        "iban" => v::iban,
        "aba" => v::aba,
        "ssn" => v::ssn,
        _ => return None,
    })
}

pub const CUSTOM_VALIDATORS: &[&str] = &["luhn", "iban", "aba", "ssn"];

fn escape_word(w: &str) -> String {
    let mut out = String::new();
    for b in w.bytes() {
        if b.is_ascii_alphanumeric() || b == b'_' {
            out.push(b as char);
        } else {
            out.push_str(&format!("\\x{b:02x}"));
        }
    }
    out
}

fn is_word_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_'
}

impl CustomSpec {
    /// Builds the definition, or explains what is wrong with it, naming the entity.
    pub fn definition(&self, priority: u8) -> Result<Definition, String> {
        let name = &self.name;
        if name.is_empty()
            || !name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
        {
            return Err(format!(
                "entity name '{name}' must be non-empty letters, digits, '_' or '-'"
            ));
        }
        let body = match (&self.pattern, &self.words) {
            (Some(_), Some(_)) => {
                return Err(format!(
                    "entity '{name}': give either pattern or words, not both"
                ))
            }
            (None, None) => {
                return Err(format!("entity '{name}': needs a pattern or a words list"))
            }
            (Some(p), None) => {
                if p.is_empty() {
                    return Err(format!("entity '{name}': pattern is empty"));
                }
                format!("(?:{p})")
            }
            (None, Some(words)) => {
                if words.is_empty() || words.iter().any(|w| w.is_empty()) {
                    return Err(format!(
                        "entity '{name}': words must be a non-empty list of non-empty strings"
                    ));
                }
                let alts: Vec<String> = words
                    .iter()
                    .map(|w| {
                        let bytes = w.as_bytes();
                        let lb = if is_word_byte(bytes[0]) { r"\b" } else { "" };
                        let rb = if is_word_byte(bytes[bytes.len() - 1]) {
                            r"\b"
                        } else {
                            ""
                        };
                        format!("{lb}{}{rb}", escape_word(w))
                    })
                    .collect();
                format!("(?:{})", alts.join("|"))
            }
        };
        let exact = if self.case_insensitive {
            format!("(?i){body}")
        } else {
            body
        };
        let validator = match &self.validator {
            None => None,
            Some(vn) => Some(custom_validator(vn).ok_or_else(|| {
                format!(
                    "entity '{name}': unknown validator '{vn}' (known: {})",
                    CUSTOM_VALIDATORS.join(", ")
                )
            })?),
        };
        let max_len = max_len_of(&exact).map_err(|e| format!("entity '{name}': {e}"))?;
        Ok(Definition {
            name: name.clone(),
            prefilter: Some(exact.clone()),
            tokens: false,
            exact,
            finder: Finder::Exact,
            max_len,
            validator,
            value: ValueSpan::Whole,
            normalize: Normalize::Raw,
            priority,
            right_guard: None,
            extend: None,
        })
    }
}

/// The longest match of a pattern, read off its syntax tree; unbounded patterns are refused.
pub fn max_len_of(pattern: &str) -> Result<usize, String> {
    let hir = regex_syntax::ParserBuilder::new()
        .unicode(false)
        .utf8(false)
        .build()
        .parse(pattern)
        .map_err(|e| {
            format!(
                "invalid pattern: {}",
                e.to_string().lines().last().unwrap_or("syntax error")
            )
        })?;
    match hir.properties().maximum_len() {
        None => Err(format!(
            "pattern can match text of unbounded length; bound every repetition (for example {{1,64}} instead of + or *), up to {CUSTOM_MAX} bytes"
        )),
        Some(0) => Err("pattern matches only empty text".to_string()),
        Some(n) if n > CUSTOM_MAX => Err(format!("pattern can match up to {n} bytes, above the limit of {CUSTOM_MAX}")),
        Some(n) => Ok(n),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_builtin_exact_pattern_parses() {
        for name in builtin_names() {
            let d = builtin(name).unwrap();
            regex_syntax::ParserBuilder::new()
                .unicode(false)
                .utf8(false)
                .build()
                .parse(&d.exact)
                .unwrap();
            if let Some(p) = &d.prefilter {
                regex_syntax::ParserBuilder::new()
                    .unicode(false)
                    .utf8(false)
                    .build()
                    .parse(p)
                    .unwrap();
            }
            assert!(d.prefilter.is_some() || d.tokens, "{name} has no prefilter");
        }
    }

    #[test]
    fn custom_errors_name_the_entity() {
        let unbounded = CustomSpec {
            name: "emp".into(),
            pattern: Some("EMP-\\d+".into()),
            ..Default::default()
        };
        let e = unbounded.definition(20).unwrap_err();
        assert!(
            e.starts_with("entity 'emp': pattern can match text of unbounded length"),
            "{e}"
        );
        let bad = CustomSpec {
            name: "emp".into(),
            pattern: Some("EMP-(\\d{6}".into()),
            ..Default::default()
        };
        assert!(bad
            .definition(20)
            .unwrap_err()
            .starts_with("entity 'emp': invalid pattern"));
        let val = CustomSpec {
            name: "x".into(),
            pattern: Some("a{3}".into()),
            validator: Some("crc".into()),
            ..Default::default()
        };
        assert!(val
            .definition(20)
            .unwrap_err()
            .contains("unknown validator 'crc'"));
        let words = CustomSpec {
            name: "code".into(),
            words: Some(vec!["blue-bird".into(), "c++".into()]),
            ..Default::default()
        };
        let d = words.definition(20).unwrap();
        assert_eq!(d.exact, r"(?:\bblue\x2dbird\b|\bc\x2b\x2b)");
        assert_eq!(d.max_len, 9);
    }
}
