//! Minimal safe wrapper over Hyperscan's C API (hs.h, 5.4): compile, scratch, block and stream scans.
//!
//! Only what the masker needs. Databases are compiled without `HS_FLAG_SOM_LEFTMOST`: a match is
//! reported by its end offset only, and the masker recovers the start itself (see `engine`).

use std::ffi::{c_char, c_int, c_uint, c_ulonglong, c_void, CStr, CString};
use std::ptr;

#[repr(C)]
struct RawDatabase {
    _private: [u8; 0],
}
#[repr(C)]
struct RawScratch {
    _private: [u8; 0],
}
#[repr(C)]
struct RawStream {
    _private: [u8; 0],
}
#[repr(C)]
struct RawCompileError {
    message: *const c_char,
    expression: c_int,
}

type MatchHandler =
    unsafe extern "C" fn(c_uint, c_ulonglong, c_ulonglong, c_uint, *mut c_void) -> c_int;

#[link(name = "hs")]
extern "C" {
    fn hs_compile_multi(
        expressions: *const *const c_char,
        flags: *const c_uint,
        ids: *const c_uint,
        elements: c_uint,
        mode: c_uint,
        platform: *const c_void,
        db: *mut *mut RawDatabase,
        error: *mut *mut RawCompileError,
    ) -> c_int;
    fn hs_free_compile_error(error: *mut RawCompileError) -> c_int;
    fn hs_free_database(db: *mut RawDatabase) -> c_int;
    fn hs_alloc_scratch(db: *const RawDatabase, scratch: *mut *mut RawScratch) -> c_int;
    fn hs_free_scratch(scratch: *mut RawScratch) -> c_int;
    fn hs_scan(
        db: *const RawDatabase,
        data: *const c_char,
        length: c_uint,
        flags: c_uint,
        scratch: *mut RawScratch,
        on_event: Option<MatchHandler>,
        context: *mut c_void,
    ) -> c_int;
    fn hs_open_stream(db: *const RawDatabase, flags: c_uint, stream: *mut *mut RawStream) -> c_int;
    fn hs_scan_stream(
        id: *mut RawStream,
        data: *const c_char,
        length: c_uint,
        flags: c_uint,
        scratch: *mut RawScratch,
        on_event: Option<MatchHandler>,
        context: *mut c_void,
    ) -> c_int;
    fn hs_close_stream(
        id: *mut RawStream,
        scratch: *mut RawScratch,
        on_event: Option<MatchHandler>,
        context: *mut c_void,
    ) -> c_int;
    fn hs_version() -> *const c_char;
}

pub const FLAG_CASELESS: u32 = 1;
pub const FLAG_DOTALL: u32 = 2;
pub const FLAG_MULTILINE: u32 = 4;
const MODE_BLOCK: u32 = 1;
const MODE_STREAM: u32 = 2;
const HS_SUCCESS: c_int = 0;

/// The largest buffer one `hs_scan` call takes (its length argument is 32-bit).
const MAX_SCAN: usize = u32::MAX as usize;

/// One pattern to compile, with the id reported on its matches.
pub struct Pattern {
    pub expression: String,
    pub flags: u32,
    pub id: u32,
}

/// A Hyperscan failure, with the pattern it concerns when the compiler names one.
#[derive(Debug, Clone)]
pub struct HsError {
    pub message: String,
    pub pattern_id: Option<u32>,
}

impl std::fmt::Display for HsError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

/// A compiled pattern database for one mode.
pub struct Database {
    raw: *mut RawDatabase,
    streaming: bool,
}

// A compiled database is immutable and documented as safe to share between threads.
unsafe impl Send for Database {}
unsafe impl Sync for Database {}

impl Drop for Database {
    fn drop(&mut self) {
        unsafe { hs_free_database(self.raw) };
    }
}

