//! SQL statement classification with the real PostgreSQL parser (libpg_query, through the
//! `pg_query` crate). No regular expression ever looks at the SQL text: the input is parsed,
//! each statement's tree is walked completely, and rules apply to nodes.
//!
//! ```
//! let c = sqlclass::classify("SELECT * FROM t; DELETE FROM t");
//! assert_eq!(c.statements.len(), 2);
//! assert_eq!(c.statements[1].class, sqlclass::Class::Dangerous);
//! assert_eq!(c.statements[1].reasons, ["DELETE without WHERE"]);
//! assert_eq!(c.strictest(), Some(sqlclass::Class::Dangerous));
//! ```
//!
//! See docs/sql-classification.md for the class of every statement kind and the reasons.

use std::fmt;
use std::str::FromStr;

mod functions;
mod rules;
mod walk;

#[cfg(test)]
mod tests;

/// Inputs longer than this are not parsed: they classify as one `unknown` statement. Parsing
/// is linear in the input (about 20 MB/s here), so this bounds one call to well under 100 ms.
pub const MAX_SQL_BYTES: usize = 1 << 20;

/// What a statement may do, from least to most restricted (the `Ord` order):
/// `Read < Utility < Transaction < Write < Ddl < Admin < Dangerous < Unknown`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Class {
    /// Reads data: SELECT, VALUES, TABLE, COPY … TO STDOUT, EXPLAIN, cursors.
    Read,
    /// Session settings and messaging: SET, RESET, SHOW, DISCARD, LISTEN, NOTIFY, DEALLOCATE.
    Utility,
    /// Transaction control: BEGIN, COMMIT, ROLLBACK, SAVEPOINT, SET TRANSACTION.
    Transaction,
    /// Changes rows: INSERT, UPDATE/DELETE with WHERE, MERGE, COPY FROM STDIN, CALL.
    Write,
    /// Changes the schema: CREATE/ALTER (except roles), COMMENT, CREATE INDEX.
    Ddl,
    /// Operates the server: SET ROLE, VACUUM, LOAD, CREATE EXTENSION, server-side COPY.
    Admin,
    /// Destroys data or changes privileges: DROP, TRUNCATE, DELETE/UPDATE without WHERE,
    /// roles, GRANT/REVOKE, DO blocks, COPY … PROGRAM, pg_terminate_backend-style calls.
    Dangerous,
    /// Could not be classified (parse error, EXECUTE, unrecognized statement): the most
    /// restricted class.
    Unknown,
}

impl Class {
    /// Every class, least restricted first.
    pub const ALL: [Class; 8] = [
        Class::Read,
        Class::Utility,
        Class::Transaction,
        Class::Write,
        Class::Ddl,
        Class::Admin,
        Class::Dangerous,
        Class::Unknown,
    ];

    /// The lower-case name used in policies and audit records.
    pub fn as_str(self) -> &'static str {
        match self {
            Class::Read => "read",
            Class::Utility => "utility",
            Class::Transaction => "transaction",
            Class::Write => "write",
            Class::Ddl => "ddl",
            Class::Admin => "admin",
            Class::Dangerous => "dangerous",
            Class::Unknown => "unknown",
        }
    }
}

impl fmt::Display for Class {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Class {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        Class::ALL
            .into_iter()
            .find(|c| c.as_str() == s)
            .ok_or_else(|| format!("unknown SQL class '{s}'"))
    }
}

/// The more restricted of two classes (see [`Class`] for the order).
pub fn strictest(a: Class, b: Class) -> Class {
    a.max(b)
}

/// One statement of the input.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Statement {
    /// Byte offset of the statement's first token in the input.
    pub start: usize,
    /// Byte offset just past the statement (before its `;`, trailing blanks trimmed).
    pub end: usize,
    pub class: Class,
    /// Why the class is what it is, e.g. `DELETE without WHERE`, `calls pg_terminate_backend`,
    /// `COPY … TO PROGRAM`. Never contains SQL text or constants; empty for plain reads,
    /// utility and transaction statements.
    pub reasons: Vec<String>,
    /// Every table touched, including inside WITH queries, subqueries and DDL targets;
    /// schema-qualified when the SQL qualifies it, identifiers quoted when they need it.
    /// Names of WITH queries are not tables and are left out.
    pub tables: Vec<String>,
    /// Every function called, as written (schema-qualified when given), lower-cased by the
    /// parser unless quoted.
    pub functions: Vec<String>,
    /// pg_query's fingerprint (16 hex digits): equal for statements that differ only in
    /// whitespace, comments or constants; relations count with their schema and full name.
    /// Empty when the input did not parse.
    pub fingerprint: String,
    /// The command, e.g. `SELECT`, `DELETE`, `DROP TABLE`, `SET`; `UNKNOWN` when the input did
    /// not parse.
    pub command: String,
}

