// What basebackup may replace, and how it puts things back, against real PostgreSQL 15 servers (issue 10): stopped
// clusters judged from their files, slots, facts read again under the lock, moves that never nest, undo that is
// checked, a parent directory only root may write; and the right cluster when a host has two.
// Slow (about 20 s): a primary on 127.0.0.57 and a replica on 127.0.0.58, stopped and started a dozen times.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import { applySteps } from '../../src/executor/steps';
import { basebackupModule } from '../../src/modules/basebackup';
import { ensureConfModule } from '../../src/modules/ensure-conf';
import { ensureHbaLineModule } from '../../src/modules/ensure-hba-line';
import { createCluster, destroyCluster, isRunning, psql, startCluster, stopCluster, type TestCluster } from '../helpers/pg-server';
import { runModule, testHosts, type TestHosts } from '../helpers/pg-context';

const PASSWORD = 'Bb7-safety-pw-57';
const REPLICA_PORT = 5443;

function systemId(cluster: TestCluster): string {
  const out = execFileSync('runuser', ['-u', 'postgres', '--', `${cluster.pg.binDir}/pg_controldata`, '-D', cluster.pg.dataDir], { encoding: 'utf8' });
  return /^Database system identifier:\s+(\d+)/m.exec(out)?.[1] ?? '';
}

const failure = (plan: { kind: string; message?: string }) => (plan.kind === 'fail' ? (plan.message ?? '') : `not refused: ${plan.kind}`);

