import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { YamlSource } from '../config/yaml-source';
import { TollgateError } from '../errors';
import { engineOptions, loadKey, readMaskingConfig } from './config';
import { Masker } from './masker';

function read(text: string) {
  const src = new YamlSource('tollgate.yaml', text);
  const root = src.map(src.root, '', ['masking']);
  return readMaskingConfig(src, root.get('masking') as never);
}

function errorOf(fn: () => unknown): string {
  try {
    fn();
  } catch (e) {
    assert.ok(e instanceof TollgateError, String(e));
    return e.message;
  }
  assert.fail('expected an error');
}

describe('masking config', () => {
  it('reads a full section', () => {
    const cfg = read(`masking:
  entities: [card, email]
  defaultStyle: last4
  styles:
    email: hash
    employee_id: full
  hashKey: { env: TG_TEST_KEY }
  custom:
    - name: employee_id
      pattern: 'EMP-\\d{6}'
    - name: codename
      words: [bluebird]
      caseInsensitive: true
`);
    assert.deepEqual(cfg.entities, ['card', 'email']);
    assert.equal(cfg.styles?.email, 'hash');
    const m = new Masker(engineOptions(cfg, { TG_TEST_KEY: 'k'.repeat(32) }));
    assert.deepEqual(m.entities, ['card', 'email', 'employee_id', 'codename']);
    const out = m.mask('EMP-123456 BlueBird 4111 1111 1111 1111').output.toString();
    assert.match(out, /^\[REDACTED:employee_id\] \*{4}Bird \*{4} \*{4} \*{4} 1111$/);
  });

  it('names the file, line, column and field of an unknown field', () => {
    const msg = errorOf(() => read('masking:\n  entities: [card]\n  stlyes:\n    card: full\n'));
    assert.equal(
      msg,
      'tollgate.yaml:3:3: masking.stlyes: unknown field (allowed here: entities, defaultStyle, styles, hashKey, custom)',
    );
  });

  it('names bad values', () => {
    assert.match(
      errorOf(() => read('masking:\n  defaultStyle: blur\n')),
      /^tollgate.yaml:2:17: masking.defaultStyle: unknown style 'blur'/,
    );
    assert.match(
      errorOf(() => read('masking:\n  entities: [card, passport]\n')),
      /2:20: masking.entities\[1\]: unknown entity 'passport'/,
    );
    assert.match(
      errorOf(() => read('masking:\n  custom:\n    - name: x\n')),
      /3:7: masking.custom\[0\]: give exactly one of pattern or words/,
    );
    assert.match(
      errorOf(() => read('masking:\n  styles:\n    ipv9: full\n')),
      /3:5: masking.styles.ipv9: unknown field/,
    );
    assert.match(
      errorOf(() => read('masking: [\n')),
      /^tollgate.yaml:\d+:\d+: not valid YAML/,
    );
  });

  it('loads keys without ever printing them', () => {
    const dir = mkdtempSync(join(tmpdir(), 'tollgate-key-'));
    const short = join(dir, 'short');
    writeFileSync(short, 'supersecret');
    const msg = errorOf(() => loadKey({ file: short }));
    assert.ok(!msg.includes('supersecret'));
    assert.match(msg, /fewer than 16 bytes/);
    assert.match(
      errorOf(() => loadKey({ env: 'TG_UNSET_VAR' }, {})),
      /TG_UNSET_VAR is not set/,
    );
    assert.equal(loadKey({ env: 'K' }, { K: 'value' }).toString(), 'value');
    rmSync(dir, { recursive: true, force: true });
  });
});
