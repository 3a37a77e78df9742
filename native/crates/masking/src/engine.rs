//! The masking engine: one Hyperscan database per configuration, native start recovery,
//! validation, overlap resolution and redaction, for whole buffers, streams and DataRows.
//!
//! Detection in three steps:
//! 1. Hyperscan scans the text once for every entity's prefilter, without start-of-match
//!    tracking, and reports `(entity, end)` hits.
//! 2. For each hit, a reverse DFA of the exact pattern, anchored at the end, walks back at
//!    most `max_len` bytes and yields every start; the leftmost start whose validator accepts wins.
//!    Small patterns get a fully built DFA (a table walk per byte, nothing per call); the rest a
//!    lazy DFA that builds its states as it meets them. The built-in entities most common in
//!    table data (cards, SSNs, IBANs, phones, emails, IPv4) first ask a native finder
//!    (`starts.rs`) that reads the start off the text's shape, and walk only when it cannot
//!    tell; where the token scanner already ran the value-only validator checks on that very
//!    value, only the context checks run again.
//! 3. Candidates are resolved greedily by (start, longest, entity priority) into
//!    non-overlapping replacements.
//!
//! Every step depends only on bytes within `max_len + CONTEXT` of the value, which is what lets
//! the stream produce exactly the output of whole-buffer masking for any chunking.

use std::cmp::Reverse;
use std::sync::Arc;

use regex_automata::dfa::{dense, Automaton};
use regex_automata::hybrid::dfa::{Cache, OverlappingState, DFA};
use regex_automata::nfa::thompson;
use regex_automata::util::primitives::StateID;
use regex_automata::util::start;
use regex_automata::util::syntax;
use regex_automata::{Anchored, Input, MatchKind};

use crate::entities::{run_len, CustomSpec, Definition, Finder, ValueSpan};
use crate::hs;
use crate::redact::{redact, Style};
use crate::starts::{self, Starts};
use crate::tokens::{self, Targets};
use crate::validators;

/// Bytes of left context a validator may look at before a match (`version 1.2.3.4`).
pub const CONTEXT: usize = 16;
/// Bytes a validator may look at after a match (`…1111-12`).
pub const LOOKAHEAD: usize = 2;

/// Bytes of text a whole-buffer scan scans and confirms at a time (see `detect_segments`).
const WINDOW: usize = 128 * 1024;

/// Up to 64 entities: per-segment entity sets are bit masks.
pub const MAX_ENTITIES: usize = 64;

/// One entity as configured: its definition and the style that replaces it.
pub struct EntityConfig {
    pub definition: Definition,
    pub style: Style,
}

struct Compiled {
    def: Definition,
    style: Style,
    reverse: Option<Backward>,
    /// A native start finder, for built-in entities with their built-in exact pattern.
    native: Option<starts::Kind>,
    /// The `full` style's replacement, written once.
    full: Vec<u8>,
}

impl Compiled {
    /// The value to replace in the match `s..e` of entity `i` (this one).
    #[inline]
    fn found(&self, hay: &[u8], s: usize, e: usize, i: usize) -> Found {
        let (start, end) = match self.def.value {
            ValueSpan::Whole => (s, e),
            ValueSpan::BearerToken => {
                let (a, b) = validators::bearer_value(&hay[s..e]);
                (s + a, s + b)
            }
            ValueSpan::Last(n) => (e - n.min(e - s), e),
        };
        Found {
            start,
            end,
            entity: i as u16,
        }
    }
}

/// The exact pattern, reversed, for start recovery.
enum Backward {
    /// With its anchored start state for each byte after the end (index 256: the text ends).
    Dense(Box<(dense::DFA<Vec<u32>>, [StateID; 257])>),
    Lazy(Box<DFA>),
}

/// Above this, a pattern's reverse DFA is built lazily instead (emails, JWTs, custom entities).
const DENSE_LIMIT: usize = 1 << 20;

fn reverse_dfa(exact: &str) -> Result<Backward, String> {
    let syntax = syntax::Config::new().unicode(false).utf8(false);
    let nfa = thompson::Config::new().reverse(true).utf8(false);
    let dense = dense::Builder::new()
        .syntax(syntax)
        .thompson(nfa.clone())
        .configure(
            dense::Config::new()
                .match_kind(MatchKind::All)
                .start_kind(regex_automata::dfa::StartKind::Anchored)
                .dfa_size_limit(Some(DENSE_LIMIT))
                .determinize_size_limit(Some(4 * DENSE_LIMIT)),
        )
        .build(exact);
    if let Ok(d) = dense {
        let mut table = [StateID::ZERO; 257];
        let mut ok = true;
        for (b, slot) in table.iter_mut().enumerate() {
            let after = (b < 256).then_some(b as u8);
            let config = start::Config::new()
                .anchored(Anchored::Yes)
                .look_behind(after);
            match d.start_state(&config) {
                Ok(sid) => *slot = sid,
                Err(_) => ok = false,
            }
        }
        if ok {
            return Ok(Backward::Dense(Box::new((d, table))));
        }
    }
    DFA::builder()
        .syntax(syntax)
        .thompson(nfa)
        .configure(DFA::config().match_kind(MatchKind::All))
        .build(exact)
        .map(|d| Backward::Lazy(Box::new(d)))
        .map_err(|e| e.to_string())
}

/// A detected sensitive value: the byte span that gets replaced.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Found {
    pub start: usize,
    pub end: usize,
    pub entity: u16,
}

#[derive(Debug, Clone)]
pub struct ConfigError(pub String);

