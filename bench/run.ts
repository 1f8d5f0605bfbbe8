// `npm run bench`: pgplay, Ansible, Ansible with Mitogen and a plain shell script doing site.yml's job on the same
// network-namespace lab, at 1+2, 1+8 and 1+16 hosts, in a clean and a profile variant; first converge from fresh hosts
// and no-op re-runs, with what each run cost each host; then a no-op over a fleet of sshd-only hosts. A table,
// ratios, growth per host, bench/results.json.
//   node dist/bench/run.js [--lab netns|loopback] [--sizes 2,8,16] [--variants clean,profile] [--noop-runs 3] [--first-runs 1] [--first-seconds 0]
//                          [--tools pgplay,pgplay-same,ansible,mitogen,shell] [--fleet 50] [--fleet-tools pgplay,ansible] [--out FILE]
import { execFileSync, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, tmpdir, totalmem } from 'node:os';
import { join } from 'node:path';
import { HostCounters, type RunCounts } from './counters';
import { calibrateProfile, labDown, labUp, writeProfile, type BenchLab, type LabKind, type Variant } from './lab';
import { median, moreFirstRounds, timed } from './measure';
import { processTree, sampleMemory, type MemoryPeak } from './memory';
import { computeResults, firstSamples, markdown, type FleetResult, type Results, type RunMeasure, type SizeResult, type ToolResult } from './report';
import { MITOGEN_STRATEGIES, openSession, TOOL_NAMES, versions, type Job, type ToolName } from './tools';

const ROOT = join(__dirname, '..', '..');
/** Every host at once, as the shell script does (bench/ansible/ansible.cfg sets Ansible's forks to 50 too). */
const FORKS = ['--forks', '50'];
const LAB_ROOT = join(ROOT, '.lab-bench');

interface Options {
  lab: LabKind;
  sizes: number[];
  variants: Variant[];
  noopRuns: number;
  /** First converges of pgplay (both playbooks) and the shell script at each size, taking turns: the median is kept. */
  firstRuns: number;
  /**
   * More first converges, taking turns, while one of those tools' first converges at a size add up to less than this
   * many seconds (at most 3 x firstRuns): a second of a base backup's fsync is noise at 1+16 and a third of 1+2.
   */
  firstSeconds: number;
  tools: ToolName[];
  fleet: number;
  fleetTools: ToolName[];
  out: string;
}

function toolList(value: string): ToolName[] {
  const names = value.split(',').filter(Boolean);
  const bad = names.filter((t) => !(TOOL_NAMES as string[]).includes(t));
  if (bad.length > 0) throw new Error(`unknown tool ${bad.join(', ')} (tools: ${TOOL_NAMES.join(', ')})`);
  return names as ToolName[];
}

function parseOptions(argv: string[]): Options {
  const o: Options = {
    lab: 'netns',
    sizes: [2, 8, 16],
    variants: ['clean', 'profile'],
    noopRuns: 3,
    firstRuns: 1,
    firstSeconds: 0,
    tools: [...TOOL_NAMES],
    fleet: 50,
    fleetTools: ['pgplay', 'ansible'],
    out: join(ROOT, 'bench', 'results.json'),
  };
  for (let i = 0; i < argv.length; i++) {
    const value = argv[i + 1];
    if (value === undefined) throw new Error(`${argv[i]} needs a value`);
    switch (argv[i++]) {
      case '--lab':
        if (value !== 'netns' && value !== 'loopback') throw new Error('--lab is netns or loopback');
        o.lab = value;
        break;
      case '--sizes':
        o.sizes = value.split(',').map(Number);
        break;
      case '--variants':
        o.variants = value.split(',') as Variant[];
        if (o.variants.some((v) => v !== 'clean' && v !== 'profile')) throw new Error('--variants lists clean and/or profile');
        break;
      case '--noop-runs':
        o.noopRuns = Number(value);
        break;
      case '--first-runs':
        o.firstRuns = Number(value);
        break;
      case '--first-seconds':
        o.firstSeconds = Number(value);
        break;
      case '--tools':
        o.tools = toolList(value);
        break;
      case '--fleet':
        o.fleet = Number(value);
        break;
      case '--fleet-tools':
        o.fleetTools = toolList(value).filter((t) => t !== 'shell' && t !== 'pgplay-same');
        break;
      case '--out':
        o.out = value;
        break;
      default:
        throw new Error(`unknown option ${argv[i - 1]}`);
    }
  }
  if (o.sizes.some((s) => !Number.isInteger(s) || s < 1) || !Number.isInteger(o.noopRuns) || o.noopRuns < 1 || !Number.isInteger(o.firstRuns) || o.firstRuns < 1 || !(o.firstSeconds >= 0) || !Number.isInteger(o.fleet) || o.fleet < 0) {
    throw new Error('bad --sizes, --noop-runs, --first-runs, --first-seconds or --fleet');
  }
  return o;
}

