//! The @tollgate/native addon: every `#[napi]` item lives here, as thin conversions into the
//! pure crates (`tollgate-framing`, `tollgate-masking`). One call per chunk, never per row.

use std::collections::HashMap;
use std::sync::Arc;

use napi::bindgen_prelude::*;
use napi_derive::napi;

pub mod sql;

use tollgate_masking::{
    ColumnAction, CustomSpec, Engine, MaskStream as CoreStream, RowPlan as CoreRowPlan, Scratch,
    Style,
};

fn invalid(msg: impl Into<String>) -> Error {
    Error::new(Status::InvalidArg, msg.into())
}

/// Message boundaries found in a buffer of PostgreSQL protocol bytes.
#[napi(object)]
pub struct PgFrames {
    /// Triples `[type byte, start offset, total length]`, one per complete message; the type
    /// byte is 0 for a start-up-phase message.
    pub frames: Uint32Array,
    /// Bytes covered by complete messages, from the start of the buffer.
    pub consumed: u32,
    /// Total bytes the next, incomplete message needs (0 when the buffer ended on a boundary).
    pub needed: u32,
}

/// Frames `buf` with the thread's reused frame list and hands it to `f`.
fn with_frames<T>(
    buf: &[u8],
    max_message_length: u32,
    startup: bool,
    f: impl FnOnce(tollgate_framing::Scan, &[tollgate_framing::Frame]) -> T,
) -> Result<T> {
    thread_local! {
        // reused across calls: one scan per TCP read, thousands per second
        static FRAMES: std::cell::RefCell<Vec<tollgate_framing::Frame>> = const { std::cell::RefCell::new(Vec::new()) };
    }
    FRAMES.with_borrow_mut(|frames| {
        frames.clear();
        let scan = tollgate_framing::scan(buf, max_message_length as usize, startup, frames)
            .map_err(|e| Error::new(Status::InvalidArg, format!("protocol error: {e}")))?;
        Ok(f(scan, frames))
    })
}

/// Splits PostgreSQL protocol bytes into messages. The caller keeps the unconsumed tail and
/// calls again once `needed` bytes are there. Throws when a declared length is negative,
/// shorter than 4, or above `maxMessageLength` (nothing is allocated for it).
#[napi]
pub fn frame_pg_messages(buf: &[u8], max_message_length: u32, startup: bool) -> Result<PgFrames> {
    with_frames(buf, max_message_length, startup, |scan, frames| {
        let flat: Vec<u32> = frames
            .iter()
            .flat_map(|f| [f.code as u32, f.start as u32, f.len as u32])
            .collect();
        PgFrames {
            frames: Uint32Array::new(flat),
            consumed: scan.consumed as u32,
            needed: scan.needed as u32,
        }
    })
}

/// `framePgMessages` without allocating anything, for the per-read path: the result goes into
/// `out`, an array the caller keeps from call to call. `out[0]` is `consumed`, `out[1]` is
/// `needed`, then one `[type byte, start offset, total length]` triple per message. Returns
/// the number of complete messages in `buf`; when that is more than `out` has room for
/// (`(out.length - 2) / 3`), nothing is written: grow `out` and call again.
#[napi]
pub fn frame_pg_messages_into(
    buf: &[u8],
    max_message_length: u32,
    startup: bool,
    mut out: Uint32ArraySlice,
) -> Result<u32> {
    // SAFETY: the call runs synchronously on the JS thread, so nothing else touches the array
    // while this slice lives
    let out = unsafe { out.as_mut() };
    if out.len() < 2 {
        return Err(invalid(format!(
            "out: a Uint32Array of at least 2 expected, got {}",
            out.len()
        )));
    }
    with_frames(buf, max_message_length, startup, |scan, frames| {
        let (head, triples) = out.split_at_mut(2);
        if frames.len() <= triples.len() / 3 {
            head.copy_from_slice(&[scan.consumed as u32, scan.needed as u32]);
            for (t, f) in triples.chunks_exact_mut(3).zip(frames) {
                t.copy_from_slice(&[f.code as u32, f.start as u32, f.len as u32]);
            }
        }
        frames.len() as u32
    })
}

