import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { expandHostRange, splitHostPort } from '../../../src/config/host-ranges';
import { loadInventory, parseInventory } from '../../../src/config/inventory';
import { pythonLiteral } from '../../../src/config/python-literal';
import { splitWords } from '../../../src/config/shell-words';

const ini = `# Ansible's own example, more or less
; a comment this way too
mail.example.com

[primary]
pg1 ansible_host=10.0.0.11 pg_port=5433 note="two words" flag=True none=None quoted='5432' unquoted="5432" # a comment
[replicas]
pg[02:04] ansible_host=10.0.0.1
db-[a:c]-x:2222

[replicas:vars]
pg_bin_dir = /usr/lib/postgresql/{{ pg_version }}/bin
listy = [1, 'two', None]
yes_word = yes
hex = 0x10
text = "quoted # not a comment"

[site:children]
primary
replicas

[all:vars]
pg_version=16
`;

test('INI: groups, [group:vars], [group:children], ranges, ports, comments, and ungrouped hosts', () => {
  const { value, errors } = parseInventory('hosts', ini);
  assert.deepEqual(errors, []);
  const inv = value!;
  assert.deepEqual([...inv.hosts.keys()], ['mail.example.com', 'pg1', 'pg02', 'pg03', 'pg04', 'db-a-x', 'db-b-x', 'db-c-x']);
  assert.deepEqual(inv.groups.get('ungrouped')!.hosts, ['mail.example.com']);
  assert.deepEqual(inv.groups.get('site')!.hosts, ['pg1', 'pg02', 'pg03', 'pg04', 'db-a-x', 'db-b-x', 'db-c-x']);
  assert.deepEqual(inv.groups.get('all')!.children, ['site', 'ungrouped']);
  assert.deepEqual(inv.hosts.get('pg03')!.groups, ['all', 'site', 'replicas']);
  assert.equal(inv.hosts.get('db-b-x')!.vars.ansible_port, 2222);
});

test("INI values are typed as Ansible types them (Python literals), and quotes on host lines are the shell's", () => {
  const inv = parseInventory('hosts', ini).value!;
  const pg1 = inv.hosts.get('pg1')!.vars;
  // shlex removes the quotes of "5432" on a host line, so Ansible reads a number; '5432' inside "..." stays a string.
  assert.deepEqual([pg1.pg_port, pg1.note, pg1.flag, pg1.none, pg1.quoted, pg1.unquoted], [5433, 'two words', true, null, 5432, 5432]);
  const pg2 = inv.hosts.get('pg02')!.vars;
  assert.deepEqual([pg2.pg_bin_dir, pg2.listy, pg2.yes_word, pg2.hex, pg2.text, pg2.pg_version], ['/usr/lib/postgresql/{{ pg_version }}/bin', [1, 'two', null], 'yes', 16, 'quoted # not a comment', 16]);
});

test('INI: each variable knows where its value is written, to the column of its text', () => {
  const inv = parseInventory('hosts', ini).value!;
  assert.deepEqual(inv.hosts.get('pg1')!.varSources.ansible_host, { file: 'hosts', line: 6, col: 18, textCol: 18 });
  assert.deepEqual(inv.hosts.get('pg1')!.varSources.note, { file: 'hosts', line: 6, col: 46, textCol: 47 });
  assert.deepEqual(inv.hosts.get('pg02')!.varSources.pg_bin_dir, { file: 'hosts', line: 12, col: 14, textCol: 14 });
  assert.deepEqual(inv.hosts.get('pg02')!.varSources.text, { file: 'hosts', line: 16, col: 8, textCol: 9 });
});

test('INI errors are each at their line and column, all of them', () => {
  const { errors } = parseInventory('bad', '[primary]\npg1 ansible_host 10.0.0.1\n[x:vars]\na=1\n[g:weird]\n[bad section]\n[g:children]\na b\nweb[9:1]\n');
  assert.deepEqual(
    errors.map((e) => `${e.line}:${e.col} ${e.message}`),
    [
      "2:5 expected key=value after the host name, got 'ansible_host'",
      "3:2 [x:vars] is for a group this file never declares: add a [x] or [x:children] section",
      "5:4 section [g:weird] has an unknown type 'weird': expected [g], [g:vars] or [g:children]",
      "6:1 '[bad section]' is not a section header: write [group], [group:vars] or [group:children], with no spaces",
      "8:1 expected a group name in [g:children], got 'a b'",
      "9:1 expected a group name in [g:children], got 'web[9:1]'",
    ],
  );
  assert.deepEqual(parseInventory('r', '[g]\nweb[9:1]\n').errors.map((e) => `${e.line}:${e.col} ${e.message}`), ['2:4 host web[9:1]: a host range goes up: 9 is more than 1']);
});

test('a file is YAML when it reads as a YAML mapping, INI when it looks like INI (a .yml name included, as Ansible tries both)', () => {
  assert.deepEqual([...parseInventory('x.yml', '[db]\npg1\n').value!.hosts.keys()], ['pg1']);
  assert.deepEqual([...parseInventory('hosts', 'pg1\npg2 ansible_port=2\n').value!.hosts.keys()], ['pg1', 'pg2']);
  assert.deepEqual([...parseInventory('hosts', 'all:\n  hosts:\n    pg[1:2]:\n').value!.hosts.keys()], ['pg1', 'pg2']);
  assert.match(parseInventory('x.yml', '- pg1\n').errors[0].message, /must be a mapping of groups/);
});