function say(line: string): void {
  process.stderr.write(`${line}\n`);
}

/** Ansible, Mitogen, psycopg2 and GNU time come from apt the first time (the tests never need them). */
function ensureTools(): void {
  const have = (cmd: string, args: string[]) => spawnSync(cmd, args, { stdio: 'ignore' }).status === 0;
  const ok = have('/usr/bin/time', ['true']) && have('ansible-playbook', ['--version']) && have('/usr/bin/python3', ['-c', 'import psycopg2']) && existsSync(MITOGEN_STRATEGIES);
  if (!ok) execFileSync('bash', [join(ROOT, 'bench', 'setup.sh')], { stdio: 'inherit' });
}

/** `node -e 0` and `pgplay --version` in turn, so both see the same machine. */
async function measureStartup(log: string): Promise<Results['startup']> {
  const node: number[] = [];
  const version: number[] = [];
  for (let i = 0; i < 15; i++) {
    const a = await timed([process.execPath, '-e', '0'], { cwd: ROOT, log, label: 'node -e 0' });
    const b = await timed([process.execPath, join(ROOT, 'bin', 'pgplay.js'), '--version'], { cwd: ROOT, log, label: 'pgplay --version' });
    if (b.code !== 0) throw new Error(`pgplay --version exited ${b.code}: ${b.output.trim()}`);
    node.push(a.ms / 1000);
    version.push(b.ms / 1000);
  }
  const nodeMedian = median(node);
  const versionMedian = median(version);
  return { node_s: node, pgplay_version_s: version, node_median_s: nodeMedian, pgplay_version_median_s: versionMedian, ratio: Math.round((versionMedian / nodeMedian) * 100) / 100 };
}

/**
 * Some machines (this one) set NODE_EXTRA_CA_CERTS to the system's certificate bundle for every process: each Node
 * start then parses some 140 certificates, about 50 ms of CPU, before any of pgplay runs. A fresh Debian machine does
 * not set it, pgplay never makes a TLS connection that would use it, and the other tools do not read it: measure
 * what it costs, then run every tool without it (said in the results).
 */
async function withoutExtraCaCerts(log: string): Promise<Results['node_extra_ca_certs']> {
  const file = process.env.NODE_EXTRA_CA_CERTS;
  if (!file) return null;
  const withIt: number[] = [];
  const without: number[] = [];
  for (let i = 0; i < 9; i++) {
    withIt.push((await timed([process.execPath, '-e', '0'], { cwd: ROOT, log, label: 'node -e 0 with NODE_EXTRA_CA_CERTS' })).ms / 1000);
    without.push((await timed([process.execPath, '-e', '0'], { cwd: ROOT, env: { NODE_EXTRA_CA_CERTS: '' }, log, label: 'node -e 0 without NODE_EXTRA_CA_CERTS' })).ms / 1000);
  }
  delete process.env.NODE_EXTRA_CA_CERTS;
  const result = { file, node_with_s: round3(median(withIt)), node_without_s: round3(median(without)) };
  say(`bench: NODE_EXTRA_CA_CERTS=${file} is set here (node -e 0 ${result.node_with_s.toFixed(3)} s with it, ${result.node_without_s.toFixed(3)} s without): every tool runs without it`);
  return result;
}

