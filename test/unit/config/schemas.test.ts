import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { playbookSchema } from '../../../src/config/schemas';
import { allModules } from '../../../src/modules/registry';
import { GENERATED } from '../../../src/tools/write-schemas';
import { allSchemas, schemaHash } from '../../../src/config/validators';

const ROOT = join(__dirname, '..', '..', '..', '..');

test('the shipped schema files and module reference are what the modules declare (run `npm run schemas` after changing a module)', () => {
  for (const [path, build] of Object.entries(GENERATED)) {
    assert.equal(readFileSync(join(ROOT, path), 'utf8'), build(), `${path} is out of date`);
  }
});

test('every module publishes its arguments, with descriptions, into the playbook schema', () => {
  const schema = playbookSchema() as { definitions: Record<string, { properties?: Record<string, { description?: string }>; description?: string }> };
  for (const m of allModules()) {
    const def = schema.definitions[`module_${m.name}`];
    assert.ok(def, `module_${m.name} is in the schema`);
    assert.ok(def.description, `${m.name} has a description`);
    for (const [arg, s] of Object.entries(def.properties ?? {})) assert.ok(s.description, `${m.name}.${arg} has a description`);
  }
});

test('the validators the build wrote as code are those of the current schemas (else start-up compiles them)', () => {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const generated = require('../../../src/config/validators.generated') as { hashes: Record<string, string> };
  for (const [name, schema] of Object.entries(allSchemas(allModules()))) assert.equal(generated.hashes[name], schemaHash(schema), name);
});
