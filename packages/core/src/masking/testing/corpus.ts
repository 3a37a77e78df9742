/**
 * Labeled and mixed corpora for the masking engine.
 *
 * - generateLabeledCorpus(seed): text made of CSV rows, JSON lines, log lines and prose, embedding true
 *   sensitive values (with their exact UTF-8 byte spans) and near misses (strings that must stay unmasked).
 *   Used by the accuracy test.
 * - generateMixedCorpus(seed, targetBytes, piiFraction): realistic rows where about `piiFraction` of the rows
 *   hold at least one sensitive value, assembled quickly from a pool of pre-rendered rows. Used by benches.
 *
 * Both are deterministic for a seed.
 */

import { Prng } from './prng';
import { ENTITIES, type Entity } from './validators';
import {
  CARD_BRAND_NAMES,
  type DigitLayout,
  FIRST_NAMES,
  genCard,
  genHexId,
  genIban,
  genIpv6,
  genNearMiss,
  genPhone,
  genPrivateKey,
  genSsn,
  genTrueValue,
  IBAN_COUNTRY_CODES,
  LAST_NAMES,
  NEAR_MISS_KIND_NAMES,
  type NearMiss,
  PHONE_FORMATS,
  type TrueValue,
} from './values';

export interface LabeledSpan {
  entity: Entity;
  /** Byte offset (UTF-8) of the first byte of the value in Buffer.from(text). */
  start: number;
  /** Byte offset one past the last byte of the value. */
  end: number;
  /** The value itself (equal to Buffer.from(text).subarray(start, end).toString()). */
  value: string;
  /** Generator variant, e.g. "visa/spaced". */
  format: string;
}

export interface NearMissSpan {
  kind: string;
  imitates: Entity[];
  start: number;
  end: number;
  value: string;
}

export interface LabeledCorpus {
  text: string;
  /** True sensitive values, sorted by start, non-overlapping. */
  spans: LabeledSpan[];
  /** Strings that must survive masking unchanged, sorted by start. */
  nearMisses: NearMissSpan[];
  stats: {
    bytes: number;
    rows: number;
    perEntity: Record<string, number>;
    perNearMissKind: Record<string, number>;
  };
}

export interface LabeledCorpusOptions {
  /** True values generated per entity (default 320). */
  perEntity?: number;
  /** Explicit near misses, spread evenly over the near-miss families (default 1100). Row filler adds more. */
  nearMisses?: number;
  /** Entities to include (default: all). */
  entities?: readonly Entity[];
}

// ---------------------------------------------------------------------------------------------------------
// Rendering model

type Item = { tv: TrueValue; nm?: undefined } | { nm: NearMiss; tv?: undefined };

/** A piece of row text; labeled pieces become spans. */
type Segment =
  | string
  | { text: string; tv: TrueValue; nm?: undefined }
  | { text: string; nm: NearMiss; tv?: undefined };

type RowKind = 'json' | 'csv' | 'log' | 'prose';

interface Contexts {
  /** JSON member templates, e.g. '"email":"{v}"'. */
  json: readonly string[];
  /** Log fragments, e.g. 'email={v}'. */
  log: readonly string[];
  /** CSV field templates (usually just '{v}'). */
  csv: readonly string[];
  /** Prose fragments, e.g. 'wrote from {v}'. */
  prose: readonly string[];
}

function ctx(keys: readonly string[], prose: readonly string[], extra: Partial<Contexts> = {}): Contexts {
  return {
    json: extra.json ?? keys.flatMap((k) => [`"${k}":"{v}"`, `"${k}": "{v}"`]),
    log: extra.log ?? keys.map((k) => `${k}={v}`),
    csv: extra.csv ?? ['{v}'],
    prose,
  };
}

