// `npm run bench`: pgplay, Ansible and a plain shell script doing site.yml's job on the same loopback
// lab (1+2 and 1+8 hosts), first converge from fresh hosts and no-op re-runs; a table, ratios, bench/results.json.
//   node dist/bench/run.js [--sizes 2,8] [--noop-runs 3] [--tools pgplay,ansible,shell] [--out bench/results.json]
import { execFileSync, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, tmpdir, totalmem } from 'node:os';
import { join } from 'node:path';
import { inventoryPath, labDown, labUp } from './lab';
import { median, timed } from './measure';
import { computeRatios, markdown, type Results, type SizeResult, type ToolResult } from './report';
import { openSession, TOOL_NAMES, versions, type ToolName } from './tools';

const ROOT = join(__dirname, '..', '..');

interface Options {
  sizes: number[];
  noopRuns: number;
  tools: ToolName[];
  out: string;
}

function parseOptions(argv: string[]): Options {
  const o: Options = { sizes: [2, 8], noopRuns: 3, tools: [...TOOL_NAMES], out: join(ROOT, 'bench', 'results.json') };
  for (let i = 0; i < argv.length; i++) {
    const value = argv[i + 1];
    switch (argv[i]) {
      case '--sizes':
        o.sizes = value.split(',').map(Number);
        i++;
        break;
      case '--noop-runs':
        o.noopRuns = Number(value);
        i++;
        break;
      case '--tools':
        o.tools = value.split(',').filter((t): t is ToolName => (TOOL_NAMES as string[]).includes(t));
        i++;
        break;
      case '--out':
        o.out = value;
        i++;
        break;
      default:
        throw new Error(`unknown option ${argv[i]}`);
    }
  }
  if (o.sizes.some((s) => !Number.isInteger(s) || s < 1) || o.noopRuns < 1 || o.tools.length === 0) throw new Error('bad --sizes, --noop-runs or --tools');
  return o;
}

function say(line: string): void {
  process.stderr.write(`${line}\n`);
}

/** Ansible, psycopg2 and GNU time come from apt the first time (the tests never need them). */
function ensureTools(tools: ToolName[]): void {
  const have = (cmd: string, args: string[]) => spawnSync(cmd, args, { stdio: 'ignore' }).status === 0;
  const ok = have('/usr/bin/time', ['true']) && (!tools.includes('ansible') || (have('ansible-playbook', ['--version']) && have('/usr/bin/python3', ['-c', 'import psycopg2'])));
  if (!ok) execFileSync('bash', [join(ROOT, 'bench', 'setup.sh')], { stdio: 'inherit' });
}

async function measureVersion(log: string): Promise<number[]> {
  const runs: number[] = [];
  for (let i = 0; i < 7; i++) {
    const r = await timed([process.execPath, join(ROOT, 'bin', 'pgplay.js'), '--version'], { cwd: ROOT, log, label: 'pgplay --version' });
    if (r.code !== 0) throw new Error(`pgplay --version exited ${r.code}: ${r.output.trim()}`);
    runs.push(r.ms / 1000);
  }
  return runs;
}

async function measureTool(tool: ToolName, hosts: number, opts: Options, workDir: string): Promise<ToolResult> {
  const log = join(workDir, `${tool}-${hosts}.log`);
  const label = `1+${hosts - 1} ${tool}`;
  labUp(ROOT, hosts);
  const session = openSession(tool, { root: ROOT, inventory: inventoryPath(ROOT), workDir });
  const result: ToolResult = { first_s: null, noop_s: [], noop_median_s: null, log };
  const peaks: number[] = [];
  try {
    const run = async (what: string) => {
      const r = await timed(session.argv, { cwd: ROOT, env: session.env, log, label: `${label} ${what}`, peakMemory: session.peakMemory });
      if (r.peakMb !== undefined) peaks.push(r.peakMb);
      return r;
    };
    const first = await run('first converge');
    if (first.code !== 0) {
      result.error = `exit ${first.code}`;
      say(`${label}: first converge FAILED (exit ${first.code}), see ${log}`);
      return result;
    }
    result.first_s = first.ms / 1000;
    say(`${label}: first converge ${result.first_s.toFixed(2)} s`);
    for (let i = 0; i < opts.noopRuns; i++) {
      const again = await run(`no-op re-run ${i + 1}`);
      const why = again.code === 0 ? session.notNoop(again.output) : `exit ${again.code}`;
      if (why) {
        result.error = `re-run ${i + 1}: ${why}`;
        say(`${label}: re-run ${i + 1} was not a clean no-op (${why}), see ${log}`);
        return result;
      }
      result.noop_s.push(again.ms / 1000);
    }
    result.noop_median_s = median(result.noop_s);
    say(`${label}: no-op re-runs ${result.noop_s.map((s) => s.toFixed(2)).join(', ')} s`);
    if (tool === 'pgplay') await measureStatus(result, opts.noopRuns, log, label);
    return result;
  } finally {
    if (peaks.length > 0) result.peak_rss_mb = Math.round(Math.max(...peaks) * 10) / 10;
    session.close();
  }
}

