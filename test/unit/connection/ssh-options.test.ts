import assert from 'node:assert/strict';
import { mkdtempSync, mkdirSync, writeFileSync } from 'node:fs';
import { homedir, tmpdir, userInfo } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { SettingError } from '../../../src/config/setting-error';
import { parseSshArgs, SshArgError } from '../../../src/connection/ssh-args';
import { expandHome, sshOptionsFrom } from '../../../src/connection/ssh-options';
import { redact, Secret } from '../../../src/secrets';

const cli = { acceptNewHostKeys: false };
const dir = mkdtempSync(join(tmpdir(), 'pgplay-ssh-options-'));
/** An empty ssh_config, so the machine's own ~/.ssh/config and /etc/ssh/ssh_config play no part. */
const noConfig = join(dir, 'empty_config');
writeFileSync(noConfig, '');
const base = { ssh_config_file: noConfig };

function config(text: string): string {
  const file = join(dir, `config-${Math.random().toString(36).slice(2)}`);
  writeFileSync(file, text);
  return file;
}

function refused(fn: () => unknown, message: RegExp, variable?: string, offset?: number): void {
  assert.throws(fn, (err: unknown) => {
    assert.ok(err instanceof SettingError, String(err));
    assert.match(err.message, message);
    if (variable !== undefined) assert.equal(err.variable, variable);
    if (offset !== undefined) assert.equal(err.offset, offset);
    return true;
  });
}

test("defaults: the inventory name as address, port 22, the current user, OpenSSH's known_hosts files, 10 s and 15 s", () => {
  const o = sshOptionsFrom('db1.example.com', base, cli, {});
  assert.equal(o.address, 'db1.example.com');
  assert.equal(o.port, 22);
  assert.equal(o.user, userInfo().username);
  assert.equal(o.knownHostsFile, `${homedir()}/.ssh/known_hosts`);
  assert.deepEqual(o.knownHostsFiles, [`${homedir()}/.ssh/known_hosts`, `${homedir()}/.ssh/known_hosts2`, '/etc/ssh/ssh_known_hosts', '/etc/ssh/ssh_known_hosts2']);
  assert.equal(o.strictHostKeyChecking, 'yes');
  assert.deepEqual([o.connectTimeoutMs, o.keepaliveIntervalMs, o.keepaliveCountMax, o.proxyJump], [10_000, 15_000, 3, []]);
});

test("Ansible's names work, ~ is expanded, and the agent is used beside a key file unless IdentitiesOnly", () => {
  const vars = { ...base, ansible_host: '127.0.0.12', ansible_port: '2222', ansible_user: 'admin', ansible_ssh_private_key_file: '~/.ssh/id_ed25519' };
  const o = sshOptionsFrom('pg2', vars, cli, { SSH_AUTH_SOCK: '/run/agent.sock' });
  assert.deepEqual([o.address, o.port, o.user, o.privateKeyFile, o.agent], ['127.0.0.12', 2222, 'admin', `${homedir()}/.ssh/id_ed25519`, '/run/agent.sock']);
  const only = sshOptionsFrom('pg2', { ...vars, ansible_ssh_common_args: '-o IdentitiesOnly=yes' }, cli, { SSH_AUTH_SOCK: '/run/agent.sock' });
  assert.equal(only.agent, undefined);
});

test("pgplay's names work too; Ansible's win when both are set", () => {
  const vars = { ...base, address: '10.0.0.5', ssh_port: 22022, ssh_user: 'ops', ssh_known_hosts_file: '/etc/pgplay/known_hosts', ssh_connect_timeout: 3, ssh_keepalive_interval: '0' };
  const o = sshOptionsFrom('pg3', vars, cli, {});
  assert.deepEqual([o.address, o.port, o.user, o.knownHostsFile, o.connectTimeoutMs, o.keepaliveIntervalMs], ['10.0.0.5', 22022, 'ops', '/etc/pgplay/known_hosts', 3000, 0]);
  assert.equal(sshOptionsFrom('pg3', { ...vars, ansible_host: '10.0.0.6', ansible_user: 'root' }, cli, {}).address, '10.0.0.6');
  assert.equal(sshOptionsFrom('pg3', { ...vars, ssh_private_key_file: '/k' }, cli, {}).privateKeyFile, '/k');
});

