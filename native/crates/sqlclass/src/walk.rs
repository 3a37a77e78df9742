//! A complete walk of one statement's parse tree.
//!
//! pg_query's own node iterator visits only a subset of node types, which is not good enough
//! for a gate. Every protobuf node derives `serde::Serialize`, so this module implements a
//! `serde::Serializer` that visits every field of every node without building any
//! intermediate value. It reacts to a handful of struct names (`FuncCall`, `RangeVar`, the
//! data-modifying statements, `SelectStmt`, `CommonTableExpr`, `WithClause`) and collects the
//! facts the rules need: tables, called functions, data-modifying statements at any depth
//! and their WHERE clauses, and `SELECT … INTO`.
//!
//! Tables: a bare name that refers to a WITH query (CTE) in scope is not a table. Scopes follow
//! PostgreSQL: a CTE is visible in its statement, in later CTEs of the same WITH, and in itself
//! and all siblings when the WITH is RECURSIVE. The targets of INSERT/UPDATE/DELETE/MERGE and
//! of `SELECT … INTO` are always tables.

use std::borrow::Cow;
use std::fmt;

use serde::ser::{self, Serialize};

use crate::functions;
use crate::Class;

/// Where a data-modifying statement sits in the tree.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Place {
    /// The statement itself (or the statement EXPLAIN/PREPARE/COPY wraps).
    Top,
    /// The body of a WITH query.
    Cte,
    /// Somewhere else inside another statement (a rule action, a function body, …).
    Nested,
}

/// The row filter of an UPDATE or DELETE.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Filter {
    /// No WHERE clause: every row.
    Missing,
    /// A WHERE clause that references no column (`WHERE true`, `WHERE 1 = 1`): every row or
    /// none, whatever the data.
    Constant,
    /// A WHERE clause over columns or `WHERE CURRENT OF` (also used for INSERT and MERGE).
    Present,
}

/// One INSERT/UPDATE/DELETE/MERGE found anywhere in the tree.
#[derive(Debug, Clone)]
pub(crate) struct Dml {
    pub verb: &'static str,
    pub filter: Filter,
    pub place: Place,
}

/// What a walk found.
#[derive(Debug, Default)]
pub(crate) struct Facts {
    pub tables: Vec<String>,
    pub functions: Vec<String>,
    pub dml: Vec<Dml>,
    pub select_into: bool,
    /// Class changes caused by function calls, with their reasons.
    pub calls: Vec<(Class, String)>,
    /// Dangerous function names met as plain identifiers (collected only on request, for DDL).
    pub dangerous_idents: Vec<String>,
}

/// Walks `node` (any protobuf value) and returns the facts. `idents` also checks every
/// identifier-sized string against the dangerous-function names.
pub(crate) fn walk<T: Serialize + ?Sized>(node: &T, idents: bool) -> Facts {
    let mut w = Walker {
        facts: Facts::default(),
        scopes: vec![Scope::default()],
        capture: Capture::Off,
        structs: 0,
        refs: 0,
        target: false,
        stmt_depth: 0,
        idents,
        depth: 0,
        field_select_depth: None,
    };
    // The walker itself never fails; an error could only come from a foreign Serialize impl.
    let _ = node.serialize(&mut w);
    w.finish()
}

/// Quotes an identifier the way PostgreSQL prints one that needs quoting, so that output names
/// stay unambiguous (`public."My Table"`, `"a.b"`). Plain lower-case names are left alone.
pub(crate) fn quote_ident(s: &str) -> Cow<'_, str> {
    let plain = s
        .bytes()
        .next()
        .is_some_and(|b| b.is_ascii_lowercase() || b == b'_')
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'$');
    if plain {
        Cow::Borrowed(s)
    } else {
        Cow::Owned(format!("\"{}\"", s.replace('"', "\"\"")))
    }
}

/// Joins name components with `.`, quoting each as needed.
pub(crate) fn qualified<'a>(parts: impl IntoIterator<Item = &'a str>) -> String {
    let mut out = String::new();
    for p in parts.into_iter().filter(|p| !p.is_empty()) {
        if !out.is_empty() {
            out.push('.');
        }
        out.push_str(&quote_ident(p));
    }
    out
}

#[derive(Debug)]
struct TableRef {
    name: String,
    /// The bare relation name when unqualified: only those can refer to a CTE.
    bare: Option<String>,
}

#[derive(Debug, Default)]
struct Scope {
    is_cte: bool,
    ctes: Vec<String>,
    recursive: bool,
    pending: Vec<TableRef>,
    /// Tables from the body of CTE number `.0`, resolved when the owning statement ends.
    bodies: Vec<(usize, Vec<TableRef>)>,
}