impl std::fmt::Display for ConfigError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}
impl std::error::Error for ConfigError {}

pub struct Engine {
    entities: Vec<Compiled>,
    block: hs::Database,
    stream: hs::Database,
    tokens: Targets,
    max_len: usize,
    key: Vec<u8>,
}

/// Per-thread (or per-object) working memory: Hyperscan scratch and the lazy-DFA caches.
/// Allocated once and reused for every call.
pub struct Scratch {
    hs: hs::Scratch,
    caches: Vec<Option<Cache>>,
    hits: Vec<(usize, u16)>,
    /// One window's hits, `end << 16 | checked << 8 | entity` (`checked`: see
    /// `tokens::scan_checked`): one integer sorts faster than a pair.
    window: Vec<u64>,
    /// A window's email hits, sorted apart (see `detect_segments`).
    emails: Vec<u64>,
    starts: Vec<usize>,
    /// The values found by the last call, kept for the next one once the caller is done with
    /// them (`Scratch::recycle`): a table-sized result (a million values is 24 MB) would
    /// otherwise land in fresh pages on every call, and their page faults cost more than the
    /// work that fills them.
    found: Vec<Found>,
}

impl Scratch {
    /// Gives back the values a `detect` call returned, once they are no longer needed: the next
    /// call fills the same memory.
    pub fn recycle(&mut self, found: Vec<Found>) {
        if found.capacity() > self.found.capacity() {
            self.found = found;
        }
    }
}

/// A text range scanned as one value (a DataRow field), with the entities wanted in it.
#[derive(Clone, Copy, Debug)]
pub struct Segment {
    pub start: usize,
    pub end: usize,
    pub entities: u64,
}

impl Engine {
    /// Compiles the configuration. `key` keys the `hash` and `format` styles; without one a
    /// random per-engine key is drawn (tokens are then stable only for this engine's life).
    pub fn new(entities: Vec<EntityConfig>, key: Option<Vec<u8>>) -> Result<Engine, ConfigError> {
        if entities.len() > MAX_ENTITIES {
            return Err(ConfigError(format!(
                "{} entities configured; at most {MAX_ENTITIES} are supported",
                entities.len()
            )));
        }
        let mut seen = std::collections::HashSet::new();
        for e in &entities {
            if !seen.insert(e.definition.name.clone()) {
                return Err(ConfigError(format!(
                    "entity '{}' is configured twice",
                    e.definition.name
                )));
            }
        }
        let patterns: Vec<hs::Pattern> = entities
            .iter()
            .enumerate()
            .filter_map(|(i, e)| {
                e.definition.prefilter.clone().map(|p| hs::Pattern {
                    expression: p,
                    flags: 0,
                    id: i as u32,
                })
            })
            .collect();
        let token = |name: &str| {
            entities
                .iter()
                .position(|e| e.definition.tokens && e.definition.name == name)
                .map(|i| i as u16)
        };
        let tokens = Targets {
            card: token("card"),
            ssn: token("ssn"),
            aba: token("aba_routing"),
            phone: token("phone"),
            ipv4: token("ipv4"),
            ipv6: token("ipv6"),
            iban: token("iban"),
            jwt: token("jwt"),
            bearer: token("bearer_token"),
            email: token("email"),
        };
        let named = |err: hs::HsError| {
            let who = err
                .pattern_id
                .and_then(|i| entities.get(i as usize))
                .map(|e| e.definition.name.as_str());
            ConfigError(match who {
                Some(name) => format!(
                    "entity '{name}': Hyperscan cannot compile the pattern: {}",
                    err.message
                ),
                None => format!("Hyperscan cannot compile the entity set: {}", err.message),
            })
        };
        let (block, stream) = if patterns.is_empty() {
            // Hyperscan refuses an empty set; a placeholder keeps one code path (its id is ignored).
            let never = [hs::Pattern {
                expression: r"\x00\xff\x00\xfe\x00\xfdtollgate".into(),
                flags: 0,
                id: u32::MAX,
            }];
            (
                hs::Database::compile(&never, false).map_err(named)?,
                hs::Database::compile(&never, true).map_err(named)?,
            )
        } else {
            (
                hs::Database::compile(&patterns, false).map_err(named)?,
                hs::Database::compile(&patterns, true).map_err(named)?,
            )
        };
        let mut compiled = Vec::with_capacity(entities.len());
        for e in entities {
            let reverse = match e.definition.finder {
                Finder::PemBlock => None,
                Finder::Exact => Some(reverse_dfa(&e.definition.exact).map_err(|err| {
                    ConfigError(format!("entity '{}': {err}", e.definition.name))
                })?),
            };
            // the finders' answers are facts about the built-in pattern and validator
            let d = &e.definition;
            let native = starts::Kind::of(&d.name).filter(|_| {
                let addr = |v: Option<crate::entities::Validator>| v.map(|f| f as usize);
                let guard = |g: Option<fn(Option<u8>) -> bool>| g.map(|f| f as usize);
                crate::entities::builtin(&d.name).is_some_and(|b| {
                    b.exact == d.exact
                        && b.finder == d.finder
                        && addr(b.validator) == addr(d.validator)
                        && b.value == d.value
                        && guard(b.right_guard) == guard(d.right_guard)
                })
            });
            let mut full = Vec::new();
            redact(
                Style::Full,
                &e.definition.name,
                e.definition.normalize,
                &[],
                &[],
                &mut full,
            );
            compiled.push(Compiled {
                full,
                def: e.definition,
                style: e.style,
                reverse,
                native,
            });
        }
        let max_len = compiled.iter().map(|c| c.def.max_len).max().unwrap_or(1);
        let key = match key {
            Some(k) if !k.is_empty() => k,
            _ => {
                let mut k = vec![0u8; 32];
                getrandom::getrandom(&mut k)
                    .map_err(|e| ConfigError(format!("cannot draw a random masking key: {e}")))?;
                k
            }
        };
        Ok(Engine {
            entities: compiled,
            block,
            stream,
            tokens,
            max_len,
            key,
        })
    }