test('the command line overrides the known_hosts file and can opt in to new host keys; the inventory can opt in too', () => {
  const vars = { ...base, ssh_known_hosts_file: '/inventory/known_hosts' };
  assert.equal(sshOptionsFrom('pg1', vars, { acceptNewHostKeys: false, knownHostsFile: '/cli/known_hosts' }, {}).knownHostsFile, '/cli/known_hosts');
  assert.equal(sshOptionsFrom('pg1', vars, { acceptNewHostKeys: true }, {}).acceptNewHostKeys, true);
  assert.equal(sshOptionsFrom('pg1', { ...base, ssh_accept_new_host_keys: 'yes' }, cli, {}).acceptNewHostKeys, true);
  assert.equal(sshOptionsFrom('pg1', { ...base, ssh_accept_new_host_keys: false }, cli, {}).acceptNewHostKeys, false);
});

test('the password comes from the environment variable the inventory names, as a Secret; one written in the inventory is refused', () => {
  const o = sshOptionsFrom('pg1', { ...base, ssh_password_env: 'PG1_SSH_PASSWORD' }, cli, { PG1_SSH_PASSWORD: 'hunter2-hunter2' });
  assert.ok(o.password instanceof Secret);
  assert.equal(o.password.reveal(), 'hunter2-hunter2');
  assert.equal(o.passwordEnv, 'PG1_SSH_PASSWORD');
  assert.equal(redact('password hunter2-hunter2'), 'password ********');
  assert.doesNotMatch(JSON.stringify(o), /hunter2/);
  const missing = sshOptionsFrom('pg1', { ...base, ssh_password_env: 'NOT_SET_ANYWHERE' }, cli, {});
  assert.deepEqual([missing.password, missing.passwordEnv], [undefined, 'NOT_SET_ANYWHERE']);
  refused(() => sshOptionsFrom('pg1', { ...base, ansible_password: 'in-the-file' }, cli, {}), /ansible_password is not read by pgplay: name the environment variable .* with ssh_password_env/, 'ansible_password');
});

test('bad values are refused with the host and the variable named', () => {
  refused(() => sshOptionsFrom('pg1', { ...base, ansible_port: 'ssh' }, cli, {}), /^host pg1: ansible_port must be a number from 1 to 65535, not "ssh"$/, 'ansible_port');
  refused(() => sshOptionsFrom('pg1', { ...base, ssh_port: 70000 }, cli, {}), /host pg1: ssh_port must be/, 'ssh_port');
  refused(() => sshOptionsFrom('pg1', { ...base, ssh_connect_timeout: 0 }, cli, {}), /ssh_connect_timeout must be a number from 1/);
  refused(() => sshOptionsFrom('pg1', { ...base, ssh_accept_new_host_keys: 'maybe' }, cli, {}), /ssh_accept_new_host_keys must be true or false/);
});

test('-o options are read as OpenSSH reads them: Keyword=value or "Keyword value", case-insensitive, first one wins', () => {
  const args = '-o UserKnownHostsFile=/lab/known_hosts -o "StrictHostKeyChecking yes" -oPort=2200 -o port=2300 -i /k1 -i /k2 -l ops -o ConnectTimeout=4 -o ServerAliveInterval=7 -o ServerAliveCountMax=2 -C';
  const o = sshOptionsFrom('pg1', { ...base, ansible_ssh_common_args: args }, cli, {});
  assert.deepEqual(o.knownHostsFiles.slice(0, 1), ['/lab/known_hosts']);
  assert.deepEqual([o.strictHostKeyChecking, o.port, o.user, o.identityFiles, o.privateKeyFile], ['yes', 2200, 'ops', ['/k1', '/k2'], '/k1']);
  assert.deepEqual([o.connectTimeoutMs, o.keepaliveIntervalMs, o.keepaliveCountMax, o.compression], [4000, 7000, 2, true]);
  // Ansible puts its connection variables before the arguments: they win.
  const v = sshOptionsFrom('pg1', { ...base, ansible_port: 22, ansible_user: 'root', ansible_ssh_common_args: '-p 2200 -o User=ops' }, cli, {});
  assert.deepEqual([v.port, v.user], [22, 'root']);
  // common args come before extra args.
  const e = sshOptionsFrom('pg1', { ...base, ansible_ssh_common_args: '-o Port=1', ansible_ssh_extra_args: '-o Port=2 -o User=x' }, cli, {});
  assert.deepEqual([e.port, e.user], [1, 'x']);
  // Options that change nothing pgplay does are accepted (Ansible's usual ones among them).
  const usual = sshOptionsFrom('pg1', { ...base, ansible_ssh_common_args: '-C -o ControlMaster=auto -o ControlPath=~/.ansible/cp/%C -o ControlPersist=60s -o BatchMode=yes -q' }, cli, {});
  assert.equal(usual.port, 22);
});