/// The statements of one SQL string, in order. Empty input, or input made of comments and
/// semicolons only, has no statements.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Classification {
    pub statements: Vec<Statement>,
}

impl Classification {
    /// The strictest class among the statements; `None` when there are none.
    pub fn strictest(&self) -> Option<Class> {
        self.statements.iter().map(|s| s.class).max()
    }
}

/// How the server the SQL is sent to reads string literals. Must follow the session: the
/// gateway learns `standard_conforming_strings` from the server's ParameterStatus messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Options {
    /// `standard_conforming_strings` (on by default since PostgreSQL 9.1). When it is off, a
    /// backslash escapes a quote inside `'…'`, so the same bytes can hold different statements.
    pub standard_conforming_strings: bool,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            standard_conforming_strings: true,
        }
    }
}

impl Options {
    fn parser(self) -> pg_query::ParserOptions {
        if self.standard_conforming_strings {
            pg_query::ParserOptions::DEFAULT
        } else {
            pg_query::ParserOptions::DISABLE_STANDARD_CONFORMING_STRINGS
        }
    }
}

/// Classifies every statement of `sql` with the default [`Options`]. Never fails: input that
/// does not parse (anywhere) gives a single `unknown` statement that spans the whole input,
/// with the parser's message (stripped of the quoted SQL fragment) as reason.
pub fn classify(sql: &str) -> Classification {
    classify_with(sql, Options::default())
}

/// [`classify`] for a session with the given settings.
pub fn classify_with(sql: &str, options: Options) -> Classification {
    if sql.len() > MAX_SQL_BYTES {
        return unparsed(
            sql,
            format!(
                "statement text is {} bytes, above the classifier's limit of {} bytes",
                sql.len(),
                MAX_SQL_BYTES
            ),
        );
    }
    let parsed = match pg_query::parse(sql, options.parser()) {
        Ok(p) => p,
        Err(e) => return unparsed(sql, error_reason(&e)),
    };
    let mut statements = Vec::with_capacity(parsed.protobuf.stmts.len());
    for raw in &parsed.protobuf.stmts {
        let (start, end) = span(sql, raw.stmt_location, raw.stmt_len);
        let text = &sql[start..end];
        match raw.stmt.as_deref().and_then(|n| n.node.as_ref()) {
            Some(node) => statements.push(statement(node, text, start, end, options)),
            None => statements.push(Statement {
                start,
                end,
                class: Class::Unknown,
                reasons: vec!["empty statement node".to_owned()],
                tables: Vec::new(),
                functions: Vec::new(),
                fingerprint: String::new(),
                command: "UNKNOWN".to_owned(),
            }),
        }
    }
    Classification { statements }
}

