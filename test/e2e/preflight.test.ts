// The preflight on the network-namespace lab: fresh hosts with several problems at once (a firewall that drops one
// replica's connections, too few WAL senders, a wrong password, no pg_hba.conf rule, a replica with another major
// version and too little room), every one reported with its fix before anything changes; then the same lab fixed,
// converged by site.yml (preflight first), and the preflight passing; and what it costs in a no-op run.
// Slow (about 25 s): a lab of three hosts (Debian, Debian, RHEL-like stopped), a tmpfs, a dozen pgplay runs.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { parse, stringify } from 'yaml';
import { fixture, ROOT, runCli } from '../helpers/cli';
import { netnsLabDown, netnsLabUp, onHost, psql, startSshd, stopSshd, type NetnsLab, type NetnsLabHost } from '../lab/netns-lab';

const LAB_ROOT = '/tmp/pgplay-preflight-test';
const LAB_ID = 'pre';
const PASSWORD = 'Pre-flight-secret-41';
const site = join(ROOT, 'playbooks', 'site.yml');
const re = (text: string) => text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
const sh = (argv: string[]) => execFileSync(argv[0], argv.slice(1), { encoding: 'utf8' });

let lab: NetnsLab;
const host = (name: string) => lab.hosts.find((h) => h.name === name) as NetnsLabHost;
const run = (args: string[], env: Record<string, string> = {}) => runCli(args, { env: { PGPLAY_REPLICATION_PASSWORD: PASSWORD, ...env }, timeoutMs: 180_000 });
const small = () => join(LAB_ROOT, 'small');

function recapLine(stdout: string, name: string): string {
  return new RegExp(`^${name}\\s+ok=.*$`, 'm').exec(stdout.slice(stdout.lastIndexOf('PLAY RECAP')))?.[0] ?? '';
}

function restartDebian(h: NetnsLabHost): void {
  sh(onHost(h, ['pg_ctlcluster', '15', h.cluster as string, 'restart']));
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)];
}