test('ControlMaster with ControlPersist keeps the connection between runs, for as long as OpenSSH would keep its master', () => {
  const persist = (args: string, extra: Record<string, unknown> = {}) => sshOptionsFrom('pg1', { ...base, ansible_ssh_common_args: args, ...extra }, cli, {}).persistSeconds;
  assert.equal(persist('-o ControlMaster=auto -o ControlPersist=60s'), 60);
  assert.equal(persist('-o ControlMaster=yes -o ControlPersist=10m'), 600);
  assert.equal(persist('-o ControlMaster=autoask -o ControlPersist=1h30m'), 5400);
  assert.equal(persist('-o ControlMaster=auto -o ControlPersist=45'), 45);
  // yes and 0: until the keeper is stopped, as OpenSSH keeps its master.
  assert.equal(persist('-o ControlMaster=auto -o ControlPersist=yes'), 0);
  assert.equal(persist('-o ControlMaster=auto -o ControlPersist=0'), 0);
  // Nothing kept: ControlPersist=no, ControlMaster=no, or ControlPersist without ControlMaster (OpenSSH shares nothing then).
  assert.equal(persist('-o ControlMaster=auto -o ControlPersist=no'), undefined);
  assert.equal(persist('-o ControlMaster=no -o ControlPersist=60s'), undefined);
  assert.equal(persist('-o ControlPersist=60s'), undefined);
  assert.equal(persist('-C'), undefined);
  // pgplay's own variable says both at once; ssh_config says it too.
  assert.equal(persist('-C', { ssh_control_persist: '2m' }), 120);
  assert.equal(persist('-C', { ssh_control_persist: 30 }), 30);
  const fromConfig = sshOptionsFrom('pg1', { ssh_config_file: config('Host *\n  ControlMaster auto\n  ControlPersist 5m\n') }, cli, {});
  assert.equal(fromConfig.persistSeconds, 300);
  refused(() => persist('-o ControlMaster=auto -o ControlPersist=soon'), /ControlPersist must be yes, no or a time \(60, 60s, 10m, 1h30m\), not "soon"/, 'ansible_ssh_common_args', 25);
  refused(() => persist('-o ControlMaster=maybe'), /ControlMaster must be yes, no, ask, auto or autoask, not "maybe"/, 'ansible_ssh_common_args', 3);
  refused(() => persist('-C', { ssh_control_persist: '5 minutes' }), /ssh_control_persist must be yes, no or a time/, 'ssh_control_persist');
  refused(() => persist('-S /tmp/ctl'), /-S: pgplay's kept connections \(ControlPersist\) are behind its own socket/, 'ansible_ssh_common_args', 0);
});

test('an ssh option pgplay does not support is an error at its place in the variable, never dropped', () => {
  refused(() => sshOptionsFrom('pg1', { ...base, ansible_ssh_common_args: '-o Port=22 -o Ciphers=aes128-ctr' }, cli, {}), /ansible_ssh_common_args: pgplay does not support the ssh option Ciphers: it reads HostName, Port/, 'ansible_ssh_common_args', 14);
  refused(() => sshOptionsFrom('pg1', { ...base, ansible_ssh_extra_args: '-L 5432:localhost:5432' }, cli, {}), /-L: pgplay forwards no port/, 'ansible_ssh_extra_args', 0);
  refused(() => sshOptionsFrom('pg1', { ...base, ansible_ssh_common_args: '-o ProxyCommand="ssh -W %h:%p b"' }, cli, {}), /ProxyCommand is not supported: .* ProxyJump/);
  refused(() => sshOptionsFrom('pg1', { ...base, ansible_ssh_common_args: '-o ForwardAgent=yes' }, cli, {}), /ForwardAgent=yes is refused: pgplay never forwards the agent/);
  refused(() => sshOptionsFrom('pg1', { ...base, ansible_ssh_common_args: 'pg1' }, cli, {}), /'pg1' is not an ssh option/);
  refused(() => sshOptionsFrom('pg1', { ...base, ansible_ssh_common_args: '-o "Port=22' }, cli, {}), /no closing quotation/, undefined, 3);
  assert.throws(() => parseSshArgs('-o'), (e: unknown) => e instanceof SshArgError && /-o needs a value/.test(e.message));
});

test('StrictHostKeyChecking=no is read as accept-new (a changed key is still refused); with /dev/null it would verify nothing and is refused', () => {
  const o = sshOptionsFrom('pg1', { ...base, ansible_ssh_common_args: '-o StrictHostKeyChecking=no -o UserKnownHostsFile=/lab/kh' }, cli, {});
  assert.deepEqual([o.strictHostKeyChecking, o.acceptNewHostKeys, o.knownHostsFile], ['accept-new', true, '/lab/kh']);
  refused(() => sshOptionsFrom('pg1', { ...base, ansible_ssh_common_args: '-o UserKnownHostsFile=/dev/null -o StrictHostKeyChecking=no' }, cli, {}), /would accept any host key on every run/);
  assert.equal(sshOptionsFrom('pg1', { ...base, ansible_ssh_common_args: '-o StrictHostKeyChecking=ask' }, cli, {}).strictHostKeyChecking, 'yes');
});

test('ssh_config: Host patterns, HostName, User, Port, IdentityFile, UserKnownHostsFile, StrictHostKeyChecking; the first value wins and the inventory beats it', () => {
  const file = config(`# a user's ~/.ssh/config
Host pg1 pg2
  HostName 127.0.0.%h.example
  User ops
  Port 2201
  IdentityFile ~/.ssh/%n_key
  UserKnownHostsFile /lab/%h/known_hosts
  StrictHostKeyChecking accept-new

Host pg* !pg3
  User ignored-because-first-wins
  Port 9999
  ConnectTimeout 5

Host *
  ServerAliveInterval 30
`);
  const o = sshOptionsFrom('pg1', { ssh_config_file: file }, cli, {});
  assert.deepEqual([o.address, o.user, o.port, o.identityFiles, o.knownHostsFile, o.strictHostKeyChecking, o.connectTimeoutMs, o.keepaliveIntervalMs], ['127.0.0.pg1.example', 'ops', 2201, [`${homedir()}/.ssh/pg1_key`], '/lab/127.0.0.pg1.example/known_hosts', 'accept-new', 5000, 30_000]);
  const three = sshOptionsFrom('pg3', { ssh_config_file: file }, cli, {});
  assert.deepEqual([three.address, three.port, three.connectTimeoutMs], ['pg3', 22, 10_000]);
  const inventory = sshOptionsFrom('pg1', { ssh_config_file: file, ansible_user: 'root', ansible_port: 22 }, cli, {});
  assert.deepEqual([inventory.user, inventory.port], ['root', 22]);
  // ansible_host is what Host patterns match, as ssh is given that name.
  assert.equal(sshOptionsFrom('pg1', { ssh_config_file: file, ansible_host: '10.0.0.1' }, cli, {}).port, 22);
  // -F in the arguments names the file as ssh_config_file does.
  assert.equal(sshOptionsFrom('pg2', { ansible_ssh_common_args: `-F ${file}` }, cli, {}).port, 2201);
});

test('ssh_config: ~/.ssh/config is read by default, Include and Match host work, ProxyCommand and Match exec are refused at their line', () => {
  const home = mkdtempSync(join(tmpdir(), 'pgplay-home-'));
  mkdirSync(join(home, '.ssh', 'conf.d'), { recursive: true });
  writeFileSync(join(home, '.ssh', 'config'), 'Include conf.d/*.conf\nMatch host 10.9.*\n  User matched\n');
  writeFileSync(join(home, '.ssh', 'conf.d', 'db.conf'), 'Host db1\n  HostName 10.9.0.1\n  Port 2222\nHost bad\n  ProxyCommand nc %h %p\nHost execy\n  Port 1\nMatch host execy exec "true"\n  Port 2\n');
  const previous = process.env.HOME;
  process.env.HOME = home;
  try {
    const o = sshOptionsFrom('db1', {}, cli, {});
    assert.deepEqual([o.address, o.port, o.user], ['10.9.0.1', 2222, 'matched']);
    assert.throws(() => sshOptionsFrom('bad', {}, cli, {}), (err: unknown) => err instanceof SettingError && /ProxyCommand/.test(err.message) && err.source?.line === 5 && err.source.file.endsWith('db.conf'));
    assert.throws(() => sshOptionsFrom('execy', {}, cli, {}), (err: unknown) => err instanceof SettingError && /Match block depends on exec/.test(err.message) && err.source?.line === 8);
  } finally {
    process.env.HOME = previous;
  }
});

test('ProxyJump: hops from -J, -o ProxyJump or ssh_config, each with its own options from ssh_config; none turns it off', () => {
  const file = config(`Host bastion
  HostName 127.0.0.109
  User jump
  IdentityFile /keys/bastion
  UserKnownHostsFile /lab/bastion_known_hosts
Host inner
  ProxyJump outer
Host pg9
  ProxyJump none
Host pg*
  ProxyJump bastion
`);
  const o = sshOptionsFrom('pg1', { ssh_config_file: file, ansible_user: 'root' }, cli, {});
  assert.equal(o.proxyJump.length, 1);
  const hop = o.proxyJump[0];
  assert.deepEqual([hop.address, hop.user, hop.port, hop.privateKeyFile, hop.knownHostsFile], ['127.0.0.109', 'jump', 22, '/keys/bastion', '/lab/bastion_known_hosts']);
  const j = sshOptionsFrom('x', { ssh_config_file: file, ansible_ssh_common_args: '-J admin@first:2201,inner' }, cli, {});
  // inner is reached through outer (its own ProxyJump applies only to the first hop, as with ssh -J).
  assert.deepEqual(j.proxyJump.map((h) => `${h.user}@${h.address}:${h.port}`), [`admin@first:2201`, `${userInfo().username}@inner:22`]);
  const chained = sshOptionsFrom('x', { ssh_config_file: file, ansible_ssh_common_args: '-o ProxyJump=inner' }, cli, {});
  assert.deepEqual(chained.proxyJump.map((h) => h.address), ['outer', 'inner']);
  assert.deepEqual(sshOptionsFrom('pg9', { ssh_config_file: file }, cli, {}).proxyJump, []);
  refused(() => sshOptionsFrom('x', { ...base, ansible_ssh_common_args: '-J a@b:c' }, cli, {}), /ProxyJump hop 'a@b:c' is not \[user@\]host\[:port\]/);
});

test('expandHome expands ~ and ~/ only', () => {
  assert.equal(expandHome('~', '/home/a'), '/home/a');
  assert.equal(expandHome('~/k', '/home/a'), '/home/a/k');
  assert.equal(expandHome('/abs/~/k', '/home/a'), '/abs/~/k');
  assert.equal(expandHome('~bob/k', '/home/a'), '~bob/k');
});

test("the run's check mode reaches the host key policy of each host and of its bastions", () => {
  const vars = { ...base, ssh_accept_new_host_keys: true, ansible_ssh_common_args: '-o ProxyJump=bastion1' };
  const checked = sshOptionsFrom('pg1', vars, { acceptNewHostKeys: false, checkMode: true }, {});
  assert.equal(checked.checkMode, true);
  assert.equal(checked.acceptNewHostKeys, true);
  assert.equal(checked.proxyJump[0].checkMode, true);
  assert.equal(sshOptionsFrom('pg1', vars, cli, {}).checkMode, undefined);
});

test('HashKnownHosts=yes, from -o or ssh_config, asks for hashed known_hosts lines', () => {
  assert.equal(sshOptionsFrom('pg1', { ...base, ansible_ssh_common_args: '-o HashKnownHosts=yes' }, cli, {}).hashKnownHosts, true);
  assert.equal(sshOptionsFrom('pg1', { ssh_config_file: config('Host *\n  HashKnownHosts yes\n') }, cli, {}).hashKnownHosts, true);
  assert.equal(sshOptionsFrom('pg1', base, cli, {}).hashKnownHosts, undefined);
});
