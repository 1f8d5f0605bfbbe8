// ProxyJump: the database hosts reached through a bastion in the lab, its host key verified, one connection to it
// serving every host of a run, proven from the bastion's own log. The bastion is the network-namespace lab's third
// host (its PostgreSQL unused): its sshd opens the forwarded connections to pg1 and pg2 across the lab's bridge. The
// bastion's options come from an ssh_config given with -F in ansible_ssh_common_args, as an Ansible user writes it.
// Slow (about 10 s): a 1 primary + 1 replica lab and the bastion, each in its own network namespace.
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { ROOT, runCli } from '../helpers/cli';
import { netnsInventoryIni } from '../lab/inventory';
import { acceptedConnections, netnsLabDown, netnsLabUp, psql, startSshd, stopSshd, type NetnsLab, type NetnsLabHost } from '../lab/netns-lab';

const LAB_ROOT = '/tmp/pgplay-jump-test';
const LAB_ID = 'jump';
const PASSWORD = 'Jump-host-secret-52';
const site = join(ROOT, 'playbooks', 'site.yml');

let lab: NetnsLab;
/** The database hosts (pg1, pg2) and the bastion (pg3). */
let hosts: NetnsLabHost[];
let bastion: NetnsLabHost;
let BASTION: string;
let home: string;
let inventory: string;
let unknownConfig: string;

const env = () => ({ PGPLAY_REPLICATION_PASSWORD: PASSWORD, HOME: home });
const re = (text: string) => text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
const bastionLog = () => (existsSync(bastion.sshdLog) ? readFileSync(bastion.sshdLog, 'utf8') : '');
/** direct-tcpip channels the bastion opened to a target (sshd logs them at DEBUG1). */
const forwardsTo = (address: string) => bastionLog().split('\n').filter((l) => new RegExp(`server_request_direct_tcpip: .*target ${address.replace(/\./g, '\\.')} port 22`).test(l)).length;
const bastionLogins = () => bastionLog().split('\n').filter((l) => l.includes('Accepted publickey')).length;

function recapLine(stdout: string, name: string): string {
  return new RegExp(`^${name}\\s+ok=.*$`, 'm').exec(stdout.slice(stdout.lastIndexOf('PLAY RECAP')))?.[0] ?? '';
}

