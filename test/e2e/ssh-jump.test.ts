// ProxyJump: the database hosts reached through a bastion sshd in the lab, its host key verified, one connection to
// it serving every host of a run, proven from the bastion's own log. The bastion's options come from an ssh_config
// given with -F in ansible_ssh_common_args, as an Ansible user writes it.
// Slow (about 8 s): a 1 primary + 1 replica lab on 127.0.0.111-112 and a bastion sshd on 127.0.0.119.
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { ROOT, runCli } from '../helpers/cli';
import { labInventoryIni } from '../lab/inventory';
import { acceptedConnections, labDown, labUp, psql, type Lab } from '../lab/lab';
import * as sshd from '../lab/sshd';

const LAB_ROOT = '/tmp/pgplay-jump-test';
const BASE = 110;
const BASTION = '127.0.0.119';
const PASSWORD = 'Jump-host-secret-52';
const site = join(ROOT, 'playbooks', 'site.yml');

let lab: Lab;
let bastion: sshd.SshdFiles;
let home: string;
let inventory: string;
let unknownConfig: string;

const env = () => ({ PGPLAY_REPLICATION_PASSWORD: PASSWORD, HOME: home });
const bastionLog = () => (existsSync(bastion.log) ? readFileSync(bastion.log, 'utf8') : '');
/** direct-tcpip channels the bastion opened to a target (sshd logs them at DEBUG1). */
const forwardsTo = (address: string) => bastionLog().split('\n').filter((l) => new RegExp(`server_request_direct_tcpip: .*target ${address.replace(/\./g, '\\.')} port 22`).test(l)).length;
const bastionLogins = () => bastionLog().split('\n').filter((l) => l.includes('Accepted publickey')).length;

function recapLine(stdout: string, name: string): string {
  return new RegExp(`^${name}\\s+ok=.*$`, 'm').exec(stdout.slice(stdout.lastIndexOf('PLAY RECAP')))?.[0] ?? '';
}

