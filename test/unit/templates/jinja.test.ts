import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseInventory } from '../../../src/config/inventory';
import { buildScope, VariableError } from '../../../src/config/vars';
import { redact } from '../../../src/secrets';
import { renderInventoryValue } from '../../../src/templates/inventory-values';

const render = (text: string, scope: Record<string, unknown> = {}) => renderInventoryValue(text, scope);

test('the Jinja that inventories use: names, attributes, items, default and default(x, true); one expression keeps its type', () => {
  const scope = { pg_version: 15, a: { b: { c: 'deep' } }, groups: { replicas: ['pg2', 'pg3'] }, empty: '', port: 5432 };
  assert.equal(render('/usr/lib/postgresql/{{ pg_version }}/bin', scope), '/usr/lib/postgresql/15/bin');
  assert.equal(render('{{ a.b.c }}', scope), 'deep');
  assert.equal(render("{{ a['b'][\"c\"] }}", scope), 'deep');
  assert.equal(render('{{ groups.replicas[1] }}', scope), 'pg3');
  assert.deepEqual(render('{{ groups.replicas }}', scope), ['pg2', 'pg3']);
  assert.equal(render('{{ port }}', scope), 5432);
  assert.equal(render("{{ missing | default('x') }}", scope), 'x');
  assert.equal(render('{{ missing.deeper | d(7) }}', scope), 7);
  assert.equal(render("{{ empty | default('y') }}", scope), '');
  assert.equal(render("{{ empty | default('y', true) }}", scope), 'y');
  assert.equal(render("{{ empty | default('y', boolean=true) }}", scope), 'y');
  assert.equal(render("{{ missing | default(pg_version) }}", scope), 15);
  assert.equal(render('{# a Jinja comment #}{{ pg_version }}', scope), 15);
});

test("lookup('env', NAME) and lookup('ansible.builtin.env', NAME): the value is a secret, '' when unset, default= when given", () => {
  process.env.PGPLAY_JINJA_TEST_SECRET = 'Zq-jinja-secret-41';
  delete process.env.PGPLAY_JINJA_TEST_UNSET;
  assert.equal(render("{{ lookup('env', 'PGPLAY_JINJA_TEST_SECRET') }}"), 'Zq-jinja-secret-41');
  assert.equal(redact('password Zq-jinja-secret-41'), 'password ********');
  assert.equal(render("{{ lookup('ansible.builtin.env', 'PGPLAY_JINJA_TEST_UNSET') }}"), '');
  assert.equal(render("{{ lookup('env', 'PGPLAY_JINJA_TEST_UNSET') | default('5432', true) }}"), '5432');
  assert.equal(render("{{ lookup('env', 'PGPLAY_JINJA_TEST_UNSET', default='fallback') }}"), 'fallback');
});

test('other Jinja is an error at its column that names the Handlebars form to write instead', () => {
  const cases: Array<[string, RegExp, number]> = [
    ["{{ groups.replicas | join(',') }}", /the filter 'join' is Jinja that pgplay does not evaluate; write \{\{ join groups\.replicas ',' \}\} instead/, 19],
    ['x {{ pg_version | lower }}', /write \{\{ lower pg_version \}\} instead/, 16],
    ["{{ a == 'b' }}", /'==' is Jinja .*write \{\{ eq a 'b' \}\} instead/, 5],
    ["{{ 'pg' ~ n }}", /write \{\{ concat 'pg' n \}\} instead/, 8],
    ["{{ hostvars[h]['pg_port'] | to_json }}", /write \{\{ json \(hostvar h 'pg_port'\) \}\} instead/, 26],
    ["{{ lookup('password', '/dev/null') }}", /lookup\('password', \.\.\.\) is Jinja .* pgplay reads only \{\{ name \}\}, \{\{ a\.b \}\}, \| default\(\.\.\.\) and lookup\('env', \.\.\.\)/, 3],
    ['{% if x %}a{% endif %}', /\{% \.\.\. %\} blocks are Jinja: .*\{\{#if cond\}\}/, 0],
    ['{{ x if y else z }}', /'\.\.\. if \.\.\. else \.\.\.' is Jinja/, 3],
  ];
  for (const [text, message, column] of cases) {
    assert.throws(() => render(text, { a: 1, n: 1, x: 1, y: 1, z: 1, h: 'pg1', pg_version: 15, groups: { replicas: [] }, hostvars: { pg1: { pg_port: 1 } } }), (err: unknown) => {
      assert.match((err as Error).message, message, text);
      assert.deepEqual((err as { where?: unknown }).where, { line: 1, column }, text);
      return true;
    });
  }
});

test("Handlebars still works in an inventory value that is not Jinja; what is neither is said so", () => {
  assert.equal(render("{{ default missing 'x' }}", {}), 'x');
  assert.equal(render('{{ concat a "-" b }}', { a: 1, b: 2 }), '1-2');
  assert.throws(() => render('{{ a | }}', { a: 1 }), /cannot read this value as Jinja or as a Handlebars expression/);
  assert.throws(() => render('{{ nothing }}', {}), /undefined variable 'nothing'/);
});

test("an inventory value with Jinja pgplay does not read fails only when read, at its file:line:col, naming the variable", () => {
  const inv = parseInventory('inv.yml', `all:
  vars:
    replicator_password: "{{ lookup('password', '/dev/null length=20') }}"
    pg_bin: /opt/pg
    pg_bin_dir: "{{ pg_bin }}/bin"
    shout: "{{ pg_bin | upper }}"
    via: "{{ shout }}"
  hosts:
    pg1:
`).value!;
  const scope = buildScope({ inventory: inv, hostName: 'pg1' });
  assert.equal(scope.pg_bin_dir, '/opt/pg/bin');
  assert.throws(() => scope.shout, (err: unknown) => {
    assert.ok(err instanceof VariableError);
    assert.equal(err.message, "inv.yml:6:23: shout: the filter 'upper' is Jinja that pgplay does not evaluate; write {{ upper pg_bin }} instead");
    assert.equal(err.unsupportedJinja, true);
    return true;
  });
  // Read through another variable, the error is still at the value that holds the Jinja.
  assert.throws(() => scope.via, { message: /^inv\.yml:6:23: shout: / });
  assert.throws(() => scope.replicator_password, { message: /^inv\.yml:3:30: replicator_password: lookup\('password', \.\.\.\)/ });
});