enum Capture {
    Off,
    Str(Option<String>),
    List(Vec<String>),
    Bool(Option<bool>),
}

struct Walker {
    facts: Facts,
    scopes: Vec<Scope>,
    capture: Capture,
    /// Structs entered so far: tells whether an optional field held a node.
    structs: u64,
    /// Column references (and `CURRENT OF`) entered so far: tells whether a WHERE is constant.
    refs: u64,
    /// The next RangeVar is a write target (never a CTE reference).
    target: bool,
    stmt_depth: u32,
    idents: bool,
    /// Structs currently open.
    depth: u32,
    /// While inside `A_Indirection.indirection`: the depth of its field-name String nodes.
    field_select_depth: Option<u32>,
}

#[derive(Debug)]
pub(crate) struct WalkError;

impl fmt::Display for WalkError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("parse tree walk failed")
    }
}
impl std::error::Error for WalkError {}
impl ser::Error for WalkError {
    fn custom<T: fmt::Display>(_msg: T) -> Self {
        WalkError
    }
}

type R = Result<(), WalkError>;

impl Walker {
    fn capture_str<T: Serialize + ?Sized>(&mut self, v: &T) -> Result<String, WalkError> {
        self.capture = Capture::Str(None);
        let r = v.serialize(&mut *self);
        let got = match std::mem::replace(&mut self.capture, Capture::Off) {
            Capture::Str(s) => s.unwrap_or_default(),
            _ => String::new(),
        };
        r.map(|_| got)
    }

    fn capture_list<T: Serialize + ?Sized>(&mut self, v: &T) -> Result<Vec<String>, WalkError> {
        self.capture = Capture::List(Vec::new());
        let r = v.serialize(&mut *self);
        let got = match std::mem::replace(&mut self.capture, Capture::Off) {
            Capture::List(l) => l,
            _ => Vec::new(),
        };
        r.map(|_| got)
    }

    fn capture_bool<T: Serialize + ?Sized>(&mut self, v: &T) -> Result<bool, WalkError> {
        self.capture = Capture::Bool(None);
        let r = v.serialize(&mut *self);
        let got = match std::mem::replace(&mut self.capture, Capture::Off) {
            Capture::Bool(b) => b.unwrap_or(false),
            _ => false,
        };
        r.map(|_| got)
    }

    /// Walks `v` and tells whether it held at least one node (an optional clause is present).
    fn walk_present<T: Serialize + ?Sized>(&mut self, v: &T) -> Result<bool, WalkError> {
        let before = self.structs;
        v.serialize(&mut *self)?;
        Ok(self.structs > before)
    }

    /// `(expr).name` or `tbl.name`: a call of `name` when it is a one-argument function.
    fn field_selection(&mut self, name: &str) {
        if let Some((class, reason)) = functions::attribute_effect(name) {
            self.facts.calls.push((class, reason));
            self.facts.functions.push(quote_ident(name).into_owned());
        }
    }

    fn top(&mut self) -> &mut Scope {
        if self.scopes.is_empty() {
            self.scopes.push(Scope::default());
        }
        let last = self.scopes.len() - 1;
        &mut self.scopes[last]
    }

    fn place(&mut self) -> Place {
        if self.stmt_depth == 0 {
            Place::Top
        } else if self.top().is_cte {
            Place::Cte
        } else {
            Place::Nested
        }
    }

    fn pop_statement_scope(&mut self) {
        if self.scopes.len() < 2 {
            return;
        }
        let Some(s) = self.scopes.pop() else { return };
        let hidden = |names: &[String], t: &TableRef| {
            t.bare
                .as_ref()
                .is_some_and(|b| names.iter().any(|n| n == b))
        };
        let mut out = Vec::new();
        for (i, body) in s.bodies {
            let visible = if s.recursive {
                &s.ctes[..]
            } else {
                &s.ctes[..i.min(s.ctes.len())]
            };
            out.extend(body.into_iter().filter(|t| !hidden(visible, t)));
        }
        out.extend(s.pending.into_iter().filter(|t| !hidden(&s.ctes, t)));
        self.top().pending.extend(out);
    }

    fn pop_cte_scope(&mut self, name: String) {
        if self.scopes.len() < 2 {
            return;
        }
        let Some(s) = self.scopes.pop() else { return };
        let owner = self.top();
        let index = owner.ctes.len();
        owner.bodies.push((index, s.pending));
        owner.ctes.push(name);
    }

