/**
 * Self-test of the masking test-data generators (no masking engine involved): the generators must produce
 * exactly what they claim, so that the accuracy test measures the engine and not the corpus.
 */

import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { describe, it } from 'node:test';
import { generateLabeledCorpus, generateMixedCorpus, generateMixedCorpusDetailed } from './corpus';
import { Prng } from './prng';
import {
  abaChecksumValid,
  abaPrefixValid,
  CHECKSUM_ENTITIES,
  cardIssuer,
  ENTITIES,
  IBAN_COUNTRIES,
  ibanMod97,
  isValidAba,
  isValidCard,
  isValidEmail,
  isValidEntityValue,
  isValidIban,
  isValidIpv4,
  isValidIpv6,
  isValidSsn,
  luhnValid,
  numericHazards,
  ssnDigitsValid,
} from './validators';
import {
  CARD_BRAND_NAMES,
  genAba,
  genCard,
  genIban,
  genNearMiss,
  genPhone,
  genSsn,
  genTrueValue,
  IBAN_COUNTRY_CODES,
  NEAR_MISS_KIND_NAMES,
  nearMissIsInert,
  PHONE_FORMATS,
} from './values';

const digitsOf = (s: string) => s.replace(/[ -]/g, '');

// -------------------------------------------------------------------------------------------------------
// A reference scan for anything that the entity contract would call sensitive. Run on text where the true
// spans have been blanked out, it must find nothing: otherwise the corpus holds unlabeled true values and
// the engine would be charged false positives that are really labeling errors.

