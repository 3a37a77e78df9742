import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { policyJsonSchema } from './schema';

/** Where the committed schema lives: packages/control-plane/policy.schema.json. */
export const POLICY_SCHEMA_FILE = join(__dirname, '..', '..', 'policy.schema.json');

/** The schema file's exact content. */
export function policySchemaText(): string {
  return `${JSON.stringify(policyJsonSchema(), null, 2)}\n`;
}

// `node packages/control-plane/dist/policy/write-schema.js` regenerates the committed file;
// scripts/test.sh then fails on `git diff` when it was stale.
if (require.main === module) {
  writeFileSync(POLICY_SCHEMA_FILE, policySchemaText());
  process.stdout.write(`wrote ${POLICY_SCHEMA_FILE}\n`);
}
