import assert from 'node:assert/strict';
import { homedir, userInfo } from 'node:os';
import { test } from 'node:test';
import { expandHome, sshOptionsFrom } from '../../../src/connection/ssh-options';
import { redact, Secret } from '../../../src/secrets';

const cli = { acceptNewHostKeys: false };

test('defaults: the inventory name as address, port 22, the current user, ~/.ssh/known_hosts, 10 s and 15 s', () => {
  const o = sshOptionsFrom('db1.example.com', {}, cli, {});
  assert.deepEqual(o, {
    address: 'db1.example.com',
    port: 22,
    user: userInfo().username,
    privateKeyFile: undefined,
    agent: undefined,
    password: undefined,
    passwordEnv: undefined,
    knownHostsFile: `${homedir()}/.ssh/known_hosts`,
    acceptNewHostKeys: false,
    connectTimeoutMs: 10_000,
    keepaliveIntervalMs: 15_000,
    become: userInfo().username === 'root' ? undefined : { user: 'root', method: 'sudo', password: undefined },
  });
});

test('the agent becomes root once, with sudo unless said otherwise; not when the login user is root or become is off', () => {
  assert.deepEqual(sshOptionsFrom('pg1', { ansible_user: 'admin' }, cli, {}).become, { user: 'root', method: 'sudo', password: undefined });
  assert.equal(sshOptionsFrom('pg1', { ansible_user: 'root' }, cli, {}).become, undefined);
  assert.equal(sshOptionsFrom('pg1', { ansible_user: 'postgres', ansible_become: false }, cli, {}).become, undefined);
  assert.deepEqual(sshOptionsFrom('pg1', { ansible_user: 'admin', ansible_become_method: 'su' }, cli, {}).become, { user: 'root', method: 'su', password: undefined });
  const withPassword = sshOptionsFrom('pg1', { ansible_user: 'admin', become_password_env: 'PGPLAY_SUDO' }, cli, { PGPLAY_SUDO: 'sudo-secret-1' }).become;
  assert.equal(withPassword?.password?.reveal(), 'sudo-secret-1');
  assert.throws(() => sshOptionsFrom('pg1', { ansible_user: 'admin', ansible_become_method: 'doas' }, cli, {}), /become method doas is not supported/);
});

test("Ansible's names work, ~ is expanded, and no agent is used beside a key file", () => {
  const vars = { ansible_host: '127.0.0.12', ansible_port: '2222', ansible_user: 'admin', ansible_ssh_private_key_file: '~/.ssh/id_ed25519' };
  const o = sshOptionsFrom('pg2', vars, cli, { SSH_AUTH_SOCK: '/run/agent.sock' });
  assert.equal(o.address, '127.0.0.12');
  assert.equal(o.port, 2222);
  assert.equal(o.user, 'admin');
  assert.equal(o.privateKeyFile, `${homedir()}/.ssh/id_ed25519`);
  assert.equal(o.agent, undefined);
});

test("pgplay's names work too; Ansible's win when both are set; the agent comes from SSH_AUTH_SOCK", () => {
  const vars = { address: '10.0.0.5', ssh_port: 22022, ssh_user: 'ops', ssh_known_hosts_file: '/etc/pgplay/known_hosts', ssh_connect_timeout: 3, ssh_keepalive_interval: '0' };
  const o = sshOptionsFrom('pg3', vars, cli, { SSH_AUTH_SOCK: '/run/agent.sock' });
  assert.deepEqual([o.address, o.port, o.user, o.agent, o.knownHostsFile, o.connectTimeoutMs, o.keepaliveIntervalMs], ['10.0.0.5', 22022, 'ops', '/run/agent.sock', '/etc/pgplay/known_hosts', 3000, 0]);
  assert.equal(sshOptionsFrom('pg3', { ...vars, ansible_host: '10.0.0.6', ansible_user: 'root' }, cli, {}).address, '10.0.0.6');
  assert.equal(sshOptionsFrom('pg3', { ...vars, ssh_private_key_file: '/k' }, cli, {}).privateKeyFile, '/k');
});

test('the command line overrides the known_hosts file and can opt in to new host keys; the inventory can opt in too', () => {
  const vars = { ssh_known_hosts_file: '/inventory/known_hosts' };
  assert.equal(sshOptionsFrom('pg1', vars, { acceptNewHostKeys: false, knownHostsFile: '/cli/known_hosts' }, {}).knownHostsFile, '/cli/known_hosts');
  assert.equal(sshOptionsFrom('pg1', vars, { acceptNewHostKeys: true }, {}).acceptNewHostKeys, true);
  assert.equal(sshOptionsFrom('pg1', { ssh_accept_new_host_keys: 'yes' }, cli, {}).acceptNewHostKeys, true);
  assert.equal(sshOptionsFrom('pg1', { ssh_accept_new_host_keys: false }, cli, {}).acceptNewHostKeys, false);
});

test('the password comes from the environment variable the inventory names, as a Secret', () => {
  const o = sshOptionsFrom('pg1', { ssh_password_env: 'PG1_SSH_PASSWORD' }, cli, { PG1_SSH_PASSWORD: 'hunter2-hunter2' });
  assert.ok(o.password instanceof Secret);
  assert.equal(o.password.reveal(), 'hunter2-hunter2');
  assert.equal(o.passwordEnv, 'PG1_SSH_PASSWORD');
  assert.equal(redact('password hunter2-hunter2'), 'password ********');
  assert.doesNotMatch(JSON.stringify(o), /hunter2/);
  const missing = sshOptionsFrom('pg1', { ssh_password_env: 'NOT_SET_ANYWHERE' }, cli, {});
  assert.deepEqual([missing.password, missing.passwordEnv], [undefined, 'NOT_SET_ANYWHERE']);
});

test('bad values are refused with the host and the variable named', () => {
  assert.throws(() => sshOptionsFrom('pg1', { ansible_port: 'ssh' }, cli, {}), /^Error: host pg1: ansible_port must be a number from 1 to 65535, not "ssh"$/);
  assert.throws(() => sshOptionsFrom('pg1', { ssh_port: 70000 }, cli, {}), /host pg1: ssh_port must be/);
  assert.throws(() => sshOptionsFrom('pg1', { ssh_connect_timeout: 0 }, cli, {}), /ssh_connect_timeout must be a number from 1/);
  assert.throws(() => sshOptionsFrom('pg1', { ssh_accept_new_host_keys: 'maybe' }, cli, {}), /ssh_accept_new_host_keys must be true or false/);
});

test('expandHome expands ~ and ~/ only', () => {
  assert.equal(expandHome('~', '/home/a'), '/home/a');
  assert.equal(expandHome('~/k', '/home/a'), '/home/a/k');
  assert.equal(expandHome('/abs/~/k', '/home/a'), '/abs/~/k');
  assert.equal(expandHome('~bob/k', '/home/a'), '~bob/k');
});
