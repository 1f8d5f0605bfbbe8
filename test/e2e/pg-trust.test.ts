// Defects of an outside review, proved against a real PostgreSQL 15 (issue 10): SASLprep as libpq does it, statements
// carrying a secret kept out of the server log and pg_stat_statements, pg_hba.conf as the server reads and loads it,
// ensure_role leaving LOGIN alone. Slow (about 10 s): one server on 127.0.0.47 with pg_stat_statements loaded.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { appendFileSync, readFileSync, writeFileSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import { ensureConfModule } from '../../src/modules/ensure-conf';
import { ensureHbaLineModule } from '../../src/modules/ensure-hba-line';
import { ensureRoleModule } from '../../src/modules/ensure-role';
import { createCluster, destroyCluster, PG_BIN, psql, type TestCluster } from '../helpers/pg-server';
import { runModule, testHosts, type TestHosts } from '../helpers/pg-context';

const ADDRESS = '127.0.0.47';

/** Log in over TCP with libpq (psql), the password given as PGPASSWORD; the role name, or the error. */
function login(cluster: TestCluster, user: string, password: string): string {
  try {
    return execFileSync(`${PG_BIN}/psql`, ['-X', '-A', '-t', '-w', '-h', ADDRESS, '-p', String(cluster.pg.port), '-U', user, '-d', 'postgres', '-c', 'SELECT current_user'], {
      encoding: 'utf8',
      env: { PATH: process.env.PATH ?? '', PGPASSWORD: password, PGSSLMODE: 'disable', PGCONNECT_TIMEOUT: '5', PGPASSFILE: '/nonexistent' },
      stdio: ['ignore', 'pipe', 'pipe'],
    }).trim();
  } catch (err) {
    return `error: ${String((err as { stderr?: string }).stderr ?? err).trim()}`;
  }
}