describe('ProxyJump through a bastion in the lab', () => {
  before(async () => {
    lab = await netnsLabUp(3, { id: LAB_ID, root: LAB_ROOT, layout: ['debian', 'debian', 'rhel'] });
    hosts = lab.hosts.slice(0, 2);
    bastion = lab.hosts[2];
    BASTION = bastion.address;
    home = join(LAB_ROOT, 'home');
    mkdirSync(home, { recursive: true });
    // The bastion logs each forwarded channel (DEBUG1).
    writeFileSync(bastion.sshd.config, readFileSync(bastion.sshd.config, 'utf8').replace('LogLevel VERBOSE', 'LogLevel DEBUG1'));
    await stopSshd(bastion);
    await startSshd(bastion);
    const ssh = join(LAB_ROOT, 'ssh');
    const bastionKey = readFileSync(lab.knownHosts, 'utf8').split('\n').find((l) => l.startsWith(`${BASTION} `));
    writeFileSync(join(ssh, 'bastion_known_hosts'), `${bastionKey}\n`);
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
    writeFileSync(inventory, netnsInventoryIni(hosts, { key: lab.key, knownHosts: lab.knownHosts }));
    writeFileSync(join(dir, 'group_vars', 'all.yml'), `# Every database host is reached through the bastion.
jump_ssh_config: ${join(ssh, 'config')}
ansible_ssh_common_args: "-F {{ jump_ssh_config }} -o ProxyJump=bastion"
`);
  });
  after(async () => {
    if (!process.env.PGPLAY_KEEP_LAB) await netnsLabDown(LAB_ROOT, LAB_ID);
  });

  it('site.yml converges through the bastion: one bastion login for the run, one forwarded channel per host', async () => {
    const logins = bastionLogins();
    const accepted = hosts.map(acceptedConnections);
    const r = await runCli(['run', site, '-i', inventory], { env: env(), timeoutMs: 240_000 });
    assert.equal(r.code, 0, r.stdout + r.stderr);
    assert.equal(bastionLogins() - logins, 1, 'one connection to the bastion served every host');
    for (const h of hosts) assert.equal(forwardsTo(h.address), 1, `${h.name} reached through the bastion once`);
    assert.deepEqual(hosts.map((h, i) => acceptedConnections(h) - accepted[i]), [1, 1]);
    assert.equal(psql(hosts[0], "SELECT count(*) FROM pg_stat_replication WHERE state = 'streaming'"), '1');
    const again = await runCli(['run', site, '-i', inventory], { env: env(), timeoutMs: 240_000 });
    assert.equal(again.code, 0, again.stdout);
    for (const h of hosts) assert.match(recapLine(again.stdout, h.name), /changed=0 unreachable=0 failed=0/);
    assert.equal(bastionLogins() - logins, 2);
    for (const h of hosts) assert.equal(forwardsTo(h.address), 2);
  });

  it('an inventory that names only pg1 and pg2 works when ssh_config says how to reach them (through the bastion too)', async () => {
    const ssh = join(LAB_ROOT, 'ssh');
    const config = join(ssh, 'config-by-name');
    writeFileSync(config, `${readFileSync(join(ssh, 'config'), 'utf8')}
${hosts.map((h) => `Host ${h.name}\n  HostName ${h.address}\n`).join('')}
Host pg*
  User root
  IdentityFile ${lab.key}
  UserKnownHostsFile ${lab.knownHosts}
  ProxyJump bastion
`);
    const dir = join(LAB_ROOT, 'by-name');
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, 'hosts'), `[db]\n${hosts.map((h) => h.name).join('\n')}\n[db:vars]\nssh_config_file=${config}\n`);
    const playbook = join(dir, 'who.yml');
    writeFileSync(playbook, '- hosts: db\n  tasks:\n    - name: Who am I\n      command:\n        argv: [hostname]\n');
    const before = hosts.map((h) => forwardsTo(h.address));
    const r = await runCli(['run', playbook, '-i', join(dir, 'hosts')], { env: env(), timeoutMs: 60_000 });
    assert.equal(r.code, 0, r.stdout + r.stderr);
    for (const h of hosts) assert.match(recapLine(r.stdout, h.name), /unreachable=0 failed=0/);
    assert.deepEqual(hosts.map((h, i) => forwardsTo(h.address) - before[i]), [1, 1]);
  });

  it("the bastion's host key is verified: one it does not know leaves every host behind it unreachable", async () => {
    const r = await runCli(['run', site, '-i', inventory, '-e', `jump_ssh_config=${unknownConfig}`], { env: env(), timeoutMs: 60_000 });
    assert.equal(r.code, 3, r.stdout);
    for (const h of hosts) {
      assert.match(r.stdout, new RegExp(`^unreachable ${h.name} \\| .*ssh through bastion root@${re(BASTION)}:22: host key of ${re(BASTION)} \\(ssh-ed25519 SHA256:\\S+\\) is not in \\S*empty_known_hosts`, 'm'));
    }
  });

  it('with the bastion down the hosts are unreachable, though their own sshd runs: they are reached only through it', async () => {
    await stopSshd(bastion, { dropSessions: true });
    try {
      const accepted = hosts.map(acceptedConnections);
      const r = await runCli(['run', site, '-i', inventory], { env: env(), timeoutMs: 60_000 });
      assert.equal(r.code, 3, r.stdout);
      for (const h of hosts) assert.match(r.stdout, new RegExp(`^unreachable ${h.name} \\| .*bastion root@${re(BASTION)}:22: connection refused`, 'm'));
      assert.deepEqual(hosts.map((h, i) => acceptedConnections(h) - accepted[i]), [0, 0]);
    } finally {
      await startSshd(bastion);
    }
  });
});
