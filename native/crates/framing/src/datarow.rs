//! DataRow (B) message: field count (i16), then per field a length (i32, -1 for NULL) and bytes.

/// One field of a DataRow: its byte range inside the scanned buffer, or NULL.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Field {
    Null,
    /// `start..end` offsets into the buffer the DataRow was read from.
    Value {
        start: usize,
        end: usize,
    },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DataRowError {
    Truncated {
        offset: usize,
    },
    BadFieldLength {
        column: usize,
        declared: i32,
        offset: usize,
    },
    TrailingBytes {
        offset: usize,
    },
}

impl std::fmt::Display for DataRowError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            DataRowError::Truncated { offset } => write!(f, "DataRow at offset {offset} ends inside a field"),
            DataRowError::BadFieldLength { column, declared, offset } => write!(
                f,
                "DataRow at offset {offset}: column {column} declares length {declared}, which is neither -1 (NULL) nor a length inside the message"
            ),
            DataRowError::TrailingBytes { offset } => write!(f, "DataRow at offset {offset} has bytes after its last field"),
        }
    }
}

impl std::error::Error for DataRowError {}

/// Iterates the fields of the DataRow that occupies `buf[start..start + len]` (code byte included).
pub struct DataRowFields<'a> {
    buf: &'a [u8],
    msg_start: usize,
    pos: usize,
    end: usize,
    remaining: u16,
    column: usize,
}

impl<'a> DataRowFields<'a> {
    pub fn new(buf: &'a [u8], start: usize, len: usize) -> Result<Self, DataRowError> {
        let end = start + len;
        if len < 7 || end > buf.len() {
            return Err(DataRowError::Truncated { offset: start });
        }
        let count = u16::from_be_bytes([buf[start + 5], buf[start + 6]]);
        Ok(DataRowFields {
            buf,
            msg_start: start,
            pos: start + 7,
            end,
            remaining: count,
            column: 0,
        })
    }

    /// Number of columns the row declares.
    pub fn count(buf: &[u8], start: usize) -> u16 {
        u16::from_be_bytes([buf[start + 5], buf[start + 6]])
    }

    /// Checks that the fields fill the message exactly; call after iterating.
    pub fn finish(&self) -> Result<(), DataRowError> {
        if self.remaining == 0 && self.pos != self.end {
            return Err(DataRowError::TrailingBytes {
                offset: self.msg_start,
            });
        }
        Ok(())
    }
}

impl Iterator for DataRowFields<'_> {
    type Item = Result<Field, DataRowError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.remaining == 0 {
            return None;
        }
        self.remaining -= 1;
        let column = self.column;
        self.column += 1;
        if self.pos + 4 > self.end {
            self.remaining = 0;
            return Some(Err(DataRowError::Truncated {
                offset: self.msg_start,
            }));
        }
        let b = &self.buf[self.pos..self.pos + 4];
        let declared = i32::from_be_bytes([b[0], b[1], b[2], b[3]]);
        self.pos += 4;
        if declared == -1 {
            return Some(Ok(Field::Null));
        }
        if declared < 0 || self.pos + declared as usize > self.end {
            self.remaining = 0;
            return Some(Err(DataRowError::BadFieldLength {
                column,
                declared,
                offset: self.msg_start,
            }));
        }
        let start = self.pos;
        self.pos += declared as usize;
        Some(Ok(Field::Value {
            start,
            end: self.pos,
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::build::data_row as row;

    #[test]
    fn fields_and_nulls() {
        let m = row(&[Some(b"abc"), None, Some(b"")]);
        let mut it = DataRowFields::new(&m, 0, m.len()).unwrap();
        let fields: Vec<Field> = it.by_ref().map(|f| f.unwrap()).collect();
        assert_eq!(
            fields,
            vec![
                Field::Value { start: 11, end: 14 },
                Field::Null,
                Field::Value { start: 22, end: 22 }
            ]
        );
        it.finish().unwrap();
        assert_eq!(&m[11..14], b"abc");
    }

    #[test]
    fn field_length_past_the_message_is_an_error() {
        let mut m = row(&[Some(b"abc")]);
        m[7..11].copy_from_slice(&100i32.to_be_bytes());
        let err = DataRowFields::new(&m, 0, m.len())
            .unwrap()
            .next()
            .unwrap()
            .unwrap_err();
        assert!(matches!(
            err,
            DataRowError::BadFieldLength {
                column: 0,
                declared: 100,
                ..
            }
        ));
    }

    #[test]
    fn trailing_bytes_are_an_error() {
        let mut m = row(&[Some(b"abc")]);
        m.push(0);
        let len = m.len() as i32 - 1;
        m[1..5].copy_from_slice(&len.to_be_bytes());
        let mut it = DataRowFields::new(&m, 0, m.len()).unwrap();
        for f in it.by_ref() {
            f.unwrap();
        }
        assert!(matches!(
            it.finish(),
            Err(DataRowError::TrailingBytes { .. })
        ));
    }
}