describe('basebackup refuses what it cannot prove fresh, and puts back what it moved', () => {
  let primary: TestCluster;
  let replica: TestCluster;
  let hosts: TestHosts;
  const args = (over: Record<string, unknown> = {}) => ({ primary: 'pg1', user: 'replicator', password: PASSWORD, ...over });
  const oldDirs = () => readdirSync(replica.root).filter((d) => d.startsWith('data.pgplay-old-'));

  before(() => {
    primary = createCluster('bbp', '127.0.0.57');
    psql(primary, `CREATE ROLE replicator REPLICATION LOGIN PASSWORD '${PASSWORD}'`);
    // Two clusters on one host: the replica's socket sits beside the primary's, on another port.
    const made = createCluster('bbr', '127.0.0.58', { extraConf: `port = ${REPLICA_PORT}\nunix_socket_directories = '${primary.pg.socketDir}'` });
    replica = { ...made, pg: { ...made.pg, port: REPLICA_PORT, socketDir: primary.pg.socketDir } };
    hosts = testHosts({ pg1: primary.pg, pg2: replica.pg, wrongport: { ...replica.pg, port: primary.pg.port } });
  });
  after(async () => {
    await hosts.closeAll();
    if (!process.env.PGPLAY_KEEP_TEST_CLUSTERS) {
      destroyCluster(replica);
      destroyCluster(primary);
    }
  });

  it('a wrong pg_port on a host with two clusters reaches the other one: every task refuses, naming both directories, and edits nothing', async () => {
    const auto = readFileSync(`${primary.pg.dataDir}/postgresql.auto.conf`);
    const hba = readFileSync(`${primary.pg.configDir}/pg_hba.conf`);
    const said = new RegExp(
      `the PostgreSQL server on wrongport's socket ${primary.pg.socketDir}/\\.s\\.PGSQL\\.${primary.pg.port} serves the data directory ${primary.pg.dataDir}, not ${replica.pg.dataDir} \\(pg_data_dir\\): check pg_port and pg_socket_dir; nothing was done on it`,
    );
    await assert.rejects(runModule(ensureConfModule, hosts.context('wrongport'), { settings: { work_mem: '7MB' } }), said);
    await assert.rejects(runModule(ensureHbaLineModule, hosts.context('wrongport'), { type: 'host', database: 'all', user: 'intruder', address: '10.66.0.0/16' }), said);
    await assert.rejects(runModule(basebackupModule, hosts.context('wrongport'), args()), said);
    assert.deepEqual(readFileSync(`${primary.pg.dataDir}/postgresql.auto.conf`), auto);
    assert.deepEqual(readFileSync(`${primary.pg.configDir}/pg_hba.conf`), hba);
    assert.equal(psql(primary, "SELECT current_setting('work_mem')"), '4MB');
  });

  it('any replication slot, inactive too, refuses: on a running server and, from pg_replslot, on a stopped one', async () => {
    psql(replica, "SELECT pg_create_physical_replication_slot('forgotten')");
    const running = await runModule(basebackupModule, hosts.context('pg2', { checkMode: true }), args());
    assert.match(failure(running.plan), /holds a primary with replication slot\(s\) forgotten: replicas depend on it, active or not/);
    await hosts.handle('pg2').dropSql();
    stopCluster(replica);
    const stopped = await runModule(basebackupModule, hosts.context('pg2', { checkMode: true }), args());
    assert.match(failure(stopped.plan), /holds a primary with replication slot\(s\) forgotten/);
    startCluster(replica);
    psql(replica, "SELECT pg_drop_replication_slot('forgotten')");
  });

  it('a running cluster with a table in template1 (not the database pgplay connects to) is refused: every database counts', async () => {
    psql(replica, 'CREATE TABLE kept_in_template1 (i int)', 'template1');
    try {
      const plan = await runModule(basebackupModule, hosts.context('pg2', { checkMode: true }), args());
      assert.match(failure(plan.plan), /holds a cluster with user tables \([1-9]\d* relation file\(s\) made by users\): refusing to replace it unless replace: any/);
    } finally {
      psql(replica, 'DROP TABLE kept_in_template1', 'template1');
      psql(replica, 'CHECKPOINT'); // a dropped table's first file stays, empty, until the next checkpoint
    }
    // Without it the same cluster is fresh: the refusal above came from the table in template1.
    const fresh = await runModule(basebackupModule, hosts.context('pg2', { checkMode: true }), args());
    assert.equal(fresh.plan.kind, 'change', failure(fresh.plan));
  });

  it('a stopped cluster whose postgres database holds a table is refused under replace: fresh, and with discard_old nothing is deleted', async () => {
    psql(replica, 'CREATE TABLE keep_me (i int); INSERT INTO keep_me VALUES (1)');
    const id = systemId(replica);
    await hosts.handle('pg2').dropSql();
    stopCluster(replica);
    const checked = await runModule(basebackupModule, hosts.context('pg2', { checkMode: true }), args({ discard_old: true, start: true, wait: true }));
    assert.match(failure(checked.plan), /holds a cluster with user tables \(\d+ relation file\(s\) made by users\): refusing to replace it unless replace: any/);
    const run = await runModule(basebackupModule, hosts.context('pg2'), args({ discard_old: true, start: true, wait: true }));
    assert.equal(run.plan.kind, 'fail');
    assert.deepEqual(oldDirs(), []);
    assert.equal(systemId(replica), id);
    startCluster(replica);
    assert.equal(psql(replica, 'SELECT count(*) FROM keep_me'), '1');
    psql(replica, 'DROP TABLE keep_me');
  });

  it('a stopped cluster with a database in a tablespace of its own (nothing of it under base/) is refused', async () => {
    const location = `${replica.root}/tablespace`;
    mkdirSync(location);
    execFileSync('chown', ['postgres:postgres', location]);
    psql(replica, `CREATE TABLESPACE elsewhere LOCATION '${location}'`);
    psql(replica, 'CREATE DATABASE kept_elsewhere TABLESPACE elsewhere');
    await hosts.handle('pg2').dropSql();
    stopCluster(replica);
    const plan = await runModule(basebackupModule, hosts.context('pg2', { checkMode: true }), args());
    assert.match(failure(plan.plan), /holds a cluster with tablespaces \(\d+\): refusing to replace it unless replace: any/);
    startCluster(replica);
    psql(replica, 'DROP DATABASE kept_elsewhere');
    psql(replica, 'DROP TABLESPACE elsewhere');
  });

  it('facts are read again under the lock: a server started (and given a slot) between check and apply is refused, and nothing is changed', async () => {
    await hosts.handle('pg2').dropSql();
    stopCluster(replica);
    const id = systemId(replica);
    const ctx = hosts.context('pg2');
    const facts = await basebackupModule.check(ctx, args());
    const plan = basebackupModule.plan(args(), facts);
    assert.equal(plan.kind, 'change', JSON.stringify(plan));
    if (plan.kind !== 'change') return;
    // Meanwhile something starts the server and a replica makes its slot.
    startCluster(replica);
    psql(replica, "SELECT pg_create_physical_replication_slot('arrived_late')");
    await assert.rejects(applySteps(plan.steps, ctx), /holds a primary with replication slot\(s\) arrived_late: .*\(read again before anything was stopped: nothing was changed\); undone: released the lock on \/tmp\/pgplay-pgtest-bbr\/data$/);
    assert.equal(isRunning(replica), true);
    assert.equal(systemId(replica), id);
    assert.deepEqual(oldDirs(), []);
    psql(replica, "SELECT pg_drop_replication_slot('arrived_late')");
  });

  it('the move never nests: an existing DATA.pgplay-old-... is refused, and the server is started again', async () => {
    const id = systemId(replica);
    // Every name the move could pick in the next 30 s.
    const taken: string[] = [];
    for (let s = 0; s < 30; s++) {
      const stamp = new Date(Date.now() + s * 1000).toISOString().replace(/[-:]/g, '').replace(/\.\d+Z$/, 'Z');
      const dir = `${replica.pg.dataDir}.pgplay-old-${stamp}`;
      mkdirSync(dir);
      taken.push(dir);
    }
    await assert.rejects(
      runModule(basebackupModule, hosts.context('pg2'), args()),
      /cannot move \/tmp\/pgplay-pgtest-bbr\/data to \/tmp\/pgplay-pgtest-bbr\/data\.pgplay-old-\d{8}T\d{6}Z: .* exists \(refusing to move into or over it\); undone: \/tmp\/pgplay-pgtest-bbr\/data is still as it was \(system identifier \d+, \d+ entries\); PostgreSQL started again; released the lock/,
    );
    for (const dir of taken) assert.deepEqual(readdirSync(dir), [], `${dir} is still empty`);
    assert.equal(isRunning(replica), true);
    assert.equal(systemId(replica), id);
    for (const dir of taken) rmdirSync(dir);
  });

  it('the passfile cannot be written (a directory in its place): the old directory is back, checked, and what stood there is left alone', async () => {
    const id = systemId(replica);
    const inTheWay = `${replica.root}/.pgpass-pgplay-data`;
    mkdirSync(`${inTheWay}/kept`, { recursive: true });
    try {
      await assert.rejects(
        runModule(basebackupModule, hosts.context('pg2'), args()),
        new RegExp(`cannot read ${inTheWay.replace(/\./g, '\\.')}: it is a directory; undone: no passfile written; /tmp/pgplay-pgtest-bbr/data is back as it was \\(system identifier ${id}, \\d+ entries\\); PostgreSQL started again; released the lock`),
      );
      assert.deepEqual(readdirSync(inTheWay), ['kept']);
      assert.equal(isRunning(replica), true);
      assert.equal(systemId(replica), id);
      assert.deepEqual(oldDirs(), []);
    } finally {
      rmSync(inTheWay, { recursive: true, force: true });
    }
  });

  it('a wrong password: the old directory is back, checked (same system identifier and entries), the passfile gone, the server running', async () => {
    const id = systemId(replica);
    await assert.rejects(
      runModule(basebackupModule, hosts.context('pg2'), args({ password: 'not-the-password' })),
      (err: Error) => {
        // The cause and its fix, then the checked undo, on the first line; the server's own words below.
        assert.match(
          err.message,
          new RegExp(`^pg_basebackup from pg1 failed: the password for replicator is not the one pg1 has\\. Fix: .*; undone: /tmp/pgplay-pgtest-bbr/\\.pgpass-pgplay-data removed; /tmp/pgplay-pgtest-bbr/data is back as it was \\(system identifier ${id}, \\d+ entries\\); PostgreSQL started again; released the lock`),
        );
        assert.match(err.message, /^seen in .*password authentication failed for user "replicator"/m);
        return true;
      },
    );
    assert.equal(existsSync(`${replica.root}/.pgpass-pgplay-data`), false);
    assert.equal(isRunning(replica), true);
    assert.equal(systemId(replica), id);
    assert.deepEqual(oldDirs(), []);
  });

  it('a data directory in a parent only root may write (a mounted /data): the clone works end to end', async () => {
    execFileSync('chown', ['root:root', replica.root]);
    execFileSync('chmod', ['0755', replica.root]);
    const before = systemId(replica);
    const r = await runModule(basebackupModule, hosts.context('pg2'), args({ slot: 'pg2', start: true, wait: true }));
    assert.equal(r.plan.kind, 'change', JSON.stringify(r.plan));
    assert.equal(systemId(replica), systemId(primary));
    assert.equal(psql(primary, "SELECT state FROM pg_stat_replication WHERE application_name = 'pg2'"), 'streaming');
    const [old] = oldDirs();
    assert.equal(systemId({ ...replica, pg: { ...replica.pg, dataDir: `${replica.root}/${old}` } }), before);
    const passfile = statSync(`${replica.root}/.pgpass-pgplay-data`);
    assert.deepEqual([passfile.mode & 0o777, passfile.uid], [0o600, Number(execFileSync('id', ['-u', 'postgres'], { encoding: 'utf8' }))]);
    assert.equal(statSync(replica.root).uid, 0, 'the parent is still root');
  });

  it('discard_old deletes the directory this run moved aside, only once the new standby streams, and no other', async () => {
    // A fresh cluster again where the standby of the last test was.
    await hosts.handle('pg2').dropSql();
    const made = createCluster('bbr', '127.0.0.58', { extraConf: `port = ${REPLICA_PORT}\nunix_socket_directories = '${primary.pg.socketDir}'` });
    replica = { ...made, pg: { ...made.pg, port: REPLICA_PORT, socketDir: primary.pg.socketDir } };
    const before = systemId(replica);
    // An older moved-aside directory, not this run's: it stays.
    const earlier = `${replica.pg.dataDir}.pgplay-old-20200101T000000Z`;
    mkdirSync(earlier);
    writeFileSync(`${earlier}/PG_VERSION`, '15\n');
    const from = hosts.progress.length;
    const r = await runModule(basebackupModule, hosts.context('pg2'), args({ start: true, wait: true, discard_old: true }));
    assert.equal(r.plan.kind, 'change', JSON.stringify(r.plan));
    const said = hosts.progress.slice(from);
    const at = (re: RegExp) => said.findIndex((line) => re.test(line));
    assert.ok(at(/^pg2: moving .*\/data to .*\/data\.pgplay-old-/) >= 0, said.join('\n'));
    assert.ok(at(/^pg2: deleting .*\/data\.pgplay-old-/) > at(/^pg2: starting the standby/), said.join('\n'));
    assert.equal(systemId(replica), systemId(primary));
    assert.notEqual(systemId(replica), before);
    assert.equal(psql(primary, "SELECT state FROM pg_stat_replication WHERE application_name = 'pg2'"), 'streaming');
    assert.deepEqual(oldDirs(), ['data.pgplay-old-20200101T000000Z'], 'only the directory this run moved aside is gone');
    assert.equal(readFileSync(`${earlier}/PG_VERSION`, 'utf8'), '15\n');
  });
});