fn statement(
    node: &pg_query::NodeEnum,
    text: &str,
    start: usize,
    end: usize,
    options: Options,
) -> Statement {
    let mut base = rules::classify(node);
    let mut body_functions = Vec::new();
    if let Some(body) = rules::sql_function_body(node) {
        // LANGUAGE sql bodies are SQL: what they would do counts for their creation
        for s in classify_with(body, options).statements {
            if s.class > base.class {
                base.class = s.class;
            }
            base.reasons
                .extend(s.reasons.into_iter().map(|r| format!("function body: {r}")));
            base.tables.extend(s.tables);
            body_functions.extend(s.functions);
        }
    }
    let facts = walk::walk(node, base.check_idents);
    let mut class = base.class;
    let mut reasons = base.reasons;
    let mut raise = |c: Class, r: String, class: &mut Class| {
        *class = (*class).max(c);
        if !reasons.contains(&r) {
            reasons.push(r);
        }
    };
    if base.executes {
        for d in &facts.dml {
            let place = match d.place {
                walk::Place::Top => "",
                walk::Place::Cte => " in a WITH query",
                walk::Place::Nested => " in a nested statement",
            };
            if d.filter == walk::Filter::Missing {
                raise(
                    Class::Dangerous,
                    format!("{} without WHERE{place}", d.verb),
                    &mut class,
                );
            } else if d.filter == walk::Filter::Constant {
                raise(
                    Class::Dangerous,
                    format!("{} with a WHERE that references no column{place}", d.verb),
                    &mut class,
                );
            } else if d.place != walk::Place::Top {
                raise(Class::Write, format!("{}{place}", d.verb), &mut class);
            } else {
                raise(Class::Write, d.verb.to_owned(), &mut class);
            }
        }
        if facts.select_into && class < Class::Write {
            raise(
                Class::Write,
                "SELECT … INTO creates a table".to_owned(),
                &mut class,
            );
        }
    }
    for (c, r) in &facts.calls {
        raise(*c, r.clone(), &mut class);
    }
    for name in &facts.dangerous_idents {
        let called = facts.calls.iter().any(|(_, r)| r.contains(name.as_str()));
        if !called {
            raise(Class::Dangerous, format!("references {name}"), &mut class);
        }
    }
    let mut tables = base.tables;
    tables.extend(facts.tables);
    let mut seen = std::collections::HashSet::new();
    tables.retain(|t| seen.insert(t.clone()));
    let mut functions = facts.functions;
    functions.extend(body_functions);
    seen.clear();
    functions.retain(|f| seen.insert(f.clone()));
    Statement {
        start,
        end,
        class,
        reasons,
        tables,
        functions,
        fingerprint: fingerprint(text, options),
        command: base.command,
    }
}

/// Relations are always part of the fingerprint — with their schema and full name, whatever
/// alias they carry — so that statements over different tables never share one (pg_query's
/// default would let an alias stand in for the table and ignore schemas and digit runs).
fn fingerprint_options() -> i32 {
    pg_query::FingerprintOptions::RANGEVAR_PG17_COMPAT.bits()
        | pg_query::FingerprintOptions::FULL_RELNAME.bits()
}

fn fingerprint(text: &str, options: Options) -> String {
    pg_query::fingerprint(text, options.parser(), fingerprint_options())
        .map(|f| f.hex)
        .unwrap_or_default()
}

/// The statement's byte range: `stmt_len` 0 means "to the end of the input".
fn span(sql: &str, location: i32, len: i32) -> (usize, usize) {
    let start = usize::try_from(location).unwrap_or(0).min(sql.len());
    let mut end = match usize::try_from(len) {
        Ok(0) | Err(_) => sql.len(),
        Ok(n) => start.saturating_add(n).min(sql.len()),
    };
    let bytes = sql.as_bytes();
    while end > start && bytes[end - 1].is_ascii_whitespace() {
        end -= 1;
    }
    // libpg_query reports byte offsets on character boundaries; stay safe regardless
    let start = floor_boundary(sql, start);
    let end = floor_boundary(sql, end).max(start);
    (start, end)
}

fn floor_boundary(s: &str, mut i: usize) -> usize {
    while i > 0 && !s.is_char_boundary(i) {
        i -= 1;
    }
    i
}

fn unparsed(sql: &str, reason: String) -> Classification {
    Classification {
        statements: vec![Statement {
            start: 0,
            end: sql.len(),
            class: Class::Unknown,
            reasons: vec![reason],
            tables: Vec::new(),
            functions: Vec::new(),
            fingerprint: String::new(),
            command: "UNKNOWN".to_owned(),
        }],
    }
}

/// The parser's message without the fragment of SQL it quotes (`at or near "…"`), which may
/// hold a sensitive constant.
fn error_reason(e: &pg_query::Error) -> String {
    let msg = match e {
        pg_query::Error::Parse(m) => m.clone(),
        pg_query::Error::Conversion(_) => return "input contains a NUL byte".to_owned(),
        pg_query::Error::Decode(_) => {
            return "parse tree too deeply nested to classify".to_owned();
        }
        other => other.to_string(),
    };
    let mut msg = match msg.find(" at or near ") {
        Some(i) => msg[..i].to_owned(),
        None => msg,
    };
    if let Some(i) = msg.find(": ") {
        msg.truncate(i);
    }
    if let Some(i) = msg.find('"') {
        msg.truncate(i);
    }
    let msg = msg.trim();
    if msg.is_empty() {
        "parse error".to_owned()
    } else {
        format!("parse error: {msg}")
    }
}
