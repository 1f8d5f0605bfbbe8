// The network-namespace lab itself: real addresses, two Debian clusters on port 5432 at once, a RHEL host left
// stopped, links that can be cut, and `lab down` that leaves nothing behind. Slow (about 20 s): it builds two labs.
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, readFileSync, readdirSync, readlinkSync, statSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import { labPrefix } from '../lab/netns';
import { cutLink, netnsLabDown, netnsLabUp, onHost, psql, restoreLink, tcpProbe, type NetnsLab, type NetnsLabHost } from '../lab/netns-lab';
import { isAlive } from '../lab/processes';

const ROOT = '/tmp/pgplay-netns-lab-test';
const ID = 'labt';
const PG = '/usr/lib/postgresql/15/bin';

const sh = (argv: string[]) => execFileSync(argv[0], argv.slice(1), { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
const list = (dir: string) => (existsSync(dir) ? readdirSync(dir).sort() : []);

interface Snapshot {
  namespaces: string[];
  links: string[];
  pids: Set<number>;
  clusters: string;
  files: Record<string, string[]>;
}

/** What `lab down` must give back: namespaces, root links, clusters, and Debian's shared directories. */
function snapshot(): Snapshot {
  const dirs = ['/etc/postgresql/15', '/var/lib/postgresql/15', '/var/run/postgresql', '/var/log/postgresql'];
  return {
    namespaces: sh(['ip', 'netns', 'list']).split('\n').map((l) => l.split(' ')[0]).filter(Boolean).sort(),
    links: sh(['ip', '-o', 'link', 'show']).split('\n').map((l) => l.split(': ')[1]?.split('@')[0]).filter(Boolean).sort(),
    pids: livePids(),
    clusters: sh(['pg_lsclusters', '-h']),
    files: Object.fromEntries(dirs.map((d) => [d, list(d)])),
  };
}

function livePids(): Set<number> {
  return new Set(readdirSync('/proc').filter((e) => /^\d+$/.test(e)).map(Number).filter(isAlive));
}

/** The inode of each of the lab's network namespaces: a process inside one points /proc/PID/ns/net at it. */
function namespaceInodes(prefix: string): string[] {
  return list('/run/netns')
    .filter((n) => n.startsWith(`${prefix}-`))
    .map((n) => `net:[${statSync(`/run/netns/${n}`).ino}]`);
}

/** Processes started since `before` that belong to the lab: inside its namespaces, or naming its files. */
function leftoverProcesses(before: Set<number>, inodes: string[], marks: string[]): string[] {
  const out: string[] = [];
  for (const pid of livePids()) {
    if (before.has(pid)) continue;
    let ns = '';
    let cmd = '';
    try {
      ns = readlinkSync(`/proc/${pid}/ns/net`);
      cmd = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').join(' ');
    } catch {
      continue; // gone meanwhile
    }
    if (inodes.includes(ns) || marks.some((m) => cmd.includes(m))) out.push(`${pid} ${cmd}`);
  }
  return out;
}

function assertNothingLeft(before: Snapshot, inodes: string[]): void {
  const now = snapshot();
  assert.deepEqual(now.namespaces, before.namespaces, 'namespaces');
  assert.deepEqual(now.links, before.links, 'links of the root namespace');
  assert.equal(now.clusters, before.clusters, 'pg_lsclusters');
  assert.deepEqual(now.files, before.files, "Debian's shared directories");
  assert.deepEqual(leftoverProcesses(before.pids, inodes, [ROOT, `pgplay_${ID}_`, labPrefix(ID)]), [], 'processes');
  assert.equal(existsSync(ROOT), false, 'the lab root');
}

describe('the network-namespace lab', () => {
  let lab: NetnsLab;
  let start: Snapshot;
  let inodes: string[];
  const host = (name: string) => lab.hosts.find((h) => h.name === name) as NetnsLabHost;

  before(async () => {
    start = snapshot();
    lab = await netnsLabUp(3, { id: ID, root: ROOT, layout: 'mixed' });
    inodes = namespaceInodes(labPrefix(ID));
  });
  after(async () => {
    await netnsLabDown(ROOT, ID);
  });

  it('gives each host its own namespace, address and sshd on port 22, and the control machine one veth on the bridge', async () => {
    assert.deepEqual(lab.hosts.map((h) => [h.name, h.layout, h.netns]), [
      ['pg1', 'debian', 'pgplay-labt-pg1'],
      ['pg2', 'debian', 'pgplay-labt-pg2'],
      ['pg3', 'rhel', 'pgplay-labt-pg3'],
    ]);
    assert.equal(inodes.length, 4, 'three hosts and the bridge');
    const addresses = lab.hosts.map((h) => h.address);
    assert.equal(new Set(addresses).size, 3);
    for (const h of lab.hosts) {
      const own = sh(onHost(h, ['ip', '-4', '-o', 'addr', 'show', 'dev', 'eth0']));
      assert.match(own, new RegExp(`inet ${h.address.replace(/\./g, '\\.')}/`), h.name);
      const ssh = await tcpProbe(null, h.address, 22);
      assert.ok(ssh.ok && ssh.detail.startsWith('SSH-2.0-OpenSSH'), `${h.name}: ${ssh.detail}`);
    }
    assert.match(sh(['ip', '-4', '-o', 'addr', 'show', 'dev', labPrefix(ID)]), new RegExp(`inet ${lab.network.control.address.replace(/\./g, '\\.')}/`));
    // Nothing leaves the machine: a host has no route beyond its own subnet.
    assert.equal(sh(onHost(host('pg1'), ['ip', '-4', 'route', 'show', 'default'])).trim(), '');
  });

  it('runs two Debian clusters on port 5432 at once, each in its namespace with its own socket directory', () => {
    const rows = sh(['pg_lsclusters', '-h']).split('\n').filter((l) => l.includes(`pgplay_${ID}_`)).map((l) => l.split(/\s+/).slice(0, 4).join(' '));
    assert.deepEqual(rows, [`15 pgplay_${ID}_pg1 5432 online`, `15 pgplay_${ID}_pg2 5432 online`]);
    for (const name of ['pg1', 'pg2']) {
      const h = host(name);
      assert.equal(h.configDir, `/etc/postgresql/15/pgplay_${ID}_${name}`);
      assert.ok(existsSync(`${h.socketDir}/.s.PGSQL.5432`), `${name} listens on its own socket`);
      assert.equal(psql(h, "SELECT current_setting('listen_addresses') || ' ' || current_setting('config_file')"), `* ${h.configDir}/postgresql.conf`);
      // The server's own view of the address it was reached on: its namespace's, not another host's.
      assert.equal(sh(onHost(h, ['ss', '-Htln', 'sport = :5432'])).includes('0.0.0.0:5432'), true);
    }
  });

  it('leaves the RHEL host initialised and stopped, its configuration inside the data directory', () => {
    const h = host('pg3');
    assert.equal(h.configDir, h.dataDir);
    assert.ok(existsSync(`${h.dataDir}/PG_VERSION`) && existsSync(`${h.dataDir}/postgresql.conf`) && existsSync(`${h.dataDir}/pg_hba.conf`));
    assert.equal(existsSync(`${h.dataDir}/postmaster.pid`), false);
    assert.match(sh(['runuser', '-u', 'postgres', '--', `${PG}/pg_controldata`, '-D', h.dataDir]), /Database cluster state:\s+shut down/);
  });

  it("hosts reach each other and see each other's real addresses", () => {
    const [pg1, pg2] = [host('pg1'), host('pg2')];
    let message = '';
    try {
      sh(onHost(pg2, ['runuser', '-u', 'postgres', '--', `${PG}/psql`, '-X', '-w', '-h', pg1.address, '-U', 'nobody', '-d', 'postgres', '-c', 'SELECT 1']));
    } catch (err) {
      message = String((err as { stderr?: string }).stderr);
    }
    assert.match(message, new RegExp(`no pg_hba.conf entry for host "${pg2.address.replace(/\./g, '\\.')}", user "nobody"`));
  });

  it('cutLink cuts a host off from the others and the control machine; restoreLink brings it back', async () => {
    const [pg1, pg2] = [host('pg1'), host('pg2')];
    await cutLink(lab, 'pg2');
    try {
      const fromControl = await tcpProbe(null, pg2.address, 22, 2000);
      const fromPeer = await tcpProbe(pg1, pg2.address, 22, 2000);
      assert.equal(fromControl.ok, false, fromControl.detail);
      assert.equal(fromPeer.ok, false, fromPeer.detail);
      assert.equal((await tcpProbe(null, pg1.address, 22)).ok, true, 'the other hosts stay reachable');
    } finally {
      await restoreLink(lab, 'pg2');
    }
    const back = await tcpProbe(pg1, pg2.address, 22);
    assert.ok(back.ok, back.detail);
  });

  it('lab down leaves no namespace, link, process, cluster or file behind', async () => {
    const running = leftoverProcesses(start.pids, inodes, [ROOT, `pgplay_${ID}_`, labPrefix(ID)]);
    assert.ok(running.filter((p) => p.includes('sshd')).length >= 3 && running.filter((p) => p.includes('postgres')).length >= 2, running.join('\n'));
    await netnsLabDown(ROOT, ID);
    assertNothingLeft(start, inodes);
  });

  it('lab down by id also removes what a lab up that failed half-way left', async () => {
    const prefix = labPrefix(ID);
    sh(['ip', 'netns', 'add', `${prefix}-sw`]);
    sh(['ip', 'netns', 'add', `${prefix}-pg1`]);
    sh(['ip', 'link', 'add', prefix, 'type', 'veth', 'peer', 'name', 'control', 'netns', `${prefix}-sw`]);
    sh(['pg_createcluster', '15', `pgplay_${ID}_pg1`, '--port', '5432', '-s', `/var/run/postgresql/pgplay_${ID}_pg1`, '--', '--no-sync']);
    const sleeper = spawn('ip', ['netns', 'exec', `${prefix}-pg1`, 'sleep', '300'], { stdio: 'ignore', detached: true });
    sleeper.unref();
    const half = namespaceInodes(prefix);
    await new Promise((r) => setTimeout(r, 200));
    assert.ok(isAlive(sleeper.pid as number));
    assert.ok(leftoverProcesses(start.pids, half, []).some((p) => p.includes('sleep 300')), 'the check sees a process in a namespace');
    await netnsLabDown(`${ROOT}-never-made`, ID);
    assert.equal(isAlive(sleeper.pid as number), false, 'the process left in a namespace is stopped');
    assertNothingLeft(start, half);
  });
});
