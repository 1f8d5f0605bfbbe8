// playbooks/site.yml on fresh hosts of the network-namespace lab, each with its own address:
//   1. a Debian primary (pg_createcluster, running) with a Debian and a RHEL-like replica (initialised, stopped);
//   2. a RHEL-like primary left stopped, as a RHEL package install leaves it.
// Slow (about 60 s): two labs of three hosts, a dozen pgplay runs; Debian starts wait on pg_ctlcluster's 2 s probe.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync, readdirSync, unlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fixture, ROOT, runCli } from '../helpers/cli';
import { acceptedConnections, netnsLabDown, netnsLabUp, psql, type NetnsLab, type NetnsLabHost } from '../lab/netns-lab';

const LAB_ROOT = '/tmp/pgplay-netns-test';
const PASSWORD = 'Rx8-netns-secret-12';
const PG = '/usr/lib/postgresql/15/bin';
const site = join(ROOT, 'playbooks', 'site.yml');
const env = { PGPLAY_REPLICATION_PASSWORD: PASSWORD };
const run = (args: string[], extraEnv: Record<string, string> = {}) => runCli(args, { env: { ...env, ...extraEnv }, timeoutMs: 180_000 });
const re = (text: string) => text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

function recapLine(stdout: string, name: string): string {
  return new RegExp(`^${name}\\s+ok=.*$`, 'm').exec(stdout.slice(stdout.lastIndexOf('PLAY RECAP')))?.[0] ?? '';
}

function controlSystemId(h: NetnsLabHost): string {
  const out = execFileSync('runuser', ['-u', 'postgres', '--', `${PG}/pg_controldata`, '-D', h.dataDir], { encoding: 'utf8' });
  return /^Database system identifier:\s+(\d+)/m.exec(out)?.[1] ?? '';
}

function running(h: NetnsLabHost): boolean {
  return existsSync(`${h.dataDir}/postmaster.pid`);
}

function replicationRows(primary: NetnsLabHost): string[] {
  return psql(primary, "SELECT application_name || ' ' || host(client_addr) || ' ' || state FROM pg_stat_replication ORDER BY application_name").split('\n');
}

