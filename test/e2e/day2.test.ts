// Day 2 on the network-namespace lab (Debian primary, a Debian and a RHEL-like replica, a spare host): a
// switchover under a writer, site.yml refusing a stale inventory, a switchover interrupted at each step, a replica
// down during a switchover, failovers after a killed postmaster and after a cut link with the old primary rewound
// and its lost commits reported, a replica added and removed.
// Slow (about 3 minutes): one lab of four hosts, some forty pgplay runs; Debian starts wait on pg_ctlcluster.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { appendFileSync, existsSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { parse, stringify } from 'yaml';
import { PGPLAY, ROOT, runCli, type CliResult } from '../helpers/cli';
import { loadHbaLine, loadSetupSql, missingOnHosts, PrimaryProbe, Writer, writeGap, type LoadHost } from '../lab/day2-load';
import { cutLink, netnsLabDown, netnsLabUp, psql, restoreLink, type NetnsLab, type NetnsLabHost } from '../lab/netns-lab';

const LAB_ROOT = '/tmp/pgplay-day2-test';
const LAB_ID = 'day2';
const PASSWORD = 'Rx8-day2-secret-15';
const LOAD_PASSWORD = 'day2-writer-pw';
const playbook = (name: string) => join(ROOT, 'playbooks', `${name}.yml`);
const env = { PGPLAY_REPLICATION_PASSWORD: PASSWORD };

function recapLine(stdout: string, name: string): string {
  return new RegExp(`^${name}\\s+ok=.*$`, 'm').exec(stdout.slice(stdout.lastIndexOf('PLAY RECAP')))?.[0] ?? '';
}

function sqlOr(h: NetnsLabHost, sql: string, fallback: string): string {
  try {
    return psql(h, sql);
  } catch {
    return fallback;
  }
}

/** Hosts whose server runs and is not in recovery. */
function primaries(lab: NetnsLab): string[] {
  // pg4 is a fresh cluster of its own until it is added.
  return lab.hosts.filter((h) => h.name !== 'pg4' && sqlOr(h, 'SELECT pg_is_in_recovery()', 'down') === 'f').map((h) => h.name);
}

function upstreamOf(h: NetnsLabHost): string {
  return sqlOr(h, "SELECT coalesce(status || ' ' || sender_host, 'none') FROM pg_stat_wal_receiver", 'down') || 'none';
}

/** Run pgplay and send SIGINT once its output matches `at`. */
function runInterrupted(args: string[], at: RegExp): Promise<CliResult & { sent: boolean }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [PGPLAY, ...args], { cwd: ROOT, env: { ...process.env, ...env, CI: 'true', NO_COLOR: '1' }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    let sent = false;
    child.stdout.setEncoding('utf8').on('data', (c: string) => {
      stdout += c;
      if (!sent && at.test(stdout)) {
        sent = true;
        child.kill('SIGINT');
      }
    });
    child.stderr.setEncoding('utf8').on('data', (c: string) => (stderr += c));
    const timer = setTimeout(() => child.kill('SIGKILL'), 120_000);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr, sent });
    });
  });
}

