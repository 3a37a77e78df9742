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

/// Splits PostgreSQL protocol bytes into messages. The caller keeps the unconsumed tail and
/// calls again once `needed` bytes are there. Throws when a declared length is negative,
/// shorter than 4, or above `maxMessageLength` (nothing is allocated for it).
#[napi]
pub fn frame_pg_messages(buf: &[u8], max_message_length: u32, startup: bool) -> Result<PgFrames> {
    thread_local! {
        // reused across calls: one scan per TCP read, thousands per second
        static FRAMES: std::cell::RefCell<Vec<tollgate_framing::Frame>> = const { std::cell::RefCell::new(Vec::new()) };
    }
    let (scan, flat) = FRAMES.with_borrow_mut(|frames| {
        frames.clear();
        let scan = tollgate_framing::scan(buf, max_message_length as usize, startup, frames)
            .map_err(|e| Error::new(Status::InvalidArg, format!("protocol error: {e}")))?;
        let mut flat = Vec::with_capacity(frames.len() * 3);
        for f in frames.iter() {
            flat.extend_from_slice(&[f.code as u32, f.start as u32, f.len as u32]);
        }
        Ok::<_, Error>((scan, flat))
    })?;
    Ok(PgFrames {
        frames: Uint32Array::new(flat),
        consumed: scan.consumed as u32,
        needed: scan.needed as u32,
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

    /// Masks the DataRow messages in a chunk of complete backend messages, in one call.
    #[napi]
    pub fn mask_data_rows(&mut self, chunk: &[u8], plan: &RowPlan) -> Result<MaskResult> {
        let mut counts = vec![0u32; self.engine.len()];
        let out = self
            .engine
            .mask_data_rows(&mut self.scratch, chunk, &plan.plan, &mut counts)
            .map_err(|e| Error::new(Status::InvalidArg, format!("protocol error: {e}")))?;
        Ok(MaskResult {
            output: out.into(),
            counts: Uint32Array::new(counts),
        })
    }

    /// A stream that masks values split across chunks; output equals whole-buffer masking.
    #[napi]
    pub fn create_stream(&self) -> Result<MaskStream> {
        let inner = CoreStream::new(Arc::clone(&self.engine)).map_err(Error::from_reason)?;
        Ok(MaskStream {
            inner,
            entities: self.engine.len(),
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
}

#[napi]
impl MaskStream {
    /// Feeds a chunk; returns the bytes that can already be decided and this call's counts.
    #[napi]
    pub fn write(&mut self, chunk: &[u8]) -> Result<MaskResult> {
        let before = self.inner.counts().to_vec();
        let mut out = Vec::with_capacity(chunk.len() + 64);
        self.inner
            .write(chunk, &mut out)
            .map_err(Error::from_reason)?;
        Ok(self.result(out, &before))
    }

    /// Ends the stream; returns the rest of the output.
    #[napi]
    pub fn finish(&mut self) -> Result<MaskResult> {
        let before = self.inner.counts().to_vec();
        let mut out = Vec::new();
        self.inner.finish(&mut out).map_err(Error::from_reason)?;
        Ok(self.result(out, &before))
    }

    /// Bytes received but not yet emitted.
    #[napi(getter)]
    pub fn held(&self) -> u32 {
        self.inner.held() as u32
    }

    fn result(&self, out: Vec<u8>, before: &[u32]) -> MaskResult {
        let counts: Vec<u32> = self
            .inner
            .counts()
            .iter()
            .zip(before)
            .map(|(a, b)| a - b)
            .collect();
        debug_assert_eq!(counts.len(), self.entities);
        MaskResult {
            output: out.into(),
            counts: Uint32Array::new(counts),
        }
    }
}