const ENTITY_CONTEXTS: Readonly<Record<Entity, Contexts>> = {
  card: ctx(
    ['card_number', 'pan', 'cc', 'payment_card'],
    [
      'paid with card {v}',
      'had card {v} declined',
      'updated the card on file to {v}',
      'read the PAN {v} aloud',
    ],
  ),
  ssn: ctx(
    ['ssn', 'social_security_number', 'tax_id'],
    ['gave SSN {v}', 'listed social security number {v}'],
  ),
  iban: ctx(
    ['iban', 'beneficiary_iban', 'account_iban'],
    ['asked for a transfer to IBAN {v}', 'changed the payout account to {v}'],
  ),
  aba_routing: ctx(['routing_number', 'aba', 'rtn'], ['gave routing number {v}', 'used ABA {v}']),
  email: ctx(
    ['email', 'user_email', 'reply_to', 'contact'],
    ['wrote from {v}', 'asked us to reply to {v}', 'registered as {v}', 'added <{v}> in copy'],
  ),
  phone: ctx(
    ['phone', 'mobile', 'tel', 'contact_phone'],
    ['called from {v}', 'left the callback number {v}'],
  ),
  ipv4: ctx(
    ['client_ip', 'remote_addr', 'src_ip', 'server', 'peer'],
    ['connected from {v}', 'was seen at address {v}', 'hit the upstream server {v}'],
    {
      log: [
        'client_ip={v}',
        'peer={v}:5432',
        'remote_addr={v}',
        'from {v}',
        'upstream server {v}',
        'src={v}',
      ],
    },
  ),
  ipv6: ctx(['client_ip', 'remote_addr', 'src_ip', 'peer'], ['connected from {v}', 'was seen at [{v}]:443'], {
    log: ['client_ip={v}', 'peer=[{v}]:5432', 'from {v}', 'src={v}'],
  }),
  aws_access_key: ctx(
    ['aws_access_key_id', 'AccessKeyId', 'access_key'],
    ['pasted the access key {v}', 'committed AWS_ACCESS_KEY_ID={v}'],
    { log: ['aws_access_key_id={v}', 'AWS_ACCESS_KEY_ID={v}', 'access key {v}'] },
  ),
  aws_secret_key: {
    json: ['"SecretAccessKey": "{v}"', '"SecretAccessKey":"{v}"', '"aws_secret_access_key":"{v}"'],
    log: ['aws_secret_access_key={v}', 'AWS_SECRET_ACCESS_KEY={v}', 'aws_secret_access_key = {v}'],
    csv: ['aws_secret_access_key={v}'],
    prose: ['put aws_secret_access_key={v} in a ticket', 'exported AWS_SECRET_ACCESS_KEY={v} in the runbook'],
  },
  jwt: ctx(
    ['id_token', 'access_token', 'jwt'],
    ['sent the token {v}', 'used header Authorization: Bearer {v} today'],
    {
      json: ['"id_token":"{v}"', '"access_token": "{v}"', '"authorization":"Bearer {v}"'],
      log: ['token={v}', 'Authorization: Bearer {v}', 'id_token={v}'],
    },
  ),
  bearer_token: {
    json: ['"authorization":"Bearer {v}"', '"Authorization": "Bearer {v}"'],
    log: ['Authorization: Bearer {v}', 'auth="Bearer {v}"'],
    csv: ['Bearer {v}'],
    prose: ['sent Authorization: Bearer {v} with the request', 'used Bearer {v} to call the API'],
  },
  private_key: ctx(['private_key'], ['pasted this key into the chat:\n{v}\nand asked for help']),
};

