import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  generateLabeledCorpus,
  generateMixedCorpusDetailed,
} from '@tollgate/core/dist/masking/testing/corpus';
import { jsDetect, jsMask } from './js-baseline';

const mask = (s: string) => jsMask(Buffer.from(s)).output.toString();
const found = (s: string) => {
  const b = Buffer.from(s);
  return jsDetect(b).map((d) => [d.entity, b.subarray(d.start, d.end).toString()]);
};

describe('jsMask on small inputs', () => {
  it('masks each entity and reports counts', () => {
    const input = [
      'card=4111 1111 1111 1111 amex=378282246310005 mc=5555-5555-5555-4444',
      'ssn=078-05-1120 ssn2=078 05 1120 iban=DE89 3704 0044 0532 0130 00 iban2=GB82WEST12345698765432',
      'routing=021000021 mail=jane.doe+news@mail.example.co.uk.',
      'tel=(415) 555-2671 tel2=415-555-2671 tel3=415.555.2671 tel4=+1 415 555 2671 tel5=+442071838750',
      'ip=192.168.1.20:5432 ip6=[2001:db8::8a2e:370:7334]:443 full=fe80:0:0:0:202:b3ff:fe1e:8329',
      'AWS_ACCESS_KEY_ID=AKIAIOSFODNN7EXAMPLE aws_secret_access_key=wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY',
    ].join('\n');
    const { output, counts } = jsMask(Buffer.from(input));
    assert.deepEqual(counts, {
      card: 3,
      ssn: 2,
      iban: 2,
      aba_routing: 1,
      email: 1,
      phone: 5,
      ipv4: 1,
      ipv6: 2,
      aws_access_key: 1,
      aws_secret_key: 1,
    });
    const out = output.toString();
    assert.match(out, /^card=\[REDACTED:card\] amex=\[REDACTED:card\] mc=\[REDACTED:card\]$/m);
    assert.match(out, /mail=\[REDACTED:email\]\.$/m);
    assert.match(out, /ip=\[REDACTED:ipv4\]:5432 ip6=\[\[REDACTED:ipv6\]\]:443/);
    assert.match(out, /aws_secret_access_key=\[REDACTED:aws_secret_key\]$/m);
  });

  it('handles tokens: JWT after Bearer is a jwt, opaque tokens are bearer_token (token span only)', () => {
    const jwt =
      'eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIiwibmFtZSI6IkpvaG4gRG9lIiwiaWF0IjoxNTE2MjM5MDIyfQ.SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c';
    assert.deepEqual(found(`Authorization: Bearer ${jwt}\n`), [['jwt', jwt]]);
    assert.deepEqual(found('Authorization: Bearer 9f8e7d6c5b4a39281706f5e4d3c2b1a0\n'), [
      ['bearer_token', '9f8e7d6c5b4a39281706f5e4d3c2b1a0'],
    ]);
    assert.equal(mask('Bearer abc123 and Bearer realm=api'), 'Bearer abc123 and Bearer realm=api');
    assert.deepEqual(found(`{"SecretAccessKey": "${'A'.repeat(20)}/${'b'.repeat(19)}"}`), [
      ['aws_secret_key', `${'A'.repeat(20)}/${'b'.repeat(19)}`],
    ]);
  });

  it('masks whole PEM private key blocks, not public ones', () => {
    const body = 'MIIEpAIBAAKCAQEA'.padEnd(64, 'x');
    const priv = `-----BEGIN RSA PRIVATE KEY-----\n${body}\n${body}\n-----END RSA PRIVATE KEY-----`;
    const pub = `-----BEGIN PUBLIC KEY-----\n${body}\n-----END PUBLIC KEY-----`;
    assert.equal(mask(`a\n${priv}\nb\n${pub}\n`), `a\n[REDACTED:private_key]\nb\n${pub}\n`);
    const escaped = priv.replaceAll('\n', '\\n');
    assert.equal(mask(`{"private_key":"${escaped}\\n"}`), '{"private_key":"[REDACTED:private_key]\\n"}');
  });

  it('leaves near misses alone', () => {
    const nearMisses = [
      '4111111111111112', // Luhn failure
      '1234567812345670', // Luhn valid, unknown prefix
      '1714998645123', // epoch millis
      '000-12-3456',
      '666-12-3456',
      '912-34-5678',
      '123-00-4567',
      '123-45-0000',
      '123456789', // bare 9 digits failing ABA
      'DE88370400440532013000', // bad IBAN checksum
      'v1.2.3.4',
      'version 10.0.19045.1',
      'version 10.0.2.15',
      'ver 1.2.3.4',
      '1.2.3.4.5',
      '256.1.1.1',
      '2024-05-06 12:30:45',
      '12:30:45.123',
      '550e8400-e29b-41d4-a716-446655440000',
      'da39a3ee5e6b4b0d3255bfef95601890afd80709',
      '1.24.3',
      '$1,299.00',
      'SGVsbG8gd29ybGQhIFRoaXMgaXMgbm90IGEgSldULg==',
      '00:1a:2b:3c:4d:5e',
      '(123) 456-7890',
      'std::vector<int>',
      'AKIA0123456789ABCDEF',
    ];
    const text = nearMisses.join(' | ');
    assert.deepEqual(found(text), []);
    assert.equal(mask(text), text);
  });

  it('uses UTF-8 byte offsets', () => {
    const s = 'Zoë Müller 🚀 wrote from zoe@example.com';
    const b = Buffer.from(s);
    const [d] = jsDetect(b);
    assert.ok(d);
    assert.equal(b.subarray(d.start, d.end).toString(), 'zoe@example.com');
    assert.equal(mask(s), 'Zoë Müller 🚀 wrote from [REDACTED:email]');
  });

  it('returns a copy when there is nothing to mask', () => {
    const input = Buffer.from('nothing here');
    const { output, counts } = jsMask(input);
    assert.deepEqual(counts, {});
    assert.equal(output.toString(), 'nothing here');
    assert.deepEqual(jsMask(Buffer.alloc(0)).counts, {});
  });
});