    /// The default set: every built-in entity with one style.
    pub fn with_defaults(style: Style) -> Engine {
        let entities = crate::entities::builtin_names()
            .into_iter()
            .map(|n| EntityConfig {
                definition: crate::entities::builtin(n).unwrap(),
                style,
            })
            .collect();
        Engine::new(entities, None).expect("built-in entity set compiles")
    }

    /// Builds the entity list from built-in names, per-entity styles and custom entities.
    pub fn configure(
        builtin: &[String],
        styles: &dyn Fn(&str) -> Style,
        custom: &[(CustomSpec, Style)],
    ) -> Result<Vec<EntityConfig>, ConfigError> {
        let mut out = Vec::new();
        for name in builtin {
            let def = crate::entities::builtin(name).ok_or_else(|| {
                ConfigError(format!(
                    "unknown entity '{name}' (built-in: {})",
                    crate::entities::builtin_names().join(", ")
                ))
            })?;
            let style = styles(name);
            out.push(EntityConfig {
                definition: def,
                style,
            });
        }
        for (i, (spec, style)) in custom.iter().enumerate() {
            if crate::entities::builtin(&spec.name).is_some() {
                return Err(ConfigError(format!(
                    "entity '{}': the name is taken by a built-in entity",
                    spec.name
                )));
            }
            let def = spec
                .definition((100 + i).min(255) as u8)
                .map_err(ConfigError)?;
            out.push(EntityConfig {
                definition: def,
                style: *style,
            });
        }
        Ok(out)
    }

    pub fn entity_names(&self) -> Vec<&str> {
        self.entities.iter().map(|c| c.def.name.as_str()).collect()
    }

    pub fn entity_index(&self, name: &str) -> Option<usize> {
        self.entities.iter().position(|c| c.def.name == name)
    }

    pub fn len(&self) -> usize {
        self.entities.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entities.is_empty()
    }

    /// Bytes a stream may hold back before it can decide about them.
    pub fn hold_back(&self) -> usize {
        (self.max_len + CONTEXT + LOOKAHEAD).max(tokens::LOOKBEHIND + LOOKAHEAD)
    }

    /// The end of the value an extending entity's hit at `h` lies in (see `Extend`): past its
    /// lead, the first byte the run refuses. `Ok(None)`: no value of the entity ends there (no
    /// lead, or a run longer than the entity's longest value); `Err(p)`: the run reaches the
    /// end of `hay` at `p`.
    fn extend_from(&self, i: usize, hay: &[u8], h: usize) -> Result<Option<usize>, usize> {
        let c = &self.entities[i];
        let Some(extend) = c.def.extend else {
            return Ok(Some(h));
        };
        let mut h = h.min(hay.len());
        if let Some((class, stop)) = extend.lead {
            let bound = h.saturating_add(c.def.max_len).min(hay.len());
            let p = h + run_len(class, &hay[h..bound]);
            h = match stop {
                _ if p == h || p == bound => return Ok(None),
                Some(stop) if hay[p] != stop => return Ok(None),
                Some(_) => p + 1,
                None => p,
            };
        }
        let bound = h.saturating_add(c.def.max_len).min(hay.len());
        match run_len(extend.run, &hay[h..bound]) {
            k if h + k < bound => Ok(Some(h + k)),
            _ if bound < hay.len() => Ok(None),
            _ => Err(bound),
        }
    }

    pub fn all_entities(&self) -> u64 {
        if self.entities.len() == 64 {
            u64::MAX
        } else {
            (1u64 << self.entities.len()) - 1
        }
    }

    pub fn new_scratch(&self) -> Scratch {
        Scratch {
            hs: hs::Scratch::default(),
            caches: self
                .entities
                .iter()
                .map(|c| match &c.reverse {
                    Some(Backward::Lazy(d)) => Some(d.create_cache()),
                    _ => None,
                })
                .collect(),
            hits: Vec::new(),
            window: Vec::new(),
            emails: Vec::new(),
            starts: Vec::new(),
            found: Vec::new(),
        }
    }

    /// Finds the value ending at `e` for entity `i`; `hay` is the text it lives in and `lo`
    /// the first byte the value may start at. Positions are relative to `hay`. `checked`: the
    /// length of the value ending at `e` that passed the value-only part of the validator (the
    /// token scanner's checks), or 0.
    fn confirm(
        &self,
        scratch: &mut Scratch,
        hay: &[u8],
        lo: usize,
        i: usize,
        e: usize,
        checked: usize,
    ) -> Option<Found> {
        let c = &self.entities[i];
        if let Some(guard) = c.def.right_guard {
            if !guard(hay.get(e).copied()) {
                return None;
            }
        }
        let lo = lo.max(e.saturating_sub(c.def.max_len));
        if let Some(kind) = c.native {
            let valid = |s: usize| c.def.validator.is_none_or(|v| v(hay, s, e));
            let found = |s: usize| c.found(hay, s, e, i);
            match kind.starts(hay, lo, e) {
                Starts::None => return None,
                Starts::Only(s) => {
                    let ok = match kind.context_only(hay, s, e) {
                        Some(ok) if checked == e - s => ok,
                        _ => valid(s),
                    };
                    return ok.then(|| found(s));
                }
                Starts::First(s) if valid(s) => return Some(found(s)),
                Starts::First(_) | Starts::Unknown => {}
            }
        }
        self.confirm_walk(scratch, hay, lo, i, e)
    }