const NEAR_MISS_CONTEXTS: Readonly<Record<string, Contexts>> = {
  card_luhn_fail: ctx(
    ['card_number', 'pan', 'ref_no'],
    ['typed the card number {v} which failed validation'],
  ),
  order_number: ctx(
    ['order_id', 'order_no', 'tracking_number'],
    ['asked about order {v}', 'tracked parcel {v}'],
  ),
  card_unknown_prefix: ctx(['member_id', 'account_no', 'loyalty_card'], ['quoted loyalty card {v}']),
  card_too_long: ctx(['tx_id', 'batch_ref'], ['referenced transfer {v}']),
  epoch_millis: ctx(['ts_ms', 'created_ms', 'epoch_ms'], ['was logged at epoch {v}']),
  epoch_micros: ctx(['ts_us'], ['was logged at {v} microseconds']),
  ssn_bad_area: ctx(['ssn', 'tax_id', 'ref'], ['wrote {v} in the SSN field, which is not valid']),
  ssn_bad_group: ctx(['ssn', 'tax_id', 'ref'], ['entered placeholder {v}']),
  ssn_bad_serial: ctx(['ssn', 'tax_id', 'ref'], ['entered test value {v}']),
  ssn_bare_digits: ctx(['employee_no', 'customer_no', 'ssn_digits'], ['has employee number {v}']),
  iban_bad_checksum: ctx(['iban', 'account'], ['mistyped the IBAN as {v}']),
  iban_bad_length: ctx(['iban', 'account'], ['gave account {v} which has the wrong length']),
  aba_bad_checksum: ctx(['routing_number', 'ticket_no', 'po_number'], ['opened ticket {v}']),
  aba_bad_prefix: ctx(['routing_number', 'ticket_no', 'po_number'], ['quoted purchase order {v}']),
  version_v: ctx(['agent', 'build', 'client_build'], ['upgraded the agent to {v}', 'runs build {v}']),
  version_word: ctx(['agent', 'os'], ['is on Windows {v}', 'reported client {v}'], {
    log: ['agent="{v}"', 'os="{v}"', 'running {v}'],
  }),
  dotted_long: ctx(['oid', 'schema_path'], ['queried OID {v}', 'used schema {v}']),
  ipv4_bad_octet: ctx(['addr_raw', 'input'], ['typed the address {v} which is not valid']),
  timestamp: ctx(['created_at', 'updated_at', 'last_seen'], ['logged in at {v}']),
  iso_date: ctx(['date', 'dob', 'valid_until'], ['signed up on {v}']),
  uuid: ctx(['request_id', 'trace_id', 'session_id'], ['opened case {v}']),
  git_sha: ctx(['commit', 'sha', 'etag'], ['deployed commit {v}']),
  semver: ctx(['sdk', 'client', 'release'], ['uses SDK {v}']),
  price: ctx(['amount', 'total', 'price'], ['paid {v} for the upgrade']),
  base64_blob: ctx(['cursor', 'data', 'payload', 'blob'], ['attached the blob {v}']),
  jwt_two_segments: ctx(['state', 'cursor'], ['passed state {v}']),
  bearer_short: ctx(['www_authenticate', 'auth_scheme'], ['got a 401 with challenge {v} back'], {
    log: ['WWW-Authenticate: {v}', 'challenge="{v}"'],
  }),
  mac_address: ctx(['mac', 'hw_addr'], ['has MAC {v}']),
  aws_key_malformed: ctx(['key_hint', 'access_key_prefix'], ['mentioned key id {v}, which is malformed']),
  secret_without_key: ctx(['checksum', 'signature', 'digest', 'nonce'], ['computed digest {v}']),
  public_pem: ctx(['public_key'], ['shared the public certificate:\n{v}\nfor pinning']),
  phone_bad_area: ctx(['phone_raw', 'fax'], ['wrote {v} as a phone number, which is not dialable']),
  phone_short: ctx(['ext', 'local_number'], ['dialled {v} locally']),
  code_path: ctx(['symbol', 'frame'], ['crashed in {v}']),
  email_like: ctx(['handle', 'contact_hint'], ['goes by {v}']),
};

function itemValue(it: Item): string {
  return it.tv !== undefined ? it.tv.value : it.nm.value;
}

function itemContexts(it: Item): Contexts {
  if (it.tv !== undefined) return ENTITY_CONTEXTS[it.tv.entity];
  return NEAR_MISS_CONTEXTS[it.nm.kind] ?? ctx(['value'], ['mentioned {v}']);
}

/** Multi-line raw values (PEM blocks) only fit log/prose rows; JSON-escaped ones only JSON rows. */
function itemFits(it: Item, kind: RowKind): boolean {
  const v = itemValue(it);
  if (v.includes('\n')) return kind === 'log' || kind === 'prose';
  if (v.includes('\\n')) return kind === 'json';
  return true;
}

/** Items after which a '.' must not follow directly ('.' is a bearer-token character). */
function dotUnsafe(it: Item): boolean {
  // A two-segment near miss followed by '.' would read as an unsecured JWT ("header.payload.").
  return (
    it.tv?.entity === 'bearer_token' || it.nm?.kind === 'bearer_short' || it.nm?.kind === 'jwt_two_segments'
  );
}