describe('preflight on the network-namespace lab', () => {
  before(async () => {
    lab = await netnsLabUp(3, { id: LAB_ID, root: LAB_ROOT, layout: 'mixed' });
  });
  after(async () => {
    try {
      execFileSync('umount', [small()], { stdio: 'ignore' });
    } catch {
      // not mounted (the test that fixes the lab unmounted it)
    }
    if (!process.env.PGPLAY_KEEP_LAB) await netnsLabDown(LAB_ROOT, LAB_ID);
  });

  it('several problems at once: every one reported with its fix, in check mode too, and nothing changed', async () => {
    const [pg1, pg2, pg3] = ['pg1', 'pg2', 'pg3'].map(host);
    // On the primary: too few WAL senders for two copies, the role with another password, a rule for pg2 only, and
    // nftables dropping pg3's packets to port 5432.
    psql(pg1, 'ALTER SYSTEM SET max_wal_senders = 3');
    psql(pg1, "CREATE ROLE replicator LOGIN REPLICATION PASSWORD 'Another-password-9'");
    writeFileSync(`${pg1.configDir}/pg_hba.conf`, `${readFileSync(`${pg1.configDir}/pg_hba.conf`, 'utf8')}host replication replicator ${pg2.address}/32 scram-sha-256\n`);
    restartDebian(pg1);
    for (const args of [['add', 'table', 'inet', 'pgplay_test'], ['add', 'chain', 'inet', 'pgplay_test', 'input', '{ type filter hook input priority 0; }'], ['add', 'rule', 'inet', 'pgplay_test', 'input', 'ip', 'saddr', pg3.address, 'tcp', 'dport', '5432', 'drop']]) {
      sh(onHost(pg1, ['nft', ...args]));
    }
    // pg3 (stopped, as a RHEL install leaves it) gets its data directory on a 4 MB file system, and PostgreSQL 16's programs.
    mkdirSync(small(), { recursive: true });
    sh(['mount', '-t', 'tmpfs', '-o', 'size=4m', 'pgplay-preflight', small()]);
    // pg3's sshd runs in a mount namespace of its own (ip netns exec), copied when it started: started again, it sees the tmpfs.
    await stopSshd(pg3, { dropSessions: true });
    await startSshd(pg3);
    const bin16 = join(LAB_ROOT, 'bin16');
    mkdirSync(bin16, { recursive: true });
    writeFileSync(join(bin16, 'postgres'), '#!/bin/sh\necho "postgres (PostgreSQL) 16.4"\n');
    chmodSync(join(bin16, 'postgres'), 0o755);
    const doc = parse(readFileSync(lab.inventory, 'utf8')) as { all: { children: { replicas: { hosts: Record<string, Record<string, unknown>> } } } };
    // pg_manage_packages: false: the lab's hosts have their server, and pg3's programs are the point here (no
    // package or cluster task is to make one with them when site.yml runs below).
    Object.assign(doc.all.children.replicas.hosts.pg3, { pg_data_dir: join(small(), 'data'), pg_bin_dir: bin16, pg_manage_packages: false });
    const inventory = join(LAB_ROOT, 'problems.yml');
    writeFileSync(inventory, stringify(doc));
    const hba = readFileSync(`${pg1.configDir}/pg_hba.conf`, 'utf8');

    const size = Number(psql(pg1, 'SELECT sum(pg_database_size(oid)) FROM pg_database'));
    for (const mode of [[], ['--check']]) {
      const started = Date.now();
      const r = await run(['run', fixture('lab', 'preflight.yml'), '-i', inventory, ...mode], { PREFLIGHT_PASSWORD: PASSWORD });
      // The dropped connection waits its 2 s once; the other checks run beside it.
      assert.ok(Date.now() - started < 15_000, `${Date.now() - started} ms`);
      assert.equal(r.code, 2, r.stdout + r.stderr);
      const lines = r.stdout.split('\n');
      const head = lines.findIndex((l) => /^failed\s+pg1 \| What would keep the replicas from cloning or streaming \(.*\) - 6 problems would keep replicas from cloning or streaming:$/.test(l));
      assert.ok(head >= 0, r.stdout);
      const findings = lines.slice(head + 1, head + 7).map((l) => l.trim());
      const expected = [
        `^pg1: max_wal_senders is 3: 0 WAL sender\\(s\\) run now and 2 base backup\\(s\\) would run at once, taking two each: 4 needed\\. Fix: set max_wal_senders to at least 4 on pg1 \\(ensure_conf\\) and restart it$`,
        `^pg2: the password given does not log in as replicator on pg1 from pg2 \\(.*password authentication failed for user "replicator".*\\)\\. Fix: give the playbook and the role the same password`,
        `^pg3: no answer from ${re(pg1.address)}:5432 to pg3 within 2 s \\(timed out\\): a firewall drops the connection, or the address is wrong\\. Fix: open TCP port 5432 on pg1 to ${re(pg3.address)} `,
        `^pg3: no rule in pg1's pg_hba\\.conf admits replication connections from pg3 \\(${re(pg3.address)}, user replicator\\)\\. Fix: add "host replication replicator ${re(pg3.address)}/32 scram-sha-256" to pg1's pg_hba\\.conf and reload it`,
        `^pg3: pg3 has PostgreSQL 16 \\(${re(bin16)}\\), pg1 runs 15: a replica needs the same major version\\. Fix: install PostgreSQL 15 on pg3`,
        `^pg3: pg3 has 4\\.0 MB free in ${re(small())} \\(where ${re(small())}/data goes\\); a copy of pg1 needs about [\\d.]+ MB \\(its databases: [\\d.]+ MB, plus 10%\\)\\. Fix: free space there`,
      ];
      findings.forEach((line, i) => assert.match(line, new RegExp(expected[i]), `finding ${i + 1}`));
      assert.ok(size > 4 * 1024 * 1024, 'the primary is bigger than the small file system');
      assert.equal(r.stdout.includes(PASSWORD), false);
    }
    // Read-only: the rules, the settings and the replicas as they were; no copy started.
    assert.equal(readFileSync(`${pg1.configDir}/pg_hba.conf`, 'utf8'), hba);
    assert.equal(psql(pg1, 'SHOW max_wal_senders'), '3');
    assert.equal(existsSync(join(small(), 'data')), false);
    assert.equal(existsSync(`${pg3.dataDir}/postmaster.pid`), false, 'the RHEL-like replica is still stopped');
  });

  it('site.yml stops at the preflight before anything changes, and the replicas are not cloned from that primary', async () => {
    const r = await run(['run', site, '-i', join(LAB_ROOT, 'problems.yml')]);
    assert.equal(r.code, 2, r.stdout);
    assert.match(r.stdout, /^failed\s+pg1 \| Preflight .* - \d+ problems would keep replicas from cloning or streaming:$/m);
    for (const name of ['pg2', 'pg3']) {
      assert.match(r.stdout, new RegExp(`^failed\\s+${name} \\| Base backup from the primary .* - not cloned: the primary pg1 failed earlier in this run \\(task 'Preflight'\\)`, 'm'));
    }
    assert.match(recapLine(r.stdout, 'pg1'), /ok=0\s+changed=0\s+unreachable=0\s+failed=1/);
    assert.equal(psql(host('pg1'), 'SHOW max_wal_senders'), '3', 'nothing changed on the primary');
  });

  it('the lab fixed: site.yml converges with the preflight first; the preflight then passes on its own', async () => {
    const pg1 = host('pg1');
    sh(onHost(pg1, ['nft', 'delete', 'table', 'inet', 'pgplay_test']));
    execFileSync('umount', [small()]);
    await stopSshd(host('pg3'), { dropSessions: true });
    await startSshd(host('pg3'));
    const r = await run(['run', site, '-i', lab.inventory]);
    assert.equal(r.code, 0, r.stdout + r.stderr);
    // The role's other password and pg3's missing rule are what the tasks below the preflight set.
    assert.match(r.stdout, /^ok\s+pg1 \| Preflight .* checks passed for pg2, pg3; noted: pg2 cannot log in as replicator yet; a later task sets the role's password; a later task adds pg3's rule to pg1's pg_hba\.conf/m);
    for (const name of ['pg1', 'pg2', 'pg3']) assert.match(recapLine(r.stdout, name), /unreachable=0 failed=0/);
    const clean = await run(['run', fixture('lab', 'preflight.yml'), '-i', lab.inventory], { PREFLIGHT_PASSWORD: PASSWORD });
    assert.equal(clean.code, 0, clean.stdout);
    assert.match(clean.stdout, /^ok\s+pg1 \| What would keep the replicas from cloning or streaming \(.*\) - \d+ checks passed for pg2, pg3$/m);
  });

  it('what the preflight costs in a no-op run of site.yml (alternate runs with and without it)', async (t) => {
    const wall = (stdout: string) => {
      const m = /^wall time ([\d.]+) (ms|s)$/m.exec(stdout);
      return m ? Number(m[1]) * (m[2] === 's' ? 1000 : 1) : NaN;
    };
    const withIt: number[] = [];
    const without: number[] = [];
    const processWith: number[] = [];
    const processWithout: number[] = [];
    const task: number[] = [];
    const noop = async (skip: boolean) => {
      const started = Date.now();
      const r = await run(['run', site, '-i', lab.inventory, ...(skip ? ['--skip-tags', 'preflight'] : [])]);
      const elapsed = Date.now() - started;
      assert.equal(r.code, 0, r.stdout);
      for (const name of ['pg1', 'pg2', 'pg3']) assert.match(recapLine(r.stdout, name), /changed=0 unreachable=0 failed=0/);
      if (skip) {
        assert.doesNotMatch(r.stdout, /\| Preflight /);
        without.push(wall(r.stdout));
        processWithout.push(elapsed);
      } else {
        withIt.push(wall(r.stdout));
        processWith.push(elapsed);
        task.push(Number(/^ok\s+pg1 \| Preflight \((\d+) ms\)/m.exec(r.stdout)?.[1] ?? NaN));
      }
    };
    // Ten pairs, the order alternating, so neither side always runs on a warmer machine.
    for (let i = 0; i < 10; i++) {
      await noop(i % 2 === 1);
      await noop(i % 2 === 0);
    }
    const pct = (a: number, b: number) => `${(a - b)} ms, ${((100 * (a - b)) / b).toFixed(1)}%`;
    // A printed figure, not a timed assertion (the machine is shared): README.md quotes it.
    t.diagnostic(
      `no-op site.yml on 1+2 netns hosts, medians of 10: pgplay's wall time ${median(withIt)} ms with the preflight, ${median(without)} ms without (cost ${pct(median(withIt), median(without))}); ` +
        `the whole process ${median(processWith)} ms against ${median(processWithout)} ms (cost ${pct(median(processWith), median(processWithout))}); the preflight task itself ${median(task)} ms`,
    );
  });
});
