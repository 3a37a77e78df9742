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
