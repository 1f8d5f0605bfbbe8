// Replication as production runs it, on the network-namespace lab (a Debian primary, a Debian and a RHEL-like
// replica, each with its own address): a slot per replica, TLS with verify-full, synchronous standbys, and
// `pgplay status`. Slow (about 2 minutes): one lab, a dozen pgplay runs, a server stopped and started by hand.
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fixture, ROOT, runCli } from '../helpers/cli';
import { netnsLabDown, netnsLabUp, onHost, psql, startSshd, stopSshd, type NetnsLab, type NetnsLabHost } from '../lab/netns-lab';
import { PG_BIN } from '../lab/postgres';
import { ensureOwnCa, issueServerCertificate, readCa } from '../../src/modules/pg/x509';

const LAB_ROOT = '/tmp/pgplay-netns-replication';
const LAB_ID = 'repl';
const PASSWORD = 'Tq4-replication-secret-14';
const site = join(ROOT, 'playbooks', 'site.yml');
const CA_DIR = `${LAB_ROOT}-ca`;
const env = { PGPLAY_REPLICATION_PASSWORD: PASSWORD };
const run = (args: string[]) => runCli(args, { env, timeoutMs: 180_000 });

function recapLine(stdout: string, name: string): string {
  return new RegExp(`^${name}\\s+ok=.*$`, 'm').exec(stdout.slice(stdout.lastIndexOf('PLAY RECAP')))?.[0] ?? '';
}

function readOrEmpty(path: string): string {
  return existsSync(path) ? readFileSync(path, 'utf8') : '';
}