/// The linked Hyperscan version.
#[napi]
pub fn hyperscan_version() -> String {
    tollgate_masking::hs::version()
}

/// Names of the built-in entities, in default order.
#[napi]
pub fn builtin_entities() -> Vec<String> {
    tollgate_masking::builtin_names()
        .into_iter()
        .map(String::from)
        .collect()
}

/// A user-defined entity: a bounded regular expression, or a list of literal words.
#[napi(object)]
pub struct CustomEntityOptions {
    pub name: String,
    pub pattern: Option<String>,
    pub words: Option<Vec<String>>,
    pub case_insensitive: Option<bool>,
    /// `luhn`, `iban`, `aba` or `ssn`.
    pub validator: Option<String>,
    pub style: Option<String>,
}

#[napi(object)]
pub struct MaskingEngineOptions {
    /// Built-in entities to enable; all of them when absent.
    pub entities: Option<Vec<String>>,
    /// Style per entity name: `full`, `last4`, `format` or `hash`.
    pub styles: Option<HashMap<String, String>>,
    /// Style for entities without their own; `full` when absent.
    pub default_style: Option<String>,
    pub custom: Option<Vec<CustomEntityOptions>>,
    /// Key for the `hash` and `format` styles; a random per-engine key when absent.
    pub hash_key: Option<Buffer>,
}

#[napi(object)]
pub struct MaskResult {
    pub output: Buffer,
    /// Values replaced, per entity, in the order of `MaskingEngine.entities`.
    pub counts: Uint32Array,
}

fn parse_style(s: &str, what: &str) -> Result<Style> {
    s.parse::<Style>()
        .map_err(|e| invalid(format!("{what}: {e}")))
}

/// A compiled masking configuration: one Hyperscan database, reusable scratch space.
#[napi]
pub struct MaskingEngine {
    engine: Arc<Engine>,
    scratch: Scratch,
    /// `mask_data_rows` output, reused: a chunk's result is copied into a JS buffer (cheaper
    /// per call than handing over a fresh Vec as an external buffer with its finalizer)
    out: Vec<u8>,
}

/// The `counts` argument of the per-chunk calls, checked for length.
fn counts_of<'a>(counts: &'a mut Uint32ArraySlice, entities: usize) -> Result<&'a mut [u32]> {
    // SAFETY: the call runs synchronously on the JS thread, so nothing else touches the array
    // while this slice lives
    let c = unsafe { counts.as_mut() };
    if c.len() != entities {
        return Err(invalid(format!(
            "counts: a Uint32Array of {entities} (one per entity) expected, got {}",
            c.len()
        )));
    }
    Ok(c)
}

#[napi]
impl MaskingEngine {
    #[napi(constructor)]
    pub fn new(options: Option<MaskingEngineOptions>) -> Result<Self> {
        let o = options.unwrap_or(MaskingEngineOptions {
            entities: None,
            styles: None,
            default_style: None,
            custom: None,
            hash_key: None,
        });
        let default_style = match &o.default_style {
            Some(s) => parse_style(s, "defaultStyle")?,
            None => Style::Full,
        };
        let mut styles = HashMap::new();
        for (name, s) in o.styles.unwrap_or_default() {
            styles.insert(name.clone(), parse_style(&s, &format!("entity '{name}'"))?);
        }
        let builtin: Vec<String> = o.entities.unwrap_or_else(builtin_entities);
        let mut custom = Vec::new();
        for c in o.custom.unwrap_or_default() {
            let style = match &c.style {
                Some(s) => parse_style(s, &format!("entity '{}'", c.name))?,
                None => styles.get(&c.name).copied().unwrap_or(default_style),
            };
            custom.push((
                CustomSpec {
                    name: c.name,
                    pattern: c.pattern,
                    words: c.words,
                    case_insensitive: c.case_insensitive.unwrap_or(false),
                    validator: c.validator,
                },
                style,
            ));
        }
        let known: Vec<&String> = builtin
            .iter()
            .chain(custom.iter().map(|(c, _)| &c.name))
            .collect();
        if let Some(stray) = styles.keys().find(|k| !known.contains(k)) {
            return Err(invalid(format!(
                "a style is given for entity '{stray}', which is not enabled"
            )));
        }
        let list = Engine::configure(
            &builtin,
            &|n| styles.get(n).copied().unwrap_or(default_style),
            &custom,
        )
        .map_err(|e| invalid(e.0))?;
        let key = o.hash_key.map(|b| b.to_vec());
        let engine = Engine::new(list, key).map_err(|e| invalid(e.0))?;
        let scratch = engine.new_scratch();
        Ok(MaskingEngine {
            engine: Arc::new(engine),
            scratch,
            out: Vec::new(),
        })
    }

