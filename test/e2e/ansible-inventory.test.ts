// An Ansible user's inventory, unchanged: the lab's inventory and the benchmark's group_vars (bench/ansible/), with
// pgplay's own variables added in a group_vars file written the way an Ansible user writes one. playbooks/site.yml
// converges from it and a re-run changes nothing; then the same with the lab's inventory in the INI layout.
// Slow (about 20 s): two network-namespace labs of 1 primary + 2 replicas (RHEL-like: every file of a host under the
// lab's root, where the group_vars put the run locks), one after the other.
import assert from 'node:assert/strict';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { fixture, ROOT, runCli } from '../helpers/cli';
import { netnsInventory, netnsInventoryIni } from '../lab/inventory';
import { netnsLabDown, netnsLabUp, psql, type NetnsLab } from '../lab/netns-lab';

const LAB_ROOT = '/tmp/pgplay-ansible-inv-test';
const LAB_ID = 'ansinv';
const PASSWORD = 'Ansible-inv-secret-77';
const site = join(ROOT, 'playbooks', 'site.yml');
// HOME without a ~/.ssh/config: the run reads only what the inventory says.
const home = mkdtempSync(join(tmpdir(), 'pgplay-ansible-home-'));
const env = { PGPLAY_REPLICATION_PASSWORD: PASSWORD, HOME: home };

/** pgplay's own variables, from names the Ansible inventory already has, as an Ansible user writes group_vars. */
const PGPLAY_VARS = `# pgplay's own variables for this inventory, from the names it already has.
# Each host keeps pgplay's run lock beside its data directory: several labs share this machine's /tmp.
pgplay_lock_file: "{{ pg_data_dir }}.pgplay.lock"
# The replication role, named as the Ansible play names it when nothing says otherwise.
replication_user: "{{ lookup('env', 'PGPLAY_REPLICATION_USER') | default('replicator', true) }}"
`;

/** A directory as an Ansible user keeps one: the inventory, group_vars/all/ with the benchmark's file and pgplay's. */
function ansibleDirectory(name: string, inventory: { file: string; text: string }): string {
  const dir = join(LAB_ROOT, name);
  mkdirSync(join(dir, 'group_vars', 'all'), { recursive: true });
  writeFileSync(join(dir, inventory.file), inventory.text);
  copyFileSync(join(ROOT, 'bench', 'ansible', 'group_vars', 'all.yml'), join(dir, 'group_vars', 'all', 'ansible.yml'));
  writeFileSync(join(dir, 'group_vars', 'all', 'pgplay.yml'), PGPLAY_VARS);
  return join(dir, inventory.file);
}

function recapLine(stdout: string, name: string): string {
  return new RegExp(`^${name}\\s+ok=.*$`, 'm').exec(stdout.slice(stdout.lastIndexOf('PLAY RECAP')))?.[0] ?? '';
}

async function convergeTwice(lab: NetnsLab, inventory: string): Promise<void> {
  const first = await runCli(['run', site, '-i', inventory], { env, timeoutMs: 240_000 });
  assert.equal(first.code, 0, first.stdout + first.stderr);
  assert.match(recapLine(first.stdout, 'pg2'), /changed=[1-9]/);
  const again = await runCli(['run', site, '-i', inventory], { env, timeoutMs: 240_000 });
  assert.equal(again.code, 0, again.stdout + again.stderr);
  for (const h of lab.hosts) assert.match(recapLine(again.stdout, h.name), /changed=0 unreachable=0 failed=0/, again.stdout);
  for (const text of [first.stdout, first.stderr, again.stdout]) assert.equal(text.includes(PASSWORD), false);
  // The lock file is a host setting templated in group_vars: it reached the hosts from the rendered scope. pgplay
  // removes its lock when a run ends, so it is looked for while a run holds every host.
  const locks = () => lab.hosts.filter((h) => existsSync(`${h.dataDir}.pgplay.lock`)).length;
  const held = runCli(['run', fixture('lab', 'sleep.yml'), '-i', inventory, '-e', 'target=all', '-e', 'seconds=3'], { env, timeoutMs: 60_000 });
  const deadline = Date.now() + 10_000;
  while (locks() < lab.hosts.length && Date.now() < deadline) await sleep(50);
  assert.equal(locks(), lab.hosts.length, `each host held its lock at ${lab.hosts[0].dataDir}.pgplay.lock and alike`);
  assert.equal((await held).code, 0);
  assert.equal(locks(), 0, 'and gave it back');
  assert.equal(psql(lab.hosts[0], "SELECT count(*) FROM pg_roles WHERE rolname = 'replicator' AND rolreplication"), '1');
  for (const h of lab.hosts.slice(1)) assert.equal(psql(h, 'SELECT pg_is_in_recovery()'), 't');
  assert.equal(psql(lab.hosts[0], "SELECT count(*) FROM pg_stat_replication WHERE state = 'streaming'"), '2');
}

describe("site.yml from an Ansible user's inventory and group_vars, unchanged", () => {
  after(async () => {
    if (!process.env.PGPLAY_KEEP_LAB) await netnsLabDown(LAB_ROOT, LAB_ID);
  });
  // The lab's inventory without its own pgplay_lock_file: the group_vars below name the lock, as a user's would.
  const ssh = (lab: NetnsLab) => ({ key: lab.key, knownHosts: lab.knownHosts });

  it('the YAML inventory the lab writes, with the benchmark group_vars: converges, then changes nothing', async () => {
    const lab = await netnsLabUp(3, { id: LAB_ID, root: LAB_ROOT, layout: 'rhel' });
    const inventory = ansibleDirectory('yaml', { file: 'inventory.yml', text: netnsInventory(lab.hosts, ssh(lab), { lockFiles: false }) });
    const check = await runCli(['inventory', '-i', inventory, '--host', 'pg2'], { env });
    assert.equal(check.code, 0, check.stderr);
    const vars = JSON.parse(check.stdout) as Record<string, unknown>;
    // The benchmark's group_vars/all.yml is read as it is, Jinja included; the inventory's host vars still win.
    assert.equal(vars.ansible_ssh_common_args, '-o UserKnownHostsFile={{ ssh_known_hosts_file }} -o StrictHostKeyChecking=yes');
    assert.equal(vars.pg_client_address, '{{ pg_address }}');
    assert.equal(vars.pg_address, lab.hosts[1].address);
    const validate = await runCli(['validate', site, '-i', inventory], { env });
    assert.equal(validate.code, 0, validate.stdout + validate.stderr);
    await convergeTwice(lab, inventory);
  });

  it('the same lab inventory in the INI layout converges the same way', async () => {
    const lab = await netnsLabUp(3, { id: LAB_ID, root: LAB_ROOT, layout: 'rhel' });
    const inventory = ansibleDirectory('ini', { file: 'hosts', text: netnsInventoryIni(lab.hosts, ssh(lab), { lockFiles: false }) });
    await convergeTwice(lab, inventory);
  });
});