function labeled(it: Item, text: string): Segment {
  return it.tv !== undefined ? { text, tv: it.tv } : { text, nm: it.nm };
}

/** Render an item into a template containing {v}. */
function fill(template: string, it: Item, text = itemValue(it)): Segment[] {
  const at = template.indexOf('{v}');
  return [template.slice(0, at), labeled(it, text), template.slice(at + 3)];
}

// ---------------------------------------------------------------------------------------------------------
// Filler vocabulary

const LEVELS = ['INFO', 'INFO', 'INFO', 'WARN', 'ERROR', 'DEBUG'] as const;
const COMPONENTS = [
  'pg.session',
  'ssh.exec',
  'http.proxy',
  'auth.oidc',
  'audit.writer',
  'k8s.api',
  'mask.stage',
];
const LOG_MESSAGES = [
  'query result row',
  'request forwarded',
  'login ok',
  'approval pending',
  'row flagged by data policy',
  'upstream responded',
  'customer record updated',
  'payload inspected',
  'session opened',
];
const STATUSES = ['active', 'pending', 'closed', 'suspended', 'review', 'ok'];
const HTTP_PATHS = [
  '/api/v1/users',
  '/api/v2/orders',
  '/healthz',
  '/apis/apps/v1/deployments',
  '/billing/invoices',
];
const PROSE_OPENERS = [
  'Yesterday',
  'During the call',
  'In ticket follow-up',
  'According to the CRM export',
  'Per the escalation note',
  'Last week',
];
const PROSE_TAILS = ['', '', '', ' ✅', ' 🚀', ' (urgent)', ' — see thread'];

function personName(r: Prng): string {
  return `${r.pick(FIRST_NAMES)} ${r.pick(LAST_NAMES)}`;
}

function smallInt(r: Prng): number {
  return r.int(1, 99_999);
}

