// The bench's targets (bench/report.ts): the no-op figures of playbooks/site.yml, which does more than the job the
// other tools do, are shown for information beside the same-job row, which is the target.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { computeResults, markdown, type Results, type RunMeasure, type SizeResult, type ToolResult } from '../../../bench/report';

const counts = { logins: 1, channels: 1, shells: 1, become: 0, processes: 1 };
const tool = (first: number, noop: number): ToolResult => ({
  first: { s: first, counts: { max: counts, total: counts } },
  noop: [{ s: noop, counts: { max: counts, total: counts } }],
  noop_median_s: noop,
  noop_counts_max: counts,
});
const startup = { node_s: [0.03], pgplay_version_s: [0.03], node_median_s: 0.03, pgplay_version_median_s: 0.03, ratio: 1 };

test("site.yml's no-op rows are for information beside the same-job row, and targets without it", () => {
  const size = (withSame: boolean): SizeResult => ({
    variant: 'clean',
    replicas: 8,
    hosts: 9,
    tools: { pgplay: tool(8, 0.8), ...(withSame ? { 'pgplay-same': tool(6, 0.45) } : {}), ansible: tool(26, 13.5), shell: tool(8, 1.3) },
  });
  const withSame = computeResults([size(true)], null, startup).targets;
  const site = withSame.find((t) => t.name === 'pgplay no-op 1+8, clean (site.yml)');
  assert.equal(site?.met, null);
  assert.match(site?.info ?? '', /does more than the job/);
  assert.equal(withSame.find((t) => t.name === 'no-op 1+8, clean: Ansible / pgplay (site.yml)')?.met, null);
  assert.equal(withSame.find((t) => t.name === 'pgplay no-op 1+8, clean (same job)')?.met, true);
  assert.equal(withSame.find((t) => t.name === 'no-op 1+8, clean: Ansible / pgplay (same job)')?.met, true, '13.5 / 0.45 = 30x');
  const alone = computeResults([size(false)], null, startup).targets;
  assert.equal(alone.find((t) => t.name === 'pgplay no-op 1+8, clean (site.yml)')?.met, false, 'without a same-job row, site.yml is the target');
  assert.equal(alone.find((t) => t.name === 'pgplay no-op 1+8, clean (site.yml)')?.info, undefined);
});

test('the no-op without kept connections is shown beside the kept one, and its logins count in the per-host targets', () => {
  const kept = { ...counts, logins: 0 };
  const same: ToolResult = { ...tool(6, 0.3), noop_counts_max: kept, noop_direct: [{ s: 0.55, counts: { max: counts, total: counts } }], noop_direct_median_s: 0.55, noop_direct_counts_max: { ...counts, logins: 2 } };
  const size: SizeResult = { variant: 'clean', replicas: 8, hosts: 9, tools: { pgplay: { ...tool(8, 0.8), noop_counts_max: kept, peak_rss_mb: 90, keeper_peak_rss_mb: 55 }, 'pgplay-same': same, ansible: tool(26, 13.5), shell: tool(8, 1.3) } };
  const targets = computeResults([size], null, startup).targets;
  assert.equal(targets.find((t) => t.name === 'pgplay no-op 1+8, clean (same job)')?.met, true);
  const direct = targets.find((t) => t.name === 'pgplay no-op 1+8, clean (same job), every run logging in');
  assert.deepEqual([direct?.value, direct?.met], [0.55, null]);
  assert.match(direct?.info ?? '', /without ControlPersist/);
  const logins = targets.find((t) => t.name === 'pgplay no-op: ssh logins per host');
  assert.deepEqual([logins?.value, logins?.met], [2, false], 'the worse of the two runs');
});

test('peak memory is what a run and its keeper hold at once, for either playbook; without the figure it is not known', () => {
  const name = 'pgplay peak memory at 1+8 (a run and its keeper at once)';
  const size = (site: number | undefined, same: number): SizeResult => ({
    variant: 'clean',
    replicas: 8,
    hosts: 9,
    tools: {
      pgplay: { ...tool(8, 0.8), peak_rss_mb: 90, keeper_peak_rss_mb: 70, peak_at_once_mb: site },
      'pgplay-same': { ...tool(6, 0.3), peak_rss_mb: 80, keeper_peak_rss_mb: 70, peak_at_once_mb: same },
    },
  });
  const met = computeResults([size(120, 110)], null, startup).targets.find((t) => t.name === name);
  assert.deepEqual([met?.value, met?.met], [120, true], 'not the sum of the two peaks (160)');
  const missed = computeResults([size(120, 151)], null, startup).targets.find((t) => t.name === name);
  assert.deepEqual([missed?.value, missed?.met], [151, false], 'the same-job playbook counts too');
  const unknown = computeResults([size(undefined, 110)], null, startup).targets.find((t) => t.name === name);
  assert.deepEqual([unknown?.value, unknown?.met], [null, null]);
});

test("the table's first-converge row says how many converges that size took", () => {
  const m = (s: number): RunMeasure => ({ s, counts: { max: counts, total: counts } });
  const sampled = (firsts: number[]): ToolResult => ({ first: m(firsts[0]), first_runs: firsts.map(m), noop: [m(0.4)], noop_median_s: 0.4, noop_counts_max: counts, log: '' });
  const r = {
    date: '2026-12-03T00:00:00Z',
    commit: 'abc',
    lab: 'netns',
    machine: { cpus: 2, cpu_model: 'x', loadavg_before: [0, 0, 0], loadavg_after: [0, 0, 0], memory_gb: 24 },
    versions: {},
    noop_runs: 1,
    first_runs: 3,
    first_seconds: 15,
    profile: { loops: 1, cpu_ms: 100 },
    startup,
    sizes: [
      { variant: 'clean', replicas: 2, hosts: 3, tools: { pgplay: sampled([2, 2, 2, 2, 2, 2, 2, 2]), shell: sampled([2, 2, 2, 2, 2, 2, 2, 2]) } },
      { variant: 'clean', replicas: 16, hosts: 17, tools: { pgplay: sampled([16, 16, 16]), shell: sampled([16, 16, 16]) } },
    ],
    fleet: null,
    bench_duration_s: 1,
  } as unknown as Results;
  const text = markdown({ ...r, ...computeResults(r.sizes, r.fleet, r.startup) });
  assert.match(text, /\| first converge, 1\+2 \(median of 8 for pgplay and shell\) \|/);
  assert.match(text, /\| first converge, 1\+16 \(median of 3 for pgplay and shell\) \|/);
});
