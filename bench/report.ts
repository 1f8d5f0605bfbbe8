// Results: ratios, the targets of the issues, growth per added host, markdown tables.
import type { RunCounts } from './counters';
import type { LabKind, Variant } from './lab';
import { TOOL_TITLES, type ToolName } from './tools';

/** What a run cost one host at most: logins, exec channels, login shells, become invocations, processes. */
export type Counts = RunCounts['max'];

export interface RunMeasure {
  s: number;
  /** CPU seconds of the tool on the control machine (its children included: ssh clients, Python workers). */
  cpu_s?: number;
  peak_rss_mb?: number;
  /**
   * pgplay with kept connections, at the largest size: the most memory the run and its keeper held at once, each
   * page counted once (the node binary both map is one set of pages), sampled while it ran (their own pages every
   * 50 ms, the files' every 500 ms: bench/memory.ts), never below the run's own peak.
   */
  at_once_mb?: number;
  /** The same samples' largest sum of the two resident sets (what adding VmRSS would say). */
  at_once_rss_sum_mb?: number;
  /** Profile variant: the turns of the profile's loop on the hosts of this run (calibrated right before its tool's runs). */
  profile_loops?: number;
  /** Per host, the most any host saw; and the sums over all hosts. */
  counts: { max: Counts; total: Counts };
}

export interface ToolResult {
  /** The first converge; with --first-runs above 1, the sample of the median time. */
  first: RunMeasure | null;
  /** Every first converge, in the order they ran, when there were several (--first-runs). */
  first_runs?: RunMeasure[];
  /** Why a further first converge failed (it is left out of first_runs). */
  first_errors?: string[];
  noop: RunMeasure[];
  noop_median_s: number | null;
  /** pgplay only: the no-op re-runs again without kept connections (every run logs in), right after the kept ones. */
  noop_direct?: RunMeasure[];
  noop_direct_median_s?: number | null;
  noop_direct_counts_max?: Counts | null;
  /** pgplay only: `pgplay status` on the same hosts, right after the no-op re-runs. */
  status_s?: number[];
  status_median_s?: number | null;
  /** The most any host saw in any of the no-op runs. */
  noop_counts_max: Counts | null;
  /** Profile variant: the turns of the profile's loop for this tool's runs, calibrated right before them. */
  profile_loops?: number;
  /** The machine's speed right before this tool's runs: turns of the bench's bash loop per 100 ms of CPU (higher is faster). */
  loops_per_100ms?: number;
  /** The tool's peak resident memory over all its runs at this size, in MB. */
  peak_rss_mb?: number;
  /** pgplay: the peak resident memory of its keeper of kept connections (a process of its own) at this size, in MB. */
  keeper_peak_rss_mb?: number;
  /**
   * pgplay, at the largest size (where it is sampled): the most memory it held at once in any run: a run with kept
   * connections and its keeper (at_once_mb), or a run without them alone (peak_rss_mb).
   */
  peak_at_once_mb?: number;
  error?: string;
  log?: string;
}

export interface SizeResult {
  variant: Variant;
  replicas: number;
  hosts: number;
  tools: Partial<Record<ToolName, ToolResult>>;
}

export interface FleetResult {
  hosts: number;
  noop_runs: number;
  tools: Partial<Record<ToolName, ToolResult>>;
}

export interface Target {
  name: string;
  value: number | null;
  unit: string;
  limit: string;
  met: boolean | null;
  /** Set on a figure shown beside the targets but not one of them: why. */
  info?: string;
}

