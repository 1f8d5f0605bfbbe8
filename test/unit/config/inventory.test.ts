import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseInventory } from '../../../src/config/inventory';
import { buildScope } from '../../../src/config/vars';
import { renderValue } from '../../../src/templates/render';

const text = `all:
  vars:
    level: all
    pg_port: 5432
    only_all: yes
  children:
    site:
      vars:
        level: site
        from_site: 1
      children:
        replicas:
          vars:
            level: replicas
          hosts:
            pg2:
            pg3:
              level: host
    backups:
      vars:
        level: backups
      hosts:
        pg2:
    primary:
      hosts:
        pg1:
          pg_address: 10.0.0.11
`;

test("variables follow Ansible's precedence: all < parent group < child group < host", () => {
  const { value, errors } = parseInventory('i.yml', text);
  assert.deepEqual(errors, []);
  const inv = value!;
  assert.equal(inv.hosts.get('pg3')!.vars.level, 'host');
  // pg2 is in backups (depth 1) and replicas (depth 2): the deeper group wins.
  assert.equal(inv.hosts.get('pg2')!.vars.level, 'replicas');
  assert.equal(inv.hosts.get('pg2')!.vars.from_site, 1);
  assert.equal(inv.hosts.get('pg1')!.vars.level, 'all');
  assert.equal(inv.hosts.get('pg1')!.vars.only_all, true);
  assert.deepEqual(inv.hosts.get('pg2')!.groups, ['all', 'backups', 'site', 'replicas']);
  assert.deepEqual(inv.groups.get('site')!.hosts, ['pg2', 'pg3']);
  assert.deepEqual([...inv.hosts.keys()], ['pg2', 'pg3', 'pg1']);
});

test('play vars beat inventory vars, -e beats everything, and variables render lazily in their own scope', () => {
  const inv = parseInventory('i.yml', text).value!;
  const scope = buildScope({
    inventory: inv,
    hostName: 'pg2',
    playVars: { level: 'play', url: 'postgres://{{ hostvar "pg1" "pg_address" }}:{{ pg_port }}' },
    registered: { level: 'registered' },
    extraVars: { pg_port: 6543 },
  });
  assert.equal(scope.level, 'registered');
  assert.equal(scope.pg_port, 6543);
  assert.equal(scope.url, 'postgres://10.0.0.11:6543');
  assert.equal(renderValue('{{ inventory_hostname }} in {{ join group_names "," }}', scope), 'pg2 in backups,site,replicas');
});

test('a variable that refers to itself is an error, not a hang', () => {
  const inv = parseInventory('i.yml', text).value!;
  const scope = buildScope({ inventory: inv, hostName: 'pg1', playVars: { a: '{{ b }}', b: '{{ a }}' } });
  assert.throws(() => scope.a, /variable '(a|b)' refers to itself/);
});

test('circular groups, a host named like a group, and an empty inventory are errors with their place', () => {
  const circular = parseInventory('c.yml', 'all:\n  children:\n    a:\n      children:\n        b:\n          children:\n            a:\n');
  assert.deepEqual(circular.errors, [{ file: 'c.yml', line: 7, col: 13, message: 'group a is its own ancestor (all > a > b > a): groups may not form a circle' }]);
  const clash = parseInventory('h.yml', 'all:\n  children:\n    db:\n      hosts:\n        db:\n');
  assert.match(clash.errors[0].message, /both a host and a group/);
  assert.deepEqual(parseInventory('e.yml', '').errors.map((e) => e.message), ['the inventory is empty: expected all: {hosts, vars, children}']);
  assert.deepEqual(parseInventory('n.yml', 'all:\n  vars:\n    a: 1\n').errors.map((e) => e.message), ['the inventory has no hosts']);
});

test('schema errors in an inventory point at the key', () => {
  const r = parseInventory('s.yml', 'all:\n  host:\n    pg1:\n  children:\n    x:\n      hosts:\n        pg1:\n          pg_port: many\n          connection: telnet\n');
  assert.deepEqual(
    r.errors.map((e) => `${e.line}:${e.col}: ${e.message}`),
    [
      "2:3: group all has no key 'host' (did you mean 'hosts'?); allowed: hosts, vars, children",
      '8:20: pg_port of host pg1 must be a whole number, got the string "many"',
      '9:23: connection of host pg1 must be one of ssh, local, got the string "telnet"',
    ],
  );
});