describe('jsMask against the generated corpora', () => {
  it('finds exactly the labeled spans of the labeled corpus and no near miss', () => {
    const corpus = generateLabeledCorpus(1);
    const buf = Buffer.from(corpus.text);
    const got = jsDetect(buf).map((d) => `${d.entity}:${d.start}:${d.end}`);
    const want = corpus.spans.map((s) => `${s.entity}:${s.start}:${s.end}`);
    const gotSet = new Set(got);
    const wantSet = new Set(want);
    const missed = corpus.spans.filter((s) => !gotSet.has(`${s.entity}:${s.start}:${s.end}`));
    const extra = jsDetect(buf).filter((d) => !wantSet.has(`${d.entity}:${d.start}:${d.end}`));
    const show = (a: number, b: number) =>
      JSON.stringify(buf.subarray(Math.max(0, a - 20), b + 20).toString());
    assert.deepEqual(
      missed.slice(0, 10).map((s) => `${s.entity} ${s.format} ${show(s.start, s.end)}`),
      [],
      `${missed.length} missed`,
    );
    assert.deepEqual(
      extra.slice(0, 10).map((d) => `${d.entity} ${show(d.start, d.end)}`),
      [],
      `${extra.length} extra`,
    );
  });

  it('counts on the mixed corpus match the embedded values', () => {
    const m = generateMixedCorpusDetailed(1, 4 * 1024 * 1024);
    const t0 = process.hrtime.bigint();
    const { output, counts } = jsMask(m.buffer);
    const ms = Number(process.hrtime.bigint() - t0) / 1e6;
    console.log(
      `jsMask: 4 MiB in ${ms.toFixed(1)} ms (${(m.buffer.length / 1024 / 1024 / (ms / 1000)).toFixed(1)} MiB/s)`,
    );
    assert.deepEqual(counts, m.values);
    assert.ok(output.length > 0);
  });
});