    /// Entity names, in the order `counts` and detections use.
    #[napi(getter)]
    pub fn entities(&self) -> Vec<String> {
        self.engine
            .entity_names()
            .into_iter()
            .map(String::from)
            .collect()
    }

    /// Bytes a stream may hold back before deciding about them.
    #[napi(getter)]
    pub fn hold_back(&self) -> u32 {
        self.engine.hold_back() as u32
    }

    /// Masks one whole buffer.
    #[napi]
    pub fn mask(&mut self, input: &[u8]) -> Result<MaskResult> {
        let mut counts = vec![0u32; self.engine.len()];
        let out = self
            .engine
            .mask(&mut self.scratch, input, &mut counts)
            .map_err(Error::from_reason)?;
        Ok(MaskResult {
            output: out.into(),
            counts: Uint32Array::new(counts),
        })
    }

    /// Detected values as triples `[entity index, start, end]` (byte offsets).
    #[napi]
    pub fn detect(&mut self, input: &[u8]) -> Result<Uint32Array> {
        let found = self
            .engine
            .detect(&mut self.scratch, input)
            .map_err(Error::from_reason)?;
        let mut flat = Vec::with_capacity(found.len() * 3);
        for f in &found {
            flat.extend_from_slice(&[f.entity as u32, f.start as u32, f.end as u32]);
        }
        self.scratch.recycle(found);
        Ok(Uint32Array::new(flat))
    }

    /// A per-column plan for one result set, compiled once per RowDescription.
    #[napi]
    pub fn create_row_plan(
        &self,
        columns: Vec<ColumnPlanOptions>,
        rest: Option<ColumnPlanOptions>,
    ) -> Result<RowPlan> {
        let convert = |c: &ColumnPlanOptions, which: &str| -> Result<ColumnAction> {
            match c.action.as_str() {
                "keep" => Ok(ColumnAction::Keep),
                "scan" => match &c.entities {
                    None => Ok(ColumnAction::Scan(self.engine.all_entities())),
                    Some(names) => {
                        let mut mask = 0u64;
                        for n in names {
                            let i = self.engine.entity_index(n).ok_or_else(|| {
                                invalid(format!("{which}: entity '{n}' is not enabled"))
                            })?;
                            mask |= 1 << i;
                        }
                        Ok(ColumnAction::Scan(mask))
                    }
                },
                "redact" => {
                    let n = c.entity.as_deref().ok_or_else(|| {
                        invalid(format!("{which}: action 'redact' needs an entity"))
                    })?;
                    let i = self
                        .engine
                        .entity_index(n)
                        .ok_or_else(|| invalid(format!("{which}: entity '{n}' is not enabled")))?;
                    Ok(ColumnAction::Redact(i as u16))
                }
                other => Err(invalid(format!(
                    "{which}: unknown action '{other}' (keep, scan, redact)"
                ))),
            }
        };
        let cols = columns
            .iter()
            .enumerate()
            .map(|(i, c)| convert(c, &format!("column {i}")))
            .collect::<Result<Vec<_>>>()?;
        let rest = match &rest {
            Some(r) => convert(r, "rest")?,
            None => ColumnAction::Keep,
        };
        Ok(RowPlan {
            plan: CoreRowPlan {
                columns: cols,
                rest,
            },
        })
    }