    /// `confirm` by walking back from `e` with the reverse DFA (`lo` already bounded by the
    /// entity's longest value, the right guard already passed).
    fn confirm_walk(
        &self,
        scratch: &mut Scratch,
        hay: &[u8],
        lo: usize,
        i: usize,
        e: usize,
    ) -> Option<Found> {
        let c = &self.entities[i];
        let starts = &mut scratch.starts;
        starts.clear();
        match (&c.reverse, c.def.finder) {
            (Some(Backward::Dense(d)), _) => {
                // a hand-written overlapping reverse walk: the start state comes from a table,
                // and every start of an anchored match is collected in one pass
                let (dfa, table) = &**d;
                let mut sid = table[hay.get(e).map_or(256, |&b| b as usize)];
                let mut at = e;
                let mut dead = false;
                let text = &hay[..e];
                while at > lo {
                    at -= 1;
                    // SAFETY: `sid` is always a state of this DFA (a start state from its own
                    // table or a transition's target), and `at < e == text.len()`
                    sid = unsafe { dfa.next_state_unchecked(sid, *text.get_unchecked(at)) };
                    if dfa.is_special_state(sid) {
                        if dfa.is_match_state(sid) {
                            // matches are reported one byte late
                            starts.push(at + 1);
                        } else if dfa.is_dead_state(sid) {
                            dead = true;
                            break;
                        } else if dfa.is_quit_state(sid) {
                            starts.clear();
                            starts.push(lo); // cannot happen without quit bytes; fail closed
                            dead = true;
                            break;
                        }
                    }
                }
                if !dead {
                    sid = if lo > 0 {
                        dfa.next_state(sid, hay[lo - 1])
                    } else {
                        dfa.next_eoi_state(sid)
                    };
                    if dfa.is_match_state(sid) {
                        starts.push(lo);
                    }
                }
                starts.reverse();
            }
            (Some(Backward::Lazy(dfa)), _) => {
                let cache = scratch.caches[i]
                    .as_mut()
                    .expect("cache for every reverse DFA");
                let input = Input::new(hay).range(lo..e).anchored(Anchored::Yes);
                let mut state = OverlappingState::start();
                loop {
                    if dfa
                        .try_search_overlapping_rev(cache, &input, &mut state)
                        .is_err()
                    {
                        // The lazy DFA gave up: fail closed and treat the whole window as the value.
                        starts.clear();
                        starts.push(lo);
                        break;
                    }
                    match state.get_match() {
                        Some(m) => starts.push(m.offset()),
                        None => break,
                    }
                }
                // reported nearest first; the leftmost (longest) valid start wins
                starts.reverse();
            }
            (None, _) => {
                if let Some(s) = validators::rfind(&hay[lo..e], b"-----BEGIN ") {
                    starts.push(lo + s);
                }
            }
        }
        let validator = c.def.validator;
        let s = starts
            .iter()
            .copied()
            .find(|&s| validator.is_none_or(|v| v(hay, s, e)))?;
        Some(c.found(hay, s, e, i))
    }