describe('day 2: switchover, failover, rejoin, adding and removing replicas', () => {
  let lab: NetnsLab;
  let inventoryFile: string;
  const host = (name: string) => lab.hosts.find((h) => h.name === name) as NetnsLabHost;
  const loadHosts = (): LoadHost[] => lab.hosts.filter((h) => h.name !== 'pg4').map((h) => ({ name: h.name, address: h.address, port: 5432 }));
  const run = (args: string[], timeoutMs = 120_000) => runCli([...args, '-i', inventoryFile, '--output', 'plain'], { env, timeoutMs });

  /** The lab's inventory with `primary` and `replicas` as given (pg4 is kept in a group of its own until added). */
  function writeInventory(primary: string, replicas: string[]): void {
    const doc = parse(readFileSync(lab.inventory, 'utf8'));
    const all = { ...doc.all.children.primary.hosts, ...doc.all.children.replicas.hosts } as Record<string, unknown>;
    const pick = (names: string[]) => ({ hosts: Object.fromEntries(names.map((n) => [n, all[n]])) });
    const spare = Object.keys(all).filter((n) => n !== primary && !replicas.includes(n));
    doc.all.children = { primary: pick([primary]), replicas: pick(replicas), ...(spare.length ? { spare: pick(spare) } : {}) };
    writeFileSync(inventoryFile, stringify(doc));
  }

  before(async () => {
    lab = await netnsLabUp(4, { id: LAB_ID, root: LAB_ROOT, layout: ['debian', 'debian', 'rhel', 'debian'] });
    inventoryFile = `${LAB_ROOT}/day2-inventory.yml`;
    writeInventory('pg1', ['pg2', 'pg3']);
    const r = await run(['run', playbook('site')]);
    assert.equal(r.code, 0, r.stdout + r.stderr);
    // The writer's role and table, and a rule on every host that lets it in from the control machine.
    psql(host('pg1'), loadSetupSql(LOAD_PASSWORD));
    for (const h of lab.hosts) {
      appendFileSync(`${h.configDir}/pg_hba.conf`, `${loadHbaLine(lab.network.control.address)}\n`);
      sqlOr(h, 'SELECT pg_reload_conf()', '');
    }
  });
  after(async () => {
    if (!process.env.PGPLAY_KEEP_LAB) await netnsLabDown(LAB_ROOT, LAB_ID);
  });

  it('a switchover under a writer loses no acknowledged commit; two primaries are never seen', async (t) => {
    const writer = new Writer(loadHosts(), LOAD_PASSWORD);
    const probe = new PrimaryProbe(loadHosts(), LOAD_PASSWORD);
    // A slot the old primary keeps for a consumer of its own: moved to the new primary.
    psql(host('pg1'), "SELECT pg_create_physical_replication_slot('archiver', true)");
    writer.start();
    probe.start();
    await new Promise((r) => setTimeout(r, 1500));
    const started = Date.now();
    const r = await run(['run', playbook('switchover'), '-e', 'new_primary=pg2']);
    const took = Date.now() - started;
    await new Promise((r2) => setTimeout(r2, 1000));
    const report = await writer.stop();
    const seen = await probe.stop();
    assert.equal(r.code, 0, r.stdout + r.stderr);
    assert.match(r.stdout, /^changed pg2 \| Stop the primary cleanly, replay its last WAL here, promote .* stop pg1 cleanly, wait until pg2 replayed its shutdown checkpoint, promote pg2/m);
    assert.match(r.stdout, /^changed pg1 \| Follow the new primary .* start pg1 as a standby of pg2 \(clean follow: it did not diverge\)/m);
    assert.match(r.stdout, /^changed pg3 \| Follow the new primary .* re-point pg3 at pg2 \(reload\)/m);
    assert.match(r.stdout, /^ok\s+pg2 \| Every other host streams from the new primary.* checks passed on pg1, pg3/m);
    assert.deepEqual(report.hosts.map((h) => h.host), ['pg1', 'pg2'], 'the writer moved from pg1 to pg2');
    assert.ok(report.acked.length > 100, `the writer committed ${report.acked.length} rows`);
    const missing = await missingOnHosts(loadHosts(), LOAD_PASSWORD, report.acked);
    assert.deepEqual(missing, { pg1: [], pg2: [], pg3: [] }, 'every acknowledged row is on every host');
    assert.deepEqual(seen.twoPrimaries, [], 'never two primaries');
    assert.equal(psql(host('pg2'), "SELECT count(*) FROM pg_replication_slots WHERE slot_name = 'archiver'"), '1', 'the slot is on the new primary');
    assert.equal(psql(host('pg1'), "SELECT count(*) FROM pg_replication_slots WHERE slot_name = 'archiver'"), '0', 'and no longer on the old one');
    const gap = writeGap(report);
    t.diagnostic(`switchover 1+2 netns under load: ${took} ms in all, writes refused for ${(gap.ms / 1000).toFixed(3)} s, ${report.acked.length} commits acknowledged, ${seen.rounds} probe rounds`);
    assert.ok(gap.ms < 2000, `writes refused for ${gap.ms} ms`);
    // Debian keeps its configuration under /etc: pg1 runs as a standby with its own config file.
    const pid = readFileSync(`${host('pg1').dataDir}/postmaster.pid`, 'utf8').split('\n')[0];
    assert.match(readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').join(' '), /-D \/etc\/postgresql\/15\/pgplay_day2_pg1/);
    // Every standby's passfile names every host, so it can be re-pointed anywhere.
    for (const name of ['pg1', 'pg3']) {
      const h = host(name);
      const pass = readFileSync(`${h.dataDir.replace(/\/[^/]+$/, '')}/.pgpass-pgplay-${h.dataDir.split('/').pop()}`, 'utf8');
      for (const other of ['pg1', 'pg2', 'pg3']) assert.match(pass, new RegExp(`^${host(other).address.replace(/\./g, '\\.')}:5432:`, 'm'), `${name}'s passfile names ${other}`);
    }
  });

  it('a re-run of the switchover changes nothing', async () => {
    const r = await run(['run', playbook('switchover'), '-e', 'new_primary=pg2']);
    assert.equal(r.code, 0, r.stdout);
    for (const name of ['pg1', 'pg2', 'pg3']) assert.match(recapLine(r.stdout, name), /changed=0 unreachable=0 failed=0/);
  });

  it('site.yml with the inventory unchanged refuses, names the primary, and changes nothing', async () => {
    const r = await run(['run', playbook('site')]);
    assert.equal(r.code, 2, r.stdout);
    assert.match(r.stdout, /^failed\s+pg1 \| The inventory's primary is the cluster's primary .* pg2 is the primary now \(timeline 2\): update the inventory \(pg2 under primary, pg1 under replicas\)/m);
    assert.deepEqual(primaries(lab), ['pg2']);
    assert.match(upstreamOf(host('pg1')), /^streaming /);
    // With the inventory updated, site.yml agrees with the servers.
    writeInventory('pg2', ['pg1', 'pg3']);
    const again = await run(['run', playbook('site')]);
    assert.equal(again.code, 0, again.stdout);
    assert.match(recapLine(again.stdout, 'pg3'), /changed=0 .*failed=0/);
  });

  it('a switchover interrupted at each step leaves one primary, named in the output, and a re-run completes it', async (t) => {
    const points: Array<[string, RegExp]> = [
      ['CHECKPOINT', /CHECKPOINT on pg2/],
      ['stop', /stopping pg2 \(fast shutdown\)/],
      ['replay wait', /waiting until pg1 replayed pg2's shutdown checkpoint/],
      ['promote', /promoting pg1/],
      ['rejoin', /starting pg2 as a standby of pg1|Follow the new primary/],
    ];
    for (const [what, at] of points) {
      // The candidate's replay held back: the wait for the shutdown checkpoint lasts until the interrupt.
      if (what === 'replay wait') psql(host('pg1'), 'SELECT pg_wal_replay_pause()');
      // JSON events carry every progress message (plain output shows one per task every 5 s).
      const r = await runInterrupted(['run', playbook('switchover'), '-i', inventoryFile, '--output', 'json', '-e', 'new_primary=pg1'], at);
      const now = primaries(lab);
      t.diagnostic(`interrupted at ${what}: exit ${r.code}, primary ${now.join(',')}`);
      if (what === 'replay wait') {
        psql(host('pg1'), 'SELECT pg_wal_replay_resume()');
        assert.equal(r.code, 99, r.stdout);
        assert.match(r.stdout, /pg2 started again: it is the primary, as it was \(pg1 was not promoted\)/);
      }
      assert.equal(now.length, 1, `one primary after an interrupt at ${what}: ${now.join(', ')}\n${r.stdout}`);
      if (r.code === 99) assert.match(r.stdout, new RegExp(`${now[0]} (is the primary|becomes the primary|was not stopped: it is the primary|started again: it is the primary)`), `${what}: the output names ${now[0]}\n${r.stdout}`);
      const again = await run(['run', playbook('switchover'), '-e', 'new_primary=pg1']);
      assert.equal(again.code, 0, `re-run after ${what}:\n${again.stdout}`);
      assert.deepEqual(primaries(lab), ['pg1']);
      // Back to pg2 for the next point.
      const back = await run(['run', playbook('switchover'), '-e', 'new_primary=pg2']);
      assert.equal(back.code, 0, back.stdout);
    }
  });

  it('a replica down during a switchover: the others follow, and the output says which did not', async () => {
    await cutLink(lab, 'pg3');
    try {
      const r = await run(['run', playbook('switchover'), '-e', 'new_primary=pg1', '-e', 'ansible_timeout=2']);
      // pg3 unreachable, and the proof fails for it: a host failed (2).
      assert.equal(r.code, 2, r.stdout);
      assert.deepEqual(primaries(lab), ['pg1']);
      assert.match(r.stdout, /^unreachable pg3 \|/m);
      assert.match(r.stdout, /pg3: not checked: it was unreachable earlier in this run/);
      assert.match(upstreamOf(host('pg2')), new RegExp(`^streaming ${host('pg1').address.replace(/\./g, '\\.')}$`));
    } finally {
      await restoreLink(lab, 'pg3');
    }
    const r = await run(['run', playbook('rejoin')]);
    assert.equal(r.code, 0, r.stdout);
    assert.match(r.stdout, /^changed pg3 \| Follow the primary .* (re-point pg3 at pg1|rewind)/m);
  });

  it('failover after the primary is killed: the standby with the most WAL is promoted, the others follow, the old primary is rewound or follows', async () => {
    writeInventory('pg1', ['pg2', 'pg3']);
    const writer = new Writer(loadHosts(), LOAD_PASSWORD);
    writer.start();
    await new Promise((r) => setTimeout(r, 1000));
    const pid = Number(readFileSync(`${host('pg1').dataDir}/postmaster.pid`, 'utf8').split('\n')[0]);
    process.kill(pid, 'SIGKILL');
    await new Promise((r) => setTimeout(r, 300));
    const r = await run(['run', playbook('failover')]);
    await new Promise((r2) => setTimeout(r2, 500));
    const report = await writer.stop();
    assert.equal(r.code, 0, r.stdout + r.stderr);
    const now = primaries(lab);
    assert.equal(now.length, 1);
    assert.notEqual(now[0], 'pg1');
    assert.match(r.stdout, new RegExp(`^changed ${now[0]} \\| Promote the standby with the most WAL, or the one named .*it received the most WAL`, 'm'));
    assert.match(r.stdout, /^changed pg1 \| Follow the new primary .* (start pg1 as a standby|rewind it onto)/m);
    // Acknowledged commits missing on the new primary are exactly what pgplay reported lost.
    const missing = (await missingOnHosts(loadHosts(), LOAD_PASSWORD, report.acked, 5000))[now[0]];
    const lost = /(\d+) committed transaction\(s\) of pg1 after \S+ are LOST/.exec(r.stdout);
    if (missing.length > 0) assert.ok(lost && Number(lost[1]) >= missing.length, `${missing.length} acknowledged commit(s) missing, reported: ${lost?.[0] ?? 'nothing'}\n${r.stdout}`);
    for (const name of lab.hosts.map((h) => h.name).filter((n) => n !== now[0] && n !== 'pg4')) assert.match(upstreamOf(host(name)), /^streaming /);
    writeInventory(now[0], ['pg1', 'pg2', 'pg3'].filter((n) => n !== now[0]));
  });

  it('failover after the primary is cut off; it takes writes alone, then is rewound and its lost commits are reported', async () => {
    const primary = primaries(lab)[0];
    const old = host(primary);
    await cutLink(lab, primary);
    const named = ['pg1', 'pg2', 'pg3'].find((n) => n !== primary) as string;
    let r: CliResult;
    try {
      r = await run(['run', playbook('failover'), '-e', `new_primary=${named}`, '-e', 'ansible_timeout=2']);
      assert.equal(r.code, 3, r.stdout);
      assert.match(r.stdout, new RegExp(`${primary} cannot be reached .*: if it still runs as a primary it must be fenced`));
      assert.deepEqual(primaries(lab).sort(), [named, primary].sort(), 'the cut-off primary still runs (it is fenced by the cut)');
      // The cut-off primary takes writes through its own socket: these are lost.
      psql(old, 'CREATE TABLE IF NOT EXISTS cut_writes (i int)');
      for (let i = 0; i < 7; i++) psql(old, `INSERT INTO cut_writes VALUES (${i})`);
    } finally {
      await restoreLink(lab, primary);
    }
    const back = await run(['run', playbook('rejoin')]);
    assert.equal(back.code, 0, back.stdout);
    const lost = new RegExp(`^changed ${primary} \\| Follow the primary .* stop ${primary} \\(it runs as a primary beside ${named}\\), rewind it onto ${named} with pg_rewind.* (\\d+) committed transaction\\(s\\) of ${primary} after \\S+ are LOST`, 'm').exec(back.stdout);
    assert.ok(lost, back.stdout);
    assert.ok(Number(lost[1]) >= 8, `at least the 8 transactions written after the cut are reported lost (${lost[1]})`);
    assert.deepEqual(primaries(lab), [named]);
    assert.match(upstreamOf(old), /^streaming /);
    assert.equal(sqlOr(old, "SELECT to_regclass('cut_writes') IS NULL", ''), 't', 'the rows written after the cut are gone from the rewound host');
    const kept = readdirSync(old.dataDir.replace(/\/[^/]+$/, '')).filter((e) => e.startsWith(`${old.dataDir.split('/').pop()}.pgplay-diverged-`));
    assert.equal(kept.length, 1, 'the diverged WAL is kept aside');
    writeInventory(named, ['pg1', 'pg2', 'pg3'].filter((n) => n !== named));
  });

  it('a replica added to the inventory is cloned while the other replicas report no change; removing it drops its slot and rules', async () => {
    const primary = primaries(lab)[0];
    const replicas = ['pg1', 'pg2', 'pg3'].filter((n) => n !== primary);
    writeInventory(primary, [...replicas, 'pg4']);
    const r = await run(['run', playbook('site')]);
    assert.equal(r.code, 0, r.stdout);
    assert.match(r.stdout, /^changed pg4 \| Base backup from the primary .* clone/m);
    for (const name of replicas) assert.match(recapLine(r.stdout, name), /changed=0 unreachable=0 failed=0/);
    assert.match(upstreamOf(host('pg4')), /^streaming /);
    // site.yml gave the new replica its own slot on the primary, and it streams through it.
    assert.equal(psql(host(primary), "SELECT active FROM pg_replication_slots WHERE slot_name = 'pg4'"), 't');
    const removed = await run(['run', playbook('remove-replica'), '-e', 'replica=pg4']);
    assert.equal(removed.code, 0, removed.stdout);
    assert.equal(psql(host(primary), "SELECT count(*) FROM pg_replication_slots WHERE slot_name = 'pg4'"), '0');
    const hba = readFileSync(`${host(primary).configDir}/pg_hba.conf`, 'utf8');
    assert.doesNotMatch(hba, new RegExp(`replicator\\s+${host('pg4').address.replace(/\./g, '\\.')}/32`));
    assert.equal(existsSync(`${host('pg4').dataDir}/postmaster.pid`), false, 'the removed replica is stopped');
    assert.equal(existsSync(`${host('pg4').dataDir}/PG_VERSION`), true, 'its data directory is kept');
  });
});
