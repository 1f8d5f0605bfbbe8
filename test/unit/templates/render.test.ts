import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { evaluateCondition, renderString, renderTemplateFile, renderValue, ENV_MARK } from '../../../src/templates/render';

const scope = {
  groups: { replicas: ['pg2', 'pg3'], primary: ['pg1'] },
  hosts: { pg2: { pg_address: '10.0.0.12' }, pg3: { pg_address: '10.0.0.13' } },
  port: 5432,
  enabled: false,
  result: { changed: true, rc: 0 },
  name: 'pg2',
  env: Object.assign(Object.create(null), { HOME: '/root', [ENV_MARK]: true }),
};

test('a value that is exactly one {{ expr }} keeps its type', () => {
  assert.deepEqual(renderString('{{ groups.replicas }}', scope), ['pg2', 'pg3']);
  assert.equal(renderString('  {{ port }} ', scope), 5432);
  assert.equal(renderString('{{ enabled }}', scope), false);
  assert.equal(renderString('{{ groups.primary.[0] }}', scope), 'pg1');
  assert.equal(renderString('{{ length groups.replicas }}', scope), 2);
});

test('text around expressions makes a string; lists read as a,b', () => {
  assert.equal(renderString('port={{ port }} on {{ groups.replicas }}', scope), 'port=5432 on pg2,pg3');
  assert.equal(renderString("{{ hostvar name 'pg_address' }}/32", scope), '10.0.0.12/32');
  assert.equal(renderString('no braces here', scope), 'no braces here');
  assert.deepEqual(renderValue({ a: ['{{ port }}', 'x{{ port }}'], b: 1 }, scope), { a: [5432, 'x5432'], b: 1 });
});

test('block helpers in a value go through Handlebars with noEscape', () => {
  assert.equal(renderString('{{#each groups.replicas}}<{{this}}>{{/each}} & "q"', scope), '<pg2><pg3> & "q"');
});

test('undefined variables, missing fields and unset environment variables are errors that say which', () => {
  assert.throws(() => renderString('{{ prot }}', scope), /undefined variable 'prot' \(did you mean 'port'\?\)/);
  assert.throws(() => renderString('{{ result.chnged }}', scope), /'result' has no 'chnged' \(did you mean 'changed'\?\)/);
  assert.throws(() => renderString('{{ env.PGPLAY_NOT_SET }}', scope), /environment variable PGPLAY_NOT_SET is not set/);
  assert.throws(() => renderString('{{ jion groups.replicas }}', scope), /unknown helper 'jion' \(did you mean 'join'\?\)/);
  assert.throws(() => renderString('{{ port }', scope), /template syntax error/);
  // Helper arguments are lenient, so default works for unset values.
  assert.equal(renderString("{{ default missing 'fallback' }}", scope), 'fallback');
});

test('conditions: helper expressions with or without braces, Ansible-like truthiness', () => {
  assert.equal(evaluateCondition('result.changed', scope), true);
  assert.equal(evaluateCondition('not result.changed', scope), false);
  assert.equal(evaluateCondition("eq name 'pg2'", scope), true);
  assert.equal(evaluateCondition('{{ and enabled result.changed }}', scope), false);
  assert.equal(evaluateCondition('gt (length groups.replicas) 1', scope), true);
  assert.equal(evaluateCondition("includes groups.replicas 'pg3'", scope), true);
  assert.equal(evaluateCondition('  {{ enabled }} ', scope), false);
  assert.equal(evaluateCondition('{{#if enabled}}yes{{else}}no{{/if}}', scope), false);
  assert.equal(evaluateCondition(false, scope), false);
  assert.throws(() => evaluateCondition('gt name 1 2', { name: {} }), /gt compares numbers or strings/);
});

test("a value an INI inventory gives as text reads the same in when, {{#if}}, {{#unless}}, and, or, not", () => {
  for (const [text, truth] of [['false', false], ['False', false], ['no', false], ['off', false], ['0', false], ['', false], ['true', true], ['yes', true], ['on', true], ['1', true]] as const) {
    const s = { tls: text, other: true };
    assert.equal(evaluateCondition('tls', s), truth, `when: ${text}`);
    assert.equal(renderString('{{#if tls}}hostssl{{else}}host{{/if}}', s), truth ? 'hostssl' : 'host', `#if ${text}`);
    assert.equal(renderString('{{#unless tls}}clear{{/unless}}', s), truth ? '' : 'clear', `#unless ${text}`);
    assert.equal(evaluateCondition('and tls other', s), truth, `and ${text}`);
    assert.equal(evaluateCondition('or tls (not other)', s), truth, `or ${text}`);
    assert.equal(evaluateCondition('not tls', s), !truth, `not ${text}`);
  }
  assert.equal(renderString('{{#if list}}some{{else}}none{{/if}}', { list: [] }), 'none');
  assert.throws(() => renderString('{{#if a b}}x{{/if}}', { a: 1, b: 2 }), /#if takes exactly one value/);
});

test('a condition with text outside {{ }} is an error at run time, never a non-empty string that is always true', () => {
  assert.throws(() => evaluateCondition('{{ enabled }} == true', scope), /text "== true" outside \{\{ \}\}.*always true: write eq enabled true/);
  assert.throws(() => evaluateCondition('{{ enabled }} and {{ result.changed }}', scope), /write and enabled result.changed/);
  assert.throws(() => evaluateCondition('{{ enabled }}{{ port }}', scope), /two expressions side by side/);
  assert.throws(() => evaluateCondition('{{ enabled }}ish', scope), /text "ish" outside/);
});

test('template files render strictly with noEscape', () => {
  const dir = mkdtempSync(join(tmpdir(), 'pgplay-render-'));
  const file = join(dir, 'conf.hbs');
  writeFileSync(file, "listen = '{{ name }}' # <&>\n{{#each groups.replicas}}host replication r {{ lookup (lookup @root.hosts this) 'pg_address' }}/32\n{{/each}}");
  assert.equal(renderTemplateFile(file, scope), "listen = 'pg2' # <&>\nhost replication r 10.0.0.12/32\nhost replication r 10.0.0.13/32\n");
  writeFileSync(join(dir, 'bad.hbs'), 'x = {{ nope }}\n');
  assert.throws(() => renderTemplateFile(join(dir, 'bad.hbs'), scope), /'nope' is not defined/);
});

test("each_hostvar: for each host of a list, the first of the variables it sets", () => {
  const hosts = { hosts: { pg2: { pg_address: '10.0.0.12' }, pg3: { pg_address: '10.0.0.13', pg_client_address: '10.0.1.13' } }, groups: scope.groups };
  assert.deepEqual(renderString("{{ each_hostvar groups.replicas 'pg_client_address' 'pg_address' }}", hosts), ['10.0.0.12', '10.0.1.13']);
  assert.deepEqual(renderString("{{ each_hostvar (list) 'pg_address' }}", hosts), []);
  assert.throws(() => renderString("{{ each_hostvar groups.replicas 'pg_client_address' }}", hosts), /each_hostvar: host pg2 sets none of pg_client_address/);
  assert.throws(() => renderString("{{ each_hostvar groups.primary 'pg_address' }}", hosts), /each_hostvar: no host named 'pg1' in the inventory/);
});
