//! Redaction styles: what replaces a detected value.

use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::entities::Normalize;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Style {
    /// `[REDACTED:<entity>]`: nothing of the value survives, not even its length.
    Full,
    /// Every letter and digit but the last four becomes `*`; separators stay.
    Last4,
    /// Same length, same separators, digits stay digits and letters stay letters (case kept),
    /// derived from a keyed hash of the value: fixed-width consumers keep working.
    Format,
    /// `[<entity>:<16 hex digits>]`, an HMAC-SHA256 of the normalised value under the engine key:
    /// the same value gives the same token, so masked columns stay joinable.
    Hash,
}

pub const STYLE_NAMES: &[&str] = &["full", "last4", "format", "hash"];

impl std::str::FromStr for Style {
    type Err = String;
    fn from_str(s: &str) -> Result<Style, String> {
        Ok(match s {
            "full" => Style::Full,
            "last4" => Style::Last4,
            "format" => Style::Format,
            "hash" => Style::Hash,
            _ => {
                return Err(format!(
                    "unknown redaction style '{s}' (known: {})",
                    STYLE_NAMES.join(", ")
                ))
            }
        })
    }
}

fn normalized(v: &[u8], how: Normalize) -> Vec<u8> {
    match how {
        Normalize::Raw => v.to_vec(),
        Normalize::Digits => v.iter().copied().filter(u8::is_ascii_digit).collect(),
        Normalize::AlnumUpper => v
            .iter()
            .filter(|b| b.is_ascii_alphanumeric())
            .map(u8::to_ascii_uppercase)
            .collect(),
        Normalize::Lower => v.to_ascii_lowercase(),
    }
}

fn mac(key: &[u8], parts: &[&[u8]]) -> [u8; 32] {
    let mut m = Hmac::<Sha256>::new_from_slice(key).expect("HMAC takes any key length");
    for p in parts {
        m.update(&(p.len() as u64).to_be_bytes());
        m.update(p);
    }
    m.finalize().into_bytes().into()
}

const HEX: &[u8; 16] = b"0123456789abcdef";

/// Appends the replacement for `value` to `out`.
pub fn redact(
    style: Style,
    entity: &str,
    normalize: Normalize,
    key: &[u8],
    value: &[u8],
    out: &mut Vec<u8>,
) {
    match style {
        Style::Full => {
            out.extend_from_slice(b"[REDACTED:");
            out.extend_from_slice(entity.as_bytes());
            out.push(b']');
        }
        Style::Last4 => {
            let alnum = value.iter().filter(|b| b.is_ascii_alphanumeric()).count();
            let mut seen = 0;
            for &b in value {
                if b.is_ascii_alphanumeric() {
                    seen += 1;
                    out.push(if seen + 4 > alnum { b } else { b'*' });
                } else {
                    out.push(b);
                }
            }
        }
        Style::Format => {
            let mut block = mac(
                key,
                &[b"format", entity.as_bytes(), &normalized(value, normalize)],
            );
            let mut i = 0usize;
            for &b in value {
                if i == block.len() {
                    block = mac(key, &[b"format-more", &block]);
                    i = 0;
                }
                let r = block[i];
                let repl = match b {
                    b'0'..=b'9' => b'0' + r % 10,
                    b'a'..=b'z' => b'a' + r % 26,
                    b'A'..=b'Z' => b'A' + r % 26,
                    _ => {
                        out.push(b);
                        continue;
                    }
                };
                i += 1;
                out.push(repl);
            }
        }
        Style::Hash => {
            let h = mac(
                key,
                &[b"hash", entity.as_bytes(), &normalized(value, normalize)],
            );
            out.push(b'[');
            out.extend_from_slice(entity.as_bytes());
            out.push(b':');
            for b in &h[..8] {
                out.push(HEX[(b >> 4) as usize]);
                out.push(HEX[(b & 15) as usize]);
            }
            out.push(b']');
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn r(style: Style, entity: &str, norm: Normalize, v: &str) -> String {
        let mut out = Vec::new();
        redact(style, entity, norm, b"k", v.as_bytes(), &mut out);
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn styles() {
        assert_eq!(
            r(
                Style::Full,
                "card",
                Normalize::Digits,
                "4111 1111 1111 1111"
            ),
            "[REDACTED:card]"
        );
        assert_eq!(
            r(
                Style::Last4,
                "card",
                Normalize::Digits,
                "4111 1111 1111 1111"
            ),
            "**** **** **** 1111"
        );
        assert_eq!(
            r(Style::Last4, "ssn", Normalize::Digits, "123-45-6789"),
            "***-**-6789"
        );
        let f = r(
            Style::Format,
            "card",
            Normalize::Digits,
            "4111-1111-1111-1111",
        );
        assert_eq!(f.len(), 19);
        assert_eq!(f.as_bytes()[4], b'-');
        assert!(f.bytes().filter(|b| *b != b'-').all(|b| b.is_ascii_digit()));
        assert_ne!(f, "4111-1111-1111-1111");
        let e = r(
            Style::Format,
            "email",
            Normalize::Lower,
            "John.Doe@example.com",
        );
        assert_eq!(e.len(), 20);
        assert!(e.as_bytes()[0].is_ascii_uppercase() && e.as_bytes()[8] == b'@');
    }

    #[test]
    fn hash_is_stable_keyed_and_normalised() {
        let a = r(
            Style::Hash,
            "card",
            Normalize::Digits,
            "4111 1111 1111 1111",
        );
        let b = r(
            Style::Hash,
            "card",
            Normalize::Digits,
            "4111-1111-1111-1111",
        );
        assert_eq!(a, b);
        assert!(a.starts_with("[card:") && a.len() == "[card:]".len() + 16);
        let mut other = Vec::new();
        redact(
            Style::Hash,
            "card",
            Normalize::Digits,
            b"other key",
            b"4111111111111111",
            &mut other,
        );
        assert_ne!(a.as_bytes(), &other[..]);
    }

    #[test]
    fn style_names_parse() {
        for n in STYLE_NAMES {
            n.parse::<Style>().unwrap();
        }
        assert!("blur"
            .parse::<Style>()
            .unwrap_err()
            .contains("unknown redaction style 'blur'"));
    }
}