/** The lines of a failed run that say why (Ansible's fatal/ERROR lines, else the last lines). */
function whyFailed(output: string): string {
  const lines = output.split('\n').map((l) => l.trim()).filter(Boolean);
  const said = lines.filter((l) => /^(fatal|ERROR|FAILED)|Error:|Exception|failed:/i.test(l));
  return (said.length > 0 ? said.slice(0, 3) : lines.slice(-3)).join(' | ').slice(0, 600);
}

/** Why become invocations were not counted (process accounting refused), once any run found out. */
let accountingProblem: string | null = null;

interface ToolRun {
  tool: ToolName;
  hosts: number;
  variant: Variant;
  label: string;
  job: Job;
  inventory: (lab: BenchLab) => string;
  sshdOnly?: boolean;
  /** Runs before the timed ones (not timed): the fleet's first run puts its files in place. */
  prepare?: boolean;
  /** A first converge alone, on fresh hosts: another sample of it (see --first-runs). */
  firstOnly?: boolean;
  /**
   * Sample what a run with kept connections and its keeper hold at once (bench/memory.ts): at the largest size only,
   * where the memory target is, as its page walks take a little of the machine's CPU.
   */
  memoryAtOnce?: boolean;
}

async function measureTool(r: ToolRun, opts: Options, workDir: string): Promise<ToolResult> {
  const log = join(workDir, `${r.label.replace(/[^A-Za-z0-9+]+/g, '-')}-${r.tool}.log`);
  const title = `${r.label} ${r.tool}`;
  const lab = labUp(ROOT, opts.lab, LAB_ROOT, r.hosts, { sshdOnly: r.sshdOnly });
  // The machine's speed right before this tool's runs, on the idle machine: the profile's loop is calibrated by it
  // (see calibrateProfile), and it is kept for every tool, so that slow moments of this machine show in the results.
  const speed = calibrateProfile(100);
  const profileLoops = r.variant === 'profile' ? speed : 0;
  writeProfile(lab, r.variant, profileLoops);
  const counters = new HostCounters(lab.hosts, workDir);
  const session = openSession(r.tool, { root: ROOT, inventory: r.inventory(lab), workDir, job: r.job });
  const result: ToolResult = { first: null, noop: [], noop_median_s: null, noop_counts_max: null, log };
  result.loops_per_100ms = speed;
  if (r.variant === 'profile') result.profile_loops = profileLoops;
  const peaks: number[] = [];
  const atOncePeaks: number[] = [];
  try {
    const run = async (what: string, how: { argv: string[]; env: Record<string, string> } = session): Promise<{ code: number | null; output: string; measure: RunMeasure }> => {
      counters.start();
      // A run with kept connections: the memory it and its keeper hold at once, sampled while it runs.
      const keeperPids = r.memoryAtOnce && how === session ? session.keeperPids : undefined;
      const sampled: { peak: MemoryPeak | null } = { peak: null };
      const watch = keeperPids
        ? (pid: number) => {
            const sampler = sampleMemory(() => [...processTree(pid).slice(1), ...keeperPids()]);
            return () => {
              sampled.peak = sampler.stop();
            };
          }
        : undefined;
      const t = await timed(how.argv, { cwd: ROOT, env: how.env, log, label: `${title} ${what}`, peakMemory: true, watch });
      const counts: RunCounts = await counters.stop();
      accountingProblem ??= counters.accountingProblem;
      if (t.peakMb !== undefined) peaks.push(t.peakMb);
      const measure: RunMeasure = { s: round3(t.ms / 1000), counts: { max: counts.max, total: counts.total } };
      if (t.cpuS !== undefined) measure.cpu_s = round3(t.cpuS);
      if (t.peakMb !== undefined) measure.peak_rss_mb = Math.round(t.peakMb * 10) / 10;
      if (sampled.peak) {
        measure.at_once_mb = Math.max(sampled.peak.peakMb, measure.peak_rss_mb ?? 0);
        measure.at_once_rss_sum_mb = sampled.peak.rssSumPeakMb;
      }
      const held = measure.at_once_mb ?? measure.peak_rss_mb;
      if (held !== undefined) atOncePeaks.push(held);
      if (r.variant === 'profile') measure.profile_loops = profileLoops;
      return { code: t.code, output: t.output, measure };
    };
    const first = await run(r.prepare ? 'first run (puts the files in place)' : 'first converge');
    if (first.code !== 0) {
      result.error = `exit ${first.code}: ${whyFailed(first.output)}`;
      say(`${title}: first run FAILED (exit ${first.code}), see ${log}`);
      return result;
    }
    result.first = first.measure;
    say(`${title}: first run ${first.measure.s.toFixed(2)} s, per host ${countLine(first.measure.counts.max)}`);
    if (r.firstOnly) return result;
    for (let i = 0; i < opts.noopRuns; i++) {
      const again = await run(`no-op re-run ${i + 1}`);
      const why = again.code === 0 ? session.notNoop(again.output) : `exit ${again.code}: ${whyFailed(again.output)}`;
      if (why) {
        result.error = `re-run ${i + 1}: ${why}`;
        say(`${title}: re-run ${i + 1} was not a clean no-op (${why}), see ${log}`);
        return result;
      }
      result.noop.push(again.measure);
    }
    result.noop_median_s = median(result.noop.map((m) => m.s));
    result.noop_counts_max = countsMax(result.noop);
    say(`${title}: no-op re-runs ${result.noop.map((m) => m.s.toFixed(2)).join(', ')} s, per host ${countLine(result.noop_counts_max)}`);
    if (session.direct && !r.prepare) {
      // The same no-op with every run logging in by itself (no ControlPersist), right after: both in the results.
      result.noop_direct = [];
      for (let i = 0; i < opts.noopRuns; i++) {
        const again = await run(`no-op re-run ${i + 1} without kept connections`, session.direct);
        if (again.code !== 0 || session.notNoop(again.output)) {
          say(`${title}: a no-op without kept connections failed or changed something, see ${log}`);
          break;
        }
        result.noop_direct.push(again.measure);
      }
      result.noop_direct_median_s = result.noop_direct.length === opts.noopRuns ? median(result.noop_direct.map((m) => m.s)) : null;
      result.noop_direct_counts_max = countsMax(result.noop_direct);
      say(`${title}: no-op re-runs without kept connections ${result.noop_direct.map((m) => m.s.toFixed(2)).join(', ')} s, per host ${countLine(result.noop_direct_counts_max)}`);
    }
    if (r.tool === 'pgplay' && !r.prepare) await measureStatus(result, opts.noopRuns, log, title, session.inventory ?? r.inventory(lab), session.env);
    return result;
  } finally {
    if (peaks.length > 0) result.peak_rss_mb = Math.round(Math.max(...peaks) * 10) / 10;
    const keeper = session.keeperPeakMb?.() ?? null;
    if (keeper !== null) result.keeper_peak_rss_mb = keeper;
    if (keeper !== null && r.memoryAtOnce && atOncePeaks.length > 0) result.peak_at_once_mb = Math.max(...atOncePeaks);
    session.close();
  }
}