    /// Detects values in `text`, each inside one of `segments` (sorted, non-overlapping),
    /// and returns them resolved into non-overlapping, sorted spans.
    pub fn detect_segments(
        &self,
        scratch: &mut Scratch,
        text: &[u8],
        segments: &[Segment],
    ) -> Result<Vec<Found>, String> {
        let mut hits = std::mem::take(&mut scratch.hits);
        hits.clear();
        let entities = &self.entities;
        let keep = |id: u32, end: usize| {
            // open-ended prefilters report every prefix end; drop all but the last at once
            let def = entities.get(id as usize).map(|c| &c.def);
            let guard = def.and_then(|d| d.right_guard);
            let extends = def.is_some_and(|d| d.extend.is_some());
            extends || guard.is_none_or(|g| g(text.get(end).copied()))
        };
        // A large text goes through Hyperscan's stream mode one window ahead of the windows
        // below, so that every stage reads text that is still in cache; a small one in one call.
        let mut stream = if text.len() > 2 * WINDOW {
            Some(self.stream.open_stream().map_err(|e| e.to_string())?)
        } else {
            self.block
                .scan(&mut scratch.hs, text, |id, end| {
                    if keep(id, end) {
                        hits.push((end, id as u16));
                    }
                })
                .map_err(|e| e.to_string())?;
            None
        };
        let mut hs_done = 0usize; // bytes fed to the stream
                                  // Token hits are many (digit-dense text has one candidate every few hundred bytes) and
                                  // each is confirmed by reading the text around it: scan and confirm a window at a time.
        let mut window = std::mem::take(&mut scratch.window);
        let mut emails = std::mem::take(&mut scratch.emails);
        let mut found = std::mem::take(&mut scratch.found);
        found.clear();
        let mut seg_i = 0usize;
        let mut w0 = 0usize;
        loop {
            let w1 = (w0 + WINDOW).min(text.len());
            if let Some(st) = stream.as_mut() {
                // a match is reported at most one byte after its end: scan past w1 first
                let ahead = (w1 + WINDOW).min(text.len());
                if ahead > hs_done {
                    st.scan(
                        &self.stream,
                        &mut scratch.hs,
                        &text[hs_done..ahead],
                        |id, end| {
                            if keep(id, end) {
                                hits.push((end, id as u16));
                            }
                        },
                    )
                    .map_err(|e| e.to_string())?;
                    hs_done = ahead;
                }
                if hs_done == text.len() {
                    if let Some(st) = stream.take() {
                        st.close(&self.stream, &mut scratch.hs, |id, end| {
                            if keep(id, end) {
                                hits.push((end, id as u16));
                            }
                        })
                        .map_err(|e| e.to_string())?;
                    }
                }
            }
            window.clear();
            // hits arrive in end order, give or take the one-byte delay: take those up to w1
            hits.retain(|&h| {
                let mine = h.0 <= w1;
                if mine {
                    window.push((h.0 as u64) << 16 | h.1 as u64);
                }
                !mine
            });
            if self.tokens.any() {
                // emails come a block at a time with the rest but end further on: apart, they
                // are one more sorted run instead of a disorder in every row of a table
                let email = self.tokens.email.map(|id| id as u64);
                emails.clear();
                tokens::scan_checked(&self.tokens, text, w0, w1, |end, packed| {
                    let hit = (end as u64) << 16 | packed as u64;
                    if Some(packed as u64 & 0xff) == email {
                        emails.push(hit);
                    } else {
                        window.push(hit);
                    }
                });
                window.extend_from_slice(&emails);
            }
            // nearly sorted already (a few runs, in end order each): the stable sort merges
            // those runs instead of partitioning
            window.sort();
            window.dedup();
            for &packed in window.iter() {
                let (e, ent) = ((packed >> 16) as usize, packed as u16 & 0xff);
                let checked = (packed >> 8) as usize & 0xff;
                if ent as usize >= self.entities.len() {
                    continue;
                }
                while seg_i < segments.len() && segments[seg_i].end < e {
                    seg_i += 1;
                }
                let Some(seg) = segments.get(seg_i) else {
                    break;
                };
                if e <= seg.start || seg.entities & (1u64 << ent) == 0 {
                    continue;
                }
                let hay = &text[seg.start..seg.end];
                let e = match self.extend_from(ent as usize, hay, e - seg.start) {
                    Ok(Some(e)) => e,
                    Ok(None) => continue,
                    Err(end) => end, // the segment ends the value
                };
                if let Some(f) = self.confirm(scratch, hay, 0, ent as usize, e, checked) {
                    found.push(Found {
                        start: f.start + seg.start,
                        end: f.end + seg.start,
                        entity: f.entity,
                    });
                }
            }
            if w1 >= text.len() {
                break;
            }
            w0 = w1;
        }
        scratch.hits = hits;
        scratch.window = window;
        scratch.emails = emails;
        Ok(self.resolve(found, usize::MAX).0)
    }

    /// Which entities got a fully built reverse DFA, for profiling.
    #[doc(hidden)]
    pub fn dense_for_profile(&self) -> Vec<(&str, bool)> {
        self.entities
            .iter()
            .map(|c| {
                (
                    c.def.name.as_str(),
                    matches!(c.reverse, Some(Backward::Dense(_))),
                )
            })
            .collect()
    }

    /// Raw prefilter hits, for profiling the stages apart.
    #[doc(hidden)]
    pub fn hs_hits_for_profile(
        &self,
        scratch: &mut Scratch,
        text: &[u8],
        mut f: impl FnMut(usize),
    ) {
        self.block
            .scan(&mut scratch.hs, text, |id, _| f(id as usize))
            .unwrap();
    }

    /// Detects values in one whole buffer.
    pub fn detect(&self, scratch: &mut Scratch, text: &[u8]) -> Result<Vec<Found>, String> {
        self.detect_segments(
            scratch,
            text,
            &[Segment {
                start: 0,
                end: text.len(),
                entities: self.all_entities(),
            }],
        )
    }

    /// Sorts candidates and keeps the non-overlapping ones, greedily by (start, longest,
    /// priority). Candidates starting at or after `cut` are returned untouched as pending; an
    /// accepted one that crosses `cut` moves the cut back to its start.
    fn resolve(&self, mut cands: Vec<Found>, cut: usize) -> (Vec<Found>, Vec<Found>, usize) {
        // found in end order, so nearly in start order, and on table rows (no overlaps) in order
        // already: one pass over the cheap part of the key says so (strictly increasing: no
        // ties for the rest of the key to break). Otherwise the stable sort merges runs (the
        // key is total, so any sort gives this order).
        let ordered = cands
            .windows(2)
            .all(|w| (w[0].start, Reverse(w[0].end)) < (w[1].start, Reverse(w[1].end)));
        if !ordered {
            cands.sort_by_key(|f| {
                (
                    f.start,
                    Reverse(f.end),
                    self.entities[f.entity as usize].def.priority,
                    f.entity,
                )
            });
        }
        // the accepted ones are compacted in place, to the front
        let mut kept = 0usize;
        let mut last_end = 0usize;
        let mut cut = cut;
        let mut split = cands.len();
        for k in 0..cands.len() {
            let f = cands[k];
            if f.start >= cut {
                split = k;
                break;
            }
            if f.start < last_end {
                continue;
            }
            if f.end > cut {
                cut = f.start;
                split = k;
                break;
            }
            cands[kept] = f;
            kept += 1;
            last_end = f.end;
        }
        let pending = cands.split_off(split);
        cands.truncate(kept);
        (cands, pending, cut)
    }

