import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseInventory } from '../../../src/config/inventory';
import { resolvePattern } from '../../../src/config/patterns';
import type { Inventory } from '../../../src/config/types';

const inventory = parseInventory(
  'i.yml',
  `all:
  hosts:
    tools1:
  children:
    primary:
      hosts:
        pg1:
    replicas:
      hosts:
        pg2:
        pg3:
    dc2:
      hosts:
        pg3:
        pg4:
`,
).value as Inventory;

test('groups, hosts, all and lists select hosts in inventory order', () => {
  assert.deepEqual(resolvePattern('all', inventory), ['tools1', 'pg1', 'pg2', 'pg3', 'pg4']);
  assert.deepEqual(resolvePattern('replicas', inventory), ['pg2', 'pg3']);
  assert.deepEqual(resolvePattern('pg3,pg1', inventory), ['pg1', 'pg3']);
  assert.deepEqual(resolvePattern('primary:replicas', inventory), ['pg1', 'pg2', 'pg3']);
});

test('exclusion, intersection and wildcards', () => {
  assert.deepEqual(resolvePattern('replicas:!pg3', inventory), ['pg2']);
  assert.deepEqual(resolvePattern('replicas:&dc2', inventory), ['pg3']);
  assert.deepEqual(resolvePattern('pg*:!primary', inventory), ['pg2', 'pg3', 'pg4']);
  assert.deepEqual(resolvePattern('!pg3', inventory), ['tools1', 'pg1', 'pg2', 'pg4']);
  assert.deepEqual(resolvePattern('~pg[12]', inventory), ['pg1', 'pg2']);
});

test('a name that matches nothing is an error with a hint, not an empty list', () => {
  assert.throws(() => resolvePattern('replica', inventory), /no host or group named 'replica' \(did you mean 'replicas'\?\)/);
  assert.throws(() => resolvePattern('db*', inventory), /'db\*' matches no host or group/);
});