    fn finish(mut self) -> Facts {
        while self.scopes.len() > 1 {
            self.pop_statement_scope();
        }
        let root = self.scopes.pop().unwrap_or_default();
        let mut facts = self.facts;
        facts
            .tables
            .extend(root.pending.into_iter().map(|t| t.name));
        dedup(&mut facts.tables);
        dedup(&mut facts.functions);
        dedup(&mut facts.dangerous_idents);
        facts
    }
}

fn dedup(v: &mut Vec<String>) {
    let mut seen = std::collections::HashSet::with_capacity(v.len());
    v.retain(|s| seen.insert(s.clone()));
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Func,
    Rel,
    Dml(&'static str),
    Select,
    Cte,
    With,
    ColRef,
    Indirection,
    /// Holds statements that are stored, not run now (function bodies, rule actions).
    Container,
    Other,
}

/// Per-struct state while its fields are visited.
pub(crate) struct Frame<'a> {
    w: &'a mut Walker,
    kind: Kind,
    place: Place,
    parts: Vec<String>,
    first_arg: Option<String>,
    rel: [String; 3],
    filter: Filter,
    into: bool,
    cte_name: String,
}

impl<'a> Frame<'a> {
    fn open(w: &'a mut Walker, name: &'static str) -> Self {
        w.structs += 1;
        w.depth += 1;
        if name == "ColumnRef" || name == "CurrentOfExpr" {
            w.refs += 1;
        }
        let kind = match name {
            "FuncCall" => Kind::Func,
            "RangeVar" => Kind::Rel,
            "InsertStmt" => Kind::Dml("INSERT"),
            "UpdateStmt" => Kind::Dml("UPDATE"),
            "DeleteStmt" => Kind::Dml("DELETE"),
            "MergeStmt" => Kind::Dml("MERGE"),
            "SelectStmt" => Kind::Select,
            "CommonTableExpr" => Kind::Cte,
            "WithClause" => Kind::With,
            "ColumnRef" => Kind::ColRef,
            "AIndirection" => Kind::Indirection,
            "CreateFunctionStmt" | "RuleStmt" => Kind::Container,
            _ => Kind::Other,
        };
        let mut place = Place::Top;
        match kind {
            Kind::Dml(_) | Kind::Select => {
                place = w.place();
                w.scopes.push(Scope::default());
                w.stmt_depth += 1;
            }
            Kind::Cte => w.scopes.push(Scope {
                is_cte: true,
                ..Scope::default()
            }),
            _ => {}
        }
        Frame {
            w,
            kind,
            place,
            parts: Vec::new(),
            first_arg: None,
            rel: Default::default(),
            filter: Filter::Missing,
            into: false,
            cte_name: String::new(),
        }
    }

    fn field<T: Serialize + ?Sized>(&mut self, key: &'static str, value: &T) -> R {
        match (self.kind, key) {
            (Kind::Func, "funcname") => {
                self.parts = self.w.capture_list(value)?;
                // the name's strings are identifiers too
                if self.w.idents {
                    for p in &self.parts {
                        note_ident(&mut self.w.facts, p);
                    }
                }
            }
            (Kind::Func, "args") => {
                let is_set_config = self
                    .parts
                    .last()
                    .is_some_and(|n| n.eq_ignore_ascii_case("set_config"));
                if is_set_config {
                    self.first_arg = first_string_arg(value);
                }
                value.serialize(&mut *self.w)?;
            }
            (Kind::Rel, "catalogname") => self.rel[0] = self.w.capture_str(value)?,
            (Kind::Rel, "schemaname") => self.rel[1] = self.w.capture_str(value)?,
            (Kind::Rel, "relname") => self.rel[2] = self.w.capture_str(value)?,
            (Kind::Dml(_), "where_clause") => {
                let refs = self.w.refs;
                if self.w.walk_present(value)? {
                    self.filter = if self.w.refs > refs {
                        Filter::Present
                    } else {
                        Filter::Constant
                    };
                }
            }
            (Kind::Dml(_), "relation") => {
                self.w.target = true;
                let r = value.serialize(&mut *self.w);
                self.w.target = false;
                r?;
            }
            (Kind::Select, "into_clause") => {
                self.w.target = true;
                let r = self.w.walk_present(value);
                self.w.target = false;
                self.into = r?;
            }
            (Kind::Cte, "ctename") => self.cte_name = self.w.capture_str(value)?,
            (Kind::ColRef, "fields") => self.parts = self.w.capture_list(value)?,
            (Kind::Indirection, "indirection") => {
                // the String nodes of the list sit two structs below (Node, then String)
                let saved = self.w.field_select_depth.replace(self.w.depth + 2);
                let r = value.serialize(&mut *self.w);
                self.w.field_select_depth = saved;
                r?;
            }
            (Kind::Container, "sql_body" | "actions") => {
                self.w.stmt_depth += 1;
                let r = value.serialize(&mut *self.w);
                self.w.stmt_depth -= 1;
                r?;
            }
            (Kind::With, "recursive") => {
                let rec = self.w.capture_bool(value)?;
                self.w.top().recursive = rec;
            }
            _ => value.serialize(&mut *self.w)?,
        }
        Ok(())
    }