impl Database {
    pub fn compile(patterns: &[Pattern], streaming: bool) -> Result<Database, HsError> {
        let exprs: Vec<CString> = patterns
            .iter()
            .map(|p| {
                CString::new(p.expression.as_bytes()).map_err(|_| HsError {
                    message: "pattern contains a NUL byte".into(),
                    pattern_id: Some(p.id),
                })
            })
            .collect::<Result<_, _>>()?;
        let ptrs: Vec<*const c_char> = exprs.iter().map(|c| c.as_ptr()).collect();
        let flags: Vec<c_uint> = patterns.iter().map(|p| p.flags).collect();
        let ids: Vec<c_uint> = patterns.iter().map(|p| p.id).collect();
        let mut db = ptr::null_mut();
        let mut err = ptr::null_mut();
        let mode = if streaming { MODE_STREAM } else { MODE_BLOCK };
        let rc = unsafe {
            hs_compile_multi(
                ptrs.as_ptr(),
                flags.as_ptr(),
                ids.as_ptr(),
                patterns.len() as c_uint,
                mode,
                ptr::null(),
                &mut db,
                &mut err,
            )
        };
        if rc != HS_SUCCESS {
            let (message, index) = if err.is_null() {
                (format!("Hyperscan compile failed with code {rc}"), -1)
            } else {
                let e = unsafe { &*err };
                let m = unsafe { CStr::from_ptr(e.message) }
                    .to_string_lossy()
                    .into_owned();
                let i = e.expression;
                unsafe { hs_free_compile_error(err) };
                (m, i)
            };
            let pattern_id = usize::try_from(index)
                .ok()
                .and_then(|i| patterns.get(i))
                .map(|p| p.id);
            return Err(HsError {
                message,
                pattern_id,
            });
        }
        Ok(Database { raw: db, streaming })
    }

    /// Scans one whole buffer; `on_match(id, end)` is called for every match end offset.
    pub fn scan<F: FnMut(u32, usize)>(
        &self,
        scratch: &mut Scratch,
        data: &[u8],
        mut on_match: F,
    ) -> Result<(), HsError> {
        assert!(!self.streaming, "block scan on a streaming database");
        scratch.fit(self)?;
        if data.len() > MAX_SCAN {
            return Err(HsError {
                message: format!(
                    "buffer of {} bytes is above the 4 GiB block-scan limit",
                    data.len()
                ),
                pattern_id: None,
            });
        }
        let mut ctx = Ctx { f: &mut on_match };
        let rc = unsafe {
            hs_scan(
                self.raw,
                data.as_ptr() as *const c_char,
                data.len() as c_uint,
                0,
                scratch.raw,
                Some(trampoline),
                &mut ctx as *mut Ctx as *mut c_void,
            )
        };
        check(rc, "hs_scan")
    }

    /// Opens a stream on a streaming database.
    pub fn open_stream(&self) -> Result<Stream, HsError> {
        assert!(self.streaming, "stream opened on a block database");
        let mut raw = ptr::null_mut();
        check(
            unsafe { hs_open_stream(self.raw, 0, &mut raw) },
            "hs_open_stream",
        )?;
        Ok(Stream { raw })
    }
}

struct Ctx<'a> {
    f: &'a mut dyn FnMut(u32, usize),
}

unsafe extern "C" fn trampoline(
    id: c_uint,
    _from: c_ulonglong,
    to: c_ulonglong,
    _flags: c_uint,
    ctx: *mut c_void,
) -> c_int {
    let ctx = &mut *(ctx as *mut Ctx);
    (ctx.f)(id, to as usize);
    0
}

fn check(rc: c_int, what: &str) -> Result<(), HsError> {
    if rc == HS_SUCCESS {
        Ok(())
    } else {
        Err(HsError {
            message: format!("{what} failed with Hyperscan error {rc}"),
            pattern_id: None,
        })
    }
}

/// Per-thread scratch space; grown once to fit every database it is used with, then reused.
pub struct Scratch {
    raw: *mut RawScratch,
    fitted: Vec<usize>,
}

// Scratch may move between threads but is used by one at a time (&mut).
unsafe impl Send for Scratch {}

impl Default for Scratch {
    fn default() -> Self {
        Scratch {
            raw: ptr::null_mut(),
            fitted: Vec::new(),
        }
    }
}