export interface Results {
  date: string;
  commit: string;
  lab: LabKind;
  machine: { cpus: number; cpu_model: string; loadavg_before: number[]; loadavg_after: number[]; memory_gb: number };
  versions: Record<string, string>;
  noop_runs: number;
  /** First converges of pgplay and the shell script at each size (the median is kept); absent: one. */
  first_runs?: number;
  /** More of them while one tool's first converges at a size added up to less than this (--first-seconds). */
  first_seconds?: number;
  /**
   * Turns of the profile variant's bash loop for about 100 ms of CPU, calibrated at the bench's start; each tool's
   * runs use their own, calibrated right before them (ToolResult.profile_loops).
   */
  profile: { loops: number; cpu_ms: number };
  startup: { node_s: number[]; pgplay_version_s: number[]; node_median_s: number; pgplay_version_median_s: number; ratio: number };
  sizes: SizeResult[];
  fleet: FleetResult | null;
  ratios: Record<string, number | null>;
  growth: Record<string, number | null>;
  targets: Target[];
  accounting_problem: string | null;
  /**
   * NODE_EXTRA_CA_CERTS as the bench found it, and what it costs a Node start (medians of `node -e 0` with and
   * without it, in turn): the bench runs every tool without it (see bench/README.md). Null: it was not set.
   */
  node_extra_ca_certs?: { file: string; node_with_s: number; node_without_s: number } | null;
  bench_duration_s: number;
}

const round = (v: number, digits = 2) => Math.round(v * 10 ** digits) / 10 ** digits;
const ratio = (a: number | null | undefined, b: number | null | undefined): number | null => (a == null || b == null || b === 0 ? null : round(a / b));
const label = (s: { replicas: number }) => `1+${s.replicas}`;

/** Every first converge of a tool at a size: the samples when there were several, else the one (or none). */
export function firstSamples(t: Pick<ToolResult, 'first' | 'first_runs'>): RunMeasure[] {
  return t.first_runs ?? (t.first ? [t.first] : []);
}

function target(name: string, value: number | null, unit: string, limit: string, ok: (v: number) => boolean): Target {
  return { name, value, unit, limit, met: value === null ? null : ok(value) };
}

/**
 * playbooks/site.yml has grown past the job Ansible and the shell script do (preflight, package, cluster, firewall,
 * TLS, slots, synchronous standbys, rewind rules, rejoin): beside the same-job row, its no-op figures are shown for
 * information, not as the targets, which compare the job with the job.
 */
const SITE_BEYOND_THE_JOB = 'site.yml does more than the job Ansible and the shell script do; the target is the same-job row';

/** pgplay's no-op runs keep their connections as Ansible's do here (ControlPersist=60s); without, shown beside them. */
const WITHOUT_KEPT = 'without ControlPersist: each run logs in to every host (Ansible here keeps its connections 60 s, as pgplay does in the row above)';

function shown(name: string, value: number | null, unit: string, limit: string, info: string): Target {
  return { name, value, unit, limit, met: null, info };
}