    /// Copies `src[from..to]` (positions relative to `src`) to `out`, replacing accepted spans
    /// (positions relative to `src` plus `shift`).
    #[allow(clippy::too_many_arguments)]
    fn emit(
        &self,
        src: &[u8],
        shift: usize,
        from: usize,
        to: usize,
        accepted: &[Found],
        out: &mut Vec<u8>,
        counts: &mut [u32],
    ) {
        let mut pos = from;
        for f in accepted {
            let (start, end) = (f.start - shift, f.end - shift);
            out.extend_from_slice(&src[pos..start]);
            self.replace(f.entity as usize, &src[start..end], out);
            counts[f.entity as usize] += 1;
            pos = end;
        }
        out.extend_from_slice(&src[pos..to]);
    }

    fn replace(&self, entity: usize, value: &[u8], out: &mut Vec<u8>) {
        let c = &self.entities[entity];
        if c.style == Style::Full {
            out.extend_from_slice(&c.full);
        } else {
            redact(c.style, &c.def.name, c.def.normalize, &self.key, value, out);
        }
    }

    /// Masks one whole buffer. `counts` (one slot per entity) is incremented.
    pub fn mask(
        &self,
        scratch: &mut Scratch,
        input: &[u8],
        counts: &mut [u32],
    ) -> Result<Vec<u8>, String> {
        let found = self.detect(scratch, input)?;
        let grow: usize = found.len() * 24;
        let mut out = Vec::with_capacity(input.len() + grow);
        self.emit(input, 0, 0, input.len(), &found, &mut out, counts);
        scratch.recycle(found);
        Ok(out)
    }

    /// Masks the DataRow messages of a chunk of complete backend messages; other messages are
    /// copied unchanged. Field and message lengths are rewritten when a value's length changes.
    pub fn mask_data_rows(
        &self,
        scratch: &mut Scratch,
        chunk: &[u8],
        plan: &RowPlan,
        counts: &mut [u32],
    ) -> Result<Vec<u8>, String> {
        let mut out = Vec::new();
        if self.mask_data_rows_into(scratch, chunk, plan, counts, &mut out)? {
            Ok(out)
        } else {
            Ok(chunk.to_vec())
        }
    }

    /// `mask_data_rows` writing into `out` (cleared first, its memory reused): false, with `out`
    /// left empty, when nothing in the chunk changes (the caller passes the chunk on as it is).
    pub fn mask_data_rows_into(
        &self,
        scratch: &mut Scratch,
        chunk: &[u8],
        plan: &RowPlan,
        counts: &mut [u32],
        out: &mut Vec<u8>,
    ) -> Result<bool, String> {
        out.clear();
        let mut frames = Vec::new();
        let scan = tollgate_framing::scan(chunk, chunk.len().max(5), false, &mut frames)
            .map_err(|e| e.to_string())?;
        if scan.consumed != chunk.len() {
            return Err(format!(
                "chunk of {} bytes ends inside a message (complete messages cover {} bytes)",
                chunk.len(),
                scan.consumed
            ));
        }
        // Gather the fields to scan into one text, separated by NUL, scanned in one call.
        let mut text = Vec::with_capacity(chunk.len());
        let mut segments = Vec::new();
        // per DataRow: the end of its segments and whether a column of it is redacted whole
        let mut rows: Vec<(usize, bool)> = Vec::new();
        let mut touched_rows = 0usize;
        for f in frames.iter().filter(|f| f.code == b'D') {
            let mut row_touched = false;
            let mut fields = tollgate_framing::DataRowFields::new(chunk, f.start, f.len)
                .map_err(|e| e.to_string())?;
            for (col, field) in fields.by_ref().enumerate() {
                let field = field.map_err(|e| e.to_string())?;
                let tollgate_framing::Field::Value { start, end } = field else {
                    continue;
                };
                match plan.action(col) {
                    ColumnAction::Scan(mask) if end > start => {
                        let ts = text.len();
                        text.extend_from_slice(&chunk[start..end]);
                        segments.push(Segment {
                            start: ts,
                            end: text.len(),
                            entities: mask & self.all_entities(),
                        });
                        text.push(0);
                    }
                    ColumnAction::Redact(_) => row_touched = true,
                    _ => {}
                }
            }
            fields.finish().map_err(|e| e.to_string())?;
            touched_rows += row_touched as usize;
            rows.push((segments.len(), row_touched));
        }
        let found = if segments.is_empty() {
            Vec::new()
        } else {
            self.detect_segments(scratch, &text, &segments)?
        };
        if found.is_empty() && touched_rows == 0 {
            scratch.recycle(found);
            return Ok(false);
        }
        // Unchanged bytes are copied in runs as long as possible: `copied` is how far the chunk
        // has been written out; only changed fields (and their rows' lengths) are written anew.
        out.reserve(chunk.len() + found.len() * 24);
        let mut copied = 0usize;
        let mut fi = 0usize; // next found
        let mut si = 0usize; // next segment
        for (f, &(seg_end, touched)) in frames.iter().filter(|f| f.code == b'D').zip(&rows) {
            let changed = touched
                || (si < seg_end
                    && fi < found.len()
                    && found[fi].start < segments[seg_end - 1].end);
            if !changed {
                si = seg_end;
                continue;
            }
            out.extend_from_slice(&chunk[copied..f.start]);
            let row_start = out.len();
            copied = f.start;
            let fields = tollgate_framing::DataRowFields::new(chunk, f.start, f.len)
                .map_err(|e| e.to_string())?;
            for (col, field) in fields.enumerate() {
                let field = field.map_err(|e| e.to_string())?;
                let tollgate_framing::Field::Value { start, end } = field else {
                    continue;
                };
                let value = &chunk[start..end];
                match plan.action(col) {
                    ColumnAction::Scan(_) if end > start => {
                        let seg = segments[si];
                        si += 1;
                        let first = fi;
                        while fi < found.len() && found[fi].start < seg.end {
                            fi += 1;
                        }
                        if first == fi {
                            continue;
                        }
                        // the field's length (4 bytes before its value) is written anew
                        out.extend_from_slice(&chunk[copied..start - 4]);
                        let at = out.len();
                        out.extend_from_slice(&[0; 4]);
                        let spans = &found[first..fi];
                        self.emit(value, seg.start, 0, value.len(), spans, out, counts);
                        let len = (out.len() - at - 4) as i32;
                        out[at..at + 4].copy_from_slice(&len.to_be_bytes());
                        copied = end;
                    }
                    ColumnAction::Redact(entity) => {
                        out.extend_from_slice(&chunk[copied..start - 4]);
                        let at = out.len();
                        out.extend_from_slice(&[0; 4]);
                        self.replace(entity as usize, value, out);
                        counts[entity as usize] += 1;
                        let len = (out.len() - at - 4) as i32;
                        out[at..at + 4].copy_from_slice(&len.to_be_bytes());
                        copied = end;
                    }
                    _ => {}
                }
            }
            let row_end = f.start + f.len;
            out.extend_from_slice(&chunk[copied..row_end]);
            copied = row_end;
            let len = out.len() - row_start - 1;
            if len > i32::MAX as usize {
                return Err("a masked DataRow would exceed the protocol's message size".into());
            }
            out[row_start + 1..row_start + 5].copy_from_slice(&(len as i32).to_be_bytes());
        }
        out.extend_from_slice(&chunk[copied..]);
        scratch.recycle(found);
        Ok(true)
    }
}

