import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { controlPlaneOpenApi } from './openapi';

/** Regenerates packages/control-plane/openapi.json (committed; scripts/test.sh checks drift). */
const out = join(__dirname, '..', '..', 'openapi.json');
writeFileSync(out, `${JSON.stringify(controlPlaneOpenApi(), null, 2)}\n`);
process.stdout.write(`wrote ${out}\n`);