describe('ProxyJump through a bastion in the lab', () => {
  before(async () => {
    lab = await labUp(2, { root: LAB_ROOT, base: BASE });
    home = join(LAB_ROOT, 'home');
    mkdirSync(home, { recursive: true });
    bastion = sshd.sshdFiles(join(LAB_ROOT, 'bastion', 'sshd'), BASTION, join(LAB_ROOT, 'ssh', 'authorized_keys'));
    const hostKey = await sshd.prepareSshd(bastion);
    writeFileSync(bastion.config, readFileSync(bastion.config, 'utf8').replace('LogLevel VERBOSE', 'LogLevel DEBUG1'));
    await sshd.startSshd(bastion);
    const ssh = join(LAB_ROOT, 'ssh');
    writeFileSync(join(ssh, 'bastion_known_hosts'), `${BASTION} ${hostKey.split(' ').slice(0, 2).join(' ')}\n`);
    writeFileSync(join(ssh, 'empty_known_hosts'), '');
    const config = (knownHosts: string) => `# The lab's ssh_config: how to reach the bastion.
Host bastion
  HostName ${BASTION}
  User root
  IdentityFile ${lab.key}
  IdentitiesOnly yes
  UserKnownHostsFile ${knownHosts}
  StrictHostKeyChecking yes
`;
    writeFileSync(join(ssh, 'config'), config(join(ssh, 'bastion_known_hosts')));
    unknownConfig = join(ssh, 'config-unknown-bastion');
    writeFileSync(unknownConfig, config(join(ssh, 'empty_known_hosts')));
    const dir = join(LAB_ROOT, 'jump');
    mkdirSync(join(dir, 'group_vars'), { recursive: true });
    inventory = join(dir, 'hosts');
    writeFileSync(inventory, labInventoryIni(lab.hosts, { key: lab.key, knownHosts: lab.knownHosts }));
    writeFileSync(join(dir, 'group_vars', 'all.yml'), `# Every database host is reached through the bastion.
jump_ssh_config: ${join(ssh, 'config')}
ansible_ssh_common_args: "-F {{ jump_ssh_config }} -o ProxyJump=bastion"
pgplay_lock_file: "{{ pg_data_dir }}.pgplay.lock"
`);
  });
  after(async () => {
    await sshd.stopSshd(bastion, { dropSessions: true });
    if (!process.env.PGPLAY_KEEP_LAB) await labDown(LAB_ROOT);
  });

  it('site.yml converges through the bastion: one bastion login for the run, one forwarded channel per host', async () => {
    const logins = bastionLogins();
    const hosts = lab.hosts.map(acceptedConnections);
    const r = await runCli(['run', site, '-i', inventory], { env: env(), timeoutMs: 240_000 });
    assert.equal(r.code, 0, r.stdout + r.stderr);
    assert.equal(bastionLogins() - logins, 1, 'one connection to the bastion served every host');
    for (const h of lab.hosts) assert.equal(forwardsTo(h.address), 1, `${h.name} reached through the bastion once`);
    assert.deepEqual(lab.hosts.map((h, i) => acceptedConnections(h) - hosts[i]), [1, 1]);
    assert.equal(psql(lab.hosts[0], "SELECT count(*) FROM pg_stat_replication WHERE state = 'streaming'"), '1');
    const again = await runCli(['run', site, '-i', inventory], { env: env(), timeoutMs: 240_000 });
    assert.equal(again.code, 0, again.stdout);
    for (const h of lab.hosts) assert.match(recapLine(again.stdout, h.name), /changed=0 unreachable=0 failed=0/);
    assert.equal(bastionLogins() - logins, 2);
    for (const h of lab.hosts) assert.equal(forwardsTo(h.address), 2);
  });

  it('an inventory that names only pg1 and pg2 works when ssh_config says how to reach them (through the bastion too)', async () => {
    const ssh = join(LAB_ROOT, 'ssh');
    const config = join(ssh, 'config-by-name');
    writeFileSync(config, `${readFileSync(join(ssh, 'config'), 'utf8')}
${lab.hosts.map((h) => `Host ${h.name}\n  HostName ${h.address}\n`).join('')}
Host pg*
  User root
  IdentityFile ${lab.key}
  UserKnownHostsFile ${lab.knownHosts}
  ProxyJump bastion
`);
    const dir = join(LAB_ROOT, 'by-name');
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, 'hosts'), `[db]\n${lab.hosts.map((h) => h.name).join('\n')}\n[db:vars]\nssh_config_file=${config}\n`);
    const playbook = join(dir, 'who.yml');
    writeFileSync(playbook, '- hosts: db\n  tasks:\n    - name: Who am I\n      command:\n        argv: [hostname]\n');
    const before = lab.hosts.map((h) => forwardsTo(h.address));
    const r = await runCli(['run', playbook, '-i', join(dir, 'hosts')], { env: env(), timeoutMs: 60_000 });
    assert.equal(r.code, 0, r.stdout + r.stderr);
    for (const h of lab.hosts) assert.match(recapLine(r.stdout, h.name), /unreachable=0 failed=0/);
    assert.deepEqual(lab.hosts.map((h, i) => forwardsTo(h.address) - before[i]), [1, 1]);
  });

  it("the bastion's host key is verified: one it does not know leaves every host behind it unreachable", async () => {
    const r = await runCli(['run', site, '-i', inventory, '-e', `jump_ssh_config=${unknownConfig}`], { env: env(), timeoutMs: 60_000 });
    assert.equal(r.code, 3, r.stdout);
    for (const h of lab.hosts) {
      assert.match(r.stdout, new RegExp(`^unreachable ${h.name} \\| .*ssh through bastion root@127\\.0\\.0\\.119:22: host key of 127\\.0\\.0\\.119 \\(ssh-ed25519 SHA256:\\S+\\) is not in \\S*empty_known_hosts`, 'm'));
    }
  });

  it('with the bastion down the hosts are unreachable, though their own sshd runs: they are reached only through it', async () => {
    await sshd.stopSshd(bastion, { dropSessions: true });
    try {
      const hosts = lab.hosts.map(acceptedConnections);
      const r = await runCli(['run', site, '-i', inventory], { env: env(), timeoutMs: 60_000 });
      assert.equal(r.code, 3, r.stdout);
      for (const h of lab.hosts) assert.match(r.stdout, new RegExp(`^unreachable ${h.name} \\| .*bastion root@127\\.0\\.0\\.119:22: connection refused`, 'm'));
      assert.deepEqual(lab.hosts.map((h, i) => acceptedConnections(h) - hosts[i]), [0, 0]);
    } finally {
      await sshd.startSshd(bastion);
    }
  });
});