describe('issue 10 defects against a real PostgreSQL 15', () => {
  let pg: TestCluster;
  let hosts: TestHosts;
  before(() => {
    pg = createCluster('trust', ADDRESS, {
      extraConf: "shared_preload_libraries = 'pg_stat_statements'\nlog_statement = 'all'\nlog_min_duration_statement = 0\nlog_min_error_statement = info\n",
    });
    psql(pg, 'CREATE EXTENSION pg_stat_statements');
    hosts = testHosts({ pg1: pg.pg });
  });
  after(async () => {
    await hosts.closeAll();
    if (!process.env.PGPLAY_KEEP_TEST_CLUSTERS) destroyCluster(pg);
  });

  it('a verifier made by ensure_role logs in with libpq for passwords SASLprep maps, and for those it refuses', async () => {
    const rule = await runModule(ensureHbaLineModule, hosts.context('pg1'), { type: 'host', database: 'postgres', user: 'all', address: '127.0.0.0/8', method: 'scram-sha-256' });
    assert.notEqual(rule.plan.kind, 'fail', JSON.stringify(rule.plan));
    const passwords = [
      'pass\u00ADword-soft-hyphen', // mapped to nothing
      'zero\u200Bwidth-space', // a non-ASCII space: mapped to U+0020
      '\uFB00-ligature-nfkc', // NFKC
      'private\uE000-use', // prohibited: libpq takes the password as it is
      '\u00AD\u00AD\u00AD\u00AD', // nothing left after mapping: as it is
      'grave\u0340-accent', // prohibited before NFKC (pg_saslprep checks there)
    ];
    for (const [i, password] of passwords.entries()) {
      const user = `saslprep_${i}`;
      const r = await runModule(ensureRoleModule, hosts.context('pg1'), { name: user, password, login: true });
      assert.equal(r.plan.kind, 'change');
      assert.equal(login(pg, user, password), user, `password ${JSON.stringify(password)}`);
      assert.equal((await runModule(ensureRoleModule, hosts.context('pg1'), { name: user, password, login: true })).plan.kind, 'noop', 'not rotated');
    }
    assert.match(login(pg, 'saslprep_0', 'wrong-password'), /password authentication failed/);
  });

  it('the statement that sets a verifier is in neither pg_stat_statements nor the server log', async () => {
    const password = 'Kept-out-of-pgss-47';
    await runModule(ensureRoleModule, hosts.context('pg1'), { name: 'pgss_probe', password, connection_limit: 3 });
    const verifier = psql(pg, "SELECT rolpassword FROM pg_authid WHERE rolname = 'pgss_probe'");
    assert.match(verifier, /^SCRAM-SHA-256\$/);
    // pg_stat_statements does record utility statements here: an ALTER ROLE run without pgplay is there.
    psql(pg, 'ALTER ROLE pgss_probe CONNECTION LIMIT 4');
    assert.notEqual(psql(pg, "SELECT count(*) FROM pg_stat_statements WHERE query LIKE '%pgss_probe%CONNECTION LIMIT 4%'"), '0');
    assert.equal(psql(pg, "SELECT count(*) FROM pg_stat_statements WHERE query LIKE '%SCRAM-SHA-256%'"), '0');
    const log = readFileSync(pg.pg.logFile, 'utf8');
    assert.match(log, /CONNECTION LIMIT 4/);
    assert.equal(log.includes(verifier.split('$')[2]), false);
    assert.equal(log.includes(password), false);
  });

  it('primary_conninfo with a password is refused on a running server (the server would log it on reload); ALTER SYSTEM of a conninfo stays out of the log and pg_stat_statements', async () => {
    const password = 'conninfo-pw-in-alter-47';
    const refused = await runModule(ensureConfModule, hosts.context('pg1'), { settings: { primary_conninfo: `host=pg0 user=replicator password=${password}` } });
    assert.equal(refused.plan.kind, 'fail');
    assert.match(refused.plan.kind === 'fail' ? refused.plan.message : '', /^refusing to set primary_conninfo with a password in it on a running server: PostgreSQL writes the new value to its log when it reloads/);
    assert.equal(readFileSync(`${pg.pg.dataDir}/postgresql.auto.conf`, 'utf8').includes(password), false);
    const conninfo = 'host=pg0 user=replicator passfile=/var/lib/postgresql/.pgpass-conninfo-47';
    const r = await runModule(ensureConfModule, hosts.context('pg1'), { settings: { primary_conninfo: conninfo, work_mem: '5MB' } });
    assert.equal(r.plan.kind, 'change');
    assert.match(readFileSync(`${pg.pg.dataDir}/postgresql.auto.conf`, 'utf8'), /passfile=\/var\/lib\/postgresql\/\.pgpass-conninfo-47/);
    const log = readFileSync(pg.pg.logFile, 'utf8');
    assert.match(log, /ALTER SYSTEM SET "work_mem" TO '5MB'/, 'other ALTER SYSTEM statements are logged');
    const statements = log.split('\n').filter((l) => /ALTER SYSTEM|statement:/.test(l));
    assert.equal(statements.some((l) => l.includes('pgpass-conninfo-47')), false, 'the conninfo statement is not logged');
    assert.equal(log.includes(password), false);
    assert.equal(psql(pg, "SELECT count(*) FROM pg_stat_statements WHERE query LIKE '%pgpass-conninfo-47%'"), '0');
    assert.notEqual(psql(pg, "SELECT count(*) FROM pg_stat_statements WHERE query LIKE '%work_mem%'"), '0');
    assert.equal(psql(pg, 'SHOW log_statement'), 'all', 'the session settings are reset afterwards');
  });

  it('ensure_role leaves an existing NOLOGIN role without LOGIN when login is left out', async () => {
    psql(pg, 'CREATE ROLE nologin_probe NOLOGIN');
    const r = await runModule(ensureRoleModule, hosts.context('pg1'), { name: 'nologin_probe', replication: true });
    assert.equal(r.plan.kind === 'change' && r.plan.summary, 'alter role nologin_probe: replication');
    assert.equal(psql(pg, "SELECT rolcanlogin::text || ' ' || rolreplication::text FROM pg_roles WHERE rolname = 'nologin_probe'"), 'false true');
  });

  it('pg_hba.conf: a list with a blank after a comma is the field PostgreSQL reads; a shadowed rule is moved before its shadow', async () => {
    const hba = `${pg.pg.configDir}/pg_hba.conf`;
    const lists = await runModule(ensureHbaLineModule, hosts.context('pg1'), { type: 'host', database: 'db1, db2', user: 'u1', address: '10.9.0.0/16' });
    assert.equal(lists.plan.kind, 'change');
    assert.equal(psql(pg, "SELECT database::text FROM pg_hba_file_rules WHERE user_name = '{u1}'"), '{db1,db2}');
    // A rule written behind a reject that matches all its connections: present on disk, never used.
    appendFileSync(hba, 'host all all 10.20.0.0/16 reject\nhost all +admins 10.20.0.0/16 scram-sha-256\n');
    psql(pg, 'SELECT pg_reload_conf()');
    const moved = await runModule(ensureHbaLineModule, hosts.context('pg1'), { type: 'host', database: 'all', user: '+admins', address: '10.20.0.0/16' });
    assert.match(moved.plan.kind === 'change' ? moved.plan.summary : '', /^move rule host all \+admins 10\.20\.0\.0\/16 scram-sha-256 .* which matches all its connections first/);
    const order = psql(pg, "SELECT string_agg(user_name::text || ':' || auth_method, ' ' ORDER BY line_number) FROM pg_hba_file_rules WHERE address = '10.20.0.0'");
    assert.equal(order, '{+admins}:scram-sha-256 {all}:reject');
    assert.equal((await runModule(ensureHbaLineModule, hosts.context('pg1'), { type: 'host', database: 'all', user: '+admins', address: '10.20.0.0/16' })).plan.kind, 'noop');
  });

  it('pg_hba.conf: a rule on disk that the server has not loaded is reloaded, not reported ok', async () => {
    const hba = `${pg.pg.configDir}/pg_hba.conf`;
    // A hand edit in a later second than the server's last load (pg_stat_file gives whole seconds).
    await new Promise((r) => setTimeout(r, 1100));
    appendFileSync(hba, 'host app_x user_x 10.30.0.0/16 scram-sha-256\n');
    const args = { type: 'host' as const, database: 'app_x', user: 'user_x', address: '10.30.0.0/16' };
    const stale = await runModule(ensureHbaLineModule, hosts.context('pg1', { checkMode: true }), args);
    assert.match(stale.plan.kind === 'change' ? stale.plan.summary : '', /is in .*pg_hba\.conf, but the server has not loaded the file since it changed \(file changed at .*, configuration loaded at .*\): reload/);
    const loadedBefore = psql(pg, 'SELECT pg_conf_load_time()');
    const applied = await runModule(ensureHbaLineModule, hosts.context('pg1'), args);
    assert.equal(applied.plan.kind, 'change');
    assert.notEqual(psql(pg, 'SELECT pg_conf_load_time()'), loadedBefore, 'the server reloaded');
    assert.equal((await runModule(ensureHbaLineModule, hosts.context('pg1'), args)).plan.kind, 'noop');
  });

  it('pg_hba.conf: a file with a continuation line is refused, not edited', async () => {
    const hba = `${pg.pg.configDir}/pg_hba.conf`;
    const before = readFileSync(hba, 'utf8');
    appendFileSync(hba, 'host app_y user_y 10.40.0.0/16 \\\n  scram-sha-256\n');
    psql(pg, 'SELECT pg_reload_conf()');
    // PostgreSQL 15 itself joins the two lines into one rule.
    assert.equal(psql(pg, "SELECT auth_method FROM pg_hba_file_rules WHERE user_name = '{user_y}'"), 'scram-sha-256');
    const after = readFileSync(hba, 'utf8');
    const r = await runModule(ensureHbaLineModule, hosts.context('pg1'), { type: 'host', database: 'app_z', user: 'user_z', address: '10.41.0.0/16' });
    assert.match(r.plan.kind === 'fail' ? r.plan.message : '', /pgplay does not edit a file it cannot read as PostgreSQL does: line \d+: ends with a backslash/);
    assert.equal(readFileSync(hba, 'utf8'), after);
    assert.ok(after.startsWith(before));
  });

  it('pg_hba.conf: Latin-1 bytes in a comment survive an edit byte for byte', async () => {
    const hba = `${pg.pg.configDir}/pg_hba.conf`;
    // Without the continuation line of the test before (pgplay does not edit such a file).
    writeFileSync(hba, readFileSync(hba, 'utf8').replace('host app_y user_y 10.40.0.0/16 \\\n  scram-sha-256\n', ''));
    // "# r\xe9seau d'\xe9quipe" in Latin-1: not UTF-8, so decoding it as text would turn each \xe9 into U+FFFD.
    const latin1 = Buffer.concat([Buffer.from('# r'), Buffer.from([0xe9]), Buffer.from("seau d'"), Buffer.from([0xe9]), Buffer.from('quipe\n')]);
    appendFileSync(hba, latin1);
    const before = readFileSync(hba);
    const r = await runModule(ensureHbaLineModule, hosts.context('pg1'), { type: 'host', database: 'app_l1', user: 'user_l1', address: '10.50.0.0/16' });
    assert.equal(r.plan.kind, 'change');
    const after = readFileSync(hba);
    assert.ok(after.subarray(0, before.length).equals(before), 'every byte before the new rule is as it was');
    assert.match(after.subarray(before.length).toString('latin1'), /^host\s+app_l1\s+user_l1\s+10\.50\.0\.0\/16\s+scram-sha-256\n$/);
    assert.equal(after.includes(Buffer.from([0xef, 0xbf, 0xbd])), false, 'no replacement character');
  });
});