/// What happens to one result column.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ColumnAction {
    /// Passed through untouched.
    Keep,
    /// Scanned for the entities in the mask (bit i = entity i).
    Scan(u64),
    /// The whole value replaced as entity i, whatever it holds.
    Redact(u16),
}

/// Per-column actions for one result set (one RowDescription).
#[derive(Clone, Debug)]
pub struct RowPlan {
    pub columns: Vec<ColumnAction>,
    /// For columns past the end of `columns`.
    pub rest: ColumnAction,
}

impl RowPlan {
    fn action(&self, col: usize) -> ColumnAction {
        self.columns.get(col).copied().unwrap_or(self.rest)
    }
}

/// A masking stream: feed chunks, get masked bytes; a value split across chunks is still found.
/// Output is byte-identical to masking the concatenated input in one call.
pub struct MaskStream {
    engine: Arc<Engine>,
    hs: Option<hs::Stream>,
    /// Stream offset up to which the token scanner has reported ends.
    tokens_done: usize,
    scratch: Scratch,
    /// Unemitted bytes plus left context: `buf[0]` is stream offset `base`.
    buf: Vec<u8>,
    base: usize,
    total: usize,
    emitted: usize,
    pending_hits: Vec<(usize, u16)>,
    /// Hits of extending entities whose value has not ended yet.
    pending_runs: Vec<Run>,
    pending: Vec<Found>,
    counts: Vec<u32>,
}

/// A hit of an extending entity waiting for its value's end (`MaskStream::end_runs`).
struct Run {
    /// Where the run starts (the hit, then past the lead).
    hit: usize,
    entity: u16,
    /// Bytes looked at so far: the run (or the lead) covers `hit..scanned`.
    scanned: usize,
    /// Still in the lead (see `Extend::lead`).
    leading: bool,
}

impl Run {
    fn new(c: &Compiled, hit: usize, entity: u16) -> Run {
        Run {
            hit,
            entity,
            scanned: hit,
            leading: c.def.extend.is_some_and(|x| x.lead.is_some()),
        }
    }
}

impl MaskStream {
    pub fn new(engine: Arc<Engine>) -> Result<MaskStream, String> {
        let hs = engine.stream.open_stream().map_err(|e| e.to_string())?;
        let scratch = engine.new_scratch();
        let n = engine.len();
        Ok(MaskStream {
            tokens_done: 0,
            engine,
            hs: Some(hs),
            scratch,
            buf: Vec::new(),
            base: 0,
            total: 0,
            emitted: 0,
            pending_hits: Vec::new(),
            pending_runs: Vec::new(),
            pending: Vec::new(),
            counts: vec![0; n],
        })
    }

    /// Counts per entity since the stream opened.
    pub fn counts(&self) -> &[u32] {
        &self.counts
    }

    /// Bytes received but not yet emitted.
    pub fn held(&self) -> usize {
        self.total - self.emitted
    }

    /// Feeds a chunk; appends to `out` every byte that can already be decided.
    pub fn write(&mut self, chunk: &[u8], out: &mut Vec<u8>) -> Result<(), String> {
        let Some(stream) = self.hs.as_mut() else {
            return Err("write after finish".into());
        };
        let hits = &mut self.pending_hits;
        let runs = &mut self.pending_runs;
        let engine = &self.engine;
        stream
            .scan(
                &engine.stream,
                &mut self.scratch.hs,
                chunk,
                |id, end| match engine.entities.get(id as usize) {
                    Some(c) if c.def.extend.is_some() => runs.push(Run::new(c, end, id as u16)),
                    Some(_) => hits.push((end, id as u16)),
                    None => {}
                },
            )
            .map_err(|e| e.to_string())?;
        self.buf.extend_from_slice(chunk);
        self.total += chunk.len();
        // the token scanner needs the byte after an end: it reports up to the last byte but one
        self.scan_tokens(self.total.saturating_sub(1));
        self.advance(false, out);
        Ok(())
    }