function csvField(s: string): string {
  return /[",\n]/.test(s) ? `"${s.replaceAll('"', '""')}"` : s;
}

// ---------------------------------------------------------------------------------------------------------
// Row builders. `filler` near misses (timestamps, ids) are labeled too: they must also survive masking.

function fillerNm(r: Prng, kind: 'timestamp' | 'uuid' | 'iso_date'): Item {
  return { nm: genNearMiss(r, kind) };
}

function quoteIfSpaced(t: string): string {
  // key={v} with a value containing spaces becomes key="{v}"
  return t.endsWith('={v}') ? `${t.slice(0, -3)}"{v}"` : t;
}

function jsonRow(r: Prng, items: Item[]): Segment[] {
  const segs: Segment[] = ['{', '"ts":"', ...fill('{v}', fillerNm(r, 'timestamp')), '",'];
  segs.push('"id":"', ...fill('{v}', fillerNm(r, 'uuid')), '",');
  if (r.chance(0.6)) segs.push(`"name":"${personName(r)}",`);
  const wrap = r.chance(0.25);
  if (wrap) segs.push(`"${r.pick(['data', 'customer', 'record', 'attributes'])}":{`);
  items.forEach((it, i) => {
    if (i > 0) segs.push(',');
    segs.push(...fill(r.pick(itemContexts(it).json), it));
  });
  if (wrap) segs.push('}');
  segs.push(`,"status":"${r.pick(STATUSES)}","n":${smallInt(r)}}`);
  return segs;
}

function csvRow(r: Prng, items: Item[]): Segment[] {
  const segs: Segment[] = [`${smallInt(r)},${csvField(personName(r))},`];
  for (const it of items) {
    const v = itemValue(it);
    const t = r.pick(itemContexts(it).csv);
    if (/[",]/.test(v)) segs.push(...fill(`"${t}"`, it));
    else segs.push(...fill(t, it));
    segs.push(',');
  }
  segs.push(...fill('{v}', fillerNm(r, 'iso_date')), `,${r.pick(STATUSES)}`);
  return segs;
}

function logRow(r: Prng, items: Item[]): Segment[] {
  const segs: Segment[] = [
    ...fill('{v}', fillerNm(r, 'timestamp')),
    ` ${r.pick(LEVELS)} [req-${genHexId(r, 8)}] ${r.pick(COMPONENTS)}: ${r.pick(LOG_MESSAGES)}`,
  ];
  if (r.chance(0.4))
    segs.push(
      ` method=GET path=${r.pick(HTTP_PATHS)}/${smallInt(r)} status=${r.pick([200, 201, 403, 404, 500])}`,
    );
  for (const it of items) {
    const v = itemValue(it);
    if (v.includes('\n')) {
      segs.push(' material follows:\n', labeled(it, v));
      continue;
    }
    let t = r.pick(itemContexts(it).log);
    if (v.includes(' ')) t = quoteIfSpaced(t);
    segs.push(' ', ...fill(t, it));
  }
  const last = items[items.length - 1];
  if (last === undefined || !itemValue(last).includes('\n')) segs.push(` duration=${r.int(1, 950)}ms`);
  return segs;
}

function proseRow(r: Prng, items: Item[]): Segment[] {
  const segs: Segment[] = [];
  if (r.chance(0.5)) segs.push(`${r.pick(PROSE_OPENERS)}, `);
  segs.push(`${personName(r)} `);
  items.forEach((it, i) => {
    if (i > 0) segs.push(i === items.length - 1 ? ' and then ' : ', ');
    segs.push(...fill(r.pick(itemContexts(it).prose), it));
  });
  const last = items[items.length - 1];
  const lastText = last === undefined ? '' : itemValue(last);
  if (last !== undefined && (dotUnsafe(last) || lastText.includes('\n'))) segs.push(' as noted');
  segs.push(`.${r.pick(PROSE_TAILS)}`);
  return segs;
}

const ROW_BUILDERS: Readonly<Record<RowKind, (r: Prng, items: Item[]) => Segment[]>> = {
  json: jsonRow,
  csv: csvRow,
  log: logRow,
  prose: proseRow,
};

const ROW_KINDS: readonly RowKind[] = ['json', 'csv', 'log', 'prose'];

/** Take 1–3 items from the queue that fit one row kind; returns the row's segments. */
function buildRow(r: Prng, queue: Item[]): Segment[] {
  const first = queue.shift();
  if (first === undefined) return [];
  const kinds = ROW_KINDS.filter((k) => itemFits(first, k));
  const kind = r.weighted(
    kinds,
    kinds.map((k) => ({ json: 3, csv: 2, log: 4, prose: 2 })[k]),
  );
  const items = [first];
  const multiLine = itemValue(first).includes('\n') || itemValue(first).includes('\\n');
  const want = multiLine ? 1 : r.weighted([1, 2, 3], [3, 4, 2]);
  while (items.length < want) {
    const next = queue[0];
    if (next === undefined || !itemFits(next, kind)) break;
    const nv = itemValue(next);
    if (nv.includes('\n') || nv.includes('\\n')) break;
    items.push(next);
    queue.shift();
  }
  return ROW_BUILDERS[kind](r, items);
}

// ---------------------------------------------------------------------------------------------------------
// Labeled corpus

/** Values of one entity with formats cycled so that every variant is represented. */
function valuesFor(r: Prng, entity: Entity, n: number): TrueValue[] {
  const out: TrueValue[] = [];
  const layouts: DigitLayout[] = ['compact', 'spaced', 'dashed'];
  for (let i = 0; i < n; i++) {
    switch (entity) {
      case 'card':
        out.push(
          genCard(
            r,
            CARD_BRAND_NAMES[i % CARD_BRAND_NAMES.length],
            layouts[Math.floor(i / CARD_BRAND_NAMES.length) % 3],
          ),
        );
        break;
      case 'iban':
        out.push(
          genIban(
            r,
            IBAN_COUNTRY_CODES[i % IBAN_COUNTRY_CODES.length],
            Math.floor(i / IBAN_COUNTRY_CODES.length) % 2 === 0,
          ),
        );
        break;
      case 'phone':
        out.push(genPhone(r, PHONE_FORMATS[i % PHONE_FORMATS.length]));
        break;
      case 'ssn':
        out.push(genSsn(r, i % 3 === 2 ? ' ' : '-'));
        break;
      case 'ipv6':
        out.push(genIpv6(r, i % 3 !== 0));
        break;
      case 'private_key':
        out.push(genPrivateKey(r, i % 4 === 3));
        break;
      default:
        out.push(genTrueValue(r, entity));
    }
  }
  return out;
}

interface Assembled {
  text: string;
  spans: LabeledSpan[];
  nearMisses: NearMissSpan[];
  rows: number;
}

function assemble(rows: Segment[][]): Assembled {
  const parts: string[] = [];
  const spans: LabeledSpan[] = [];
  const nearMisses: NearMissSpan[] = [];
  let offset = 0;
  const push = (s: string) => {
    parts.push(s);
    offset += Buffer.byteLength(s);
  };
  for (const row of rows) {
    for (const seg of row) {
      if (typeof seg === 'string') {
        if (seg !== '') push(seg);
        continue;
      }
      const start = offset;
      push(seg.text);
      if (seg.tv !== undefined) {
        spans.push({ entity: seg.tv.entity, start, end: offset, value: seg.text, format: seg.tv.format });
      } else {
        nearMisses.push({
          kind: seg.nm.kind,
          imitates: seg.nm.imitates,
          start,
          end: offset,
          value: seg.text,
        });
      }
    }
    push('\n');
  }
  return { text: parts.join(''), spans, nearMisses, rows: rows.length };
}

export function generateLabeledCorpus(seed: number, opts: LabeledCorpusOptions = {}): LabeledCorpus {
  const perEntity = opts.perEntity ?? 320;
  const nearMissCount = opts.nearMisses ?? 1100;
  const entities = opts.entities ?? ENTITIES;
  const r = new Prng(seed);

  const items: Item[] = [];
  for (const e of entities) for (const tv of valuesFor(r, e, perEntity)) items.push({ tv });
  for (let i = 0; i < nearMissCount; i++) {
    items.push({ nm: genNearMiss(r, NEAR_MISS_KIND_NAMES[i % NEAR_MISS_KIND_NAMES.length]) });
  }
  r.shuffle(items);

  const rows: Segment[][] = [];
  while (items.length > 0) {
    // Occasionally a value-free row (header, plain log line) between the loaded ones.
    if (r.chance(0.08)) rows.push(plainRow(r));
    rows.push(buildRow(r, items));
  }
  const a = assemble(rows);

  const perEntityCount: Record<string, number> = {};
  for (const s of a.spans) perEntityCount[s.entity] = (perEntityCount[s.entity] ?? 0) + 1;
  const perKind: Record<string, number> = {};
  for (const n of a.nearMisses) perKind[n.kind] = (perKind[n.kind] ?? 0) + 1;
  return {
    text: a.text,
    spans: a.spans,
    nearMisses: a.nearMisses,
    stats: {
      bytes: Buffer.byteLength(a.text),
      rows: a.rows,
      perEntity: perEntityCount,
      perNearMissKind: perKind,
    },
  };
}

/** A row with no sensitive value and no explicit near miss (beyond its own timestamp/id filler). */
function plainRow(r: Prng): Segment[] {
  switch (r.int(0, 3)) {
    case 0:
      return ['id,name,field_a,field_b,date,status'];
    case 1:
      return logRow(r, []);
    case 2:
      return [`${personName(r)} asked about the status of the migration; nothing sensitive was shared.`];
    default:
      return jsonRow(r, []);
  }
}

// ---------------------------------------------------------------------------------------------------------
// Mixed corpus for benchmarks

/** Rough real-world mix of entities in PII-bearing rows (relative weights). */
const MIXED_ENTITY_WEIGHTS: Readonly<Record<Entity, number>> = {
  email: 22,
  phone: 14,
  ipv4: 14,
  card: 10,
  ssn: 6,
  iban: 6,
  aba_routing: 3,
  ipv6: 5,
  jwt: 5,
  bearer_token: 5,
  aws_access_key: 3,
  aws_secret_key: 3,
  private_key: 0.5,
};

export interface MixedCorpus {
  buffer: Buffer;
  rows: number;
  piiRows: number;
  /** Number of embedded true values per entity. */
  values: Record<string, number>;
}

function renderRow(segs: Segment[]): { buf: Buffer; values: TrueValue[] } {
  let s = '';
  const values: TrueValue[] = [];
  for (const seg of segs) {
    if (typeof seg === 'string') s += seg;
    else {
      s += seg.text;
      if (seg.tv !== undefined) values.push(seg.tv);
    }
  }
  return { buf: Buffer.from(`${s}\n`), values };
}

/**
 * Mixed corpus with stats. Rows are drawn from pools of pre-rendered clean and PII rows, so a 64 MiB corpus
 * takes well under a second once the pools exist. The result is exactly targetBytes long: the tail that
 * cannot hold a whole row is padded with spaces and a final newline.
 */
export function generateMixedCorpusDetailed(
  seed: number,
  targetBytes: number,
  piiFraction = 0.1,
): MixedCorpus {
  if (!Number.isInteger(targetBytes) || targetBytes < 0)
    throw new RangeError('targetBytes must be a non-negative integer');
  if (!(piiFraction >= 0 && piiFraction <= 1)) throw new RangeError('piiFraction must be within [0, 1]');
  const r = new Prng(seed ^ 0x6d697864);
  const entities = ENTITIES.slice();
  const weights = entities.map((e) => MIXED_ENTITY_WEIGHTS[e]);

  const cleanPool: Buffer[] = [];
  for (let i = 0; i < 4096; i++) {
    const nms: Item[] = [];
    const n = r.weighted([0, 1, 2], [3, 5, 2]);
    for (let j = 0; j < n; j++) {
      const kind = r.pick(NEAR_MISS_KIND_NAMES.filter((k) => k !== 'public_pem'));
      nms.push({ nm: genNearMiss(r, kind) });
    }
    const kind = r.weighted(ROW_KINDS, [3, 2, 4, 1]);
    cleanPool.push(renderRow(nms.length === 0 ? plainRowFor(r, kind) : ROW_BUILDERS[kind](r, nms)).buf);
  }
  const piiPool: Array<{ buf: Buffer; values: TrueValue[] }> = [];
  for (let i = 0; i < 1024; i++) {
    const items: Item[] = [{ tv: genTrueValue(r, r.weighted(entities, weights)) }];
    if (r.chance(0.3)) items.push({ tv: genTrueValue(r, r.weighted(entities, weights)) });
    if (r.chance(0.3))
      items.push({ nm: genNearMiss(r, r.pick(NEAR_MISS_KIND_NAMES.filter((k) => k !== 'public_pem'))) });
    piiPool.push(renderRow(buildRow(r, items)));
    // A multi-line item may have left the rest of the queue unused; those items are simply dropped.
  }

  const out = Buffer.allocUnsafe(targetBytes);
  const values: Record<string, number> = {};
  let off = 0;
  let rows = 0;
  let piiRows = 0;
  for (;;) {
    const pii = r.float() < piiFraction;
    const row = pii ? r.pick(piiPool) : undefined;
    const buf = row !== undefined ? row.buf : r.pick(cleanPool);
    if (off + buf.length > targetBytes) break;
    buf.copy(out, off);
    off += buf.length;
    rows++;
    if (row !== undefined) {
      piiRows++;
      for (const v of row.values) values[v.entity] = (values[v.entity] ?? 0) + 1;
    }
  }
  if (off < targetBytes) {
    out.fill(0x20, off, targetBytes - 1);
    out[targetBytes - 1] = 0x0a;
  }
  return { buffer: out, rows, piiRows, values };
}

function plainRowFor(r: Prng, kind: RowKind): Segment[] {
  switch (kind) {
    case 'json':
      return jsonRow(r, []);
    case 'log':
      return logRow(r, []);
    case 'csv':
      return csvRow(r, []);
    default:
      return [`${personName(r)} asked about the status of the migration; nothing sensitive was shared.`];
  }
}

/**
 * A buffer of about `targetBytes` (exactly, in fact) of realistic CSV/JSON/log/prose rows of ~100–300 bytes,
 * where about `piiFraction` of the rows hold at least one sensitive value.
 */
export function generateMixedCorpus(seed: number, targetBytes: number, piiFraction = 0.1): Buffer {
  return generateMixedCorpusDetailed(seed, targetBytes, piiFraction).buffer;
}
