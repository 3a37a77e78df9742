import {
  type ColumnMaskRule,
  type ColumnPlan,
  engineOptions,
  Masker,
  type MaskingConfig,
  type MaskingProfile,
  type RowPlan,
} from '@tollgate/core';

/** The profile when a rule names none: scan every column for every entity. */
export const SCAN_EVERYTHING: MaskingProfile = Object.freeze({
  name: '(default: scan everything)',
  columns: Object.freeze([]),
  otherwise: 'scan',
  entities: undefined,
  styles: Object.freeze({}),
  defaultStyle: undefined,
});

/** What selects a profile's engine cannot change (frozen): safe to key the engine by the object. */
function isImmutable(p: MaskingProfile): boolean {
  return (
    Object.isFrozen(p) &&
    (p.entities === undefined || Object.isFrozen(p.entities)) &&
    (p.styles === undefined || Object.isFrozen(p.styles))
  );
}

/** One result column as RowDescription describes it. */
export interface ResultColumn {
  readonly name: string;
  readonly tableOid: number;
  readonly typeOid: number;
  /** 0 text, 1 binary. */
  readonly format: number;
}

/**
 * Built-in type OIDs (pg_type.dat) → names, for `type:` column rules and for deciding what a
 * binary-format value is. Types outside this table are matched by OID only (`type: '16384'`).
 */
export const TYPE_NAMES: ReadonlyMap<number, string> = new Map([
  [16, 'bool'],
  [17, 'bytea'],
  [18, 'char'],
  [19, 'name'],
  [20, 'int8'],
  [21, 'int2'],
  [23, 'int4'],
  [25, 'text'],
  [26, 'oid'],
  [114, 'json'],
  [142, 'xml'],
  [700, 'float4'],
  [701, 'float8'],
  [869, 'inet'],
  [650, 'cidr'],
  [829, 'macaddr'],
  [1042, 'bpchar'],
  [1043, 'varchar'],
  [1082, 'date'],
  [1083, 'time'],
  [1114, 'timestamp'],
  [1184, 'timestamptz'],
  [1186, 'interval'],
  [1700, 'numeric'],
  [2950, 'uuid'],
  [3802, 'jsonb'],
  [1009, '_text'],
  [1015, '_varchar'],
  [705, 'unknown'],
]);

/**
 * Types whose binary wire format is their text (so a binary value is scanned like a text one).
 * jsonb's binary form is a version byte (1) and then the text: scanning it as is finds the same
 * values. Every other binary-format type (integers, numeric, timestamps, uuid, bytea, arrays,
 * records) is left alone: its bytes are not text, a pattern match in them would be noise, and
 * redacting inside them would corrupt the value for the client.
 */
const MAX_CACHED_PLANS = 4096;

export const TEXT_LIKE_BINARY: ReadonlySet<number> = new Set([19, 25, 114, 142, 1042, 1043, 3802, 705]);

function typeName(oid: number): string {
  return TYPE_NAMES.get(oid) ?? String(oid);
}

const tableRules = new WeakMap<MaskingProfile, boolean>();

/** True when a column rule of the profile names a table (so plans depend on table names). */
export function usesTables(profile: MaskingProfile): boolean {
  let v = tableRules.get(profile);
  if (v === undefined) {
    v = profile.columns.some((r) => r.table !== undefined);
    tableRules.set(profile, v);
  }
  return v;
}

const eq = (a: string | undefined, b: string) => a === undefined || a.toLowerCase() === b.toLowerCase();

function ruleMatches(rule: ColumnMaskRule, col: ResultColumn, table: string | undefined): boolean {
  if (!eq(rule.column, col.name)) return false;
  if (!eq(rule.type, typeName(col.typeOid))) return false;
  if (rule.table !== undefined) {
    // Table unknown (the gateway sees table OIDs, not names): a rule that masks applies, a rule
    // that keeps does not — when in doubt, mask.
    if (table === undefined) return rule.action !== 'keep';
    const bare = table.includes('.') ? table.slice(table.lastIndexOf('.') + 1) : table;
    if (!eq(rule.table, table) && !eq(rule.table, bare)) return false;
  }
  return true;
}