test('a directory of inventory files, with group_vars/ and host_vars/ beside them, as files or directories', () => {
  const dir = mkdtempSync(join(tmpdir(), 'pgplay-invdir-'));
  writeFileSync(join(dir, '01-hosts'), '[primary]\npg1\n[replicas]\npg2\n');
  writeFileSync(join(dir, '02-more.yml'), 'replicas:\n  hosts:\n    pg3:\n      from_yaml: 1\n');
  writeFileSync(join(dir, 'ignored.ini'), 'this is not read: .ini files in an inventory directory are not inventories to Ansible');
  mkdirSync(join(dir, 'group_vars', 'all'), { recursive: true });
  writeFileSync(join(dir, 'group_vars', 'all', '10-main.yml'), 'a: 1\nb: 1\n');
  writeFileSync(join(dir, 'group_vars', 'all', '20-more.yaml'), 'b: 2\n');
  writeFileSync(join(dir, 'group_vars', 'all', 'notes.txt'), 'not a vars file\n');
  writeFileSync(join(dir, 'group_vars', 'replicas.json'), '{"c": 3}');
  mkdirSync(join(dir, 'host_vars'));
  writeFileSync(join(dir, 'host_vars', 'pg3'), 'c: host\n');
  const { value, errors } = loadInventory(dir);
  assert.deepEqual(errors, []);
  assert.deepEqual([...value!.hosts.keys()], ['pg1', 'pg2', 'pg3']);
  assert.deepEqual(value!.hosts.get('pg2')!.vars, { a: 1, b: 2, c: 3 });
  assert.deepEqual(value!.hosts.get('pg3')!.vars, { from_yaml: 1, a: 1, b: 2, c: 'host' });
  assert.equal(value!.hosts.get('pg3')!.varSources.c.file, join(dir, 'host_vars', 'pg3'));
});

test('a bad vars file is an error at its place; a Vault value is refused with how to give the secret', () => {
  const dir = mkdtempSync(join(tmpdir(), 'pgplay-badvars-'));
  writeFileSync(join(dir, 'hosts'), '[db]\npg1\n');
  mkdirSync(join(dir, 'group_vars'));
  writeFileSync(join(dir, 'group_vars', 'db.yml'), '- a list\n');
  writeFileSync(join(dir, 'group_vars', 'all.yml'), 'password: !vault |\n  $ANSIBLE_VAULT;1.1;AES256\n');
  const { errors } = loadInventory(join(dir, 'hosts'));
  assert.deepEqual(errors.map((e) => `${e.file.slice(dir.length + 1)}:${e.line}:${e.col}`), ['group_vars/all.yml:1:11', 'group_vars/db.yml:1:1']);
  assert.match(errors[0].message, /Vault values are not read by pgplay: give secrets from the environment/);
  assert.match(errors[1].message, /a variables file holds a mapping of names to values, got a list/);
});

test('host ranges and ports as Ansible expands them', () => {
  assert.deepEqual(expandHostRange('pg[01:03]'), ['pg01', 'pg02', 'pg03']);
  assert.deepEqual(expandHostRange('web[1:10:4].example.com'), ['web1.example.com', 'web5.example.com', 'web9.example.com']);
  assert.deepEqual(expandHostRange('db[a:c]'), ['dba', 'dbb', 'dbc']);
  assert.deepEqual(expandHostRange('r[1:2]c[a:b]'), ['r1ca', 'r1cb', 'r2ca', 'r2cb']);
  assert.throws(() => expandHostRange('pg[01:100]'), /same width/);
  assert.throws(() => expandHostRange('pg[1:x]'), /numbers .* or single letters/);
  assert.deepEqual(splitHostPort('pg1:2222'), { host: 'pg1', port: 2222 });
  assert.deepEqual(splitHostPort('pg[1:3]:2222'), { host: 'pg[1:3]', port: 2222 });
  assert.deepEqual(splitHostPort('[::1]:22'), { host: '::1', port: 22 });
  assert.deepEqual(splitHostPort('fe80::1'), { host: 'fe80::1' });
  assert.throws(() => splitHostPort('pg1:ssh'), /not a port number/);
});

test('Python literals as ast.literal_eval reads them, anything else is not one', () => {
  const ok = (text: string) => pythonLiteral(text);
  assert.deepEqual(ok('5432'), { ok: true, value: 5432 });
  assert.deepEqual(ok('-1.5e3'), { ok: true, value: -1500 });
  assert.deepEqual(ok('1_000'), { ok: true, value: 1000 });
  assert.deepEqual(ok("'it''s'"), { ok: true, value: 'its' });
  assert.deepEqual(ok('"a\\tb"'), { ok: true, value: 'a\tb' });
  assert.deepEqual(ok("r'\\d'"), { ok: true, value: '\\d' });
  assert.deepEqual(ok("{'a': [1, (2, 3)], 'b': {'c': None}}"), { ok: true, value: { a: [1, [2, 3]], b: { c: null } } });
  assert.deepEqual(ok('1, 2'), { ok: true, value: [1, 2] });
  assert.deepEqual(ok('True  # comment'), { ok: true, value: true });
  for (const text of ['true', 'yes', '/var/lib', '10.0.0.1', '0123', '1j', '{{ x }}', 'a,b', '']) assert.deepEqual(ok(text), { ok: false }, text);
});

test("words split as Python's shlex.split does, with their places", () => {
  assert.deepEqual(splitWords(`a b='c d' e="f \\"g\\"" h\\ i`).map((w) => w.text), ['a', 'b=c d', 'e=f "g"', 'h i']);
  assert.deepEqual(splitWords('a b#c d', { comments: true }).map((w) => w.text), ['a', 'b']);
  assert.deepEqual(splitWords("x '' y").map((w) => [w.text, w.start]), [['x', 0], ['', 2], ['y', 5]]);
  assert.throws(() => splitWords('a "b'), /no closing quotation/);
});