    /// Masks the DataRow messages in a chunk of complete backend messages, in one call. Adds
    /// the values replaced, per entity, to `counts`; returns null when nothing in the chunk
    /// changes (pass the chunk on as it is).
    #[napi]
    pub fn mask_data_rows<'e>(
        &mut self,
        env: &'e Env,
        chunk: &[u8],
        plan: &RowPlan,
        mut counts: Uint32ArraySlice,
    ) -> Result<Option<BufferSlice<'e>>> {
        let counts = counts_of(&mut counts, self.engine.len())?;
        let changed = self
            .engine
            .mask_data_rows_into(&mut self.scratch, chunk, &plan.plan, counts, &mut self.out)
            .map_err(|e| Error::new(Status::InvalidArg, format!("protocol error: {e}")))?;
        if !changed {
            return Ok(None);
        }
        copy_out(env, &mut self.out).map(Some)
    }

    /// A stream that masks values split across chunks; output equals whole-buffer masking.
    #[napi]
    pub fn create_stream(&self) -> Result<MaskStream> {
        let inner = CoreStream::new(Arc::clone(&self.engine)).map_err(Error::from_reason)?;
        Ok(MaskStream {
            inner,
            entities: self.engine.len(),
            out: Vec::new(),
        })
    }
}

#[napi(object)]
pub struct ColumnPlanOptions {
    /// `keep`, `scan` or `redact`.
    pub action: String,
    /// With `scan`: the entities to look for (all when absent).
    pub entities: Option<Vec<String>>,
    /// With `redact`: the entity the whole value is replaced as.
    pub entity: Option<String>,
}

#[napi]
pub struct RowPlan {
    plan: CoreRowPlan,
}

#[napi]
pub struct MaskStream {
    inner: CoreStream,
    entities: usize,
    /// output, reused across writes (see `MaskingEngine::out`)
    out: Vec<u8>,
}

/// Output buffers above this size are let go after the call rather than kept for the next.
const KEEP_OUT: usize = 1 << 20;

/// A call's output, copied out of the reused native buffer `out` into a JS-owned Buffer.
fn copy_out<'e>(env: &'e Env, out: &mut Vec<u8>) -> Result<BufferSlice<'e>> {
    let copy = BufferSlice::copy_from(env, &*out);
    if out.capacity() > KEEP_OUT {
        *out = Vec::new(); // one huge chunk does not pin its memory
    }
    copy
}

#[napi]
impl MaskStream {
    /// Feeds a chunk; returns the bytes that can already be decided (possibly none).
    #[napi]
    pub fn write<'e>(&mut self, env: &'e Env, chunk: &[u8]) -> Result<BufferSlice<'e>> {
        self.out.clear();
        self.inner
            .write(chunk, &mut self.out)
            .map_err(Error::from_reason)?;
        copy_out(env, &mut self.out)
    }

    /// Ends the stream; returns the rest of the output.
    #[napi]
    pub fn finish<'e>(&mut self, env: &'e Env) -> Result<BufferSlice<'e>> {
        self.out.clear();
        self.inner
            .finish(&mut self.out)
            .map_err(Error::from_reason)?;
        copy_out(env, &mut self.out)
    }

    /// Values replaced so far, per entity, in the order of `MaskingEngine.entities`.
    #[napi(getter)]
    pub fn counts(&self) -> Uint32Array {
        debug_assert_eq!(self.inner.counts().len(), self.entities);
        Uint32Array::new(self.inner.counts().to_vec())
    }

    /// Bytes received but not yet emitted.
    #[napi(getter)]
    pub fn held(&self) -> u32 {
        self.inner.held() as u32
    }
}