    fn close(self) -> R {
        let w = self.w;
        w.depth = w.depth.saturating_sub(1);
        match self.kind {
            Kind::ColRef => {
                for field in self.parts.iter().skip(1) {
                    w.field_selection(field);
                }
            }
            Kind::Func => {
                let name = qualified(self.parts.iter().map(String::as_str));
                if let Some(last) = self.parts.last() {
                    if let Some(effect) = functions::call_effect(last, self.first_arg.as_deref()) {
                        w.facts.calls.push(effect);
                    }
                }
                if !name.is_empty() {
                    w.facts.functions.push(name);
                }
            }
            Kind::Rel => {
                let [catalog, schema, rel] = &self.rel;
                let name = qualified([catalog.as_str(), schema.as_str(), rel.as_str()]);
                let bare = (catalog.is_empty() && schema.is_empty()).then(|| rel.clone());
                if w.target {
                    w.target = false;
                    w.facts.tables.push(name);
                } else if !rel.is_empty() {
                    w.top().pending.push(TableRef { name, bare });
                }
            }
            Kind::Dml(verb) => {
                w.facts.dml.push(Dml {
                    verb,
                    // INSERT has no WHERE; MERGE is bounded by its join condition
                    filter: if verb == "INSERT" || verb == "MERGE" {
                        Filter::Present
                    } else {
                        self.filter
                    },
                    place: self.place,
                });
                w.pop_statement_scope();
                w.stmt_depth = w.stmt_depth.saturating_sub(1);
            }
            Kind::Select => {
                if self.into {
                    w.facts.select_into = true;
                }
                w.pop_statement_scope();
                w.stmt_depth = w.stmt_depth.saturating_sub(1);
            }
            Kind::Cte => w.pop_cte_scope(self.cte_name),
            Kind::With | Kind::Indirection | Kind::Container | Kind::Other => {}
        }
        Ok(())
    }
}

fn note_ident(facts: &mut Facts, s: &str) {
    // PostgreSQL truncates identifiers to 63 bytes; longer strings are not function names.
    if s.len() <= 63 && functions::is_dangerous_name(s) {
        facts.dangerous_idents.push(s.to_ascii_lowercase());
    }
}

/// The first argument of a call when it is a plain string constant. Only used for the rare
/// `set_config` calls, so a temporary JSON value is fine here.
fn first_string_arg<T: Serialize + ?Sized>(args: &T) -> Option<String> {
    let v = serde_json::to_value(args).ok()?;
    v.as_array()?
        .first()?
        .pointer("/node/AConst/val/Sval/sval")?
        .as_str()
        .map(str::to_owned)
}

impl<'a> ser::Serializer for &'a mut Walker {
    type Ok = ();
    type Error = WalkError;
    type SerializeSeq = Self;
    type SerializeTuple = Self;
    type SerializeTupleStruct = Self;
    type SerializeTupleVariant = Self;
    type SerializeMap = Self;
    type SerializeStruct = Frame<'a>;
    type SerializeStructVariant = Frame<'a>;