/**
 * Masking of result sets for one gateway config: a compiled `Masker` per masking profile
 * (entities and styles differ per profile), and the per-column plan for each RowDescription.
 */
export class ResultMasking {
  readonly #maskers = new Map<string, Masker>();
  readonly #byProfile = new WeakMap<MaskingProfile, Masker>();
  /** Plans by profile and column shape: the same statement run again reuses its plan. */
  readonly #plans = new WeakMap<MaskingProfile, Map<string, RowPlan | undefined>>();

  constructor(
    private readonly base: MaskingConfig = {},
    private readonly env: NodeJS.ProcessEnv = process.env,
  ) {}

  /** The engine for a profile (compiled once; keyed by the profile's content). */
  masker(profile: MaskingProfile): Masker {
    // Profiles are immutable values: the same object maps to the same engine without a key.
    const known = this.#byProfile.get(profile);
    if (known) return known;
    const key = JSON.stringify([profile.entities, profile.styles, profile.defaultStyle]);
    let m = this.#maskers.get(key);
    if (!m) {
      const cfg: MaskingConfig = {
        ...this.base,
        ...(profile.entities ? { entities: [...profile.entities] } : {}),
        styles: { ...this.base.styles, ...(profile.styles as MaskingConfig['styles']) },
        ...(profile.defaultStyle
          ? { defaultStyle: profile.defaultStyle as MaskingConfig['defaultStyle'] }
          : {}),
      };
      m = new Masker(engineOptions(cfg, this.env));
      this.#maskers.set(key, m);
    }
    if (isImmutable(profile)) this.#byProfile.set(profile, m);
    return m;
  }

  /**
   * The plan for one result set, or `undefined` when every column is kept (the rows then pass
   * through untouched). `tableOf` names a column's table from its OID when known.
   */
  plan(
    profile: MaskingProfile,
    columns: readonly ResultColumn[],
    tableOf: (oid: number) => string | undefined = () => undefined,
  ): RowPlan | undefined {
    let cache = this.#plans.get(profile);
    if (!cache) {
      cache = new Map();
      this.#plans.set(profile, cache);
    }
    // With table rules, the plan depends on which names are known now (fail-safe without them).
    const tables = usesTables(profile) ? columns.map((c) => tableOf(c.tableOid)) : undefined;
    let key = '';
    for (const c of columns) key += `${c.name}\0${c.tableOid}\0${c.typeOid}\0${c.format}\0`;
    if (tables) key += `\0${tables.map((t) => t ?? '').join('\0')}`;
    if (cache.has(key)) return cache.get(key);
    const plans: ColumnPlan[] = columns.map((col, i) => this.#column(profile, col, tables?.[i]));
    const plan = plans.every((p) => p.action === 'keep') ? undefined : this.masker(profile).rowPlan(plans);
    if (cache.size >= MAX_CACHED_PLANS) cache.clear();
    cache.set(key, plan);
    return plan;
  }

  #column(profile: MaskingProfile, col: ResultColumn, table: string | undefined): ColumnPlan {
    const binaryOpaque = col.format === 1 && !TEXT_LIKE_BINARY.has(col.typeOid);
    const rule = profile.columns.find((r) => ruleMatches(r, col, table));
    const action = rule ? rule.action : profile.otherwise === 'keep' ? 'keep' : { scan: 'all' as const };
    if (action === 'keep') return { action: 'keep' };
    if ('redactAs' in action) return { action: 'redact', entity: action.redactAs };
    if (binaryOpaque) return { action: 'keep' };
    return action.scan === 'all' ? { action: 'scan' } : { action: 'scan', entities: [...action.scan] };
  }
}
