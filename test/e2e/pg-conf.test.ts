// ensure_conf against a real PostgreSQL 15 (issue 10): the value in effect for the cluster, reloads that must take
// effect, the whole chain of files of a stopped server, the server's own reading of aliases and units, quoted lists.
// Slow (about 8 s): one server on 127.0.0.56, restarted once and stopped once.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { appendFileSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import { ensureConfModule } from '../../src/modules/ensure-conf';
import { createCluster, destroyCluster, PG_BIN, psql, startCluster, stopCluster, type TestCluster } from '../helpers/pg-server';
import { runModule, testHosts, type TestHosts } from '../helpers/pg-context';

const ADDRESS = '127.0.0.56';

function asPostgres(argv: string[]): string {
  return execFileSync('runuser', ['-u', 'postgres', '--', ...argv], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] }).trim();
}

describe('ensure_conf against a real PostgreSQL 15', () => {
  let pg: TestCluster;
  let hosts: TestHosts;
  const conf = () => ensureConfModule;
  const fresh = async () => {
    // A new SQL session: per-role and per-database settings apply when a session starts.
    await hosts?.closeAll();
    hosts = testHosts({ pg1: pg.pg });
    return hosts;
  };
  const summaryOf = (plan: { kind: string; summary?: string; message?: string }) => plan.summary ?? plan.message ?? plan.kind;

  before(async () => {
    pg = createCluster('conf', ADDRESS);
    await fresh();
  });
  after(async () => {
    await hosts.closeAll();
    if (!process.env.PGPLAY_KEEP_TEST_CLUSTERS) destroyCluster(pg);
  });

  it("a per-role value is not the cluster's: what the files give is compared, so a re-run is a no-op", async () => {
    psql(pg, "ALTER ROLE postgres SET work_mem = '8MB'");
    const h = await fresh();
    const args = { settings: { work_mem: '64MB' } };
    const first = await runModule(conf(), h.context('pg1'), args);
    assert.equal(first.plan.kind, 'change', summaryOf(first.plan as never));
    assert.equal(psql(pg, "SELECT setting FROM pg_file_settings WHERE name = 'work_mem' ORDER BY seqno DESC LIMIT 1"), '64MB');
    assert.equal(psql(pg, 'SHOW work_mem'), '8MB', 'sessions of the role still get their own value');
    const again = await runModule(conf(), h.context('pg1'), args);
    assert.equal(again.plan.kind, 'noop', summaryOf(again.plan as never));
    psql(pg, 'ALTER ROLE postgres RESET work_mem');
  });

  it("a per-database value that equals the wanted one is not ok while the cluster's value differs", async () => {
    psql(pg, "ALTER DATABASE postgres SET maintenance_work_mem = '256MB'");
    const h = await fresh();
    const args = { settings: { maintenance_work_mem: '256MB' } };
    const first = await runModule(conf(), h.context('pg1', { checkMode: true }), args);
    assert.equal(first.plan.kind, 'change');
    assert.match(first.plan.kind === 'change' ? (first.plan.diffs?.[0].before ?? '') : '', /^maintenance_work_mem = 64MB \(default\); 256MB for this session \(database\)\n$/);
    await runModule(conf(), h.context('pg1'), args);
    assert.equal(psql(pg, "SELECT setting FROM pg_file_settings WHERE name = 'maintenance_work_mem'"), '256MB');
    assert.equal((await runModule(conf(), h.context('pg1'), args)).plan.kind, 'noop');
    psql(pg, 'ALTER DATABASE postgres RESET maintenance_work_mem');
  });

  it('a reload that does not take effect is a failure that says why, and the file is put back', async () => {
    appendFileSync(`${pg.pg.configDir}/postgresql.conf`, "include_if_exists = 'pgplay-extra.conf'\n");
    psql(pg, 'SELECT pg_reload_conf()');
    const h = await fresh();
    const started = Date.now();
    await assert.rejects(
      runModule(conf(), h.context('pg1'), { settings: { log_destination: 'nowhere' }, file: 'pgplay-extra.conf' }),
      /^Error: after the reload the server does not use the new value: log_destination: the server says "setting could not be applied" \(\/tmp\/pgplay-pgtest-conf\/conf\/pgplay-extra\.conf line 1\); undone: \/tmp\/pgplay-pgtest-conf\/conf\/pgplay-extra\.conf removed again/,
    );
    assert.ok(Date.now() - started < 3000, 'fails at once, without waiting out a timeout');
    assert.equal(existsSync(`${pg.pg.configDir}/pgplay-extra.conf`), false);
    assert.equal(psql(pg, 'SHOW log_destination'), 'stderr');
  });

  it('the server reads aliases and rounds to its units: hot_standby, 1000kB and 100.1MB hold once set; 100kB is refused in its words', async () => {
    const h = await fresh();
    const alias = await runModule(conf(), h.context('pg1'), { settings: { wal_level: 'hot_standby', synchronous_commit: 'true' } });
    assert.equal(alias.plan.kind, 'noop', summaryOf(alias.plan as never));
    const rounded = await runModule(conf(), h.context('pg1'), { settings: { wal_keep_size: '1000kB' } });
    assert.equal(rounded.plan.kind === 'change' && rounded.plan.needs, 'reload');
    assert.equal(psql(pg, 'SHOW wal_keep_size'), '1MB');
    assert.equal((await runModule(conf(), h.context('pg1'), { settings: { wal_keep_size: '1000kB' } })).plan.kind, 'noop');
    const refused = await runModule(conf(), h.context('pg1', { checkMode: true }), { settings: { shared_buffers: '100kB' } });
    assert.deepEqual(refused.plan, {
      kind: 'fail',
      message: `shared_buffers: PostgreSQL refuses '100kB': 12 8kB is outside the valid range for parameter "shared_buffers" (16 .. 1073741823)`,
      result: undefined,
    });
    const buffers = await runModule(conf(), h.context('pg1'), { settings: { shared_buffers: '100.1MB' } });
    assert.equal(buffers.plan.kind === 'change' && buffers.plan.needs, 'restart');
    // A restart that also sets temp_buffers on the server's command line.
    await h.closeAll();
    asPostgres([`${PG_BIN}/pg_ctl`, '-D', pg.pg.configDir, '-l', pg.pg.logFile, '-w', '-o', '-c temp_buffers=2MB', 'restart']);
    const h2 = await fresh();
    assert.equal(psql(pg, "SELECT setting FROM pg_settings WHERE name = 'shared_buffers'"), '12813');
    assert.equal((await runModule(conf(), h2.context('pg1'), { settings: { shared_buffers: '100.1MB', wal_level: 'hot_standby' } })).plan.kind, 'noop');
    const commandLine = await runModule(conf(), h2.context('pg1'), { settings: { temp_buffers: '4MB' } });
    assert.deepEqual(commandLine.plan, {
      kind: 'fail',
      message: "temp_buffers is set on the server's command line (2MB), which wins over every configuration file: change it where the server is started",
      result: undefined,
    });
  });

  it('search_path with quoted items round-trips through ALTER SYSTEM', async () => {
    const h = await fresh();
    const first = await runModule(conf(), h.context('pg1'), { settings: { search_path: '"$user", public, "My Schema"' } });
    assert.equal(first.plan.kind, 'change');
    assert.match(readFileSync(`${pg.pg.dataDir}/postgresql.auto.conf`, 'utf8'), /^search_path = '"\$user", public, "My Schema"'$/m);
    assert.equal(psql(pg, 'SHOW search_path'), '"$user", public, "My Schema"');
    assert.equal((await runModule(conf(), h.context('pg1'), { settings: { search_path: '"$user", public, "My Schema"' } })).plan.kind, 'noop');
    assert.equal((await runModule(conf(), h.context('pg1'), { settings: { search_path: ['"$user"', 'PUBLIC', '"My Schema"'] } })).plan.kind, 'noop');
  });

  it('a stopped server: the whole chain of files in the order PostgreSQL reads them', async () => {
    const h = await fresh();
    await h.closeAll();
    stopCluster(pg);
    const dir = pg.pg.configDir;
    mkdirSync(`${dir}/conf.d`);
    mkdirSync(`${dir}/extra`);
    writeFileSync(`${dir}/extra/base.conf`, "checkpoint_timeout = '10min'\n");
    writeFileSync(`${dir}/conf.d/10-repl.conf`, 'wal_level = logical\nmax_wal_senders = 7\n');
    writeFileSync(`${dir}/conf.d/.hidden.conf`, 'max_wal_senders = 1\n');
    writeFileSync(`${dir}/conf.d/20-old.conf.bak`, 'wal_level = minimal\n');
    appendFileSync(`${dir}/postgresql.conf`, "include 'extra/base.conf'\ninclude_dir = 'conf.d'\n");
    appendFileSync(`${pg.pg.dataDir}/postgresql.auto.conf`, "max_wal_senders = '9'\n");
    execFileSync('chown', ['-R', 'postgres:postgres', dir]);
    const serverSays = (name: string) => asPostgres([`${PG_BIN}/postgres`, '-D', dir, '-C', name]);
    assert.equal(serverSays('max_wal_senders'), '9');

    const inForce = await runModule(conf(), h.context('pg1'), { settings: { wal_level: 'logical', max_wal_senders: 9, checkpoint_timeout: 600 } });
    assert.equal(inForce.plan.kind, 'noop', summaryOf(inForce.plan as never));
    const autoBefore = readFileSync(`${pg.pg.dataDir}/postgresql.auto.conf`, 'utf8');
    const later = await runModule(conf(), h.context('pg1'), { settings: { max_wal_senders: 7 }, file: 'conf.d/10-repl.conf' });
    assert.equal(later.plan.kind, 'fail');
    assert.match(
      summaryOf(later.plan as never),
      /^max_wal_senders is set again in \/tmp\/pgplay-pgtest-conf\/data\/postgresql\.auto\.conf line \d+, which PostgreSQL reads after \/tmp\/pgplay-pgtest-conf\/conf\/conf\.d\/10-repl\.conf: the value written would not be in force$/,
    );
    const notRead = await runModule(conf(), h.context('pg1'), { settings: { work_mem: '8MB' }, file: 'elsewhere.conf' });
    assert.match(summaryOf(notRead.plan as never), /elsewhere\.conf is not read by PostgreSQL: include it from \/tmp\/pgplay-pgtest-conf\/conf\/postgresql\.conf/);
    const newFile = await runModule(conf(), h.context('pg1'), { settings: { wal_level: 'replica' }, file: 'conf.d/30-pgplay.conf' });
    assert.equal(newFile.plan.kind, 'change');
    assert.equal(serverSays('wal_level'), 'replica');
    assert.equal((await runModule(conf(), h.context('pg1'), { settings: { wal_level: 'hot_standby' } })).plan.kind, 'noop');
    assert.equal(readFileSync(`${pg.pg.dataDir}/postgresql.auto.conf`, 'utf8'), autoBefore, 'nothing was written where it would not count');
    startCluster(pg);
  });
});
