// How many first converges the bench takes at a size (bench/measure.ts moreFirstRounds) and how the table names them.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { moreFirstRounds } from '../../../bench/measure';
import { computeResults, markdown, type Results, type RunMeasure, type ToolResult } from '../../../bench/report';

test('first converges: --first-runs turns, then more while a tool has less than --first-seconds of them, at most 3x', () => {
  // Without --first-seconds: exactly --first-runs turns.
  assert.equal(moreFirstRounds(1, [[2.5], [2.4]], 3, 0), true);
  assert.equal(moreFirstRounds(3, [[2.5, 2.6, 2.4], [2.4, 2.3, 2.2]], 3, 0), false);
  // 1+2: 2.5 s a converge, 15 s wanted: six turns, the seventh is not taken.
  const small = (n: number) => Array.from({ length: n }, () => 2.5);
  assert.equal(moreFirstRounds(3, [small(3), small(3)], 3, 15), true);
  assert.equal(moreFirstRounds(5, [small(5), small(5)], 3, 15), true, '12.5 s < 15 s');
  assert.equal(moreFirstRounds(6, [small(6), small(6)], 3, 15), false, '15 s reached');
  // One tool short of the seconds is enough for another turn of every tool.
  assert.equal(moreFirstRounds(3, [[6, 6, 6], [4, 4, 4]], 3, 15), true);
  // 1+16: three converges of 16 s are well past it.
  assert.equal(moreFirstRounds(3, [[16, 17, 15], [15, 16, 16]], 3, 15), false);
  // Never more than three times --first-runs, however short the converges.
  assert.equal(moreFirstRounds(9, [[0.1], [0.1]], 3, 15), false);
  assert.equal(moreFirstRounds(8, [[0.1], [0.1]], 3, 15), true);
});

test("the table's first-converge row says how many converges that size took", () => {
  const counts = { logins: 1, channels: 1, shells: 1, become: 0, processes: 1 };
  const m = (s: number): RunMeasure => ({ s, counts: { max: counts, total: counts } });
  const tool = (firsts: number[]): ToolResult => ({ first: m(firsts[0]), first_runs: firsts.map(m), noop: [m(0.4)], noop_median_s: 0.4, noop_counts_max: counts, log: '' });
  const startup = { node_s: [0.03], pgplay_version_s: [0.03], node_median_s: 0.03, pgplay_version_median_s: 0.03, ratio: 1 };
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
      { variant: 'clean', replicas: 2, hosts: 3, tools: { pgplay: tool([2, 2, 2, 2, 2, 2, 2, 2]), shell: tool([2, 2, 2, 2, 2, 2, 2, 2]) } },
      { variant: 'clean', replicas: 16, hosts: 17, tools: { pgplay: tool([16, 16, 16]), shell: tool([16, 16, 16]) } },
    ],
    fleet: null,
    bench_duration_s: 1,
  } as unknown as Results;
  const text = markdown({ ...r, ...computeResults(r.sizes, r.fleet, r.startup) });
  assert.match(text, /\| first converge, 1\+2 \(median of 8 for pgplay and shell\) \|/);
  assert.match(text, /\| first converge, 1\+16 \(median of 3 for pgplay and shell\) \|/);
});

