import assert from 'node:assert/strict';
import { writeFileSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { parseInventory } from '../../../src/config/inventory';
import type { Inventory } from '../../../src/config/types';
import { planHostSettings } from '../../../src/executor/host-settings';

const dir = mkdtempSync(join(tmpdir(), 'pgplay-settings-'));
const noConfig = join(dir, 'ssh_config');
writeFileSync(noConfig, '');
const cli = { acceptNewHostKeys: false };

function inventory(text: string, file = 'hosts'): Inventory {
  const loaded = parseInventory(file, text);
  assert.deepEqual(loaded.errors, []);
  return loaded.value!;
}

const play = (vars: Record<string, unknown> = {}, varSources: Record<string, { file: string; line: number; col: number }> = {}) => ({ vars, varSources });

test('host settings come from the rendered scope: templated values, defaults as variables, -e, and play vars per play', () => {
  const inv = inventory(`[db]
pg1 ansible_host=10.0.0.1 pg_bin="/opt/pg{{ pg_version }}"
[db:vars]
ssh_config_file=${noConfig}
pg_bin_dir={{ pg_bin }}/bin
pg_data_dir=/var/lib/postgresql/{{ pg_version }}/main
`);
  const plan = planHostSettings({ inventory: inv, extraVars: { pg_version: 16 }, cli, env: {} }, [
    { play: play(), hosts: ['pg1'] },
    { play: play({ pg_port: 5433, pg_data_dir: '/srv/{{ inventory_hostname }}' }), hosts: ['pg1'] },
  ]);
  assert.deepEqual(plan.errors, []);
  const first = plan.get('pg1', 0);
  assert.deepEqual([first.pg.binDir, first.pg.dataDir, first.pg.configDir, first.pg.port, first.pg.socketDir, first.pg.address], ['/opt/pg16/bin', '/var/lib/postgresql/16/main', '/var/lib/postgresql/16/main', 5432, '/var/run/postgresql', '10.0.0.1']);
  assert.equal(first.ssh?.address, '10.0.0.1');
  const second = plan.get('pg1', 1);
  assert.deepEqual([second.pg.dataDir, second.pg.configDir, second.pg.port, second.pg.logFile], ['/srv/pg1', '/srv/pg1', 5433, '/srv/pg1/pgplay-server.log']);
  assert.equal(plan.get('pg1', null).pg.port, 5432);
  assert.deepEqual(first.lock, { file: 'host-pg1.lock', waitSeconds: 60 });
});

test('a wrong setting is an error at the file:line:col of the value that made it, for every host at once', () => {
  const inv = inventory(`[db]
pg1 ansible_port=ssh
pg2 ansible_ssh_common_args="-o Port=22 -o Tunnel=yes"
pg3 pg_bin_dir="{{ base | regex_replace('x', 'y') }}" base=/x
pg4 ansible_become_password=hunter2-in-a-file
pg5 pg_port="{{ port_from_play }}"
[db:vars]
ssh_config_file=${noConfig}
`);
  const plan = planHostSettings({ inventory: inv, extraVars: {}, cli, env: {} }, [{ play: play({ port_from_play: 'many' }, { port_from_play: { file: 'site.yml', line: 3, col: 21 } }), hosts: ['pg1', 'pg2', 'pg3', 'pg4', 'pg5'] }]);
  assert.deepEqual(
    plan.errors.map((e) => `${e.file}:${e.line}:${e.col}: ${e.message}`),
    [
      'hosts:2:18: host pg1: ansible_port must be a number from 1 to 65535, not "ssh"',
      'hosts:3:44: host pg2: ansible_ssh_common_args: pgplay does not support the ssh option Tunnel: it reads HostName, Port, User, IdentityFile, IdentitiesOnly, IdentityAgent, UserKnownHostsFile, GlobalKnownHostsFile, StrictHostKeyChecking, HostKeyAlias, HashKnownHosts, ProxyJump, ConnectTimeout, ServerAliveInterval, ServerAliveCountMax, PasswordAuthentication, PubkeyAuthentication, Compression, AddressFamily, ControlMaster, ControlPersist',
      "hosts:4:25: host pg3: pg_bin_dir: the filter 'regex_replace' is Jinja that pgplay does not evaluate; pgplay reads only {{ name }}, {{ a.b }}, | default(...) and lookup('env', ...) of Jinja in inventory values: write the rest as a Handlebars expression (see the README's Templates section)",
      `hosts:5:29: ansible_become_password holds a password written in a file: pgplay reads it from the environment only: write ansible_become_password: "{{ lookup('env', 'BECOME_PASSWORD') }}", or become_password_env: BECOME_PASSWORD, and export BECOME_PASSWORD`,
      'hosts:6:13: pg_port must be a whole number from 1 to 65535, not "many"',
    ],
  );
  // Without the play's vars (as another host's task sees pg5), the settings fail when read, not before.
  assert.throws(() => plan.get('pg5', null), /hosts:6:17: host pg5: pg_port: undefined variable 'port_from_play'/);
});

test("Ansible's become variables: ansible_become and its user for tasks that name none, the method, the password from the environment only", () => {
  const inv = inventory(`[db]
pg1 ansible_become=yes ansible_become_user=admin ansible_become_method=sudo ansible_become_password="{{ lookup('env', 'PGPLAY_TEST_BECOME') }}"
pg2 ansible_user=admin become_password_env=PGPLAY_TEST_BECOME
pg3 ansible_become_method=su become_password_env=PGPLAY_TEST_BECOME
pg4 ansible_become_method=doas
pg5 ansible_connection=local
[db:vars]
ssh_config_file=${noConfig}
`);
  process.env.PGPLAY_TEST_BECOME = 'Bq-become-pass-7';
  const plan = planHostSettings({ inventory: inv, extraVars: {}, cli }, [{ play: play(), hosts: ['pg1', 'pg2', 'pg3', 'pg4', 'pg5'] }]);
  assert.deepEqual(plan.errors.map((e) => `${e.line}:${e.col}: ${e.message}`), [
    '4:27: su reads a password only from a terminal, which pgplay does not use: become with sudo (ansible_become_method: sudo), or log in as a user that needs no password',
    '5:27: ansible_become_method must be sudo or su, not "doas": pgplay becomes other users with sudo or su',
  ]);
  const pg1 = plan.get('pg1', 0);
  assert.deepEqual([pg1.become.enabled, pg1.become.user, pg1.become.method, pg1.become.password?.reveal(), pg1.taskUser], [true, 'admin', 'sudo', 'Bq-become-pass-7', 'admin']);
  // The agent becomes ansible_become_user once; with the password from the environment.
  assert.deepEqual([pg1.agentBecome?.user, pg1.agentBecome?.password?.reveal()], ['admin', 'Bq-become-pass-7']);
  const pg2 = plan.get('pg2', 0);
  assert.deepEqual([pg2.become.enabled, pg2.become.passwordEnv, pg2.agentBecome?.user, pg2.agentBecome?.password?.reveal(), pg2.taskUser], [false, 'PGPLAY_TEST_BECOME', 'root', 'Bq-become-pass-7', 'admin']);
  assert.deepEqual([plan.get('pg5', 0).connection, plan.get('pg5', 0).ssh], ['local', undefined]);
});
