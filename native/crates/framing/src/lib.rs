//! PostgreSQL wire-protocol framing, frontend and backend alike.
//!
//! Every message after start-up is `code: u8, length: i32 (big-endian), body`, where the length
//! counts itself but not the code byte. Start-up-phase messages (StartupMessage, SSLRequest,
//! GSSENCRequest, CancelRequest) have no code byte: `length: i32, body`.
//!
//! The framer is stateless: the caller keeps the unconsumed tail of its buffer and calls again
//! once `needed` bytes are available. A declared length is checked against the limit before the
//! caller is ever told to wait for (and so allocate) that many bytes.

pub mod build;
mod datarow;

pub use datarow::{DataRowError, DataRowFields, Field};

/// One complete message inside the scanned buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Frame {
    /// Message type byte (`b'D'` for DataRow, …); 0 for a start-up-phase message.
    pub code: u8,
    /// Offset of the message's first byte (the code byte, or the length for start-up messages).
    pub start: usize,
    /// Total bytes of the message, code byte included.
    pub len: usize,
}

impl Frame {
    /// Header bytes before the body: 5 for regular messages, 4 for start-up messages.
    pub fn header_len(&self) -> usize {
        if self.code == 0 {
            4
        } else {
            5
        }
    }

    /// The body (after code and length).
    pub fn body<'a>(&self, buf: &'a [u8]) -> &'a [u8] {
        &buf[self.start + self.header_len()..self.start + self.len]
    }
}

/// What a scan found out about the rest of the buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Scan {
    /// Bytes taken by complete messages, from the start of the buffer.
    pub consumed: usize,
    /// Total bytes the next, incomplete message needs (header included), or the header size
    /// when not even its header has arrived. 0 when the buffer ended on a message boundary.
    pub needed: usize,
}

/// A protocol violation in a declared length. Never an allocation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FrameError {
    /// The declared length is above the configured maximum.
    TooLong {
        code: u8,
        declared: u64,
        max: usize,
        offset: usize,
    },
    /// The declared length is negative or shorter than the 4 bytes of the length itself.
    TooShort {
        code: u8,
        declared: i64,
        offset: usize,
    },
}

impl std::fmt::Display for FrameError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            FrameError::TooLong { code, declared, max, offset } => write!(
                f,
                "{} declares length {declared} bytes at offset {offset}, above the limit of {max} bytes",
                describe(*code)
            ),
            FrameError::TooShort { code, declared, offset } => write!(
                f,
                "{} declares length {declared} at offset {offset}; a length counts its own 4 bytes and cannot be smaller",
                describe(*code)
            ),
        }
    }
}

impl std::error::Error for FrameError {}

fn describe(code: u8) -> String {
    match code {
        0 => "start-up message".to_string(),
        c if c.is_ascii_graphic() => format!("message '{}'", c as char),
        c => format!("message with type byte 0x{c:02x}"),
    }
}

/// Scans `buf` for complete messages, appending them to `out`.
///
/// With `startup`, the first message is a start-up-phase message (no code byte) and the scan
/// stops after it: the caller switches to regular framing once it has handled it.
/// `max_len` bounds the total size of one message (header included).
pub fn scan(
    buf: &[u8],
    max_len: usize,
    startup: bool,
    out: &mut Vec<Frame>,
) -> Result<Scan, FrameError> {
    if startup {
        return scan_startup(buf, max_len, out);
    }
    let mut pos = 0usize;
    loop {
        let rest = &buf[pos..];
        if rest.len() < 5 {
            let needed = if rest.is_empty() { 0 } else { 5 };
            return Ok(Scan {
                consumed: pos,
                needed,
            });
        }
        let code = rest[0];
        // length includes itself but not the code byte
        let declared = i32::from_be_bytes([rest[1], rest[2], rest[3], rest[4]]);
        if declared < 4 {
            return Err(FrameError::TooShort {
                code,
                declared: declared as i64,
                offset: pos,
            });
        }
        let total = declared as usize + 1;
        if total > max_len {
            return Err(FrameError::TooLong {
                code,
                declared: declared as u64,
                max: max_len,
                offset: pos,
            });
        }
        if rest.len() < total {
            return Ok(Scan {
                consumed: pos,
                needed: total,
            });
        }
        out.push(Frame {
            code,
            start: pos,
            len: total,
        });
        pos += total;
    }
}