async function until(what: string, test: () => boolean, withinMs = 20_000): Promise<void> {
  const deadline = Date.now() + withinMs;
  while (!test()) {
    if (Date.now() > deadline) assert.fail(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

function readOrEmpty(path: string): string {
  return existsSync(path) ? readFileSync(path, 'utf8') : '';
}

describe('site.yml on a Debian primary with a Debian and a RHEL-like replica, each in its own network namespace', () => {
  let lab: NetnsLab;
  const host = (name: string) => lab.hosts.find((h) => h.name === name) as NetnsLabHost;
  const inv = () => ['-i', lab.inventory];
  const logs = () => lab.hosts.map((h) => readOrEmpty(h.logFile) + readOrEmpty(h.sshdLog)).join('\n');

  before(async () => {
    lab = await netnsLabUp(3, { id: 'site', root: LAB_ROOT, layout: 'mixed' });
  });
  after(async () => {
    if (!process.env.PGPLAY_KEEP_LAB) await netnsLabDown(LAB_ROOT, 'site');
  });

  it('--check on fresh hosts says what would change and changes nothing', async () => {
    const [pg1, pg2, pg3] = ['pg1', 'pg2', 'pg3'].map(host);
    const hba = readFileSync(`${pg1.configDir}/pg_hba.conf`, 'utf8');
    const ids = [pg2, pg3].map(controlSystemId);
    const r = await run(['run', site, ...inv(), '--check', '--diff']);
    assert.equal(r.code, 0, r.stdout + r.stderr);
    assert.match(r.stdout, /^ok\s+pg1 \| Start the primary .* PostgreSQL is running/m);
    assert.match(r.stdout, /^changed pg1 \| Replication role .* create role replicator/m);
    for (const h of [pg2, pg3]) assert.match(r.stdout, new RegExp(`^\\+host\\s+replication\\s+replicator\\s+${re(h.address)}/32\\s+scram-sha-256$`, 'm'));
    assert.match(r.stdout, /^changed pg2 \| Base backup from the primary .* clone pg1 into \/var\/lib\/postgresql\/15\/pgplay_site_pg2/m);
    assert.match(r.stdout, /^changed pg3 \| Start the replica .* PostgreSQL started/m);
    assert.equal(readFileSync(`${pg1.configDir}/pg_hba.conf`, 'utf8'), hba);
    assert.equal(psql(pg1, "SELECT count(*) FROM pg_roles WHERE rolname = 'replicator'"), '0');
    assert.deepEqual([pg2, pg3].map(controlSystemId), ids);
    assert.equal(running(pg3), false, 'the RHEL-like replica is still stopped');
    // Only this lab's clusters: other labs on the machine share /var/lib/postgresql/15.
    assert.deepEqual(readdirSync('/var/lib/postgresql/15').filter((e) => e.startsWith('pgplay_site_') && e.includes('pgplay-old')), []);
  });

  it('the first run converges; the RHEL-like replica keeps its own configuration files', async (t) => {
    const started = Date.now();
    const r = await run(['run', site, ...inv()]);
    t.diagnostic(`first converge on 1+2 netns hosts (Debian, Debian, RHEL): ${Date.now() - started} ms`);
    assert.equal(r.code, 0, r.stdout + r.stderr);
    for (const name of ['pg1', 'pg2', 'pg3']) assert.match(recapLine(r.stdout, name), /unreachable=0 failed=0/);
    const pg3 = host('pg3');
    assert.match(readFileSync(`${pg3.dataDir}/postgresql.conf`, 'utf8'), new RegExp(`unix_socket_directories = '${re(pg3.socketDir)}'`));
    for (const [what, text] of [['stdout', r.stdout], ['stderr', r.stderr], ['logs', logs()]]) assert.equal(text.includes(PASSWORD), false, `the password is in ${what}`);
  });

  it('a re-run changes nothing, over one ssh connection per host', async (t) => {
    const before = lab.hosts.map(acceptedConnections);
    const started = Date.now();
    const r = await run(['run', site, ...inv()]);
    t.diagnostic(`no-op run on 1+2 netns hosts: ${Date.now() - started} ms`);
    assert.equal(r.code, 0, r.stdout + r.stderr);
    for (const name of ['pg1', 'pg2', 'pg3']) assert.match(recapLine(r.stdout, name), /changed=0 unreachable=0 failed=0/);
    assert.deepEqual(lab.hosts.map((h, i) => acceptedConnections(h) - before[i]), [1, 1, 1]);
  });

  it("pg_stat_replication.client_addr is each replica's own address", () => {
    assert.deepEqual(replicationRows(host('pg1')), [`pg2 ${host('pg2').address} streaming`, `pg3 ${host('pg3').address} streaming`]);
  });

  it('a row written on the primary is read on both replicas, and a replica refuses an INSERT', async () => {
    psql(host('pg1'), "CREATE TABLE netns_probe (v text); INSERT INTO netns_probe VALUES ('written on pg1')");
    for (const name of ['pg2', 'pg3']) {
      await until(`the row on ${name}`, () => {
        try {
          return psql(host(name), 'SELECT v FROM netns_probe') === 'written on pg1';
        } catch {
          return false;
        }
      });
      assert.throws(() => psql(host(name), "INSERT INTO netns_probe VALUES ('on a replica')"), /read-only transaction/);
    }
  });

  it("the primary admits replication by one /32 rule per replica's own address; the Debian hosts run under pg_ctlcluster", () => {
    const pg1 = host('pg1');
    const rules = readFileSync(`${pg1.configDir}/pg_hba.conf`, 'utf8').split('\n').filter((l) => /^host\s+replication\s+replicator/.test(l));
    assert.deepEqual(rules.map((l) => l.split(/\s+/).join(' ')), ['pg2', 'pg3'].map((n) => `host replication replicator ${host(n).address}/32 scram-sha-256`));
    assert.equal(psql(pg1, 'SHOW listen_addresses'), '*');
    const clusters = execFileSync('pg_lsclusters', ['-h'], { encoding: 'utf8' });
    assert.match(clusters, /^15\s+pgplay_site_pg1\s+5432\s+online\s/m);
    assert.match(clusters, /^15\s+pgplay_site_pg2\s+5432\s+online,recovery\s/m);
    // pgplay stopped pg2 for the copy and started it again: with pg_ctlcluster, which names the config file in /etc.
    const pid = readFileSync(`${host('pg2').dataDir}/postmaster.pid`, 'utf8').split('\n')[0];
    assert.match(readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').join(' '), /-c config_file=\/etc\/postgresql\/15\/pgplay_site_pg2\/postgresql\.conf/);
  });

  it("a replica whose rule is gone from the primary's pg_hba.conf is refused, and pgplay quotes the primary's log line", async () => {
    const [pg1, pg3] = [host('pg1'), host('pg3')];
    const hbaFile = `${pg1.configDir}/pg_hba.conf`;
    const rule = new RegExp(`^host\\s+replication\\s+replicator\\s+${re(pg3.address)}/32.*\\n`, 'm');
    writeFileSync(hbaFile, readFileSync(hbaFile, 'utf8').replace(rule, ''));
    psql(pg1, 'SELECT pg_reload_conf()');
    // The DBA rebuilds pg3: stopped, and no longer marked a standby, so the rebuild clones it again.
    execFileSync('runuser', ['-u', 'postgres', '--', `${PG}/pg_ctl`, '-D', pg3.dataDir, '-m', 'fast', '-w', 'stop']);
    unlinkSync(`${pg3.dataDir}/standby.signal`);
    const id = controlSystemId(pg3);
    const r = await run(['run', fixture('lab', 'rebuild-replica.yml'), ...inv()], { REBUILD_PASSWORD: PASSWORD });
    assert.equal(r.code, 2, r.stdout);
    const refusal = `no pg_hba.conf entry for replication connection from host "${pg3.address}", user "replicator"`;
    const logLine = readFileSync(pg1.logFile, 'utf8').split('\n').find((l) => l.includes(refusal));
    assert.ok(logLine, `the primary's log has: ${refusal}`);
    const quoted = /FATAL:\s+(.*)$/.exec(logLine)?.[1] ?? '';
    assert.match(r.stdout, new RegExp(`^failed\\s+pg3 \\| Base backup from the primary .*${re(quoted)}.*is back as it was`, 'm'));
    assert.equal(controlSystemId(pg3), id, 'the replica is as it was');
    // The rule back by site.yml, the standby marked again: the replica is started and streams from its own address.
    execFileSync('runuser', ['-u', 'postgres', '--', 'touch', `${pg3.dataDir}/standby.signal`]);
    const again = await run(['run', site, ...inv()]);
    assert.equal(again.code, 0, again.stdout);
    assert.match(again.stdout, new RegExp(`^changed pg1 \\| Let each replica stream from the primary \\(item=pg3\\) .* add rule host replication replicator ${re(pg3.address)}/32`, 'm'));
    assert.deepEqual(replicationRows(pg1), [`pg2 ${host('pg2').address} streaming`, `pg3 ${pg3.address} streaming`]);
  });
});

describe('site.yml from a RHEL-like primary left stopped, with a RHEL-like and a Debian replica', () => {
  let lab: NetnsLab;
  const host = (name: string) => lab.hosts.find((h) => h.name === name) as NetnsLabHost;
  const inv = () => ['-i', lab.inventory];

  before(async () => {
    lab = await netnsLabUp(3, { id: 'stop', root: LAB_ROOT, layout: ['rhel', 'rhel', 'debian'] });
  });
  after(async () => {
    if (!process.env.PGPLAY_KEEP_LAB) await netnsLabDown(LAB_ROOT, 'stop');
  });

  it('--check says the primary would start and what would follow, and changes nothing', async () => {
    const pg1 = host('pg1');
    const files = ['pg_hba.conf', 'postgresql.auto.conf', 'postgresql.conf'].map((f) => readFileSync(`${pg1.dataDir}/${f}`, 'utf8'));
    const ids = lab.hosts.map(controlSystemId);
    const r = await run(['run', site, ...inv(), '--check']);
    assert.equal(r.code, 0, r.stdout + r.stderr);
    assert.match(r.stdout, /^changed pg1 \| Start the primary .* PostgreSQL started/m);
    assert.match(r.stdout, /^changed pg1 \| Replication role .* create or alter role replicator once the server runs \(PostgreSQL is stopped, so its roles cannot be read\)/m);
    assert.match(r.stdout, new RegExp(`^changed pg1 \\| Let each replica stream from the primary \\(item=pg2\\) .* add rule host replication replicator ${re(host('pg2').address)}/32`, 'm'));
    assert.match(r.stdout, /^changed pg2 \| Base backup from the primary .* clone pg1 into /m);
    assert.match(r.stdout, /^\[WARNING\] pg3: PostgreSQL on the primary pg1 is stopped: the copy needs it running$/m);
    assert.equal(running(pg1), false, 'the primary is still stopped');
    assert.deepEqual(['pg_hba.conf', 'postgresql.auto.conf', 'postgresql.conf'].map((f) => readFileSync(`${pg1.dataDir}/${f}`, 'utf8')), files);
    assert.deepEqual(lab.hosts.map(controlSystemId), ids);
  });

  it('without a task that starts it, a run on the stopped primary fails clearly and changes nothing', async () => {
    const r = await run(['run', fixture('lab', 'role.yml'), ...inv()]);
    assert.equal(r.code, 2, r.stdout);
    assert.match(r.stdout, /^failed\s+pg1 \| Replication role .* PostgreSQL on pg1 is stopped: roles are read and changed over SQL, so start it first \(service: state: started\)$/m);
    assert.equal(running(host('pg1')), false);
  });

  it('the first run starts the primary, then converges; a re-run changes nothing', async (t) => {
    let started = Date.now();
    const r = await run(['run', site, ...inv()]);
    t.diagnostic(`first converge from a stopped RHEL-like primary (RHEL, RHEL, Debian): ${Date.now() - started} ms`);
    assert.equal(r.code, 0, r.stdout + r.stderr);
    assert.match(r.stdout, /^changed pg1 \| Start the primary .* PostgreSQL started/m);
    assert.deepEqual(replicationRows(host('pg1')), ['pg2', 'pg3'].map((n) => `${n} ${host(n).address} streaming`));
    // The RHEL-like replica took the primary's postgresql.conf with the copy; its own socket directory comes from the playbook.
    assert.equal(psql(host('pg2'), 'SHOW unix_socket_directories'), host('pg2').socketDir);
    started = Date.now();
    const again = await run(['run', site, ...inv()]);
    t.diagnostic(`no-op run (RHEL, RHEL, Debian): ${Date.now() - started} ms`);
    assert.equal(again.code, 0, again.stdout);
    for (const name of ['pg1', 'pg2', 'pg3']) assert.match(recapLine(again.stdout, name), /changed=0 unreachable=0 failed=0/);
  });
});