/** The most any host saw in any of these runs, per count (null when a count was not taken). */
function countsMax(runs: RunMeasure[]): ToolResult['noop_counts_max'] {
  if (runs.length === 0) return null;
  const keys = ['logins', 'channels', 'shells', 'become', 'processes'] as const;
  return Object.fromEntries(
    keys.map((k) => {
      const values = runs.map((m) => m.counts.max[k]);
      return [k, values.some((v) => v === null) ? null : Math.max(...(values as number[]))];
    }),
  ) as unknown as ToolResult['noop_counts_max'];
}

/** The tools whose first converge is sampled --first-runs times: those of the first-converge ratios. */
const FIRST_SAMPLED: ToolName[] = ['pgplay', 'pgplay-same', 'shell'];

/** Another first converge of a tool: all of them in first_s, and as `first` the run of the median time. */
function addFirstSample(result: ToolResult, sample: ToolResult): void {
  if (!result.first) return;
  const runs = [...firstSamples(result), ...(sample.first ? [sample.first] : [])];
  result.first_runs = runs;
  if (sample.error) result.first_errors = [...(result.first_errors ?? []), sample.error];
  const sorted = [...runs].sort((a, b) => a.s - b.s);
  result.first = sorted[Math.floor((sorted.length - 1) / 2)];
}

