// Writes dist/src/config/validators.generated.js: every schema's validator as code, so runs skip ajv's compile.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import Ajv from 'ajv';
import standaloneCode from 'ajv/dist/standalone';
import { allModules } from '../modules/registry';
import { AJV_OPTIONS, allSchemas, schemaHash } from '../config/validators';

const schemas = allSchemas(allModules());
const ajv = new Ajv({ ...AJV_OPTIONS, code: { source: true } });
for (const [name, schema] of Object.entries(schemas)) ajv.addSchema({ ...schema, $id: `pgplay:${name}` }, name);
const code = standaloneCode(ajv, Object.fromEntries(Object.keys(schemas).map((name) => [name, name])));
const hashes = Object.fromEntries(Object.entries(schemas).map(([name, schema]) => [name, schemaHash(schema)]));
const out = join(__dirname, '..', 'config', 'validators.generated.js');
writeFileSync(out, `${code}\nexports.validators = { ${Object.keys(schemas).map((n) => `${JSON.stringify(n)}: exports[${JSON.stringify(n)}]`).join(', ')} };\nexports.hashes = ${JSON.stringify(hashes)};\n`);
process.stdout.write(`wrote ${Object.keys(schemas).length} validators to dist/src/config/validators.generated.js\n`);