async function until(what: string, test: () => boolean, withinMs = 30_000): Promise<void> {
  const deadline = Date.now() + withinMs;
  while (!test()) {
    if (Date.now() > deadline) assert.fail(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

function median(values: number[]): number {
  const s = [...values].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
}

/** The cause is said for the host, and once: the failed check and the troubleshooter's "why" do not both say it. */
function saidOnce(stdout: string, host: string, cause: string): void {
  const lines = stdout.split('\n').filter((l) => l.trimStart().startsWith(`${host}: `) && l.includes(cause));
  assert.equal(lines.length, 1, `${host}: "${cause}" said ${lines.length} times in:\n${stdout}`);
}

describe('slots, TLS with verify-full, synchronous standbys and pgplay status on the namespace lab', () => {
  let lab: NetnsLab;
  const host = (name: string) => lab.hosts.find((h) => h.name === name) as NetnsLabHost;
  const inv = () => ['-i', lab.inventory];
  const varsFile = (name: string, text: string) => {
    const path = join(LAB_ROOT, name);
    writeFileSync(path, text);
    return `@${path}`;
  };
  // TLS on, with pgplay's own CA kept outside the repository, and pg2 the one synchronous standby.
  const tlsVars = () => ['-e', 'replication_tls=true', '-e', `tls_ca_dir=${CA_DIR}`, '-e', varsFile('sync-first.yml', 'synchronous_standbys: [pg2]\n')];
  const serverLogs = () => lab.hosts.map((h) => readOrEmpty(h.logFile)).join('\n');
  const keyOf = (h: NetnsLabHost) => `${h.dataDir}.pgplay-tls/server.key`;
  const serial = (h: NetnsLabHost) => execFileSync('openssl', ['x509', '-in', `${h.dataDir}.pgplay-tls/server.crt`, '-noout', '-serial'], { encoding: 'utf8' }).trim();
  const walsenders = () => psql(host('pg1'), "SELECT r.application_name || ' ' || r.state || ' ' || r.sync_state || ' ' || coalesce(sl.slot_name, '-') || ' ' || s.ssl FROM pg_stat_replication r JOIN pg_stat_ssl s ON s.pid = r.pid LEFT JOIN pg_replication_slots sl ON sl.active_pid = r.pid ORDER BY 1").split('\n');
  let noopMs: number[] = [];

  before(async () => {
    execFileSync('rm', ['-rf', CA_DIR]);
    lab = await netnsLabUp(3, { id: LAB_ID, root: LAB_ROOT, layout: 'mixed' });
  });
  after(async () => {
    if (!process.env.PGPLAY_KEEP_LAB) {
      await netnsLabDown(LAB_ROOT, LAB_ID);
      execFileSync('rm', ['-rf', CA_DIR]);
    }
  });

  it('the first run makes a CA outside the repository, a certificate per host, a slot per replica; replicas stream over TLS, pg2 synchronously', async (t) => {
    // The primary runs with room for fewer slots than the replicas need (1 for 2): site.yml raises max_replication_slots
    // (a restart, by the handler at the end of the primary's play), and only then makes the slots.
    const pg1 = host('pg1');
    psql(pg1, 'ALTER SYSTEM SET max_replication_slots = 1');
    const restart = onHost(pg1, ['pg_ctlcluster', '15', pg1.cluster as string, 'restart']);
    execFileSync(restart[0], restart.slice(1));
    assert.equal(psql(pg1, 'SHOW max_replication_slots'), '1');
    const started = Date.now();
    const r = await run(['run', site, ...inv(), ...tlsVars()]);
    t.diagnostic(`first converge with slots, TLS and sync (Debian, Debian, RHEL): ${Date.now() - started} ms`);
    assert.equal(r.code, 0, r.stdout + r.stderr);
    assert.deepEqual(walsenders(), ['pg2 streaming sync pg2 true', 'pg3 streaming async pg3 true']);
    assert.match(r.stdout, /^\[WARNING\] pg1: FIRST 1 of 1 standby\(s\) \(pg2\): when any one of them is down or cut off, every commit on the primary waits until it is back/m);
    // The CA: its key 0600 in a directory of its own; every host's key 0600 and postgres's; no key in any output.
    assert.equal((statSync(`${CA_DIR}/ca.key`).mode & 0o777).toString(8), '600');
    const keys = [readFileSync(`${CA_DIR}/ca.key`, 'utf8')];
    for (const h of lab.hosts) {
      const st = statSync(keyOf(h));
      assert.equal((st.mode & 0o777).toString(8), '600', `${h.name}'s key mode`);
      assert.equal(execFileSync('stat', ['-c', '%U', keyOf(h)], { encoding: 'utf8' }).trim(), 'postgres');
      keys.push(readFileSync(keyOf(h), 'utf8'));
      // Its certificate names its own address, and openssl trusts it through the CA.
      assert.match(execFileSync('openssl', ['x509', '-in', `${h.dataDir}.pgplay-tls/server.crt`, '-noout', '-ext', 'subjectAltName'], { encoding: 'utf8' }), new RegExp(`IP Address:${h.address.replace(/\./g, '\\.')}`));
      assert.match(execFileSync('openssl', ['verify', '-CAfile', `${CA_DIR}/ca.crt`, `${h.dataDir}.pgplay-tls/server.crt`], { encoding: 'utf8' }), /OK$/m);
    }
    for (const key of keys) {
      const body = key.split('\n')[1];
      for (const [what, text] of [['stdout', r.stdout], ['stderr', r.stderr], ['server logs', serverLogs()]]) assert.equal(text.includes(body), false, `a private key is in ${what}`);
    }
    assert.equal(r.stdout.includes(PASSWORD), false);
    // The primary admits replication only over TLS; each replica connects with verify-full through its own slot.
    const hba = readFileSync(`${host('pg1').configDir}/pg_hba.conf`, 'utf8').split('\n').filter((l) => /replicator/.test(l)).map((l) => l.split(/\s+/).slice(0, 4).join(' '));
    // The rules pg_rewind needs (the postgres database, for a switchover or failover later) are TLS-only too.
    assert.deepEqual(hba, [...['pg2', 'pg3'].map((n) => `hostssl replication replicator ${host(n).address}/32`), ...['pg2', 'pg3'].map((n) => `hostssl postgres replicator ${host(n).address}/32`)]);
    for (const n of ['pg2', 'pg3']) {
      const conninfo = psql(host(n), 'SHOW primary_conninfo');
      assert.match(conninfo, /sslmode=verify-full/);
      assert.match(conninfo, new RegExp(`sslrootcert=${host(n).dataDir}\\.pgplay-tls/root\\.crt`));
      assert.equal(psql(host(n), 'SHOW primary_slot_name'), n);
    }
    assert.equal(psql(host('pg1'), 'SHOW max_slot_wal_keep_size'), '8GB');
    assert.equal(psql(host('pg1'), 'SHOW max_replication_slots'), '16');
  });

  it('a re-run changes nothing; pgplay status takes at most 1.2 times as long', async (t) => {
    for (let i = 0; i < 3; i++) {
      const started = Date.now();
      const r = await run(['run', site, ...inv(), ...tlsVars()]);
      noopMs.push(Date.now() - started);
      assert.equal(r.code, 0, r.stdout);
      for (const name of ['pg1', 'pg2', 'pg3']) assert.match(recapLine(r.stdout, name), /changed=0 unreachable=0 failed=0/);
    }
    const statusMs: number[] = [];
    let out = '';
    for (let i = 0; i < 3; i++) {
      const started = Date.now();
      const s = await run(['status', ...inv()]);
      statusMs.push(Date.now() - started);
      assert.equal(s.code, 0, s.stdout + s.stderr);
      out = s.stdout;
    }
    t.diagnostic(`no-op run (median of 3): ${median(noopMs)} ms; pgplay status (median of 3): ${median(statusMs)} ms; ratio ${(median(statusMs) / median(noopMs)).toFixed(2)}`);
    t.diagnostic(`pgplay status on the 1+2 lab:\n${out}`);
    assert.ok(median(statusMs) <= 1.2 * median(noopMs), `status ${median(statusMs)} ms against no-op ${median(noopMs)} ms`);
    const id = psql(host('pg1'), 'SELECT system_identifier FROM pg_control_system()');
    assert.match(out, new RegExp(`^cluster ${id}$`, 'm'));
    assert.match(out, /^pg1\s+primary\s+1\s+\d+\/[0-9A-F]+\s+-\s+-\s+-\s+-/m);
    assert.match(out, /^pg2\s+standby of pg1\s+1\s+(\d+\/[0-9A-F]+\s+){5}.*\s+sync\s+pg2 active, [\d.]+ (bytes|kB|MB)\s+TLSv1\.3$/m);
    assert.match(out, /^pg3\s+standby of pg1\s+1\s+.*\s+async\s+pg3 active, .*\s+TLSv1\.3$/m);
    assert.match(out, /^healthy: 3 host\(s\)$/m);
    const json = await run(['status', ...inv(), '--json']);
    const hosts = JSON.parse(json.stdout) as Array<Record<string, unknown>>;
    assert.deepEqual(hosts.map((h) => [h.host, h.state, h.upstream, h.sync_state, (h.slot as { name: string } | null)?.name ?? null, (h.tls as { ssl: boolean } | null)?.ssl ?? null]), [
      ['pg1', 'primary', null, null, null, null],
      ['pg2', 'standby', 'pg1', 'sync', 'pg2', true],
      ['pg3', 'standby', 'pg1', 'async', 'pg3', true],
    ]);
  });

  it('writes on the primary hang while its one synchronous standby is down, and complete when it is back; status says degraded', async () => {
    const [pg1, pg2] = [host('pg1'), host('pg2')];
    psql(pg1, 'CREATE TABLE IF NOT EXISTS sync_probe (v text)');
    execFileSync('pg_ctlcluster', ['15', pg2.cluster as string, 'stop', '-m', 'fast']);
    // A client's INSERT: it does not return while no synchronous standby confirms it.
    const insert = spawn('runuser', ['-u', 'postgres', '--', `${PG_BIN}/psql`, '-X', '-h', pg1.socketDir, '-p', '5432', '-c', "INSERT INTO sync_probe VALUES ('waited for pg2')"], { stdio: 'ignore' });
    const done = new Promise<number | null>((resolve) => insert.on('exit', resolve));
    const early = await Promise.race([done, new Promise((r) => setTimeout(() => r('still waiting'), 3000))]);
    assert.equal(early, 'still waiting', 'the INSERT returned while the synchronous standby was down');
    assert.equal(psql(pg1, "SELECT count(*) FROM pg_stat_activity WHERE wait_event = 'SyncRep'"), '1');
    const status = await run(['status', ...inv()]);
    assert.equal(status.code, 2, status.stdout);
    assert.match(status.stdout, /^pg2\s+stopped\s/m);
    assert.match(status.stdout, /^! pg1: slot pg2 is inactive and keeps .* of WAL$/m);
    assert.match(status.stdout, /^degraded: pg1, pg2$/m);
    // assert_streaming writes its marker without waiting for the standby: it reports pg2 rather than hang.
    const started = Date.now();
    const check = await run(['run', fixture('lab', 'assert-quick.yml'), ...inv(), '-e', 'replication_tls=true']);
    assert.equal(check.code, 2, check.stdout);
    assert.match(check.stdout, /pg2: primary pg1 sees it streaming failed .*; connect failed \(PostgreSQL on pg2 is not accepting connections/);
    assert.ok(Date.now() - started < 30_000, `assert_streaming took ${Date.now() - started} ms`);
    const argv = onHost(pg2, ['pg_ctlcluster', '15', pg2.cluster as string, 'start']);
    execFileSync(argv[0], argv.slice(1));
    assert.equal(await Promise.race([done, new Promise((r) => setTimeout(() => r('timed out'), 30_000))]), 0);
    await until('the row on pg2', () => psql(pg2, "SELECT count(*) FROM sync_probe WHERE v = 'waited for pg2'") === '1');
  });

  it('ANY 1 of both replicas: each is a quorum standby, as assert_streaming checks', async () => {
    const r = await run(['run', site, ...inv(), '-e', 'replication_tls=true', '-e', `tls_ca_dir=${CA_DIR}`, '-e', varsFile('sync-any.yml', 'synchronous_standbys: [pg2, pg3]\nsynchronous_method: ANY\n')]);
    assert.equal(r.code, 0, r.stdout);
    assert.match(r.stdout, /^changed pg1 \| Synchronous standbys .* synchronous_standby_names set via ALTER SYSTEM/m);
    assert.equal(psql(host('pg1'), 'SHOW synchronous_standby_names'), 'ANY 1 ("pg2", "pg3")');
    assert.deepEqual(walsenders(), ['pg2 streaming quorum pg2 true', 'pg3 streaming quorum pg3 true']);
  });

  it('a slot no host owns is reported (status exit 2), kept, and dropped only when the playbook says so; an active slot is never dropped', async () => {
    const pg1 = host('pg1');
    psql(pg1, "SELECT pg_create_physical_replication_slot('old_replica', true)");
    const status = await run(['status', ...inv(), '--json']);
    assert.equal(status.code, 2);
    const primary = (JSON.parse(status.stdout) as Array<{ host: string; unowned_slots: unknown[]; problems: string[] }>)[0];
    assert.deepEqual(primary.unowned_slots.map((s) => (s as { name: string; active: boolean }).name + ' ' + (s as { active: boolean }).active), ['old_replica false']);
    assert.match(primary.problems.join('\n'), /slot old_replica is inactive and keeps .* of WAL \(no inventory host owns it\)/);
    const report = await run(['run', site, ...inv(), ...tlsVars(), '--tags', 'slots']);
    assert.equal(report.code, 0, report.stdout);
    assert.match(report.stdout, /^\[WARNING\] pg1: the replication slot old_replica on pg1 is owned by no inventory host \(inactive, keeps .* of WAL\): drop it with unowned: drop/m);
    assert.equal(psql(pg1, "SELECT count(*) FROM pg_replication_slots WHERE slot_name = 'old_replica'"), '1');
    const drop = await run(['run', site, ...inv(), ...tlsVars(), '--tags', 'slots', '-e', 'unowned_slots=drop']);
    assert.equal(drop.code, 0, drop.stdout);
    assert.match(drop.stdout, /^changed pg1 \| A replication slot for each replica .* drop unowned slot old_replica/m);
    assert.equal(psql(pg1, "SELECT count(*) FROM pg_replication_slots WHERE slot_name = 'old_replica'"), '0');
    const active = await run(['run', fixture('lab', 'drop-slot.yml'), ...inv(), '-e', 'slot=pg3']);
    assert.equal(active.code, 2, active.stdout);
    assert.match(active.stdout, new RegExp(`refusing to drop the slot pg3: it is active, pg3 from ${host('pg3').address.replace(/\./g, '\\.')} streams through it`));
    assert.equal(psql(pg1, "SELECT active FROM pg_replication_slots WHERE slot_name = 'pg3'"), 't');
  });

  it('a replica given the wrong CA refuses to stream, and pgplay says why; a re-run puts the CA back', async () => {
    const [pg1, pg3] = [host('pg1'), host('pg3')];
    const other = await ensureOwnCa(`${LAB_ROOT}/other-ca`, '/');
    writeFileSync(`${pg3.dataDir}.pgplay-tls/root.crt`, other.certPem);
    psql(pg1, "SELECT pg_terminate_backend(pid) FROM pg_stat_replication WHERE application_name = 'pg3'");
    const r = await run(['run', fixture('lab', 'assert-quick.yml'), ...inv(), '-e', 'replication_tls=true']);
    assert.equal(r.code, 2, r.stdout);
    assert.match(r.stdout, /pg3: primary pg1 sees it streaming failed \(no row in pg_stat_replication .*\); .*WAL receiver streaming failed \(status none \(no WAL receiver\)/);
    saidOnce(r.stdout, 'pg3', "it does not trust the primary's certificate: the certificate is not signed by the CA in its sslrootcert (a wrong CA)");
    assert.match(r.stdout, /^\s*pg3: .*could not connect to the primary server: .*certificate verify failed/m);
    const fixed = await run(['run', site, ...inv(), ...tlsVars()]);
    assert.equal(fixed.code, 0, fixed.stdout);
    assert.match(fixed.stdout, /^changed pg3 \| Server certificate .* CA certificate root\.crt/m);
  });

  it("a primary serving a certificate for another name is refused by verify-full, and pgplay says why; a re-run issues the right one", async () => {
    const [pg1] = [host('pg1')];
    const ca = readCa({ dir: CA_DIR }, '/');
    assert.ok(ca);
    if (!ca) return;
    const wrong = await issueServerCertificate(ca, ['198.51.100.250'], 30);
    const dir = `${pg1.dataDir}.pgplay-tls`;
    writeFileSync(`${dir}/server.key`, wrong.key.reveal(), { mode: 0o600 });
    writeFileSync(`${dir}/server.crt`, wrong.certPem);
    psql(pg1, 'SELECT pg_reload_conf()');
    psql(pg1, "SELECT pg_terminate_backend(pid) FROM pg_stat_replication WHERE application_name = 'pg2'");
    const r = await run(['run', fixture('lab', 'assert-quick.yml'), ...inv(), '-e', 'replication_tls=true']);
    assert.equal(r.code, 2, r.stdout);
    assert.match(r.stdout, /pg2: .*WAL receiver streaming failed \(status none \(no WAL receiver\)/);
    saidOnce(r.stdout, 'pg2', "the primary's certificate is for another name: its subjectAltName does not hold the address the standby connects to");
    assert.match(r.stdout, /^\s*pg2: .*server certificate for "198\.51\.100\.250" does not match host name/m);
    const fixed = await run(['run', site, ...inv(), ...tlsVars()]);
    assert.equal(fixed.code, 0, fixed.stdout);
    assert.match(fixed.stdout, /^changed pg1 \| Server certificate .* new certificate and key \(subjectAltName is 198\.51\.100\.250, not /m);
  });

  it('-e tls_rotate=true issues new certificates and keys; the next run warns about those that expire within 30 days', async () => {
    const before = lab.hosts.map(serial);
    const r = await run(['run', site, ...inv(), ...tlsVars(), '-e', 'tls_rotate=true', '-e', 'tls_cert_days=10']);
    assert.equal(r.code, 0, r.stdout);
    const after = lab.hosts.map(serial);
    for (const [i, s] of after.entries()) assert.notEqual(s, before[i], `${lab.hosts[i].name}'s certificate was not rotated`);
    assert.deepEqual(walsenders(), ['pg2 streaming sync pg2 true', 'pg3 streaming async pg3 true']);
    const again = await run(['run', site, ...inv(), ...tlsVars()]);
    assert.equal(again.code, 0, again.stdout);
    for (const name of ['pg1', 'pg2', 'pg3']) {
      assert.match(again.stdout, new RegExp(`^\\[WARNING\\] ${name}: the certificate of ${name} \\(.*server\\.crt\\) expires in 9 days \\(.*\\): re-run with -e tls_rotate=true to rotate it$`, 'm'));
      assert.match(recapLine(again.stdout, name), /changed=0 unreachable=0 failed=0/);
    }
  });

  it('status exits 3 when a host cannot be reached, and still reports the others', async () => {
    await stopSshd(host('pg3'));
    try {
      const r = await run(['status', ...inv()]);
      assert.equal(r.code, 3, r.stdout + r.stderr);
      assert.match(r.stdout, /^pg3\s+unreachable\s/m);
      assert.match(r.stdout, /^pg2\s+standby of pg1\s/m);
      assert.match(r.stdout, /^unreachable: pg3$/m);
    } finally {
      await startSshd(host('pg3'));
    }
  });
});
