/**
 * What the adapter needs from the SQL classifier: `classifySql` from @tollgate/core (the native
 * `sqlclass` crate, libpg_query) fits; tests may pass another.
 */
export interface ClassifiedStatement {
  /** read | write | ddl | dangerous | admin | transaction | utility | unknown */
  readonly class: string;
  readonly reasons: readonly string[];
  readonly tables: readonly string[];
  readonly fingerprint: string;
  /** e.g. SELECT, DELETE */
  readonly command: string;
}

/**
 * `standardConformingStrings: false` when the target reports the setting off: backslashes in
 * '…' literals then escape quotes, and the same text splits into different statements.
 */
export type SqlClassifier = (
  sql: string,
  options: { standardConformingStrings: boolean },
) => { readonly statements: readonly ClassifiedStatement[] };

/** A statement text's classification and its masked form for the audit log, as cached. */
export interface ClassifiedText {
  readonly statements: readonly ClassifiedStatement[];
  /** The text as the audit log and reviewers see it (masked, shortened). */
  readonly maskedText: string;
}

/**
 * Classifications by statement text, shared by the sessions of one adapter: the same text
 * (an ORM's query, the unnamed statement of every extended-protocol round trip) is parsed and
 * masked once. It holds what depends on the text alone — the parser's classification, the
 * masked text — never a decision: every use is decided again against the current policy and
 * the session's identity. Keyed by `standard_conforming_strings` too (the same text splits
 * differently without it). Bounded: at most `maxEntries` texts of at most `maxTextLength`
 * characters, least recently used first out.
 */
export class ClassificationCache {
  readonly #entries = new Map<string, ClassifiedText>();

  constructor(
    readonly maxEntries = 1024,
    readonly maxTextLength = 2048,
  ) {}

  /** The cached classification of `sql`, or the one `compute` makes (kept when `sql` is short enough). */
  get(sql: string, standardConformingStrings: boolean, compute: () => ClassifiedText): ClassifiedText {
    if (sql.length > this.maxTextLength || this.maxEntries <= 0) return compute();
    const key = (standardConformingStrings ? '1' : '0') + sql;
    const hit = this.#entries.get(key);
    if (hit) {
      // most recently used last
      this.#entries.delete(key);
      this.#entries.set(key, hit);
      return hit;
    }
    const made = compute();
    const frozen: ClassifiedText = Object.freeze({
      maskedText: made.maskedText,
      statements: Object.freeze(
        made.statements.map((s) =>
          Object.freeze({
            class: s.class,
            reasons: Object.freeze([...s.reasons]),
            tables: Object.freeze([...s.tables]),
            fingerprint: s.fingerprint,
            command: s.command,
          }),
        ),
      ),
    });
    if (this.#entries.size >= this.maxEntries) {
      const oldest = this.#entries.keys().next().value;
      if (oldest !== undefined) this.#entries.delete(oldest);
    }
    this.#entries.set(key, frozen);
    return frozen;
  }

  get size(): number {
    return this.#entries.size;
  }
}