export function computeResults(
  sizes: SizeResult[],
  fleet: FleetResult | null,
  startup: Results['startup'],
): Pick<Results, 'ratios' | 'growth' | 'targets'> {
  const ratios: Results['ratios'] = {};
  const growth: Results['growth'] = {};
  const targets: Target[] = [];
  for (const s of sizes) {
    const t = s.tools;
    const key = `${s.variant}_${label(s)}`;
    ratios[`first_pgplay_vs_shell_${key}`] = ratio(t.pgplay?.first?.s, t.shell?.first?.s);
    ratios[`first_ansible_vs_pgplay_${key}`] = ratio(t.ansible?.first?.s, t.pgplay?.first?.s);
    ratios[`first_mitogen_vs_pgplay_${key}`] = ratio(t.mitogen?.first?.s, t.pgplay?.first?.s);
    ratios[`noop_pgplay_vs_shell_${key}`] = ratio(t.pgplay?.noop_median_s, t.shell?.noop_median_s);
    ratios[`noop_ansible_vs_pgplay_${key}`] = ratio(t.ansible?.noop_median_s, t.pgplay?.noop_median_s);
    ratios[`noop_mitogen_vs_pgplay_${key}`] = ratio(t.mitogen?.noop_median_s, t.pgplay?.noop_median_s);
    // The same job as Ansible and the shell script (bench/pgplay/site.yml): like compared with like.
    if (t['pgplay-same']) {
      ratios[`first_pgplay_same_vs_shell_${key}`] = ratio(t['pgplay-same'].first?.s, t.shell?.first?.s);
      ratios[`first_ansible_vs_pgplay_same_${key}`] = ratio(t.ansible?.first?.s, t['pgplay-same'].first?.s);
      ratios[`noop_pgplay_same_vs_shell_${key}`] = ratio(t['pgplay-same'].noop_median_s, t.shell?.noop_median_s);
      ratios[`noop_ansible_vs_pgplay_same_${key}`] = ratio(t.ansible?.noop_median_s, t['pgplay-same'].noop_median_s);
    }
    if (t.pgplay?.status_median_s !== undefined) ratios[`status_vs_noop_pgplay_${key}`] = ratio(t.pgplay.status_median_s, t.pgplay.noop_median_s);
  }
  for (const s of sizes) {
    const key = `${s.variant}_${label(s)}`;
    const first = ratios[`first_pgplay_vs_shell_${key}`];
    targets.push(target(`first converge ${label(s)}, ${s.variant}: pgplay / shell (site.yml)`, first, 'x', '<= 1.25', (v) => v <= 1.25));
    if (s.tools['pgplay-same']) targets.push(target(`first converge ${label(s)}, ${s.variant}: pgplay / shell (same job)`, ratios[`first_pgplay_same_vs_shell_${key}`] ?? null, 'x', '<= 1.25', (v) => v <= 1.25));
    const status = ratios[`status_vs_noop_pgplay_${key}`];
    if (status !== undefined) targets.push(target(`pgplay status ${label(s)}, ${s.variant} / pgplay no-op`, status, 'x', '<= 1.2', (v) => v <= 1.2));
  }
  for (const s of sizes.filter((x) => x.replicas === 8)) {
    const key = `${s.variant}_${label(s)}`;
    const same = s.tools['pgplay-same'];
    if (s.variant === 'clean') {
      const noop = s.tools.pgplay?.noop_median_s ?? null;
      const name = `pgplay no-op ${label(s)}, clean (site.yml)`;
      targets.push(same ? shown(name, noop, 's', '< 0.5', SITE_BEYOND_THE_JOB) : target(name, noop, 's', '< 0.5', (v) => v < 0.5));
      if (same) targets.push(target(`pgplay no-op ${label(s)}, clean (same job)`, same.noop_median_s, 's', '< 0.5', (v) => v < 0.5));
      if (same?.noop_direct_median_s !== undefined) targets.push(shown(`pgplay no-op ${label(s)}, clean (same job), every run logging in`, same.noop_direct_median_s, 's', '< 0.5', WITHOUT_KEPT));
    }
    const name = `no-op ${label(s)}, ${s.variant}: Ansible / pgplay (site.yml)`;
    const siteRatio = ratios[`noop_ansible_vs_pgplay_${key}`];
    targets.push(same ? shown(name, siteRatio, 'x', '>= 20', SITE_BEYOND_THE_JOB) : target(name, siteRatio, 'x', '>= 20', (v) => v >= 20));
    if (same) targets.push(target(`no-op ${label(s)}, ${s.variant}: Ansible / pgplay (same job)`, ratios[`noop_ansible_vs_pgplay_same_${key}`] ?? null, 'x', '>= 20', (v) => v >= 20));
  }
  const fleetNoop = fleet?.tools.pgplay?.noop_median_s ?? null;
  if (fleet) targets.push(target(`pgplay no-op over ${fleet.hosts} sshd-only hosts`, fleetNoop, 's', '< 2', (v) => v < 2));
  targets.push(target('pgplay --version / node -e 0', startup.ratio, 'x', '<= 1.1', (v) => v <= 1.1));
  const biggest = sizes.reduce((m, s) => Math.max(m, s.replicas), 0);
  // A run with kept connections and its keeper are resident at once: the memory both hold, each page once.
  const memory = sizes.filter((s) => s.replicas === biggest).flatMap((s) => [s.tools.pgplay, s.tools['pgplay-same']].filter((t) => t !== undefined).map((t) => t.peak_at_once_mb ?? null));
  if (biggest > 0) targets.push(target(`pgplay peak memory at 1+${biggest} (a run and its keeper at once)`, memory.length === 0 || memory.some((r) => r === null) ? null : Math.max(...(memory as number[])), 'MB', '< 150', (v) => v < 150));
  // What each host saw from pgplay (either playbook), at every size and in both variants.
  const pg = sizes.flatMap((s) => [s.tools.pgplay, s.tools['pgplay-same']]).filter((t): t is ToolResult => !!t);
  const most = (pick: (t: ToolResult) => number | null | undefined) => {
    const values = pg.map(pick);
    return values.length === 0 || values.some((v) => v == null) ? null : Math.max(...(values as number[]));
  };
  targets.push(target('pgplay no-op: ssh logins per host', most((t) => worst(t.noop_counts_max?.logins, t.noop_direct_counts_max?.logins)), '', '<= 1', (v) => v <= 1));
  targets.push(target('pgplay no-op: exec channels per host', most((t) => worst(t.noop_counts_max?.channels, t.noop_direct_counts_max?.channels)), '', '<= 2', (v) => v <= 2));
  targets.push(target('pgplay no-op: login shells per host', most((t) => worst(t.noop_counts_max?.shells, t.noop_direct_counts_max?.shells)), '', '<= 1', (v) => v <= 1));
  // Every first converge counts, when there were several.
  const firstMost = (k: 'logins' | 'channels') => (t: ToolResult) => {
    const values = firstSamples(t).map((m) => m.counts.max[k]);
    return values.length === 0 || values.some((v) => v == null) ? null : Math.max(...(values as number[]));
  };
  targets.push(target('pgplay first converge: ssh logins per host', most(firstMost('logins')), '', '<= 1', (v) => v <= 1));
  targets.push(target('pgplay first converge: exec channels per host', most(firstMost('channels')), '', '<= 3', (v) => v <= 3));

  // Seconds per added host, from 1+2 to 1+8 and from 1+8 to 1+16.
  const variants = [...new Set(sizes.map((s) => s.variant))];
  for (const variant of variants) {
    const mine = sizes.filter((s) => s.variant === variant).sort((a, b) => a.replicas - b.replicas);
    for (let i = 1; i < mine.length; i++) {
      const [a, b] = [mine[i - 1], mine[i]];
      for (const tool of Object.keys(b.tools) as ToolName[]) {
        const step = (x: number | null | undefined, y: number | null | undefined) => (x == null || y == null ? null : round((y - x) / (b.replicas - a.replicas), 3));
        growth[`first_${tool}_${variant}_${label(a)}_to_${label(b)}`] = step(a.tools[tool]?.first?.s, b.tools[tool]?.first?.s);
        growth[`noop_${tool}_${variant}_${label(a)}_to_${label(b)}`] = step(a.tools[tool]?.noop_median_s, b.tools[tool]?.noop_median_s);
      }
    }
  }
  return { ratios, growth, targets };
}