/** `pgplay status` on the hosts the no-op re-runs just ran on: one connection and one query per host. */
async function measureStatus(result: ToolResult, runs: number, log: string, title: string, inventory: string, env: Record<string, string>): Promise<void> {
  result.status_s = [];
  for (let i = 0; i < runs; i++) {
    const t = await timed([process.execPath, join(ROOT, 'bin', 'pgplay.js'), 'status', '-i', inventory], { cwd: ROOT, env, log, label: `${title} status ${i + 1}` });
    if (t.code !== 0) {
      result.status_median_s = null;
      say(`${title}: pgplay status exited ${t.code}, see ${log}`);
      return;
    }
    result.status_s.push(round3(t.ms / 1000));
  }
  result.status_median_s = median(result.status_s);
  say(`${title}: pgplay status ${result.status_s.map((v) => v.toFixed(2)).join(', ')} s`);
}

const round3 = (v: number) => Math.round(v * 1000) / 1000;

function countLine(c: RunMeasure['counts']['max'] | null): string {
  if (!c) return '—';
  return `${c.logins} login(s), ${c.channels} channel(s), ${c.shells} shell(s), ${c.become ?? '?'} become, ${c.processes ?? '?'} processes`;
}

function gitCommit(): string {
  const r = spawnSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: ROOT, encoding: 'utf8' });
  return r.status === 0 ? r.stdout.trim() : 'unknown';
}