function residueHazards(text: string): string[] {
  const found: string[] = [];
  const report = (what: string, s: string) => found.push(`${what}: ${JSON.stringify(s)}`);
  for (const h of numericHazards(text)) report(h.kind, h.digits);
  for (const m of text.matchAll(/(?<!\d)\d{3}([- ])\d{2}\1\d{4}(?!\d)/g))
    if (isValidSsn(m[0])) report('ssn', m[0]);
  for (const m of text.matchAll(/\+[1-9]\d{7,14}(?!\d)/g)) report('phone/e164', m[0]);
  for (const m of text.matchAll(
    /\([2-9]\d{2}\) [2-9]\d{2}-\d{4}|(?<!\d)[2-9]\d{2}([-.])[2-9]\d{2}\1\d{4}(?!\d)|\+1 [2-9]\d{2} [2-9]\d{2} \d{4}/g,
  ))
    report('phone/na', m[0]);
  for (const m of text.matchAll(/(?<![\w.])\d{1,3}(?:\.\d{1,3}){3}(?![\w]|\.\d)/g)) {
    const before = text.slice(Math.max(0, m.index - 12), m.index);
    if (isValidIpv4(m[0]) && !/\b(?:version|ver)\.?:?\s*$/i.test(before)) report('ipv4', m[0]);
  }
  for (const m of text.matchAll(/[0-9A-Za-z:]+/g)) {
    const t = m[0].replace(/^:(?!:)|(?<!:):$/g, '');
    if (t.includes(':') && isValidIpv6(t)) report('ipv6', t);
  }
  for (const m of text.matchAll(/[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}/g))
    report('email', m[0]);
  for (const m of text.matchAll(/(?:AKIA|ASIA)[A-Z2-7]{16}(?![A-Za-z0-9])/g)) report('aws_access_key', m[0]);
  for (const m of text.matchAll(/(?:aws_secret_access_key|SecretAccessKey)["\s]*[:=]\s*"?(.)/gi)) {
    if (m[1] !== '#') report('aws_secret_key', m[0]);
  }
  for (const m of text.matchAll(/eyJ[A-Za-z0-9_-]+\.eyJ[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+/g)) report('jwt', m[0]);
  for (const m of text.matchAll(/Bearer +([A-Za-z0-9._~+/=-]{16,})/g)) report('bearer_token', m[0]);
  for (const m of text.matchAll(/-----BEGIN [A-Z ]*PRIVATE KEY-----/g)) report('private_key', m[0]);
  for (const m of text.matchAll(
    /(?<![A-Za-z0-9])[A-Z]{2}\d{2}(?:[A-Z0-9]{10,30}|(?: [A-Z0-9]{1,4}){2,8})/g,
  )) {
    const spec = IBAN_COUNTRIES[m[0].slice(0, 2)];
    if (spec === undefined) continue;
    const compact = m[0].replaceAll(' ', '');
    for (let len = 12; len <= compact.length; len++) {
      if (len === spec.length && ibanMod97(compact.slice(0, len)) === 1) report('iban', m[0]);
    }
  }
  return found;
}

/** Replace the given byte ranges with '#' and decode as latin1 (so that string index == byte offset). */
function blank(text: string, ranges: ReadonlyArray<{ start: number; end: number }>): string {
  const buf = Buffer.from(text);
  for (const r of ranges) buf.fill(0x23, r.start, r.end);
  return buf.toString('latin1');
}

// -------------------------------------------------------------------------------------------------------

describe('Prng', () => {
  it('is deterministic per seed and differs across seeds', () => {
    const a = new Prng(1);
    const b = new Prng(1);
    const c = new Prng(2);
    const sa = Array.from({ length: 64 }, () => a.nextUint32());
    const sb = Array.from({ length: 64 }, () => b.nextUint32());
    const sc = Array.from({ length: 64 }, () => c.nextUint32());
    assert.deepEqual(sa, sb);
    assert.notDeepEqual(sa, sc);
  });

  it('int() stays in range and covers it; shuffle() permutes', () => {
    const r = new Prng(7);
    const seen = new Set<number>();
    for (let i = 0; i < 5000; i++) {
      const v = r.int(3, 12);
      assert.ok(v >= 3 && v <= 12);
      seen.add(v);
    }
    assert.equal(seen.size, 10);
    const arr = Array.from({ length: 50 }, (_, i) => i);
    const sh = r.shuffle(arr.slice());
    assert.deepEqual(
      sh.slice().sort((x, y) => x - y),
      arr,
    );
    assert.notDeepEqual(sh, arr);
    assert.equal(r.digits(12).length, 12);
    assert.match(r.digits(40), /^\d{40}$/);
    assert.equal(r.bytes(13).length, 13);
  });
});

describe('validators on known vectors', () => {
  it('cards', () => {
    for (const n of [
      '4111111111111111',
      '5555555555554444',
      '378282246310005',
      '6011111111111117',
      '3530111333300000',
    ]) {
      assert.ok(isValidCard(n), n);
    }
    assert.equal(cardIssuer('2223003122003222'), 'mastercard');
    assert.equal(cardIssuer('36227206271667'), 'diners');
    assert.equal(cardIssuer('6200000000000005'), 'unionpay');
    assert.equal(cardIssuer('6759649826438453'), 'maestro');
    assert.equal(cardIssuer('341111111111111111'), null, 'Amex prefix requires 15 digits');
    assert.ok(!isValidCard('4111111111111112'), 'Luhn failure');
    assert.ok(luhnValid('1234567812345670') && !isValidCard('1234567812345670'), 'unknown prefix 1');
  });

  it('IBAN, ABA, SSN', () => {
    for (const iban of [
      'DE89370400440532013000',
      'GB82WEST12345698765432',
      'NL91ABNA0417164300',
      'FR1420041010050500013M02606',
    ]) {
      assert.ok(isValidIban(iban), iban);
    }
    assert.ok(isValidIban('DE89 3704 0044 0532 0130 00'));
    assert.ok(!isValidIban('DE88370400440532013000'));
    assert.ok(!isValidIban('DE89 3704 0044 0532 0130 0'));
    for (const aba of ['021000021', '011000015', '121000358', '026009593']) assert.ok(isValidAba(aba), aba);
    assert.ok(!isValidAba('021000022'));
    assert.ok(abaChecksumValid('500000005') && !abaPrefixValid('500000005'));
    assert.ok(isValidSsn('078-05-1120') && isValidSsn('078 05 1120'));
    for (const bad of [
      '000-12-3456',
      '666-12-3456',
      '912-34-5678',
      '123-00-4567',
      '123-45-0000',
      '123-45 6789',
    ]) {
      assert.ok(!isValidSsn(bad), bad);
    }
  });

  it('addresses', () => {
    assert.ok(isValidIpv4('192.168.0.1') && isValidIpv4('0.0.0.0') && isValidIpv4('255.255.255.255'));
    assert.ok(!isValidIpv4('256.1.1.1') && !isValidIpv4('01.2.3.4') && !isValidIpv4('1.2.3'));
    assert.ok(
      isValidIpv6('2001:db8::1') && isValidIpv6('fe80:0:0:0:202:b3ff:fe1e:8329') && isValidIpv6('2001:db8::'),
    );
    assert.ok(!isValidIpv6('12:30:45') && !isValidIpv6('00:1a:2b:3c:4d:5e') && !isValidIpv6('1::2::3'));
    assert.ok(isValidEmail('jane.doe+news@mail.example.co.uk') && !isValidEmail('jane@localhost'));
  });
});

describe('true-value generators', () => {
  const r = new Prng(11);

  it('cards of every brand and layout pass Luhn and the prefix check', () => {
    for (const brand of CARD_BRAND_NAMES) {
      for (const layout of ['compact', 'spaced', 'dashed'] as const) {
        for (let i = 0; i < 60; i++) {
          const { value } = genCard(r, brand, layout);
          const d = digitsOf(value);
          assert.ok(luhnValid(d), `${brand} ${value} Luhn`);
          assert.ok(cardIssuer(d) !== null, `${brand} ${value} prefix`);
          assert.ok(d.length >= 13 && d.length <= 19);
          if (layout === 'compact') assert.match(value, /^\d+$/);
          if (layout === 'spaced') assert.match(value, /^\d+(?: \d+)+$/);
          if (layout === 'dashed') assert.match(value, /^\d+(?:-\d+)+$/);
          if (brand === 'amex') assert.equal(d.length, 15);
        }
      }
    }
  });

  it('IBANs of every country have the right length and mod-97 == 1, compact and grouped', () => {
    assert.ok(IBAN_COUNTRY_CODES.length >= 10);
    for (const cc of IBAN_COUNTRY_CODES) {
      const spec = IBAN_COUNTRIES[cc];
      assert.ok(spec);
      for (const grouped of [false, true]) {
        for (let i = 0; i < 40; i++) {
          const { value } = genIban(r, cc, grouped);
          const compact = value.replaceAll(' ', '');
          assert.equal(compact.length, spec.length, value);
          assert.equal(ibanMod97(compact), 1, value);
          assert.ok(value.startsWith(cc));
          if (grouped) assert.match(value, /^(?:[A-Z0-9]{4} )+[A-Z0-9]{1,4}$/);
          else assert.ok(!value.includes(' '));
        }
      }
    }
  });

  it('SSNs, ABA numbers and phones are valid', () => {
    for (let i = 0; i < 500; i++) {
      assert.ok(isValidSsn(genSsn(r).value));
      assert.ok(isValidAba(genAba(r).value));
    }
    for (const f of PHONE_FORMATS) {
      for (let i = 0; i < 100; i++) assert.ok(isValidEntityValue('phone', genPhone(r, f).value));
    }
  });

  it('every entity generator yields values that its validator accepts', () => {
    for (const e of ENTITIES) {
      for (let i = 0; i < 60; i++) {
        const v = genTrueValue(r, e);
        assert.equal(v.entity, e);
        assert.ok(isValidEntityValue(e, v.value), `${e}: ${v.value}`);
      }
    }
  });
});

describe('near-miss generators', () => {
  const r = new Prng(12);
  const N = 200;

  it('card near misses fail the Luhn + prefix check', () => {
    for (let i = 0; i < N; i++) {
      const luhnFail = digitsOf(genNearMiss(r, 'card_luhn_fail').value);
      assert.ok(cardIssuer(luhnFail) !== null && !luhnValid(luhnFail), luhnFail);
      const order = genNearMiss(r, 'order_number').value;
      assert.match(order, /^\d{16}$/);
      assert.ok(!luhnValid(order), order);
      const unknown = digitsOf(genNearMiss(r, 'card_unknown_prefix').value);
      assert.ok(luhnValid(unknown) && cardIssuer(unknown) === null, unknown);
      for (const k of ['epoch_millis', 'epoch_micros', 'card_too_long']) {
        const v = genNearMiss(r, k).value;
        assert.ok(!isValidCard(v) && numericHazards(v).length === 0, `${k}: ${v}`);
      }
    }
    assert.match(genNearMiss(r, 'epoch_millis').value, /^1\d{12}$/);
  });

  it('SSN, ABA and IBAN near misses are invalid in the intended way', () => {
    for (let i = 0; i < N; i++) {
      const area = genNearMiss(r, 'ssn_bad_area').value;
      assert.match(area, /^(?:000|666|9\d\d)[- ]/);
      assert.ok(!isValidSsn(area));
      assert.match(genNearMiss(r, 'ssn_bad_group').value, /^\d{3}([- ])00\1\d{4}$/);
      assert.match(genNearMiss(r, 'ssn_bad_serial').value, /^\d{3}([- ])\d{2}\1(?:0000)$/);
      const bare = genNearMiss(r, 'ssn_bare_digits').value;
      assert.ok(ssnDigitsValid(bare) && !isValidAba(bare));
      const abaSum = genNearMiss(r, 'aba_bad_checksum').value;
      assert.ok(abaPrefixValid(abaSum) && !abaChecksumValid(abaSum), abaSum);
      const abaPre = genNearMiss(r, 'aba_bad_prefix').value;
      assert.ok(!abaPrefixValid(abaPre) && abaChecksumValid(abaPre), abaPre);
      const ibanSum = genNearMiss(r, 'iban_bad_checksum').value;
      const c1 = ibanSum.replaceAll(' ', '');
      assert.equal(c1.length, IBAN_COUNTRIES[c1.slice(0, 2)]?.length);
      assert.notEqual(ibanMod97(c1), 1);
      assert.ok(!isValidIban(ibanSum));
      const ibanLen = genNearMiss(r, 'iban_bad_length').value;
      const c2 = ibanLen.replaceAll(' ', '');
      assert.equal(ibanMod97(c2), 1);
      assert.notEqual(c2.length, IBAN_COUNTRIES[c2.slice(0, 2)]?.length);
    }
  });

  it('every near-miss family is inert by the reference validators', () => {
    for (const kind of NEAR_MISS_KIND_NAMES) {
      for (let i = 0; i < 50; i++) {
        const nm = genNearMiss(r, kind);
        assert.ok(nearMissIsInert(nm), `${kind}: ${nm.value}`);
        assert.deepEqual(residueHazards(` ${nm.value} `), [], `${kind}: ${nm.value}`);
      }
    }
  });
});

describe('labeled corpus', () => {
  const corpus = generateLabeledCorpus(1);
  const buf = Buffer.from(corpus.text);

  it('has >= 300 true values per entity and >= 300 explicit near misses', () => {
    for (const e of ENTITIES)
      assert.ok((corpus.stats.perEntity[e] ?? 0) >= 300, `${e}: ${corpus.stats.perEntity[e]}`);
    const explicit = corpus.nearMisses.filter(
      (n) => !['timestamp', 'uuid', 'iso_date'].includes(n.kind),
    ).length;
    assert.ok(explicit >= 300, `explicit near misses: ${explicit}`);
    assert.equal(corpus.stats.bytes, buf.length);
  });

  it('spans are byte offsets that slice to exactly the generated values, which are valid', () => {
    assert.ok(
      buf.length > Buffer.byteLength(corpus.text.slice(0, 1)) && buf.length !== corpus.text.length,
      'non-ASCII present',
    );
    for (const s of corpus.spans) {
      assert.equal(buf.subarray(s.start, s.end).toString(), s.value);
      assert.ok(isValidEntityValue(s.entity, s.value), `${s.entity}: ${s.value}`);
    }
    for (const n of corpus.nearMisses) {
      assert.equal(buf.subarray(n.start, n.end).toString(), n.value);
      assert.ok(nearMissIsInert(n), `${n.kind}: ${n.value}`);
    }
  });

  it('spans are sorted, non-overlapping, and do not overlap near misses', () => {
    const all = [...corpus.spans, ...corpus.nearMisses].sort((a, b) => a.start - b.start);
    for (let i = 1; i < all.length; i++) {
      const prev = all[i - 1];
      const cur = all[i];
      assert.ok(prev && cur && prev.end <= cur.start, `overlap at ${cur?.start}`);
    }
  });

  it('every true value stands alone (no adjoining alnum, digit group or dotted part)', () => {
    const latin = buf.toString('latin1');
    for (const s of corpus.spans) {
      const before = latin.slice(Math.max(0, s.start - 16), s.start);
      const after = latin.slice(s.end, s.end + 2);
      assert.doesNotMatch(
        before,
        /[A-Za-z0-9]$|\d[ -]$/,
        `${s.entity} ${s.value} preceded by ${JSON.stringify(before)}`,
      );
      assert.doesNotMatch(
        after,
        /^[A-Za-z0-9]|^[ -]\d/,
        `${s.entity} ${s.value} followed by ${JSON.stringify(after)}`,
      );
      if (s.entity === 'ipv4') {
        assert.doesNotMatch(
          before,
          /\d\.$|\b(?:version|ver)\b[^\n]*$/i,
          `ipv4 ${s.value} after ${JSON.stringify(before)}`,
        );
        assert.doesNotMatch(after, /^\.\d/);
      }
      if (s.entity === 'bearer_token') assert.match(before, /Bearer $/);
    }
  });

  it('holds no unlabeled sensitive value outside the spans', () => {
    assert.deepEqual(residueHazards(blank(corpus.text, corpus.spans)).slice(0, 20), []);
  });

  it('covers every format variant and every near-miss family', () => {
    const formats = new Set(corpus.spans.map((s) => `${s.entity}:${s.format}`));
    for (const b of CARD_BRAND_NAMES)
      for (const l of ['compact', 'spaced', 'dashed']) assert.ok(formats.has(`card:${b}/${l}`), `${b}/${l}`);
    for (const f of PHONE_FORMATS) assert.ok(formats.has(`phone:${f}`));
    assert.ok(formats.has('ipv6:compressed') && formats.has('ipv6:full'));
    const countries = new Set(
      corpus.spans.filter((s) => s.entity === 'iban').map((s) => s.value.slice(0, 2)),
    );
    assert.ok(countries.size >= 10);
    for (const k of NEAR_MISS_KIND_NAMES) assert.ok((corpus.stats.perNearMissKind[k] ?? 0) > 0, k);
    assert.ok(
      corpus.spans.some((s) => s.entity === 'private_key' && s.value.includes('\\n')),
      'JSON-escaped PEM',
    );
    assert.ok(
      corpus.spans.some((s) => s.entity === 'private_key' && s.value.includes('\n')),
      'raw PEM',
    );
  });

  it('is deterministic for a seed and differs across seeds', () => {
    const again = generateLabeledCorpus(1);
    assert.equal(again.text, corpus.text);
    assert.deepEqual(again.spans, corpus.spans);
    assert.deepEqual(again.nearMisses, corpus.nearMisses);
    assert.notEqual(
      generateLabeledCorpus(2, { perEntity: 20, nearMisses: 40 }).text,
      generateLabeledCorpus(1, { perEntity: 20, nearMisses: 40 }).text,
    );
  });

  it('checksum entities are covered by CHECKSUM_ENTITIES', () => {
    assert.deepEqual([...CHECKSUM_ENTITIES].sort(), ['aba_routing', 'card', 'iban', 'ssn']);
  });
});

describe('mixed corpus', () => {
  const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

  it('has the requested size and PII fraction, deterministically', () => {
    const target = 4 * 1024 * 1024 + 123;
    const m = generateMixedCorpusDetailed(1, target);
    assert.equal(m.buffer.length, target);
    const frac = m.piiRows / m.rows;
    assert.ok(frac > 0.085 && frac < 0.115, `pii fraction ${frac}`);
    const avg = target / m.rows;
    assert.ok(avg >= 80 && avg <= 320, `average row ${avg} bytes`);
    let values = 0;
    for (const n of Object.values(m.values)) values += n;
    assert.ok(values >= m.piiRows);
    assert.equal(sha(generateMixedCorpus(1, target)), sha(m.buffer));
    assert.notEqual(sha(generateMixedCorpus(2, target)), sha(m.buffer));
    const m30 = generateMixedCorpusDetailed(3, 1 << 20, 0.3);
    assert.ok(Math.abs(m30.piiRows / m30.rows - 0.3) < 0.03);
  });

  it('clean rows hold nothing sensitive; PII-only corpora hold values', () => {
    const clean = generateMixedCorpusDetailed(5, 1 << 20, 0);
    assert.equal(clean.piiRows, 0);
    assert.deepEqual(residueHazards(clean.buffer.toString('latin1')).slice(0, 20), []);
    const pii = generateMixedCorpusDetailed(5, 1 << 18, 1);
    assert.equal(pii.piiRows, pii.rows);
  });

  it('generates 64 MiB quickly', () => {
    const t0 = process.hrtime.bigint();
    const b = generateMixedCorpus(1, 64 * 1024 * 1024);
    const ms = Number(process.hrtime.bigint() - t0) / 1e6;
    assert.equal(b.length, 64 * 1024 * 1024);
    assert.ok(ms < 10_000, `took ${ms} ms`);
  });
});