const sec = (v: number | null | undefined) => (v == null ? '—' : `${v.toFixed(2)} s`);
const times = (v: number | null | undefined) => (v == null ? '—' : `${v.toFixed(2)}x`);

function cell(t: ToolResult | undefined, which: 'first' | 'noop'): string {
  if (!t) return '—';
  const failed = `failed${t.error ? ` (${t.error.split('\n')[0].slice(0, 80)})` : ''}`;
  if (which === 'first') return t.first === null ? failed : sec(t.first.s);
  return t.noop_median_s === null ? (t.first === null ? '—' : failed) : sec(t.noop_median_s);
}

/** The larger of two counts (a run with and one without kept connections); null when the first was not taken. */
function worst(a: number | null | undefined, b: number | null | undefined): number | null | undefined {
  return a == null || b == null ? a : Math.max(a, b);
}

/** pgplay's memory at a size: held at once (a run and its keeper, each page once), then each process's own peak. */
function memoryCell(p: ToolResult): string {
  const own = `run ${p.peak_rss_mb?.toFixed(0)} MB${p.keeper_peak_rss_mb !== undefined ? ` + keeper ${p.keeper_peak_rss_mb.toFixed(0)} MB` : ''}`;
  if (p.peak_at_once_mb === undefined) return ` | ${own} (peak resident sets)`;
  return ` (a run and its keeper at once) | ${p.peak_at_once_mb.toFixed(0)} MB (peak resident sets: ${own})`;
}

