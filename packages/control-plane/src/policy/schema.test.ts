import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { policyJsonSchema } from './schema';
import { POLICY_SCHEMA_FILE, policySchemaText } from './write-schema';

describe('policy JSON schema', () => {
  it('the committed policy.schema.json matches the TypeBox schema (regenerate with write-schema.js)', () => {
    assert.equal(readFileSync(POLICY_SCHEMA_FILE, 'utf8'), policySchemaText());
  });

  it('refuses unknown fields in every object', () => {
    const objects: string[] = [];
    const walk = (s: unknown, path: string): void => {
      if (Array.isArray(s)) {
        s.forEach((x, i) => {
          walk(x, `${path}[${i}]`);
        });
        return;
      }
      if (s === null || typeof s !== 'object') return;
      const o = s as Record<string, unknown>;
      if (o.type === 'object') {
        objects.push(path);
        assert.equal(o.additionalProperties, false, `${path} allows unknown fields`);
      }
      for (const [k, v] of Object.entries(o)) walk(v, `${path}.${k}`);
    };
    walk(policyJsonSchema(), '$');
    assert.ok(objects.length >= 12, `found only ${objects.length} objects`);
  });
});