    fn serialize_bool(self, v: bool) -> R {
        if let Capture::Bool(slot) = &mut self.capture {
            *slot = Some(v);
        }
        Ok(())
    }
    fn serialize_i8(self, _: i8) -> R {
        Ok(())
    }
    fn serialize_i16(self, _: i16) -> R {
        Ok(())
    }
    fn serialize_i32(self, _: i32) -> R {
        Ok(())
    }
    fn serialize_i64(self, _: i64) -> R {
        Ok(())
    }
    fn serialize_u8(self, _: u8) -> R {
        Ok(())
    }
    fn serialize_u16(self, _: u16) -> R {
        Ok(())
    }
    fn serialize_u32(self, _: u32) -> R {
        Ok(())
    }
    fn serialize_u64(self, _: u64) -> R {
        Ok(())
    }
    fn serialize_f32(self, _: f32) -> R {
        Ok(())
    }
    fn serialize_f64(self, _: f64) -> R {
        Ok(())
    }
    fn serialize_char(self, _: char) -> R {
        Ok(())
    }
    fn serialize_str(self, v: &str) -> R {
        match &mut self.capture {
            Capture::Str(slot) => *slot = Some(v.to_owned()),
            Capture::List(list) => list.push(v.to_owned()),
            Capture::Off => {
                if self.field_select_depth == Some(self.depth) {
                    self.field_selection(v);
                }
                if self.idents {
                    note_ident(&mut self.facts, v);
                }
            }
            _ => {}
        }
        Ok(())
    }
    fn serialize_bytes(self, _: &[u8]) -> R {
        Ok(())
    }
    fn serialize_none(self) -> R {
        Ok(())
    }
    fn serialize_some<T: Serialize + ?Sized>(self, v: &T) -> R {
        v.serialize(self)
    }
    fn serialize_unit(self) -> R {
        Ok(())
    }
    fn serialize_unit_struct(self, _: &'static str) -> R {
        Ok(())
    }
    fn serialize_unit_variant(self, _: &'static str, _: u32, _: &'static str) -> R {
        Ok(())
    }
    fn serialize_newtype_struct<T: Serialize + ?Sized>(self, _: &'static str, v: &T) -> R {
        v.serialize(self)
    }
    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        v: &T,
    ) -> R {
        v.serialize(self)
    }
    fn serialize_seq(self, _: Option<usize>) -> Result<Self, WalkError> {
        Ok(self)
    }
    fn serialize_tuple(self, _: usize) -> Result<Self, WalkError> {
        Ok(self)
    }
    fn serialize_tuple_struct(self, _: &'static str, _: usize) -> Result<Self, WalkError> {
        Ok(self)
    }
    fn serialize_tuple_variant(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: usize,
    ) -> Result<Self, WalkError> {
        Ok(self)
    }
    fn serialize_map(self, _: Option<usize>) -> Result<Self, WalkError> {
        Ok(self)
    }
    fn serialize_struct(self, name: &'static str, _: usize) -> Result<Frame<'a>, WalkError> {
        Ok(Frame::open(self, name))
    }
    fn serialize_struct_variant(
        self,
        _: &'static str,
        _: u32,
        variant: &'static str,
        _: usize,
    ) -> Result<Frame<'a>, WalkError> {
        Ok(Frame::open(self, variant))
    }
}

impl ser::SerializeSeq for &mut Walker {
    type Ok = ();
    type Error = WalkError;
    fn serialize_element<T: Serialize + ?Sized>(&mut self, v: &T) -> R {
        v.serialize(&mut **self)
    }
    fn end(self) -> R {
        Ok(())
    }
}

impl ser::SerializeTuple for &mut Walker {
    type Ok = ();
    type Error = WalkError;
    fn serialize_element<T: Serialize + ?Sized>(&mut self, v: &T) -> R {
        v.serialize(&mut **self)
    }
    fn end(self) -> R {
        Ok(())
    }
}

impl ser::SerializeTupleStruct for &mut Walker {
    type Ok = ();
    type Error = WalkError;
    fn serialize_field<T: Serialize + ?Sized>(&mut self, v: &T) -> R {
        v.serialize(&mut **self)
    }
    fn end(self) -> R {
        Ok(())
    }
}

impl ser::SerializeTupleVariant for &mut Walker {
    type Ok = ();
    type Error = WalkError;
    fn serialize_field<T: Serialize + ?Sized>(&mut self, v: &T) -> R {
        v.serialize(&mut **self)
    }
    fn end(self) -> R {
        Ok(())
    }
}

impl ser::SerializeMap for &mut Walker {
    type Ok = ();
    type Error = WalkError;
    fn serialize_key<T: Serialize + ?Sized>(&mut self, k: &T) -> R {
        k.serialize(&mut **self)
    }
    fn serialize_value<T: Serialize + ?Sized>(&mut self, v: &T) -> R {
        v.serialize(&mut **self)
    }
    fn end(self) -> R {
        Ok(())
    }
}

impl ser::SerializeStruct for Frame<'_> {
    type Ok = ();
    type Error = WalkError;
    fn serialize_field<T: Serialize + ?Sized>(&mut self, key: &'static str, v: &T) -> R {
        self.field(key, v)
    }
    fn end(self) -> R {
        self.close()
    }
}

impl ser::SerializeStructVariant for Frame<'_> {
    type Ok = ();
    type Error = WalkError;
    fn serialize_field<T: Serialize + ?Sized>(&mut self, key: &'static str, v: &T) -> R {
        self.field(key, v)
    }
    fn end(self) -> R {
        self.close()
    }
}