/** `pgplay status` on the hosts the no-op re-runs just ran on: one connection and one query per host. */
async function measureStatus(result: ToolResult, runs: number, log: string, label: string): Promise<void> {
  result.status_s = [];
  for (let i = 0; i < runs; i++) {
    const r = await timed([process.execPath, join(ROOT, 'bin', 'pgplay.js'), 'status', '-i', inventoryPath(ROOT)], { cwd: ROOT, log, label: `${label} status ${i + 1}` });
    if (r.code !== 0) {
      result.status_median_s = null;
      say(`${label}: pgplay status exited ${r.code}, see ${log}`);
      return;
    }
    result.status_s.push(r.ms / 1000);
  }
  result.status_median_s = median(result.status_s);
  say(`${label}: pgplay status ${result.status_s.map((s) => s.toFixed(2)).join(', ')} s`);
}

function gitCommit(): string {
  const r = spawnSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: ROOT, encoding: 'utf8' });
  return r.status === 0 ? r.stdout.trim() : 'unknown';
}

async function main(): Promise<void> {
  const opts = parseOptions(process.argv.slice(2));
  const started = Date.now();
  ensureTools(opts.tools);
  const workDir = mkdtempSync(join(tmpdir(), 'pgplay-bench-'));
  say(`bench: logs in ${workDir}`);
  // One password for the whole run, only in the environment of the three tools.
  process.env.PGPLAY_REPLICATION_PASSWORD ??= randomBytes(18).toString('base64url');
  const loadBefore = loadavg();
  const versionRuns = await measureVersion(join(workDir, 'version.log'));
  const sizes: SizeResult[] = [];
  try {
    for (const replicas of opts.sizes) {
      const size: SizeResult = { replicas, hosts: replicas + 1, tools: {} };
      sizes.push(size);
      for (const tool of opts.tools) size.tools[tool] = await measureTool(tool, replicas + 1, opts, workDir);
    }
  } finally {
    labDown(ROOT);
  }
  const versionMedian = median(versionRuns);
  const { ratios, targets } = computeRatios(sizes, versionMedian);
  const results: Results = {
    date: new Date().toISOString(),
    commit: gitCommit(),
    machine: { cpus: cpus().length, cpu_model: cpus()[0]?.model ?? 'unknown', loadavg_before: loadBefore, loadavg_after: loadavg(), memory_gb: Math.round(totalmem() / 2 ** 30) },
    versions: versions(),
    noop_runs: opts.noopRuns,
    version_s: { runs: versionRuns, median: versionMedian },
    sizes,
    ratios,
    targets,
    bench_duration_s: (Date.now() - started) / 1000,
  };
  writeFileSync(opts.out, `${JSON.stringify(results, null, 2)}\n`);
  process.stdout.write(`${markdown(results)}\n\nwritten to ${opts.out}\n`);
  if (sizes.some((s) => Object.values(s.tools).some((t) => t?.error))) process.exitCode = 1;
}

main().catch((err: unknown) => {
  say(`bench: ${err instanceof Error ? err.message : String(err)}`);
  process.exitCode = 1;
});
