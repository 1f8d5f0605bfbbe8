// Results: ratios, the targets of the issue, a markdown table.
import type { ToolName } from './tools';

export interface ToolResult {
  /** Seconds from fresh hosts to verified streaming; null when the run failed. */
  first_s: number | null;
  noop_s: number[];
  noop_median_s: number | null;
  /** pgplay only: `pgplay status` on the same hosts, right after the no-op re-runs. */
  status_s?: number[];
  status_median_s?: number | null;
  /** Peak resident memory over all runs of this tool at this size (pgplay only). */
  peak_rss_mb?: number;
  error?: string;
  log?: string;
}

export interface SizeResult {
  replicas: number;
  hosts: number;
  tools: Partial<Record<ToolName, ToolResult>>;
}

export interface Target {
  name: string;
  value: number | null;
  unit: string;
  limit: string;
  met: boolean | null;
}

export interface Results {
  date: string;
  commit: string;
  machine: { cpus: number; cpu_model: string; loadavg_before: number[]; loadavg_after: number[]; memory_gb: number };
  versions: Record<string, string>;
  noop_runs: number;
  version_s: { runs: number[]; median: number };
  sizes: SizeResult[];
  ratios: Record<string, number | null>;
  targets: Target[];
  bench_duration_s: number;
}

const ratio = (a: number | null | undefined, b: number | null | undefined): number | null =>
  a == null || b == null || b === 0 ? null : Math.round((a / b) * 100) / 100;

export function computeRatios(sizes: SizeResult[], versionMedian: number): { ratios: Results['ratios']; targets: Target[] } {
  const ratios: Results['ratios'] = {};
  const targets: Target[] = [];
  for (const s of sizes) {
    const p = s.tools.pgplay;
    const a = s.tools.ansible;
    const sh = s.tools.shell;
    const label = `1+${s.replicas}`;
    ratios[`first_pgplay_vs_shell_${label}`] = ratio(p?.first_s, sh?.first_s);
    ratios[`first_ansible_vs_pgplay_${label}`] = ratio(a?.first_s, p?.first_s);
    ratios[`noop_ansible_vs_pgplay_${label}`] = ratio(a?.noop_median_s, p?.noop_median_s);
    ratios[`noop_pgplay_vs_shell_${label}`] = ratio(p?.noop_median_s, sh?.noop_median_s);
    const first = ratios[`first_pgplay_vs_shell_${label}`];
    targets.push({ name: `first converge ${label}: pgplay / shell`, value: first, unit: 'x', limit: '<= 1.25', met: first === null ? null : first <= 1.25 });
    const noop = ratios[`noop_ansible_vs_pgplay_${label}`];
    targets.push({ name: `no-op re-run ${label}: Ansible / pgplay`, value: noop, unit: 'x', limit: '>= 15', met: noop === null ? null : noop >= 15 });
    if (p?.status_median_s !== undefined) {
      const status = (ratios[`status_vs_noop_pgplay_${label}`] = ratio(p.status_median_s, p.noop_median_s));
      targets.push({ name: `pgplay status ${label} / pgplay no-op re-run`, value: status, unit: 'x', limit: '<= 1.2', met: status === null ? null : status <= 1.2 });
    }
  }
  const biggest = sizes.reduce<SizeResult | undefined>((m, s) => (!m || s.replicas > m.replicas ? s : m), undefined);
  const smallest = sizes.reduce<SizeResult | undefined>((m, s) => (!m || s.replicas < m.replicas ? s : m), undefined);
  if (biggest) {
    const label = `1+${biggest.replicas}`;
    const noop = biggest.tools.pgplay?.noop_median_s ?? null;
    targets.push({ name: `pgplay no-op re-run ${label}`, value: noop, unit: 's', limit: '< 0.5', met: noop === null ? null : noop < 0.5 });
    const rss = biggest.tools.pgplay?.peak_rss_mb ?? null;
    targets.push({ name: `pgplay peak memory, ${biggest.hosts} hosts`, value: rss, unit: 'MB', limit: '< 150', met: rss === null ? null : rss < 150 });
  }
  targets.push({ name: 'pgplay --version', value: versionMedian, unit: 's', limit: '< 0.1', met: versionMedian < 0.1 });
  if (biggest && smallest && biggest !== smallest) {
    ratios[`noop_pgplay_1+${biggest.replicas}_vs_1+${smallest.replicas}`] = ratio(biggest.tools.pgplay?.noop_median_s, smallest.tools.pgplay?.noop_median_s);
  }
  return { ratios, targets };
}

