// `npm run bench:day2`: pgplay's switchover and repmgr's `standby switchover --siblings-follow` on the same
// network-namespace lab (1+2 Debian hosts), in the same run, each under a writer committing one row per
// transaction: total time, the write-unavailability window, acknowledged commits lost, two primaries seen,
// siblings following; median of the rounds. Writes bench/day2/results.json.
//   node dist/bench/day2/run.js [--rounds 3] [--tools pgplay,repmgr] [--warmup 3] [--out bench/day2/results.json]
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { appendFileSync, writeFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { join } from 'node:path';
import { loadHbaLine, loadSetupSql, missingOnHosts, PrimaryProbe, Writer, writeGap, type LoadHost } from '../../test/lab/day2-load';
import { netnsLabDown, netnsLabUp, psql, type NetnsLab, type NetnsLabHost } from '../../test/lab/netns-lab';
import { prepareNetnsEtc, removeNetnsEtc, repmgrSwitchoverArgv, setUpRepmgr } from './repmgr';

const ROOT = join(__dirname, '..', '..', '..');
const LAB_ID = 'bday2';
const LAB_ROOT = '/tmp/pgplay-bench-day2';
const PASSWORD = 'bench-day2-replication';
const LOAD_PASSWORD = 'bench-day2-writer';
type Tool = 'pgplay' | 'repmgr';

interface Round {
  from: string;
  to: string;
  total_s: number;
  write_window_s: number;
  commits: number;
  lost: number;
  two_primaries_seen: number;
  siblings_following: string;
  exit: number | null;
}

const say = (line: string) => process.stderr.write(`${line}\n`);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

function options(argv: string[]): { rounds: number; tools: Tool[]; warmup: number; out: string } {
  const o = { rounds: 3, tools: ['pgplay', 'repmgr'] as Tool[], warmup: 3, out: join(ROOT, 'bench', 'day2', 'results.json') };
  for (let i = 0; i < argv.length; i += 2) {
    const v = argv[i + 1];
    if (argv[i] === '--rounds') o.rounds = Number(v);
    else if (argv[i] === '--tools') o.tools = v.split(',') as Tool[];
    else if (argv[i] === '--warmup') o.warmup = Number(v);
    else if (argv[i] === '--out') o.out = v;
    else throw new Error(`unknown option ${argv[i]}`);
  }
  return o;
}

function primaryOf(lab: NetnsLab): NetnsLabHost | null {
  return lab.hosts.find((h) => {
    try {
      return psql(h, 'SELECT pg_is_in_recovery()') === 'f';
    } catch {
      return false;
    }
  }) ?? null;
}

function streamsFrom(h: NetnsLabHost, primary: NetnsLabHost): boolean {
  try {
    return psql(h, 'SELECT status, sender_host FROM pg_stat_wal_receiver') === `streaming|${primary.address}`;
  } catch {
    return false;
  }
}

function runTimed(argv: string[], log: string): Promise<{ code: number | null; ms: number }> {
  return new Promise((resolve) => {
    const started = process.hrtime.bigint();
    const child = spawn(argv[0], argv.slice(1), { cwd: ROOT, env: { ...process.env, PGPLAY_REPLICATION_PASSWORD: PASSWORD, CI: 'true', NO_COLOR: '1' }, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (c: Buffer) => (out += c.toString()));
    child.stderr.on('data', (c: Buffer) => (out += c.toString()));
    child.on('close', (code) => {
      const ms = Number(process.hrtime.bigint() - started) / 1e6;
      appendFileSync(log, `$ ${argv.join(' ')}\n${out}\n(exit ${code}, ${ms.toFixed(0)} ms)\n\n`);
      resolve({ code, ms });
    });
  });
}

async function prepareLab(tool: Tool, log: string): Promise<NetnsLab> {
  if (tool === 'repmgr') prepareNetnsEtc(LAB_ID, 3);
  const lab = await netnsLabUp(3, { id: LAB_ID, root: LAB_ROOT, layout: 'debian' });
  const site = await runTimed([process.execPath, join(ROOT, 'bin', 'pgplay.js'), 'run', join(ROOT, 'playbooks', 'site.yml'), '-i', lab.inventory, '--output', 'plain'], log);
  if (site.code !== 0) throw new Error(`site.yml failed (exit ${site.code}): see ${log}`);
  psql(lab.hosts[0], loadSetupSql(LOAD_PASSWORD));
  for (const h of lab.hosts) {
    appendFileSync(`${h.configDir}/pg_hba.conf`, `${loadHbaLine(lab.network.control.address)}\n`);
    psql(h, 'SELECT pg_reload_conf()');
  }
  if (tool === 'repmgr') setUpRepmgr(lab, PASSWORD);
  return lab;
}

async function round(tool: Tool, lab: NetnsLab, warmupS: number, log: string): Promise<Round> {
  const from = primaryOf(lab);
  if (!from) throw new Error('no primary before the switchover');
  const to = lab.hosts.find((h) => h !== from) as NetnsLabHost;
  const hosts: LoadHost[] = lab.hosts.map((h) => ({ name: h.name, address: h.address, port: 5432 }));
  const writer = new Writer(hosts, LOAD_PASSWORD);
  const probe = new PrimaryProbe(hosts, LOAD_PASSWORD);
  writer.start();
  probe.start();
  await sleep(warmupS * 1000);
  const argv =
    tool === 'pgplay'
      ? [process.execPath, join(ROOT, 'bin', 'pgplay.js'), 'run', join(ROOT, 'playbooks', 'switchover.yml'), '-i', lab.inventory, '-e', `new_primary=${to.name}`, '--output', 'plain']
      : repmgrSwitchoverArgv(to);
  const started = Date.now();
  const r = await runTimed(argv, log);
  const ended = Date.now();
  // Siblings following: every other host streams from the new primary within 10 s of the end.
  const others = lab.hosts.filter((h) => h !== to);
  const deadline = Date.now() + 10_000;
  while (!others.every((h) => streamsFrom(h, to)) && Date.now() < deadline) await sleep(50);
  const following = others.filter((h) => streamsFrom(h, to)).map((h) => h.name);
  await sleep(1000);
  const report = await writer.stop();
  const seen = await probe.stop();
  const missing = await missingOnHosts([{ name: to.name, address: to.address, port: 5432 }], LOAD_PASSWORD, report.acked, 10_000);
  return {
    from: from.name,
    to: to.name,
    total_s: r.ms / 1000,
    write_window_s: writeGap(report, started - 1000, ended + 1000).ms / 1000,
    commits: report.acked.length,
    lost: missing[to.name].length,
    two_primaries_seen: seen.twoPrimaries.length,
    siblings_following: following.length === others.length ? 'all' : `${following.join(',') || 'none'} of ${others.map((h) => h.name).join(',')}`,
    exit: r.code,
  };
}

async function main(): Promise<void> {
  const o = options(process.argv.slice(2));
  if (o.tools.includes('repmgr') && spawnSync('/usr/lib/postgresql/15/bin/repmgr', ['--version']).status !== 0) execFileSync('bash', [join(ROOT, 'bench', 'day2', 'setup.sh')], { stdio: 'inherit' });
  const log = `/tmp/pgplay-bench-day2-${Date.now()}.log`;
  say(`bench day2: log in ${log}`);
  const loadBefore = loadavg();
  const results: Record<string, Round[]> = {};
  for (const tool of o.tools) {
    results[tool] = [];
    const lab = await prepareLab(tool, log);
    try {
      for (let i = 0; i < o.rounds; i++) {
        const r = await round(tool, lab, o.warmup, log);
        results[tool].push(r);
        say(`${tool} ${r.from} -> ${r.to}: ${r.total_s.toFixed(2)} s in all, writes refused ${r.write_window_s.toFixed(3)} s, ${r.commits} commits, ${r.lost} lost, two primaries seen ${r.two_primaries_seen}, siblings following ${r.siblings_following}, exit ${r.exit}`);
      }
    } finally {
      await netnsLabDown(LAB_ROOT, LAB_ID);
      removeNetnsEtc(LAB_ID, 3);
    }
  }
  const summary = Object.fromEntries(
    Object.entries(results).map(([tool, rounds]) => [
      tool,
      {
        total_s_median: median(rounds.map((r) => r.total_s)),
        write_window_s_median: median(rounds.map((r) => r.write_window_s)),
        lost_max: Math.max(...rounds.map((r) => r.lost)),
        two_primaries_seen: rounds.reduce((n, r) => n + r.two_primaries_seen, 0),
        siblings_following: rounds.every((r) => r.siblings_following === 'all') ? 'all' : rounds.map((r) => r.siblings_following).join('; '),
        failed_runs: rounds.filter((r) => r.exit !== 0).length,
      },
    ]),
  );
  const out = { date: new Date().toISOString(), commit: spawnSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: ROOT, encoding: 'utf8' }).stdout.trim(), machine: { cpus: cpus().length, loadavg_before: loadBefore, loadavg_after: loadavg() }, rounds: results, summary };
  writeFileSync(o.out, `${JSON.stringify(out, null, 2)}\n`);
  const rows = Object.entries(summary).map(([tool, s]) => `| ${tool} | ${s.total_s_median.toFixed(2)} s | ${s.write_window_s_median.toFixed(3)} s | ${s.lost_max} | ${s.two_primaries_seen === 0 ? 'never' : `${s.two_primaries_seen} probe rounds`} | ${s.siblings_following} | ${s.failed_runs} |`);
  process.stdout.write(['| switchover 1+2 (median of ' + o.rounds + ') | total | writes refused | acknowledged commits lost | two primaries seen | siblings following | runs that failed |', '|---|---:|---:|---:|---|---|---:|', ...rows, '', `written to ${o.out}`, ''].join('\n'));
  if (Object.values(summary).some((s) => s.failed_runs > 0)) process.exitCode = 1;
}

main().catch((err: unknown) => {
  say(`bench day2: ${err instanceof Error ? err.stack ?? err.message : String(err)}`);
  process.exitCode = 1;
});
