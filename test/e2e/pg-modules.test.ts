import assert from 'node:assert/strict';
import { readdirSync, statSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import { Client } from 'pg';
import { assertStreamingModule } from '../../src/modules/assert-streaming';
import { basebackupModule } from '../../src/modules/basebackup';
import { ensureConfModule } from '../../src/modules/ensure-conf';
import { ensureHbaLineModule } from '../../src/modules/ensure-hba-line';
import { ensureRoleModule } from '../../src/modules/ensure-role';
import { serviceModule } from '../../src/modules/service';
import { createCluster, destroyCluster, isRunning, psql, readText, type TestCluster } from '../helpers/pg-server';
import { runModule, testHosts, type TestHosts } from '../helpers/pg-context';

// Slow (about 20 s): two real PostgreSQL 15 servers on 127.0.0.41 (primary) and 127.0.0.42 (replica).
const PASSWORD = 'Zq7-clear-text-pw-41';

describe('PostgreSQL modules against real servers', () => {
  let primary: TestCluster;
  let replica: TestCluster;
  let hosts: TestHosts;
  before(() => {
    // log_statement = all: any SQL text carrying the password would land in the log.
    primary = createCluster('pg1', '127.0.0.41', { extraConf: "log_statement = 'all'\nlog_connections = on\nlog_min_error_statement = info\n" });
    replica = createCluster('pg2', '127.0.0.42', { extraConf: "log_statement = 'all'\n" });
    hosts = testHosts({ pg1: primary.pg, pg2: replica.pg });
  });
  after(async () => {
    await hosts.closeAll();
    if (!process.env.PGPLAY_KEEP_TEST_CLUSTERS) {
      destroyCluster(primary);
      destroyCluster(replica);
    }
  });

  it('ensure_conf sets reloadable settings, then plans nothing', async () => {
    const args = { settings: { wal_keep_size: '64MB', checkpoint_timeout: '10min', max_wal_senders: 10, hot_standby: true } };
    const first = await runModule(ensureConfModule, hosts.context('pg1'), args);
    assert.equal(first.plan.kind, 'change');
    if (first.plan.kind !== 'change') return;
    assert.equal(first.plan.needs, 'reload');
    assert.match(first.plan.diffs?.[0].before ?? '', /wal_keep_size = 0\ncheckpoint_timeout = 5min\n/);
    assert.match(first.plan.diffs?.[0].after ?? '', /wal_keep_size = 64MB\ncheckpoint_timeout = 10min\n/);
    assert.equal(psql(primary, 'SHOW wal_keep_size'), '64MB');
    const again = await runModule(ensureConfModule, hosts.context('pg1'), { settings: { wal_keep_size: '65536kB', checkpoint_timeout: 600, hot_standby: 'on' } });
    assert.equal(again.plan.kind, 'noop');
  });

  it('ensure_conf asks for a restart for postmaster settings, and fails on unknown names and bad values', async () => {
    const first = await runModule(ensureConfModule, hosts.context('pg1'), { settings: { max_connections: 30 } });
    assert.equal(first.plan.kind === 'change' && first.plan.needs, 'restart');
    const pending = await runModule(ensureConfModule, hosts.context('pg1', { checkMode: true }), { settings: { max_connections: 30 } });
    assert.equal(pending.plan.kind === 'change' && pending.plan.needs, 'restart');
    assert.match(pending.plan.kind === 'change' ? pending.plan.summary : '', /written but not in use/);
    const unknown = await runModule(ensureConfModule, hosts.context('pg1'), { settings: { wal_keep_sise: '1GB' } });
    assert.deepEqual(unknown.plan, { kind: 'fail', message: 'PostgreSQL has no setting named wal_keep_sise', result: undefined });
    const bad = await runModule(ensureConfModule, hosts.context('pg1'), { settings: { hot_standby: 'maybe' } });
    assert.equal(bad.plan.kind, 'fail');
  });

  it('ensure_conf edits another file of a running server, keeping its lines, and reloads', async () => {
    const conf = `${primary.pg.configDir}/postgresql.conf`;
    const before = readText(conf);
    const args = { settings: { work_mem: '8MB' }, file: 'postgresql.conf' };
    const r = await runModule(ensureConfModule, hosts.context('pg1'), args);
    assert.equal(r.plan.kind === 'change' && r.plan.needs, 'reload');
    const after = readText(conf);
    assert.ok(after.startsWith(before));
    assert.match(after, /\nwork_mem = '8MB'\n$/);
    assert.equal(psql(primary, 'SHOW work_mem'), '8MB');
    assert.equal((await runModule(ensureConfModule, hosts.context('pg1'), args)).plan.kind, 'noop');
    await assert.rejects(
      runModule(ensureConfModule, hosts.context('pg1'), { settings: { work_mem: '16MB' }, file: 'not-included.conf' }),
      /not-included\.conf is not read by the server: include it from postgresql\.conf/,
    );
  });

  it('service restart applies it; started is then a no-op; the SQL session is reopened', async () => {
    const restart = await runModule(serviceModule, hosts.context('pg1'), { state: 'restarted' });
    assert.equal(restart.plan.kind, 'change');
    assert.equal(psql(primary, 'SHOW max_connections'), '30');
    assert.equal((await runModule(serviceModule, hosts.context('pg1'), { state: 'started' })).plan.kind, 'noop');
    assert.equal((await runModule(ensureConfModule, hosts.context('pg1'), { settings: { max_connections: 30 } })).plan.kind, 'noop');
  });

  it('ensure_hba_line adds rules where they are not shadowed, then plans nothing; a rule the server rejects is rolled back', async () => {
    const repl = { type: 'host' as const, database: 'replication', user: 'replicator', address: '127.0.0.42/32', method: 'scram-sha-256' };
    const login = { type: 'host' as const, database: 'postgres', user: 'replicator', address: '127.0.0.41/32', method: 'scram-sha-256' };
    for (const args of [repl, login]) {
      const r = await runModule(ensureHbaLineModule, hosts.context('pg1'), args);
      assert.equal(r.plan.kind, 'change', JSON.stringify(r.plan));
      assert.equal((await runModule(ensureHbaLineModule, hosts.context('pg1'), args)).plan.kind, 'noop');
    }
    assert.equal(psql(primary, "SELECT count(*) FROM pg_hba_file_rules WHERE user_name = '{replicator}' AND error IS NULL"), '2');
    const hbaBefore = readText(`${primary.pg.configDir}/pg_hba.conf`);
    await assert.rejects(
      runModule(ensureHbaLineModule, hosts.context('pg1'), { ...login, options: ['nonsense=1'] }),
      /PostgreSQL rejects the new .*pg_hba\.conf \(line \d+: .*nonsense.*\); the old file is back/,
    );
    assert.equal(readText(`${primary.pg.configDir}/pg_hba.conf`), hbaBefore);
    const md5 = await runModule(ensureHbaLineModule, hosts.context('pg1', { checkMode: true }), { ...login, method: 'md5' });
    assert.equal(md5.plan.kind, 'change');
    assert.deepEqual(md5.plan.kind === 'change' && md5.plan.warnings, ['rule host postgres replicator 127.0.0.41/32 uses md5: prefer scram-sha-256']);
  });

  it('ensure_role stores a SCRAM verifier that logs in with the clear password and is not rotated by a re-run', async () => {
    const args = { name: 'replicator', password: PASSWORD, login: true, replication: true };
    const first = await runModule(ensureRoleModule, hosts.context('pg1'), args);
    assert.equal(first.plan.kind, 'change');
    assert.match(first.plan.kind === 'change' ? (first.plan.diffs?.[0].after ?? '') : '', /password: \*{8} \(changed\)/);
    const stored = psql(primary, "SELECT rolpassword FROM pg_authid WHERE rolname = 'replicator'");
    assert.match(stored, /^SCRAM-SHA-256\$4096:/);
    const again = await runModule(ensureRoleModule, hosts.context('pg1'), args);
    assert.equal(again.plan.kind, 'noop');
    assert.equal(psql(primary, "SELECT rolpassword FROM pg_authid WHERE rolname = 'replicator'"), stored);
    const client = new Client({ host: '127.0.0.41', port: primary.pg.port, user: 'replicator', password: PASSWORD, database: 'postgres' });
    await client.connect();
    assert.equal((await client.query('SELECT current_user AS u')).rows[0].u, 'replicator');
    await client.end();
    const wrong = new Client({ host: '127.0.0.41', port: primary.pg.port, user: 'replicator', password: 'not-it', database: 'postgres' });
    await assert.rejects(wrong.connect(), /password authentication failed/);
    const attrs = await runModule(ensureRoleModule, hosts.context('pg1', { checkMode: true }), { ...args, replication: false });
    assert.match(attrs.plan.kind === 'change' ? attrs.plan.summary : '', /alter role replicator: noreplication$/);
  });

  it('basebackup refuses a replica cluster that holds user databases, and keeps it', async () => {
    psql(replica, 'CREATE DATABASE keepme');
    const r = await runModule(basebackupModule, hosts.context('pg2'), { primary: 'pg1', user: 'replicator', password: PASSWORD });
    assert.equal(r.plan.kind, 'fail');
    assert.match(r.plan.kind === 'fail' ? r.plan.message : '', /holds a cluster with user databases \(keepme\)/);
    assert.equal(psql(replica, "SELECT count(*) FROM pg_database WHERE datname = 'keepme'"), '1');
    psql(replica, 'DROP DATABASE keepme');
  });

  it('basebackup with a wrong password fails and puts the old cluster back, running', async () => {
    const marker = psql(replica, 'SELECT system_identifier FROM pg_control_system()');
    await assert.rejects(
      runModule(basebackupModule, hosts.context('pg2'), { primary: 'pg1', user: 'replicator', password: 'wrong-password' }),
      (err: Error) => {
        // The cause in words with its fix, the undo on the first line; the server's own words below it.
        assert.match(err.message, /^pg_basebackup from pg1 failed: the password for replicator is not the one pg1 has\. Fix: .*; \/tmp\/pgplay-pgtest-pg2\/data is back as it was/);
        assert.match(err.message, /^seen in .*password authentication failed for user "replicator"/m);
        assert.equal(err.message.includes('wrong-password'), false);
        return true;
      },
    );
    assert.equal(isRunning(replica), true);
    assert.equal(psql(replica, 'SELECT system_identifier FROM pg_control_system()'), marker);
    assert.equal(readdirSync('/tmp/pgplay-pgtest-pg2').filter((d) => d.includes('pgplay-old') || d.includes('pgplay-lock')).length, 0);
  });

  it('basebackup refuses the primary itself', async () => {
    const r = await runModule(basebackupModule, hosts.context('pg1'), { primary: 'pg1', user: 'replicator', password: PASSWORD });
    assert.match(r.plan.kind === 'fail' ? r.plan.message : '', /is the primary pg1 itself/);
  });

  it('basebackup turns a fresh cluster into a standby; the old directory is moved aside; no password in primary_conninfo', async () => {
    const systemId = psql(primary, 'SELECT system_identifier FROM pg_control_system()');
    const r = await runModule(basebackupModule, hosts.context('pg2'), { primary: 'pg1', user: 'replicator', password: PASSWORD, slot: 'pg2' });
    assert.equal(r.plan.kind, 'change', JSON.stringify(r.plan));
    assert.equal(psql(primary, "SELECT slot_type FROM pg_replication_slots WHERE slot_name = 'pg2'"), 'physical');
    const old = String(r.result.old_data_dir);
    assert.match(old, /^\/tmp\/pgplay-pgtest-pg2\/data\.pgplay-old-\d{8}T\d{6}Z$/);
    assert.ok(statSync(`${old}/PG_VERSION`).isFile());
    const passfile = String(r.result.passfile);
    assert.equal(statSync(passfile).mode & 0o777, 0o600);
    assert.equal(statSync(replica.pg.dataDir).mode & 0o777, 0o700);
    const auto = readText(`${replica.pg.dataDir}/postgresql.auto.conf`);
    assert.doesNotMatch(auto, /password=/);
    assert.match(auto, new RegExp(`primary_conninfo = '.*passfile=${passfile}.*application_name=pg2`));
    assert.match(auto, /primary_slot_name = 'pg2'/);
    assert.ok(statSync(`${replica.pg.dataDir}/standby.signal`).isFile());
    assert.equal(isRunning(replica), false);
    assert.ok(hosts.progress.some((p) => p.startsWith('pg2: pg_basebackup from pg1')));
    const again = await runModule(basebackupModule, hosts.context('pg2'), { primary: 'pg1', user: 'replicator', password: PASSWORD });
    assert.deepEqual(again.plan, { kind: 'noop', reason: `${replica.pg.dataDir} is already a standby of pg1 (system identifier ${systemId})`, result: undefined });
  });

  it('ensure_conf edits postgresql.auto.conf of the stopped standby, keeping primary_conninfo', async () => {
    const args = { settings: { hot_standby_feedback: 'on', wal_keep_size: '64MB' } };
    const r = await runModule(ensureConfModule, hosts.context('pg2'), args);
    assert.equal(r.plan.kind, 'change');
    assert.deepEqual(r.result.settings, ['hot_standby_feedback']);
    assert.match(readText(`${replica.pg.dataDir}/postgresql.auto.conf`), /primary_conninfo = [\s\S]*hot_standby_feedback = 'on'/);
    assert.equal((await runModule(ensureConfModule, hosts.context('pg2'), args)).plan.kind, 'noop');
  });

  it('service starts the standby and assert_streaming proves replication', async () => {
    assert.equal((await runModule(serviceModule, hosts.context('pg2'), { state: 'started' })).plan.kind, 'change');
    const r = await runModule(assertStreamingModule, hosts.context('pg1'), { replicas: ['pg2'], timeout: 30, max_lag_bytes: 64 * 1024 * 1024, max_lag_seconds: 30 });
    assert.equal(r.plan.kind, 'noop', JSON.stringify(r.plan));
    assert.equal(r.plan.kind === 'noop' && r.plan.reason, '7 checks passed on pg2');
    assert.equal(psql(primary, "SELECT active FROM pg_replication_slots WHERE slot_name = 'pg2'"), 't');
  });

  it('assert_streaming fails at once for a replica out of the run, and still checks the others', async () => {
    const started = Date.now();
    const out = { pg9: "failed earlier in this run (task 'Base backup'): pg_basebackup from pg1 failed" };
    const r = await runModule(assertStreamingModule, hosts.context('pg1', { outOfRun: out }), { replicas: ['pg2', 'pg9'], timeout: 30 });
    assert.ok(Date.now() - started < 10_000, `${Date.now() - started} ms`);
    assert.equal(r.plan.kind === 'fail' && r.plan.message, "pg9: not checked: it failed earlier in this run (task 'Base backup'): pg_basebackup from pg1 failed");
    const checked = (r.result.checks as Array<{ host: string; ok: boolean }>).filter((c) => c.host === 'pg2');
    assert.equal(checked.length, 5);
    assert.ok(checked.every((c) => c.ok));
  });

  it('assert_streaming names the failed check when a replica is gone', async () => {
    assert.equal((await runModule(serviceModule, hosts.context('pg2'), { state: 'stopped' })).plan.kind, 'change');
    const r = await runModule(assertStreamingModule, hosts.context('pg1'), { replicas: ['pg2'], timeout: 1 });
    assert.equal(r.plan.kind, 'fail');
    assert.match(r.plan.kind === 'fail' ? r.plan.message : '', /^pg2: primary pg1 sees it streaming failed \(no row in pg_stat_replication/);
    await runModule(serviceModule, hosts.context('pg2'), { state: 'started' });
  });

  it('basebackup refuses a running primary with a replica streaming from it, and nothing is lost', async () => {
    await runModule(assertStreamingModule, hosts.context('pg1'), { replicas: ['pg2'], timeout: 30 });
    const r = await runModule(basebackupModule, hosts.context('pg1'), { primary: 'pg2', user: 'replicator', password: PASSWORD, replace: 'any' });
    assert.match(r.plan.kind === 'fail' ? r.plan.message : '', /holds a running primary with 1 replica\(s\) streaming from it/);
    assert.equal(psql(primary, 'SELECT count(*) FROM pgplay.marker'), '1');
    assert.equal(readdirSync('/tmp').filter((d) => d.startsWith('pgplay-pgtest-pg1') && d.includes('pgplay-old')).length, 0);
  });

  it('no server log holds the clear password or the verifier', async () => {
    const verifier = psql(primary, "SELECT rolpassword FROM pg_authid WHERE rolname = 'replicator'");
    for (const log of [primary.pg.logFile, replica.pg.logFile]) {
      const text = readText(log);
      assert.ok(text.length > 0);
      assert.equal(text.includes(PASSWORD), false, `${log} holds the password`);
      assert.equal(text.includes(verifier.split('$')[2]), false, `${log} holds the verifier`);
    }
    assert.match(readText(primary.pg.logFile), /statement: SELECT pg_reload_conf\(\)/);
  });
});
