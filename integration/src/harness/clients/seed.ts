import type { RunResult } from '../exec';
import type { PgEndpoint } from './endpoint';
import { ClientRunError } from './errors';
import { psqlScript } from './psql';

const FIRST = ['Alice', 'Bruno', 'Chloe', 'Dmitri', 'Elena', 'Farid', 'Grace', 'Hiro', 'Ines', 'Jonas'];
const LAST = [
  'Moreau',
  'Schmidt',
  'Okafor',
  'Tanaka',
  'Silva',
  'Novak',
  'Haddad',
  'Larsen',
  'Rossi',
  'Kowalski',
];
const CITIES = ['Berlin', 'Lyon', 'Austin', 'Osaka', 'Porto', 'Gdansk', 'Leeds', 'Turin'];

function textArray(values: readonly string[]): string {
  return `ARRAY[${values.map((v) => `'${v}'`).join(',')}]`;
}

/**
 * The Luhn check digit of a 15-digit text column as one SQL expression: digits at odd positions from the
 * right are doubled (the `{0,2,4,6,8,1,3,5,7,9}` table is 2d with 9 subtracted above 9).
 */
function luhnCheckDigitSql(col: string): string {
  const terms: string[] = [];
  for (let k = 1; k <= 15; k++) {
    const digit = `substr(${col}, ${16 - k}, 1)::int`;
    terms.push(k % 2 === 1 ? `('{0,2,4,6,8,1,3,5,7,9}'::int[])[${digit} + 1]` : digit);
  }
  return `((10 - (${terms.join(' + ')}) % 10) % 10)`;
}

/**
 * SQL that (re)creates `customers(id, full_name, email, phone, card_number, ssn, iban, city, balance,
 * created_at)` with `rows` rows generated in the server, every PII column valid-looking so that a
 * masking engine with validators detects it: Visa numbers with a correct Luhn digit, SSNs with area
 * 001–665 and non-zero group and serial, German IBANs with a correct ISO 13616 mod-97 check, unique
 * emails. Deterministic: the same `rows` gives the same table. Ends with VACUUM ANALYZE.
 */
export function customersSeedSql(rows: number): string {
  if (!Number.isSafeInteger(rows) || rows < 1) throw new Error(`customers: rows must be a positive integer`);
  return `DROP TABLE IF EXISTS customers;
CREATE TABLE customers (
  id bigint PRIMARY KEY,
  full_name text NOT NULL,
  email text NOT NULL,
  phone text NOT NULL,
  card_number text NOT NULL,
  ssn text NOT NULL,
  iban text NOT NULL,
  city text NOT NULL,
  balance numeric(12,2) NOT NULL,
  created_at timestamptz NOT NULL
);
INSERT INTO customers
SELECT i,
  n.first || ' ' || n.last,
  lower(n.first) || '.' || lower(n.last) || i || '@example.com',
  '+1-202-555-' || lpad((i % 10000)::text, 4, '0'),
  c.p15 || ${luhnCheckDigitSql('c.p15')},
  lpad((1 + i % 665)::text, 3, '0') || '-' || lpad((1 + (i / 665) % 99)::text, 2, '0') || '-' ||
    lpad((1 + i % 9999)::text, 4, '0'),
  'DE' || lpad((98 - ((b.bban || '131400')::numeric % 97))::text, 2, '0') || b.bban,
  (${textArray(CITIES)})[1 + i % ${CITIES.length}],
  ((i::bigint * 7919) % 1000000) / 100.0,
  timestamptz '2024-01-01 00:00:00+00' + (i % 86400) * interval '17 minutes'
FROM generate_series(1, ${rows}) AS i
CROSS JOIN LATERAL (SELECT (${textArray(FIRST)})[1 + i % ${FIRST.length}] AS first,
                           (${textArray(LAST)})[1 + (i / ${FIRST.length}) % ${LAST.length}] AS last) n
CROSS JOIN LATERAL (SELECT '4' || lpad(((i::bigint * 104729 + 7) % 100000000000000)::text, 14, '0') AS p15) c
CROSS JOIN LATERAL (SELECT lpad(((i::bigint * 7919 + 37040044) % 100000000)::text, 8, '0') ||
                           lpad(((i::bigint * 2654435761) % 10000000000)::text, 10, '0') AS bban) b;
VACUUM ANALYZE customers;
`;
}

/** Creates and fills `customers` through psql (see `customersSeedSql`); rejects if psql fails. */
export async function seedCustomers(ep: PgEndpoint, rows: number, timeoutMs = 600_000): Promise<RunResult> {
  const r = await psqlScript(ep, customersSeedSql(rows), { timeoutMs });
  if (r.code !== 0) throw new ClientRunError('psql (customers seed)', ep, r);
  return r;
}