const sec = (v: number | null | undefined) => (v == null ? '—' : `${v.toFixed(2)} s`);
const times = (v: number | null | undefined) => (v == null ? '—' : `${v.toFixed(2)}x`);

export function markdown(r: Results): string {
  const lines: string[] = [];
  lines.push('| measurement | pgplay | Ansible | shell (ssh) | pgplay / shell | Ansible / pgplay |');
  lines.push('|---|---:|---:|---:|---:|---:|');
  for (const s of r.sizes) {
    const t = s.tools;
    const label = `1+${s.replicas}`;
    lines.push(`| first converge, ${label} | ${cell(t.pgplay, 'first')} | ${cell(t.ansible, 'first')} | ${cell(t.shell, 'first')} | ${times(r.ratios[`first_pgplay_vs_shell_${label}`])} | ${times(r.ratios[`first_ansible_vs_pgplay_${label}`])} |`);
    lines.push(`| no-op re-run, ${label} (median of ${r.noop_runs}) | ${cell(t.pgplay, 'noop')} | ${cell(t.ansible, 'noop')} | ${cell(t.shell, 'noop')} | ${times(r.ratios[`noop_pgplay_vs_shell_${label}`])} | ${times(r.ratios[`noop_ansible_vs_pgplay_${label}`])} |`);
    if (t.pgplay?.status_median_s != null) lines.push(`| \`pgplay status\`, ${label} (median of ${t.pgplay.status_s?.length ?? 0}) | ${sec(t.pgplay.status_median_s)} | | | | |`);
    const rss = t.pgplay?.peak_rss_mb;
    if (rss !== undefined) lines.push(`| peak memory, ${label} (${s.hosts} hosts) | ${rss.toFixed(0)} MB | | | | |`);
  }
  lines.push(`| \`pgplay --version\` (median of ${r.version_s.runs.length}) | ${sec(r.version_s.median)} | | | | |`);
  lines.push('');
  lines.push('| target | measured | wanted | met |');
  lines.push('|---|---:|---|:---:|');
  for (const t of r.targets) {
    const value = t.value === null ? '—' : t.unit === 'x' ? `${t.value.toFixed(2)}x` : t.unit === 's' ? `${t.value.toFixed(3)} s` : `${t.value.toFixed(0)} ${t.unit}`;
    lines.push(`| ${t.name} | ${value} | ${t.limit}${t.unit === 'x' ? 'x' : ` ${t.unit}`} | ${t.met === null ? 'not measured' : t.met ? 'yes' : 'NO'} |`);
  }
  const cost = Object.entries(r.ratios).find(([k]) => k.startsWith('noop_pgplay_1+'));
  if (cost) lines.push('', `pgplay no-op cost ${cost[0].replace('noop_pgplay_', '').replace('_vs_', ' vs ')}: ${times(cost[1])}`);
  lines.push(
    '',
    `${r.machine.cpus} CPU(s) (${r.machine.cpu_model}), load average ${r.machine.loadavg_before.map((l) => l.toFixed(2)).join(' ')} before, ` +
      `${r.machine.loadavg_after.map((l) => l.toFixed(2)).join(' ')} after; Node ${r.versions.node}, ansible-core ${r.versions.ansible_core} ` +
      `(Debian ansible ${r.versions.ansible_package}), community.postgresql ${r.versions.community_postgresql}, PostgreSQL ${r.versions.postgresql}, ${r.versions.openssh}; ` +
      `commit ${r.commit}, ${r.date}, whole bench ${r.bench_duration_s.toFixed(0)} s.`,
  );
  return lines.join('\n');
}

function cell(t: ToolResult | undefined, which: 'first' | 'noop'): string {
  if (!t) return '—';
  if (which === 'first') return t.first_s === null ? `failed${t.error ? ` (${t.error})` : ''}` : sec(t.first_s);
  return t.noop_median_s === null ? (t.first_s === null ? '—' : `failed${t.error ? ` (${t.error})` : ''}`) : sec(t.noop_median_s);
}
