// Every source of a variable, in Ansible's order: pgplay's defaults < inventory group vars (all < parent < child)
// < group_vars/all beside the inventory < beside the playbook < group_vars/GROUP (inventory, playbook) < the host's
// inventory vars < host_vars/ (inventory, playbook) < play vars < registered < -e.
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { addPlaybookVars, loadInventory } from '../../../src/config/inventory';
import { buildScope, variableOrigin } from '../../../src/config/vars';

const root = mkdtempSync(join(tmpdir(), 'pgplay-precedence-'));
const invDir = join(root, 'inventory');
const pbDir = join(root, 'playbooks');
const write = (path: string, text: string) => {
  mkdirSync(join(path, '..'), { recursive: true });
  writeFileSync(path, text);
};

// Each variable is named after the last source that sets it: that one must win.
write(join(invDir, 'hosts.ini'), `[db:children]
primary

[primary]
pg1 host_inv=host_inv host_vars_inv=host_inv host_vars_pb=host_inv play=host_inv extra=host_inv

[all:vars]
all_inv=all_inv
child_inv=all_inv
gv_all_inv=all_inv
gv_all_pb=all_inv
gv_group_inv=all_inv
gv_group_pb=all_inv
host_inv=all_inv

[db:vars]
child_inv=db_inv

[primary:vars]
child_inv=child_inv
gv_group_inv=child_inv
`);
write(join(invDir, 'group_vars', 'all.yml'), 'gv_all_inv: gv_all_inv\ngv_all_pb: gv_all_inv\ngv_group_inv: gv_all_inv\ngv_group_pb: gv_all_inv\nhost_inv: gv_all_inv\n');
write(join(pbDir, 'group_vars', 'all', 'main.yml'), 'gv_all_pb: gv_all_pb\ngv_group_inv: gv_all_pb\ngv_group_pb: gv_all_pb\n');
write(join(invDir, 'group_vars', 'db.yml'), 'gv_group_inv: gv_db_inv\n');
write(join(invDir, 'group_vars', 'primary.yml'), 'gv_group_inv: gv_group_inv\ngv_group_pb: gv_group_inv\nhost_inv: gv_group_inv\n');
write(join(pbDir, 'group_vars', 'primary.yaml'), 'gv_group_pb: gv_group_pb\nhost_inv: gv_group_pb\n');
write(join(invDir, 'host_vars', 'pg1.yml'), 'host_vars_inv: host_vars_inv\nhost_vars_pb: host_vars_inv\n');
write(join(pbDir, 'host_vars', 'pg1.json'), '{"host_vars_pb": "host_vars_pb", "pg_port": 6543}');

test('every source in Ansible\'s order, each variable won by the last source that sets it', () => {
  const loaded = loadInventory(join(invDir, 'hosts.ini'));
  assert.deepEqual(loaded.errors, []);
  const withPlaybook = addPlaybookVars(loaded.value!, pbDir);
  assert.deepEqual(withPlaybook.errors, []);
  const scope = buildScope({
    inventory: withPlaybook.value!,
    hostName: 'pg1',
    playVars: { play: 'play', extra: 'play', registered: 'play' },
    registered: { registered: 'registered', extra: 'registered' },
    extraVars: { extra: 'extra' },
  });
  for (const name of ['all_inv', 'child_inv', 'gv_all_inv', 'gv_all_pb', 'gv_group_inv', 'gv_group_pb', 'host_inv', 'host_vars_inv', 'host_vars_pb', 'play', 'registered', 'extra']) {
    assert.equal(scope[name], name, `${name} is ${String(scope[name])}`);
  }
  // pgplay's defaults are the lowest of all.
  assert.equal(scope.pg_port, 6543);
  assert.equal(scope.pg_socket_dir, '/var/run/postgresql');
  assert.equal(variableOrigin(scope, 'pg_socket_dir')?.kind, 'default');
  assert.deepEqual(variableOrigin(scope, 'host_vars_pb')?.source?.file, join(pbDir, 'host_vars', 'pg1.json'));
});

test('without the playbook\'s group_vars/, the inventory\'s own apply; the inventory loaded alone is unchanged by adding them', () => {
  const inv = loadInventory(join(invDir, 'hosts.ini')).value!;
  const alone = buildScope({ inventory: inv, hostName: 'pg1' });
  assert.deepEqual([alone.gv_all_pb, alone.gv_group_pb, alone.host_vars_pb, alone.host_inv], ['gv_all_inv', 'gv_group_inv', 'host_vars_inv', 'host_inv']);
  addPlaybookVars(inv, pbDir);
  assert.equal(buildScope({ inventory: inv, hostName: 'pg1' }).gv_group_pb, 'gv_group_inv');
});

test("defaults are variables: templated from other variables, overridden from any source, so pg_data_dir follows -e pg_version", () => {
  const inv = loadInventory(join(invDir, 'hosts.ini')).value!;
  const scope = buildScope({ inventory: inv, hostName: 'pg1', extraVars: { pg_version: 17 } });
  assert.deepEqual([scope.pg_bin_dir, scope.pg_data_dir, scope.pg_config_dir, scope.pg_log_file, scope.replication_user], ['/usr/lib/postgresql/17/bin', '/var/lib/postgresql/17/main', '/var/lib/postgresql/17/main', '/var/lib/postgresql/17/main/pgplay-server.log', 'replicator']);
  const play = buildScope({ inventory: inv, hostName: 'pg1', playVars: { pg_data_dir: '/srv/{{ inventory_hostname }}' } });
  assert.deepEqual([play.pg_data_dir, play.pg_config_dir], ['/srv/pg1', '/srv/pg1']);
});