    /// Ends the stream; appends the rest of the output.
    pub fn finish(&mut self, out: &mut Vec<u8>) -> Result<(), String> {
        let Some(stream) = self.hs.take() else {
            return Ok(());
        };
        let hits = &mut self.pending_hits;
        let runs = &mut self.pending_runs;
        let engine = &self.engine;
        stream
            .close(&engine.stream, &mut self.scratch.hs, |id, end| match engine
                .entities
                .get(id as usize)
            {
                Some(c) if c.def.extend.is_some() => runs.push(Run::new(c, end, id as u16)),
                Some(_) => hits.push((end, id as u16)),
                None => {}
            })
            .map_err(|e| e.to_string())?;
        self.scan_tokens(self.total);
        self.advance(true, out);
        Ok(())
    }

    /// Token scanner reports for ends up to `to` (a stream offset), read from the buffer with
    /// the left context it keeps (`hold_back` covers `tokens::LOOKBEHIND`).
    fn scan_tokens(&mut self, to: usize) {
        if !self.engine.tokens.any() || to <= self.tokens_done {
            return;
        }
        let base = self.base;
        let hits = &mut self.pending_hits;
        let runs = &mut self.pending_runs;
        let entities = &self.engine.entities;
        tokens::scan(
            &self.engine.tokens,
            &self.buf,
            self.tokens_done - base,
            to - base,
            |e, id| match &entities[id as usize] {
                c if c.def.extend.is_some() => runs.push(Run::new(c, e + base, id)),
                _ => hits.push((e + base, id)),
            },
        );
        self.tokens_done = to;
    }

    /// Extending entities: a hit becomes an end once the run it lies in has ended (the same
    /// decisions as `Engine::extend_from`, as the bytes arrive).
    fn end_runs(&mut self, last: bool) {
        let base = self.base;
        let engine = &self.engine;
        let hits = &mut self.pending_hits;
        let buf = &self.buf;
        let end = base + buf.len();
        self.pending_runs.retain_mut(|r| {
            let c = &engine.entities[r.entity as usize];
            let extend = c.def.extend.expect("only extending entities wait here");
            if r.leading {
                let (class, stop) = extend.lead.expect("only entities with a lead lead");
                let limit = r.hit + c.def.max_len;
                let p = r.scanned + run_len(class, &buf[r.scanned - base..limit.min(end) - base]);
                if p >= limit || (p == end && last) {
                    return false; // too long, or the stream ends inside the lead
                }
                if p == end {
                    r.scanned = p;
                    return true;
                }
                r.hit = match stop {
                    _ if p == r.hit => return false,
                    Some(stop) if buf[p - base] != stop => return false,
                    Some(_) => p + 1,
                    None => p,
                };
                r.scanned = r.hit;
                r.leading = false;
            }
            let limit = r.hit + c.def.max_len;
            let p = r.scanned + run_len(extend.run, &buf[r.scanned - base..limit.min(end) - base]);
            if p < end && p < limit {
                hits.push((p, r.entity)); // the run ended at p
                false
            } else if p >= limit {
                false // longer than any value of the entity
            } else if last {
                hits.push((p, r.entity)); // the stream ends the run
                false
            } else {
                r.scanned = p;
                true
            }
        });
    }

    fn advance(&mut self, last: bool, out: &mut Vec<u8>) {
        self.end_runs(last);
        let engine = Arc::clone(&self.engine);
        let total = self.total;
        // Confirm the hits whose look-ahead bytes have arrived.
        self.pending_hits.sort_unstable();
        self.pending_hits.dedup();
        let ready = if last {
            self.pending_hits.len()
        } else {
            self.pending_hits
                .partition_point(|&(e, _)| e + LOOKAHEAD <= total)
        };
        for k in 0..ready {
            let (e, ent) = self.pending_hits[k];
            // the window never reaches before `base` (see the trim below), so relative offsets
            // see the same bytes and context as a whole-buffer scan would
            let lo = e.saturating_sub(engine.entities[ent as usize].def.max_len);
            debug_assert!(lo >= self.base || self.base == 0);
            if let Some(f) = engine.confirm(
                &mut self.scratch,
                &self.buf,
                0,
                ent as usize,
                e - self.base,
                0,
            ) {
                self.pending.push(Found {
                    start: f.start + self.base,
                    end: f.end + self.base,
                    entity: f.entity,
                });
            }
        }
        self.pending_hits.drain(..ready);
        // Every value starting before `cut` is known now.
        let cut = if last {
            total
        } else {
            total.saturating_sub(engine.max_len + LOOKAHEAD)
        };
        let cands = std::mem::take(&mut self.pending);
        let (accepted, pending, cut) = engine.resolve(cands, cut);
        self.pending = pending;
        let cut = cut.max(self.emitted);
        if cut > self.emitted {
            engine.emit(
                &self.buf,
                self.base,
                self.emitted - self.base,
                cut - self.base,
                &accepted,
                out,
                &mut self.counts,
            );
            self.emitted = cut;
        }
        // Keep what is unemitted plus the context a later window may read.
        let keep_from = self
            .emitted
            .min(total.saturating_sub(engine.hold_back()))
            .max(self.base);
        if keep_from > self.base {
            self.buf.drain(..keep_from - self.base);
            self.base = keep_from;
        }
    }
}

#[cfg(test)]
mod tests;
