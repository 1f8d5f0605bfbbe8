import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { inventorySchema, playbookSchema } from '../../../src/config/schemas';
import { forEditors, plainText } from '../../../src/config/schema-text';
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

type Node = Record<string, unknown>;
const isNode = (v: unknown): v is Node => v !== null && typeof v === 'object' && !Array.isArray(v);

/** Every subschema with the path to it; examples, defaults and enums are data, not schemas. */
function subschemas(schema: Node, path = '#'): Array<{ path: string; schema: Node; parent?: Node; name?: string }> {
  const out: Array<{ path: string; schema: Node; parent?: Node; name?: string }> = [{ path, schema }];
  for (const key of ['properties', 'patternProperties', 'definitions', 'dependencies']) {
    const map = schema[key];
    if (!isNode(map)) continue;
    for (const [name, s] of Object.entries(map)) {
      if (isNode(s)) out.push(...subschemas(s, `${path}/${key}/${name}`).map((x, i) => (i === 0 && key === 'properties' ? { ...x, parent: schema, name } : x)));
    }
  }
  for (const key of ['additionalProperties', 'items', 'not', 'anyOf', 'oneOf', 'allOf']) {
    const v = schema[key];
    for (const [i, s] of (Array.isArray(v) ? v : [v]).entries()) if (isNode(s)) out.push(...subschemas(s, `${path}/${key}${Array.isArray(v) ? `/${i}` : ''}`));
  }
  return out;
}

const shipped = () => [playbookSchema() as Node, inventorySchema() as Node];

test('each module definition has the module name as its title (the heading of an editor hover), and a description', () => {
  const definitions = (playbookSchema() as { definitions: Record<string, Node> }).definitions;
  for (const m of allModules()) {
    assert.equal(definitions[`module_${m.name}`].title, m.name);
    assert.ok(definitions[`module_${m.name}`].description);
  }
  assert.equal(definitions.task.title, 'task');
  assert.equal(definitions.play.title, 'play');
});

test('plain descriptions have no code marks; text with code has a markdownDescription that keeps them', () => {
  let withCode = 0;
  for (const schema of shipped()) {
    for (const { path, schema: s } of subschemas(schema)) {
      if (typeof s.description === 'string') assert.doesNotMatch(s.description, /`/, `${path} description`);
      if (typeof s.markdownDescription === 'string') {
        withCode++;
        assert.match(s.markdownDescription, /`/, `${path} markdownDescription is there only for code`);
        assert.equal(s.description, plainText(s.markdownDescription), `${path}: the same words`);
      }
    }
  }
  const ensureConf = (playbookSchema() as { definitions: Record<string, Node> }).definitions.module_ensure_conf;
  assert.match(String(ensureConf.markdownDescription), /\(or `file`\)/);
  assert.ok(withCode >= 5, `${withCode} descriptions with code`);
});

test('every keyword and argument a user can write has a description, notify mapping keys included', () => {
  for (const schema of shipped()) {
    for (const { path, schema: s, name } of subschemas(schema)) {
      // A $ref (a module's arguments) takes the description of what it points to.
      if (name !== undefined && !s.$ref) assert.ok(typeof s.description === 'string' && s.description.length > 0, `${path} has no description`);
    }
  }
  const notify = (playbookSchema() as { definitions: { task: { properties: { notify: { anyOf: Node[] } } } } }).definitions.task.properties.notify.anyOf[2] as { properties: Record<string, Node> };
  assert.deepEqual(Object.keys(notify.properties), ['restart', 'reload', 'changed']);
});

test('no optional property carries a default (editors would write it into every snippet); the default is in its words', () => {
  for (const schema of shipped()) {
    for (const { path, schema: s, parent, name } of subschemas(schema)) {
      const required = (parent?.required as string[] | undefined) ?? [];
      if (name !== undefined && !required.includes(name)) assert.equal(s.default, undefined, `${path} has a default`);
    }
  }
  const args = (playbookSchema() as { definitions: Record<string, { properties: Record<string, Node> }> }).definitions;
  assert.match(String(args.module_basebackup.properties.timeout.description), /Default: 3600\.$/);
  assert.match(String(args.module_ensure_conf.properties.file.description), /postgresql\.auto\.conf \(default/, 'a description that already says its default is kept as it is');
});

test('forEditors: code marks, defaults of optional and required properties, and data left alone', () => {
  const out = forEditors({
    description: 'Top `x`.',
    required: ['a'],
    properties: {
      a: { type: 'string', default: 'keep', description: 'Required.' },
      b: { type: 'integer', default: 3, description: 'Seconds.' },
      c: { type: 'string', default: 'x', description: 'Where (default x).' },
      d: { type: 'object', examples: [{ description: 'a `value`' }], default: {} },
    },
  }) as { description: string; markdownDescription: string; properties: Record<string, Node> };
  assert.equal(out.description, 'Top x.');
  assert.equal(out.markdownDescription, 'Top `x`.');
  assert.equal(out.properties.a.default, 'keep');
  assert.equal(out.properties.b.default, undefined);
  assert.equal(out.properties.b.description, 'Seconds. Default: 3.');
  assert.equal(out.properties.b.markdownDescription, 'Seconds. Default: `3`.');
  assert.equal(out.properties.c.description, 'Where (default x).');
  assert.equal(out.properties.c.markdownDescription, undefined);
  assert.deepEqual(out.properties.d.examples, [{ description: 'a `value`' }]);
  assert.equal(out.properties.d.description, 'Default: {}.');
});

test('a task takes exactly one module: each case has its own editor message, naming the modules', () => {
  const task = (playbookSchema() as { definitions: { task: Node } }).definitions.task as { allOf: Node[]; anyOf: Node[]; dependencies: Record<string, { allOf: Node[] }> };
  const names = allModules().map((m) => m.name);
  assert.equal(task.allOf[0].errorMessage, `Not a module or task keyword. Modules: ${names.join(', ')}. Keywords: name, when, notify, tags, register, loop, retries, delay, ignore_errors, no_log.`);
  for (const branch of task.anyOf) assert.equal(branch.errorMessage, `A task needs exactly one module, one of: ${names.join(', ')}.`);
  const pair = task.dependencies.ensure_conf.allOf.find((s) => isNode(s.properties) && 'service' in s.properties) as Node;
  assert.equal(pair.errorMessage, 'Two modules in one task, ensure_conf and service: a task runs exactly one module, split it in two.');
});

test('a module whose arguments are one of several keys gets the same editor shape, with its own words', () => {
  const command = (playbookSchema() as { definitions: Record<string, Node> }).definitions.module_command as { anyOf: Node[]; dependencies: Record<string, { allOf: Node[] }>; oneOf?: unknown };
  assert.equal(command.oneOf, undefined);
  assert.deepEqual(command.anyOf, [{ required: ['argv'], errorMessage: 'command needs argv or cmd.' }, { required: ['cmd'], errorMessage: 'command needs argv or cmd.' }]);
  assert.deepEqual(command.dependencies, { argv: { allOf: [{ properties: { cmd: false }, errorMessage: 'command takes argv or cmd, not both.' }] } });
});