function countCell(c: Counts | null | undefined): string {
  if (!c) return '—';
  const n = (v: number | null) => (v === null ? '?' : String(v));
  return `${c.logins} / ${c.channels} / ${c.shells} / ${n(c.become)}`;
}

/** How many first converges of pgplay and the shell script a size took (the most of any tool: a failed one is left out). */
function firstCount(s: SizeResult): number {
  return Math.max(1, ...Object.values(s.tools).map((t) => (t ? firstSamples(t).length : 0)));
}

export function markdown(r: Results): string {
  const lines: string[] = [];
  const tools = (['pgplay', 'pgplay-same', 'ansible', 'mitogen', 'shell'] as ToolName[]).filter((t) => r.sizes.some((s) => s.tools[t]));
  const hasSame = tools.includes('pgplay-same');
  // With the same-job row: its ratios in two more columns.
  const sameHead = hasSame ? ' same job / shell | Ansible / same job |' : '';
  const sameCols = (kind: 'first' | 'noop', key: string) =>
    hasSame ? ` ${times(r.ratios[`${kind}_pgplay_same_vs_shell_${key}`])} | ${times(r.ratios[`${kind}_ansible_vs_pgplay_same_${key}`])} |` : '';
  const variants = [...new Set(r.sizes.map((s) => s.variant))];
  for (const variant of variants) {
    const sizes = r.sizes.filter((s) => s.variant === variant);
    lines.push(`**${variant} variant**${variant === 'profile' ? ` (each login shell spends about ${r.profile.cpu_ms} ms of CPU in ~/.bashrc)` : ' (login shells run nothing)'}`, '');
    lines.push(`| measurement | ${tools.map((t) => TOOL_TITLES[t]).join(' | ')} | pgplay / shell | Ansible / pgplay | Mitogen / pgplay |${sameHead}`);
    lines.push(`|---|${tools.map(() => '---:').join('|')}|---:|---:|---:|${hasSame ? '---:|---:|' : ''}`);
    for (const s of sizes) {
      const key = `${variant}_${label(s)}`;
      const firsts = firstCount(s);
      lines.push(
        `| first converge, ${label(s)}${firsts > 1 ? ` (median of ${firsts} for pgplay and shell)` : ''} | ${tools.map((t) => cell(s.tools[t], 'first')).join(' | ')} | ${times(r.ratios[`first_pgplay_vs_shell_${key}`])} | ${times(r.ratios[`first_ansible_vs_pgplay_${key}`])} | ${times(r.ratios[`first_mitogen_vs_pgplay_${key}`])} |${sameCols('first', key)}`,
      );
      lines.push(
        `| no-op, ${label(s)} (median of ${r.noop_runs}) | ${tools.map((t) => cell(s.tools[t], 'noop')).join(' | ')} | ${times(r.ratios[`noop_pgplay_vs_shell_${key}`])} | ${times(r.ratios[`noop_ansible_vs_pgplay_${key}`])} | ${times(r.ratios[`noop_mitogen_vs_pgplay_${key}`])} |${sameCols('noop', key)}`,
      );
      if (tools.some((t) => s.tools[t]?.noop_direct_median_s != null)) {
        const direct = (t: ToolName) => (s.tools[t]?.noop_direct_median_s != null ? sec(s.tools[t]!.noop_direct_median_s!) : '');
        lines.push(`| no-op, ${label(s)}, pgplay logging in each run (no ControlPersist) | ${tools.map(direct).join(' | ')} | | | |${hasSame ? ' | |' : ''}`);
      }
    }
    for (const s of sizes) {
      const p = s.tools.pgplay;
      if (p?.status_median_s != null) lines.push(`| \`pgplay status\`, ${label(s)} (median of ${p.status_s?.length ?? 0}) | ${sec(p.status_median_s)} |${tools.slice(1).map(() => '').join(' |')} | | | |${hasSame ? ' | |' : ''}`);
      if (p?.peak_rss_mb !== undefined) lines.push(`| pgplay peak memory, ${label(s)}${memoryCell(p)} |${tools.slice(1).map(() => '').join(' |')} | | | |${hasSame ? ' | |' : ''}`);
    }
    lines.push('');
    const samples = sizes.flatMap((s) =>
      tools.flatMap((t) => {
        const runs = s.tools[t]?.first_runs;
        return runs && runs.length > 1 ? [`${TOOL_TITLES[t]} ${label(s)}: ${runs.map((m) => m.s.toFixed(1)).join(', ')} s`] : [];
      }),
    );
    if (samples.length > 0) lines.push(`First converges, in the order they ran (taking turns, fresh hosts each time): ${samples.join('; ')}.`, '');
    const speeds = sizes.flatMap((s) => tools.flatMap((t) => (s.tools[t]?.loops_per_100ms ? [`${TOOL_TITLES[t]} ${label(s)} ${s.tools[t]!.loops_per_100ms!.toLocaleString('en-US')}`] : [])));
    if (speeds.length > 0) {
      const what = variant === 'profile' ? `the profile's loop turns as many times: about ${r.profile.cpu_ms} ms of CPU` : 'higher is faster';
      lines.push(`The machine's speed right before each tool's runs, in turns of the bench's bash loop per 100 ms of CPU on the idle machine (${what}): ${speeds.join('; ')}.`, '');
    }
    lines.push(`Per host, the most any host saw in one run: ssh logins / exec channels / login shells / become invocations (sudo, su, runuser), ${variant} variant:`, '');
    lines.push(`| tool, run | ${sizes.map((s) => label(s)).join(' | ')} |`);
    lines.push(`|---|${sizes.map(() => '---').join('|')}|`);
    for (const t of tools) {
      lines.push(`| ${TOOL_TITLES[t]}, first converge | ${sizes.map((s) => countCell(s.tools[t]?.first?.counts.max)).join(' | ')} |`);
      lines.push(`| ${TOOL_TITLES[t]}, no-op | ${sizes.map((s) => countCell(s.tools[t]?.noop_counts_max)).join(' | ')} |`);
      if (sizes.some((s) => s.tools[t]?.noop_direct_counts_max)) lines.push(`| ${TOOL_TITLES[t]}, no-op logging in each run | ${sizes.map((s) => countCell(s.tools[t]?.noop_direct_counts_max)).join(' | ')} |`);
    }
    lines.push('');
    const steps = sizes.slice(1).map((b, i) => [sizes[i], b] as const);
    if (steps.length > 0) {
      lines.push(`Growth, seconds per added host, ${variant} variant:`, '');
      lines.push(`| tool | ${steps.map(([a, b]) => `first ${label(a)} → ${label(b)}`).join(' | ')} | ${steps.map(([a, b]) => `no-op ${label(a)} → ${label(b)}`).join(' | ')} |`);
      lines.push(`|---|${steps.map(() => '---:').join('|')}|${steps.map(() => '---:').join('|')}|`);
      for (const t of tools) {
        const g = (kind: string, a: SizeResult, b: SizeResult) => {
          const v = r.growth[`${kind}_${t}_${variant}_${label(a)}_to_${label(b)}`];
          return v == null ? '—' : `${v.toFixed(3)} s`;
        };
        lines.push(`| ${TOOL_TITLES[t]} | ${steps.map(([a, b]) => g('first', a, b)).join(' | ')} | ${steps.map(([a, b]) => g('noop', a, b)).join(' | ')} |`);
      }
      lines.push('');
    }
  }
  if (r.fleet) {
    const f = r.fleet;
    const ft = (['pgplay', 'ansible', 'mitogen'] as ToolName[]).filter((t) => f.tools[t]);
    lines.push(`**Fleet:** ${f.hosts} hosts that are only an sshd; \`command\` with \`creates\`, a \`template\` already in place, an \`assert\` (bench/fleet):`, '');
    lines.push(`| tool | no-op (median of ${f.noop_runs}) | per host: logins / channels / shells / become |`);
    lines.push('|---|---:|---|');
    for (const t of ft) lines.push(`| ${TOOL_TITLES[t]} | ${cell(f.tools[t], 'noop')} | ${countCell(f.tools[t]?.noop_counts_max)} |`);
    lines.push('');
  }
  lines.push(
    `Start-up: \`node -e 0\` ${sec(r.startup.node_median_s)}, \`pgplay --version\` ${sec(r.startup.pgplay_version_median_s)} (medians of ${r.startup.node_s.length}, run in turn): ${times(r.startup.ratio)}.`,
    '',
  );
  lines.push('| target | measured | wanted | met |');
  lines.push('|---|---:|---|:---:|');
  for (const t of r.targets) {
    const value = t.value === null ? '—' : t.unit === 'x' ? `${t.value.toFixed(2)}x` : t.unit === 's' ? `${t.value.toFixed(3)} s` : t.unit ? `${t.value.toFixed(0)} ${t.unit}` : String(t.value);
    lines.push(`| ${t.name} | ${value} | ${t.limit}${t.unit === 'x' ? 'x' : t.unit ? ` ${t.unit}` : ''} | ${t.info ? `for information: ${t.info}` : t.met === null ? 'not measured' : t.met ? 'yes' : 'NO'} |`);
  }
  lines.push(
    '',
    `${r.lab === 'netns' ? 'Network-namespace lab' : 'Loopback lab'}; ${r.machine.cpus} CPU(s) (${r.machine.cpu_model}), load average ${r.machine.loadavg_before.map((l) => l.toFixed(2)).join(' ')} before, ` +
      `${r.machine.loadavg_after.map((l) => l.toFixed(2)).join(' ')} after; Node ${r.versions.node}, ansible-core ${r.versions.ansible_core} ` +
      `(Debian ansible ${r.versions.ansible_package}, ansible-mitogen ${r.versions.ansible_mitogen}), community.postgresql ${r.versions.community_postgresql}, PostgreSQL ${r.versions.postgresql}, ${r.versions.openssh}, perl ${r.versions.perl}; ` +
      `commit ${r.commit}, ${r.date}, whole bench ${(r.bench_duration_s / 60).toFixed(1)} min.`,
  );
  if (r.node_extra_ca_certs) {
    const c = r.node_extra_ca_certs;
    lines.push('', `This machine sets NODE_EXTRA_CA_CERTS=${c.file}: every Node start then reads and parses those certificates (\`node -e 0\` ${c.node_with_s.toFixed(3)} s with it, ${c.node_without_s.toFixed(3)} s without). A fresh Debian machine does not set it and pgplay makes no TLS connection that needs it, so every tool ran without it.`);
  }
  if (r.accounting_problem) lines.push('', `Become invocations were not counted: process accounting could not be switched on (${r.accounting_problem}).`);
  return lines.join('\n');
}
