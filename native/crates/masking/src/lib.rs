//! Tollgate's masking engine, without napi: Hyperscan prefiltering, native start recovery and
//! validation, redaction styles, streaming, and PostgreSQL DataRow rewriting.

pub mod engine;
pub mod entities;
pub mod hs;
pub mod redact;
mod starts;
#[cfg(test)]
mod testing;
pub mod tokens;
pub mod validators;

pub use engine::{
    ColumnAction, ConfigError, Engine, EntityConfig, Found, MaskStream, RowPlan, Scratch, Segment,
};
pub use entities::{builtin, builtin_names, CustomSpec, Definition};
pub use redact::{Style, STYLE_NAMES};