fn scan_startup(buf: &[u8], max_len: usize, out: &mut Vec<Frame>) -> Result<Scan, FrameError> {
    if buf.len() < 4 {
        let needed = if buf.is_empty() { 0 } else { 4 };
        return Ok(Scan {
            consumed: 0,
            needed: needed.max(4),
        });
    }
    let declared = i32::from_be_bytes([buf[0], buf[1], buf[2], buf[3]]);
    // the shortest start-up-phase message (SSLRequest) is 8 bytes: length + request code
    if declared < 8 {
        return Err(FrameError::TooShort {
            code: 0,
            declared: declared as i64,
            offset: 0,
        });
    }
    let total = declared as usize;
    if total > max_len {
        return Err(FrameError::TooLong {
            code: 0,
            declared: declared as u64,
            max: max_len,
            offset: 0,
        });
    }
    if buf.len() < total {
        return Ok(Scan {
            consumed: 0,
            needed: total,
        });
    }
    out.push(Frame {
        code: 0,
        start: 0,
        len: total,
    });
    Ok(Scan {
        consumed: total,
        needed: 0,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    use crate::build::{data_row, message as msg};

    fn ready_for_query() -> Vec<u8> {
        msg(b'Z', b"I")
    }

    fn command_complete(tag: &str) -> Vec<u8> {
        let mut body = tag.as_bytes().to_vec();
        body.push(0);
        msg(b'C', &body)
    }

    /// Feeds `bytes` in pieces cut at `cuts`, keeping the unconsumed tail as a real caller would.
    fn feed(bytes: &[u8], cuts: &[usize]) -> Vec<(u8, Vec<u8>)> {
        let mut seen = Vec::new();
        let mut pending: Vec<u8> = Vec::new();
        let mut last = 0;
        let mut points: Vec<usize> = cuts.iter().copied().filter(|&c| c < bytes.len()).collect();
        points.sort_unstable();
        points.push(bytes.len());
        for p in points {
            pending.extend_from_slice(&bytes[last..p]);
            last = p;
            let mut frames = Vec::new();
            let scan = scan(&pending, 1 << 20, false, &mut frames).unwrap();
            for f in &frames {
                seen.push((f.code, pending[f.start..f.start + f.len].to_vec()));
            }
            if scan.needed > 0 {
                assert!(pending.len() - scan.consumed < scan.needed);
            }
            pending.drain(..scan.consumed);
        }
        assert!(pending.is_empty());
        seen
    }

    fn stream() -> Vec<u8> {
        let mut s = Vec::new();
        s.extend(data_row(&[Some(b"1"), None, Some(b"alice@example.com")]));
        s.extend(data_row(&[Some(b""), Some(b"4111 1111 1111 1111")]));
        s.extend(command_complete("SELECT 2"));
        s.extend(ready_for_query());
        s
    }

    #[test]
    fn whole_buffer_yields_every_message() {
        let s = stream();
        let mut frames = Vec::new();
        let r = scan(&s, 1 << 20, false, &mut frames).unwrap();
        assert_eq!(
            r,
            Scan {
                consumed: s.len(),
                needed: 0
            }
        );
        let codes: Vec<u8> = frames.iter().map(|f| f.code).collect();
        assert_eq!(codes, b"DDCZ");
        assert_eq!(frames[3].body(&s), b"I");
    }

    #[test]
    fn split_at_beginning_middle_and_end() {
        let s = stream();
        let whole = feed(&s, &[]);
        let first_len = whole[0].1.len();
        for cut in [
            1,
            2,
            4,
            5,
            first_len - 1,
            first_len,
            first_len + 1,
            s.len() - 1,
        ] {
            assert_eq!(feed(&s, &[cut]), whole, "cut at {cut}");
        }
    }

    #[test]
    fn one_byte_at_a_time() {
        let s = stream();
        let cuts: Vec<usize> = (1..s.len()).collect();
        assert_eq!(feed(&s, &cuts), feed(&s, &[]));
    }

    #[test]
    fn needed_reports_header_then_total() {
        let s = data_row(&[Some(b"hello")]);
        let mut frames = Vec::new();
        assert_eq!(
            scan(&s[..3], 1 << 20, false, &mut frames).unwrap(),
            Scan {
                consumed: 0,
                needed: 5
            }
        );
        assert_eq!(
            scan(&s[..6], 1 << 20, false, &mut frames).unwrap(),
            Scan {
                consumed: 0,
                needed: s.len()
            }
        );
        assert!(frames.is_empty());
    }

    #[test]
    fn oversize_length_is_an_error_not_an_allocation() {
        let mut s = vec![b'D'];
        s.extend_from_slice(&i32::MAX.to_be_bytes());
        let err = scan(&s, 1 << 20, false, &mut Vec::new()).unwrap_err();
        assert!(matches!(err, FrameError::TooLong { code: b'D', .. }));
        assert!(
            err.to_string().contains("above the limit of 1048576 bytes"),
            "{err}"
        );
    }

    #[test]
    fn negative_and_short_lengths_are_errors() {
        for declared in [-1i32, 0, 3] {
            let mut s = vec![b'Q'];
            s.extend_from_slice(&declared.to_be_bytes());
            let err = scan(&s, 1 << 20, false, &mut Vec::new()).unwrap_err();
            assert!(
                matches!(err, FrameError::TooShort { code: b'Q', .. }),
                "{declared}"
            );
            assert!(err.to_string().contains("message 'Q'"));
        }
    }

    #[test]
    fn error_reports_offset_of_bad_message_after_good_ones() {
        let mut s = ready_for_query();
        s.extend_from_slice(&[b'X', 0xff, 0xff, 0xff, 0xff]);
        let err = scan(&s, 1 << 20, false, &mut Vec::new()).unwrap_err();
        assert_eq!(
            err,
            FrameError::TooShort {
                code: b'X',
                declared: -1,
                offset: 6
            }
        );
    }

    #[test]
    fn startup_message_has_no_code_byte() {
        // SSLRequest: length 8, code 80877103
        let mut s = 8i32.to_be_bytes().to_vec();
        s.extend_from_slice(&80877103i32.to_be_bytes());
        s.extend(ready_for_query()); // not scanned in start-up mode
        let mut frames = Vec::new();
        let r = scan(&s, 10_000, true, &mut frames).unwrap();
        assert_eq!(
            r,
            Scan {
                consumed: 8,
                needed: 0
            }
        );
        assert_eq!(
            frames,
            vec![Frame {
                code: 0,
                start: 0,
                len: 8
            }]
        );
        assert_eq!(frames[0].body(&s), &80877103i32.to_be_bytes());
        assert_eq!(
            scan(&s[..2], 10_000, true, &mut Vec::new()).unwrap().needed,
            4
        );
        let mut big = 20_000i32.to_be_bytes().to_vec();
        big.extend_from_slice(&[0; 8]);
        assert!(matches!(
            scan(&big, 10_000, true, &mut Vec::new()),
            Err(FrameError::TooLong { .. })
        ));
    }

    proptest! {
        #[test]
        fn any_chunking_yields_the_same_messages(
            rows in proptest::collection::vec(proptest::collection::vec(proptest::option::of(proptest::collection::vec(any::<u8>(), 0..40)), 0..6), 1..20),
            cuts in proptest::collection::vec(0usize..2000, 0..30),
        ) {
            let mut s = Vec::new();
            for r in &rows {
                let fields: Vec<Option<&[u8]>> = r.iter().map(|f| f.as_deref()).collect();
                s.extend(data_row(&fields));
            }
            s.extend(ready_for_query());
            prop_assert_eq!(feed(&s, &cuts), feed(&s, &[]));
        }
    }
}