async function main(): Promise<void> {
  const opts = parseOptions(process.argv.slice(2));
  const started = Date.now();
  ensureTools();
  const workDir = mkdtempSync(join(tmpdir(), 'pgplay-bench-'));
  say(`bench: logs in ${workDir}`);
  // One password for the whole run, only in the environment of the tools.
  process.env.PGPLAY_REPLICATION_PASSWORD ??= randomBytes(18).toString('base64url');
  const extraCa = await withoutExtraCaCerts(join(workDir, 'startup.log'));
  const loadBefore = loadavg();
  const profileLoops = calibrateProfile(100);
  say(`bench: the profile variant's ~/.bashrc turns a bash loop ${profileLoops} times for about 100 ms of CPU here now (calibrated again before each tool's runs)`);
  const startup = await measureStartup(join(workDir, 'startup.log'));
  say(`bench: node -e 0 ${startup.node_median_s.toFixed(3)} s, pgplay --version ${startup.pgplay_version_median_s.toFixed(3)} s`);
  // Every tool controls the server with pg_ctl, as the Ansible playbook and the shell script do (Debian's
  // pg_ctlcluster, which the namespace lab's inventory names, waits in half-second steps and would hide the tools).
  const siteJob: Job = {
    pgplay: { playbook: 'playbooks/site.yml', args: [...FORKS, ...(opts.lab === 'netns' ? ['-e', 'pg_service=pg_ctl'] : [])] },
    pgplaySame: 'bench/pgplay/site.yml',
    ansible: { playbook: 'bench/ansible/site.yml', args: [] },
    shell: 'bench/shell/site.sh',
  };
  const sizes: SizeResult[] = [];
  let fleet: FleetResult | null = null;
  try {
    for (const replicas of opts.sizes) {
      for (const variant of opts.variants) {
        const size: SizeResult = { variant, replicas, hosts: replicas + 1, tools: {} };
        sizes.push(size);
        const memoryAtOnce = replicas === Math.max(...opts.sizes);
        const toolRun = (tool: ToolName, firstOnly = false): ToolRun => ({ tool, hosts: replicas + 1, variant, label: `1+${replicas} ${variant}`, job: siteJob, inventory: (lab) => lab.inventory, firstOnly, memoryAtOnce });
        for (const tool of opts.tools) {
          size.tools[tool] = await measureTool(toolRun(tool), opts, workDir);
        }
        // More first converges of the tools the first-converge ratios compare, taking turns on fresh hosts each time.
        const sampled = opts.tools.filter((t) => FIRST_SAMPLED.includes(t) && size.tools[t]?.first);
        const firstSeconds = () => sampled.map((t) => firstSamples(size.tools[t]!).map((m) => m.s));
        for (let k = 1; sampled.length > 0 && moreFirstRounds(k, firstSeconds(), opts.firstRuns, opts.firstSeconds); k++) {
          for (const tool of sampled) addFirstSample(size.tools[tool]!, await measureTool(toolRun(tool, true), opts, workDir));
        }
      }
    }
    if (opts.fleet > 0 && opts.fleetTools.length > 0) {
      fleet = { hosts: opts.fleet, noop_runs: opts.noopRuns, tools: {} };
      for (const tool of opts.fleetTools) {
        const rootVar = ['-e', `fleet_root=${LAB_ROOT}`];
        const job: Job = { pgplay: { playbook: 'bench/fleet/site.yml', args: [...FORKS, ...rootVar] }, pgplaySame: null, ansible: { playbook: 'bench/fleet/ansible.yml', args: rootVar }, shell: null };
        const fleetRun: ToolRun = { tool, hosts: opts.fleet, variant: 'clean', label: `fleet ${opts.fleet}`, job, inventory: (lab) => lab.inventory, sshdOnly: true, prepare: true };
        fleet.tools[tool] = await measureTool(fleetRun, opts, workDir);
      }
    }
  } finally {
    labDown(ROOT, opts.lab, LAB_ROOT);
  }
  const results: Results = {
    date: new Date().toISOString(),
    commit: gitCommit(),
    lab: opts.lab,
    machine: { cpus: cpus().length, cpu_model: cpus()[0]?.model ?? 'unknown', loadavg_before: loadBefore, loadavg_after: loadavg(), memory_gb: Math.round(totalmem() / 2 ** 30) },
    versions: versions(),
    noop_runs: opts.noopRuns,
    first_runs: opts.firstRuns,
    ...(opts.firstSeconds > 0 ? { first_seconds: opts.firstSeconds } : {}),
    profile: { loops: profileLoops, cpu_ms: 100 },
    startup,
    sizes,
    fleet,
    ...computeResults(sizes, fleet, startup),
    accounting_problem: accountingProblem,
    node_extra_ca_certs: extraCa,
    bench_duration_s: (Date.now() - started) / 1000,
  };
  writeFileSync(opts.out, `${JSON.stringify(results, null, 2)}\n`);
  process.stdout.write(`${markdown(results)}\n\nwritten to ${opts.out}\n`);
  const failed = [...sizes.flatMap((s) => Object.entries(s.tools)), ...Object.entries(fleet?.tools ?? {})].filter(([tool, t]) => t?.error && tool !== 'mitogen');
  if (failed.length > 0) process.exitCode = 1;
}

main().catch((err: unknown) => {
  say(`bench: ${err instanceof Error ? err.message : String(err)}`);
  process.exitCode = 1;
});
