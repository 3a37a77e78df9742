//! SQL classification (the `sqlclass` crate): one call per Query or Parse message, covering
//! every statement of the string.

use napi::bindgen_prelude::{AsyncTask, Buffer, Either, Env, Result, Task};
use napi_derive::napi;

/// One statement of a classified SQL string.
#[napi(object)]
pub struct SqlStatement {
    /// Byte offset (UTF-8) of the statement's first token in the input.
    pub start: u32,
    /// Byte offset just past the statement (before its `;`, trailing blanks trimmed).
    pub end: u32,
    #[napi(
        ts_type = "'read' | 'utility' | 'transaction' | 'write' | 'ddl' | 'admin' | 'dangerous' | 'unknown'"
    )]
    pub class: String,
    /// The command, e.g. `SELECT`, `DELETE`, `DROP TABLE`; `UNKNOWN` when it did not parse.
    pub command: String,
    /// Why the class is what it is (`DELETE without WHERE`, `calls pg_terminate_backend`);
    /// never SQL text.
    pub reasons: Vec<String>,
    /// Every table touched, schema-qualified when the SQL qualifies it.
    pub tables: Vec<String>,
    /// Every function called, as written.
    pub functions: Vec<String>,
    /// pg_query fingerprint (16 hex digits); empty when the input did not parse.
    pub fingerprint: String,
}

#[napi(object)]
pub struct SqlClassification {
    /// One entry per statement; none for empty input or input made only of comments.
    pub statements: Vec<SqlStatement>,
}

#[napi(object)]
pub struct SqlClassifyOptions {
    /// The session's `standard_conforming_strings` (default true). When off, a backslash
    /// escapes a quote, so the same text can hold different statements.
    pub standard_conforming_strings: Option<bool>,
}

fn options(o: Option<SqlClassifyOptions>) -> sqlclass::Options {
    sqlclass::Options {
        standard_conforming_strings: o
            .and_then(|o| o.standard_conforming_strings)
            .unwrap_or(true),
    }
}

fn classify_bytes(sql: &[u8], opts: sqlclass::Options) -> sqlclass::Classification {
    match std::str::from_utf8(sql) {
        Ok(s) => sqlclass::classify_with(s, opts),
        Err(_) => sqlclass::Classification {
            statements: vec![sqlclass::Statement {
                start: 0,
                end: sql.len(),
                class: sqlclass::Class::Unknown,
                reasons: vec!["input is not valid UTF-8".to_owned()],
                tables: Vec::new(),
                functions: Vec::new(),
                fingerprint: String::new(),
                command: "UNKNOWN".to_owned(),
            }],
        },
    }
}

/// Classifies every statement of a SQL string with the PostgreSQL parser (libpg_query).
/// Never throws for bad SQL: input that does not parse is one statement of class `unknown`.
/// A Buffer must hold UTF-8; its offsets index the Buffer directly.
#[napi]
pub fn classify_sql(
    sql: Either<String, Buffer>,
    options: Option<SqlClassifyOptions>,
) -> SqlClassification {
    let opts = self::options(options);
    let c = match &sql {
        Either::A(s) => sqlclass::classify_with(s, opts),
        Either::B(b) => classify_bytes(b, opts),
    };
    convert(c)
}

/// `classifySql` on a libuv worker thread, for large messages (a 1 MiB string of many short
/// statements takes most of a second to classify, which must not stall the event loop).
#[napi(ts_return_type = "Promise<SqlClassification>")]
pub fn classify_sql_async(
    sql: Either<String, Buffer>,
    options: Option<SqlClassifyOptions>,
) -> AsyncTask<ClassifyTask> {
    let sql = match sql {
        Either::A(s) => s.into_bytes(),
        // a private copy: the caller may reuse its Buffer while the worker runs
        Either::B(b) => b.to_vec(),
    };
    AsyncTask::new(ClassifyTask {
        sql,
        opts: self::options(options),
    })
}

pub struct ClassifyTask {
    sql: Vec<u8>,
    opts: sqlclass::Options,
}

impl Task for ClassifyTask {
    type Output = sqlclass::Classification;
    type JsValue = SqlClassification;

    fn compute(&mut self) -> Result<Self::Output> {
        Ok(classify_bytes(&self.sql, self.opts))
    }

    fn resolve(&mut self, _env: Env, output: Self::Output) -> Result<Self::JsValue> {
        Ok(convert(output))
    }
}

fn convert(c: sqlclass::Classification) -> SqlClassification {
    SqlClassification {
        statements: c
            .statements
            .into_iter()
            .map(|s| SqlStatement {
                start: s.start as u32,
                end: s.end as u32,
                class: s.class.as_str().to_owned(),
                command: s.command,
                reasons: s.reasons,
                tables: s.tables,
                functions: s.functions,
                fingerprint: s.fingerprint,
            })
            .collect(),
    }
}
