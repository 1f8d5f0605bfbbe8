// playbooks/site.yml end to end over real ssh on a lab of 1 primary + 2 replicas, then the faults DBAs meet.
// Slow (about 90 s): three sshd + PostgreSQL 15 hosts on 127.0.0.81-83, a dozen pgplay runs.
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fixture, PGPLAY, ROOT, runCli, type CliResult } from '../helpers/cli';
import { parseXml } from '../unit/reporters/xml-check';
import { acceptedConnections, labDown, labUp, psql, startSshd, stopSshd, type Lab, type LabHost } from '../lab/lab';

const LAB_ROOT = '/tmp/pgplay-site-lab-test';
const PASSWORD = 'Rx8-streaming-secret-83';
const site = join(ROOT, 'playbooks', 'site.yml');

let lab: Lab;
const host = (name: string): LabHost => lab.hosts.find((h) => h.name === name) as LabHost;
const env = { PGPLAY_REPLICATION_PASSWORD: PASSWORD };
const run = (args: string[], extraEnv: Record<string, string> = {}, timeoutMs = 180_000) => runCli(args, { env: { ...env, ...extraEnv }, timeoutMs });
const inv = () => ['-i', lab.inventory];

/** Start pgplay in the background; `done` resolves with its result. */
function start(args: string[], extraEnv: Record<string, string> = {}) {
  const child = spawn(process.execPath, [PGPLAY, ...args], { cwd: ROOT, env: { ...process.env, CI: 'true', NO_COLOR: '1', ...env, ...extraEnv }, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (c: string) => (stdout += c));
  child.stderr.setEncoding('utf8').on('data', (c: string) => (stderr += c));
  const done = new Promise<CliResult>((resolve) => child.on('close', (code) => resolve({ code, stdout, stderr })));
  return { child, done, output: () => stdout };
}

const ps = () => execFileSync('ps', ['-eo', 'args'], { encoding: 'utf8' });
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function until(what: string, test: () => boolean, withinMs = 20_000): Promise<void> {
  const deadline = Date.now() + withinMs;
  while (!test()) {
    if (Date.now() > deadline) assert.fail(`timed out waiting for ${what}`);
    await sleep(50);
  }
}

function recapLine(stdout: string, name: string): string {
  return new RegExp(`^${name}\\s+ok=.*$`, 'm').exec(stdout.slice(stdout.lastIndexOf('PLAY RECAP')))?.[0] ?? '';
}

function systemId(h: LabHost): string {
  return psql(h, 'SELECT system_identifier FROM pg_control_system()');
}

function everyLog(): string {
  return lab.hosts.map((h) => [h.logFile, h.sshdLog].filter(existsSync).map((f) => readFileSync(f, 'utf8')).join('\n')).join('\n');
}

describe('site.yml on 1 primary + 2 replicas over ssh', () => {
  before(async () => {
    lab = await labUp(3, { root: LAB_ROOT, base: 80 });
  });
  after(async () => {
    if (!process.env.PGPLAY_KEEP_LAB) await labDown(LAB_ROOT);
  });

  it('--check on fresh hosts reports what would change and changes nothing', async () => {
    const hba = readFileSync(`${host('pg1').configDir}/pg_hba.conf`, 'utf8');
    const ids = ['pg2', 'pg3'].map((n) => systemId(host(n)));
    const r = await run(['run', site, ...inv(), '--check', '--diff']);
    assert.equal(r.code, 0, r.stdout + r.stderr);
    assert.match(r.stdout, /^changed pg1 \| Replication settings .* set via ALTER SYSTEM; needs restart/m);
    assert.match(r.stdout, /^changed pg1 \| Replication role .* create role replicator/m);
    assert.match(r.stdout, /^changed pg1 \| Let each replica stream from the primary \(item=pg2\)/m);
    assert.match(r.stdout, /^\+host\s+replication\s+replicator\s+127\.0\.0\.1\/32\s+scram-sha-256$/m);
    assert.match(r.stdout, /^changed pg2 \| Base backup from the primary .* clone pg1 into /m);
    assert.match(r.stdout, /^skipped pg1 \| Replicas stream/m);
    assert.equal(readFileSync(`${host('pg1').configDir}/pg_hba.conf`, 'utf8'), hba);
    assert.equal(psql(host('pg1'), "SELECT count(*) FROM pg_roles WHERE rolname = 'replicator'"), '0');
    assert.equal(psql(host('pg1'), "SELECT setting FROM pg_settings WHERE name = 'max_wal_senders'"), '10');
    assert.deepEqual(['pg2', 'pg3'].map((n) => systemId(host(n))), ids);
    assert.deepEqual(readdirSync(host('pg2').dir).filter((e) => e.includes('pgplay-old')), []);
  });

  it('the first run converges, in JSON with --diff and JUnit, and the password is in no output, ps line or log', async () => {
    const junit = join(mkdtempSync(join(tmpdir(), 'pgplay-site-')), 'report.xml');
    const seen: string[] = [];
    const sampler = setInterval(() => seen.push(ps()), 40);
    const r = await run(['run', site, ...inv(), '--output', 'json', '--diff', '--junit', junit]);
    clearInterval(sampler);
    assert.equal(r.code, 0, r.stdout + r.stderr);
    const events = r.stdout.trim().split('\n').map((line) => JSON.parse(line) as { kind: string; status?: string; host?: string; exitCode?: number });
    const recap = events[events.length - 1];
    assert.equal(recap.kind, 'recap');
    assert.equal(recap.exitCode, 0);
    assert.ok(events.some((e) => e.kind === 'task_progress' && e.host === 'pg2'), 'the base backup reports progress');
    assert.equal(events.filter((e) => e.kind === 'task_result' && e.status === 'failed').length, 0);
    const report = parseXml(readFileSync(junit, 'utf8'));
    assert.equal(report.attrs.failures, '0');
    assert.ok(seen.length > 5, `ps was sampled ${seen.length} times`);
    for (const [what, text] of [['stdout', r.stdout], ['stderr', r.stderr], ['junit', readFileSync(junit, 'utf8')], ['ps', seen.join('\n')], ['logs', everyLog()]]) {
      assert.equal(text.includes(PASSWORD), false, `the password is in ${what}`);
    }
    // The replica's settings hold no password: libpq reads the 0600 passfile beside the data directory.
    const auto = readFileSync(`${host('pg2').dataDir}/postgresql.auto.conf`, 'utf8');
    assert.match(auto, /primary_conninfo = '.*passfile=/);
    assert.equal(auto.includes(PASSWORD), false);
    const passfile = readdirSync(host('pg2').dir).find((e) => e.startsWith('.pgpass-pgplay'));
    assert.ok(passfile, 'a passfile beside the data directory');
    assert.equal((statSync(join(host('pg2').dir, passfile)).mode & 0o777).toString(8), '600');
    assert.equal((statSync(host('pg2').dataDir).mode & 0o777).toString(8), '700');
  });

  it('a second run changes nothing, over one ssh connection per host, and in plain output too', async () => {
    const before = lab.hosts.map(acceptedConnections);
    const r = await run(['run', site, ...inv(), '--diff']);
    assert.equal(r.code, 0, r.stdout + r.stderr);
    for (const name of ['pg1', 'pg2', 'pg3']) assert.match(recapLine(r.stdout, name), /changed=0 unreachable=0 failed=0/);
    assert.deepEqual(lab.hosts.map((h, i) => acceptedConnections(h) - before[i]), [1, 1, 1]);
    assert.equal(r.stdout.includes(PASSWORD), false);
  });

  it('a row written on the primary is read on both replicas, and a replica refuses an INSERT', async () => {
    psql(host('pg1'), "CREATE TABLE IF NOT EXISTS e2e_probe (v text); INSERT INTO e2e_probe VALUES ('written on pg1')");
    for (const name of ['pg2', 'pg3']) {
      await until(`the row on ${name}`, () => {
        try {
          return psql(host(name), 'SELECT v FROM e2e_probe') === 'written on pg1';
        } catch {
          return false;
        }
      });
      assert.throws(() => psql(host(name), "INSERT INTO e2e_probe VALUES ('on a replica')"), /read-only transaction/);
    }
  });

  it('the replicas\' old data directories are kept, moved aside', () => {
    for (const name of ['pg2', 'pg3']) {
      const old = readdirSync(host(name).dir).filter((e) => e.startsWith('data.pgplay-old-'));
      assert.equal(old.length, 1, name);
      assert.ok(existsSync(join(host(name).dir, old[0], 'PG_VERSION')));
    }
  });

  it('pg_hba.conf has the playbook\'s narrow rule, and --check warns about a rule open to every address', async () => {
    const rules = readFileSync(`${host('pg1').configDir}/pg_hba.conf`, 'utf8').split('\n').filter((l) => /^host\s+replication/.test(l));
    assert.deepEqual(rules.map((l) => l.split(/\s+/).join(' ')), ['host replication replicator 127.0.0.1/32 scram-sha-256']);
    const r = await run(['run', fixture('lab', 'wide-hba.yml'), ...inv(), '--check']);
    assert.equal(r.code, 0);
    assert.match(r.stdout, /\[WARNING\] pg1: rule host all all 0\.0\.0\.0\/0 admits every address/);
    assert.match(r.stdout, /\[WARNING\] pg1: rule host all all 0\.0\.0\.0\/0 uses md5: prefer scram-sha-256/);
    assert.equal(readFileSync(`${host('pg1').configDir}/pg_hba.conf`, 'utf8').includes('0.0.0.0/0'), false);
  });

  it('a base backup aimed at the running primary is refused and loses nothing', async () => {
    const r = await run(['run', fixture('lab', 'clone-onto-primary.yml'), ...inv()]);
    assert.equal(r.code, 2);
    assert.match(r.stdout, /^failed\s+pg1 \| Base backup onto the primary .* holds a running primary with 2 replica\(s\) streaming from it: refusing to replace it/m);
    assert.equal(psql(host('pg1'), 'SELECT v FROM e2e_probe'), 'written on pg1');
    assert.equal(psql(host('pg1'), 'SELECT pg_is_in_recovery()'), 'f');
  });

  it('a replica whose sshd is down is unreachable while the others converge; assert_streaming fails at once for it, saying why', async () => {
    await stopSshd(host('pg3'));
    try {
      const started = Date.now();
      const r = await run(['run', site, ...inv()]);
      assert.equal(r.code, 2, r.stdout);
      assert.match(r.stdout, /^unreachable pg3 \| .* ssh to pg3 \(127\.0\.0\.83:22\): connection refused/m);
      assert.match(recapLine(r.stdout, 'pg3'), /unreachable=1/);
      // Not the 30 s streaming timeout: pg3 is known to be out of the run.
      assert.ok(Date.now() - started < 20_000, `${Date.now() - started} ms`);
      assert.match(r.stdout, /^failed\s+pg1 \| /m);
      assert.match(r.stdout, /pg3: not checked: it was unreachable earlier in this run: ssh to pg3 \(127\.0\.0\.83:22\): connection refused/);
      assert.match(recapLine(r.stdout, 'pg1'), /changed=0 unreachable=0 failed=1/);
      // pg2's six tasks: package, cluster, rejoin, base backup, settings, start.
      assert.match(recapLine(r.stdout, 'pg2'), /ok=6\s+changed=0 unreachable=0 failed=0/);
    } finally {
      await startSshd(host('pg3'));
    }
  });

  it('a changed host key makes the host unreachable, with --accept-new-host-keys too; assert_streaming says so for it', async () => {
    const known = join(mkdtempSync(join(tmpdir(), 'pgplay-kh-')), 'known_hosts');
    const otherKey = join(tmpdir(), `pgplay-other-${process.pid}`);
    execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', otherKey]);
    const forged = readFileSync(otherKey + '.pub', 'utf8').split(' ').slice(0, 2).join(' ');
    writeFileSync(known, readFileSync(lab.knownHosts, 'utf8').replace(/^127\.0\.0\.82 .*$/m, `127.0.0.82 ${forged}`));
    for (const extra of [[], ['--accept-new-host-keys']]) {
      const r = await run(['run', site, ...inv(), '--known-hosts', known, ...extra]);
      assert.equal(r.code, 2, r.stdout);
      assert.match(r.stdout, /^unreachable pg2 \| .*HOST KEY CHANGED for 127\.0\.0\.82/m);
      assert.match(r.stdout, /pg2: not checked: it was unreachable earlier in this run: .*HOST KEY CHANGED for 127\.0\.0\.82/);
      assert.match(recapLine(r.stdout, 'pg1'), /unreachable=0 failed=1/);
      assert.match(recapLine(r.stdout, 'pg3'), /unreachable=0 failed=0/);
    }
    rmSync(otherKey, { force: true });
    rmSync(`${otherKey}.pub`, { force: true });
  });

  it('the primary stopped before assert_streaming: a clear failure naming the host', async () => {
    execFileSync('runuser', ['-u', 'postgres', '--', '/usr/lib/postgresql/15/bin/pg_ctl', '-D', host('pg1').dataDir, '-m', 'fast', '-w', 'stop']);
    try {
      const r = await run(['run', fixture('lab', 'assert.yml'), ...inv()]);
      assert.equal(r.code, 2);
      assert.match(r.stdout, /^failed\s+pg1 \| Replicas stream .* PostgreSQL on pg1 is not accepting connections/m);
    } finally {
      execFileSync('runuser', ['-u', 'postgres', '--', '/usr/lib/postgresql/15/bin/pg_ctl', '-D', host('pg1').configDir, '-l', host('pg1').logFile, '-w', 'start']);
    }
    const again = await run(['run', fixture('lab', 'assert.yml'), ...inv()]);
    assert.equal(again.code, 0, again.stdout);
  });

  it('a wrong replication password fails clearly, prints no password, and puts the old replica back', async () => {
    unlinkSync(`${host('pg3').dataDir}/standby.signal`); // a replica that lost its standby.signal: rebuilt with replace: any
    const id = systemId(host('pg3'));
    const wrong = 'Wrong-pass-77-zz';
    const r = await run(['run', fixture('lab', 'rebuild-replica.yml'), ...inv()], { REBUILD_PASSWORD: wrong });
    assert.equal(r.code, 2);
    assert.match(r.stdout, /^failed\s+pg3 \| Base backup from the primary .*password authentication failed for user "replicator".*is back as it was/m);
    assert.equal(r.stdout.includes(wrong) || r.stderr.includes(wrong), false);
    assert.equal(systemId(host('pg3')), id);
  });

  it('pg_basebackup killed half-way: the run fails, nothing is lost, and the next run completes and streams', async () => {
    const slow = start(['run', fixture('lab', 'rebuild-replica.yml'), ...inv(), '-e', 'rate=1M'], { REBUILD_PASSWORD: PASSWORD });
    await until('pg_basebackup on pg3', () => /pg_basebackup .*-D \S*pgplay-site-lab-test\/pg3\/data/.test(ps()));
    await sleep(1500);
    execFileSync('pkill', ['-KILL', '-f', 'pg_basebackup .*pgplay-site-lab-test/pg3/data']);
    const r = await slow.done;
    assert.equal(r.code, 2, r.stdout);
    assert.match(r.stdout, /^failed\s+pg3 \| Base backup from the primary .* pg_basebackup from pg1 failed/m);
    assert.ok(existsSync(`${host('pg3').dataDir}/PG_VERSION`), 'the old cluster is back');
    const next = await run(['run', fixture('lab', 'rebuild-replica.yml'), ...inv()], { REBUILD_PASSWORD: PASSWORD });
    assert.equal(next.code, 0, next.stdout);
    const verify = await run(['run', site, ...inv()]);
    assert.equal(verify.code, 0, verify.stdout);
    assert.match(recapLine(verify.stdout, 'pg3'), /changed=0/);
  });

  it('a dropped connection fails the host clearly and quickly, never hangs', async () => {
    const t0 = Date.now();
    const job = start(['run', fixture('lab', 'sleep.yml'), ...inv(), '-e', 'target=pg2', '-e', 'seconds=40']);
    await until('the sleep on pg2', () => /^sleep 40$/m.test(ps()));
    await stopSshd(host('pg2'), { dropSessions: true });
    try {
      const r = await job.done;
      assert.equal(r.code, 3, r.stdout);
      assert.match(r.stdout, /^unreachable pg2 \| Sleep .*connection lost/m);
      assert.ok(Date.now() - t0 < 20_000, 'no hang');
      await until('no sleep left on pg2', () => !/^sleep 40$/m.test(ps()), 6000);
    } finally {
      await startSshd(host('pg2'));
    }
  });

  it('a second run on a host in use waits for the first, or fails clearly when told not to wait long', async () => {
    const first = start(['run', fixture('lab', 'sleep.yml'), ...inv(), '-e', 'target=pg2', '-e', 'seconds=4']);
    await until('the first run sleeping', () => /^sleep 4$/m.test(ps()));
    const impatient = await run(['run', site, ...inv(), '-e', 'pgplay_lock_wait=1']);
    assert.equal(impatient.code, 2);
    assert.match(impatient.stdout, /^failed\s+pg2 \| .*host pg2 is busy: another pgplay run holds \/run\/pgplay\/host-pg2\.lock \(waited 1 s\)/m);
    const patient = await run(['run', site, ...inv()]);
    assert.equal((await first.done).code, 0);
    assert.equal(patient.code, 0, patient.stdout);
  });

  it('SIGTERM mid-run stops the remote command, leaves no temp file on the host and exits 99', async () => {
    const job = start(['run', fixture('lab', 'sleep.yml'), ...inv(), '-e', 'target=pg2', '-e', 'seconds=37']);
    await until('the sleep on pg2', () => /^sleep 37$/m.test(ps()));
    job.child.kill('SIGTERM');
    const r = await job.done;
    assert.equal(r.code, 99, r.stdout);
    await until('no sleep left', () => !/^sleep 37$/m.test(ps()), 6000);
    const leftovers = execFileSync('find', [LAB_ROOT, '-name', '*.pgplay-tmp-*'], { encoding: 'utf8' });
    assert.equal(leftovers, '');
    assert.ok(existsSync(`${host('pg2').configDir}/pgplay-note.conf`));
  });

  it('the server logs and sshd logs of the whole suite hold no password', () => {
    const logs = everyLog();
    assert.ok(logs.length > 1000);
    assert.equal(logs.includes(PASSWORD), false);
  });
});