impl Scratch {
    fn fit(&mut self, db: &Database) -> Result<(), HsError> {
        let key = db.raw as usize;
        if !self.fitted.contains(&key) {
            check(
                unsafe { hs_alloc_scratch(db.raw, &mut self.raw) },
                "hs_alloc_scratch",
            )?;
            self.fitted.push(key);
        }
        Ok(())
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        if !self.raw.is_null() {
            unsafe { hs_free_scratch(self.raw) };
        }
    }
}

/// An open Hyperscan stream. Offsets it reports count from the start of the stream.
pub struct Stream {
    raw: *mut RawStream,
}

unsafe impl Send for Stream {}

impl Stream {
    pub fn scan<F: FnMut(u32, usize)>(
        &mut self,
        db: &Database,
        scratch: &mut Scratch,
        data: &[u8],
        mut on_match: F,
    ) -> Result<(), HsError> {
        scratch.fit(db)?;
        for piece in data.chunks(MAX_SCAN.max(1)) {
            let mut ctx = Ctx { f: &mut on_match };
            let rc = unsafe {
                hs_scan_stream(
                    self.raw,
                    piece.as_ptr() as *const c_char,
                    piece.len() as c_uint,
                    0,
                    scratch.raw,
                    Some(trampoline),
                    &mut ctx as *mut Ctx as *mut c_void,
                )
            };
            check(rc, "hs_scan_stream")?;
        }
        Ok(())
    }

    /// Closes the stream, reporting matches that end at end of data (such as a trailing `\b`).
    pub fn close<F: FnMut(u32, usize)>(
        mut self,
        db: &Database,
        scratch: &mut Scratch,
        mut on_match: F,
    ) -> Result<(), HsError> {
        scratch.fit(db)?;
        let mut ctx = Ctx { f: &mut on_match };
        let raw = std::mem::replace(&mut self.raw, ptr::null_mut());
        let rc = unsafe {
            hs_close_stream(
                raw,
                scratch.raw,
                Some(trampoline),
                &mut ctx as *mut Ctx as *mut c_void,
            )
        };
        check(rc, "hs_close_stream")
    }
}

impl Drop for Stream {
    fn drop(&mut self) {
        if !self.raw.is_null() {
            unsafe { hs_close_stream(self.raw, ptr::null_mut(), None, ptr::null_mut()) };
        }
    }
}

/// The linked Hyperscan version string.
pub fn version() -> String {
    unsafe { CStr::from_ptr(hs_version()) }
        .to_string_lossy()
        .into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pats(list: &[&str]) -> Vec<Pattern> {
        list.iter()
            .enumerate()
            .map(|(i, e)| Pattern {
                expression: e.to_string(),
                flags: 0,
                id: i as u32,
            })
            .collect()
    }

    #[test]
    fn version_is_5_4() {
        assert!(version().starts_with("5.4"), "{}", version());
    }

    #[test]
    fn block_scan_reports_end_offsets() {
        let db = Database::compile(&pats(&["abc", r"\d{3}\b"]), false).unwrap();
        let mut s = Scratch::default();
        let mut hits = Vec::new();
        db.scan(&mut s, b"xxabc 1234 abc", |id, end| hits.push((id, end)))
            .unwrap();
        assert_eq!(hits, vec![(0, 5), (1, 10), (0, 14)]);
    }

    #[test]
    fn compile_error_names_the_pattern() {
        let err = Database::compile(&pats(&["ok", "(unclosed"]), false)
            .err()
            .unwrap();
        assert_eq!(err.pattern_id, Some(1));
        assert!(!err.message.is_empty());
    }

    #[test]
    fn stream_reports_matches_across_chunks() {
        let db = Database::compile(&pats(&[r"\b\d{4}-\d{4}\b"]), true).unwrap();
        let mut s = Scratch::default();
        let mut st = db.open_stream().unwrap();
        let mut hits = Vec::new();
        for piece in [&b"id 12"[..], b"34-5", b"678"] {
            st.scan(&db, &mut s, piece, |id, end| hits.push((id, end)))
                .unwrap();
        }
        st.close(&db, &mut s, |id, end| hits.push((id, end)))
            .unwrap();
        assert_eq!(hits, vec![(0, 12)]);
    }
}
