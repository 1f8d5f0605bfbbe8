// The bench's memory held at once (bench/memory.ts), on real processes: two Node processes share the node binary's
// pages, which count once, while their own (anonymous) pages add up.
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { memoryAtOnce, processTree, sampleMemory } from '../../../bench/memory';

const kb = (pid: number, field: string) => Number(new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1]) * 1024;

/** A Node process holding about `mb` MB of its own, once it says it is ready. */
function holder(mb: number): Promise<ChildProcess> {
  const child = spawn(process.execPath, ['-e', `globalThis.kept = Buffer.alloc(${mb} * 1048576, 1); process.stdout.write('ready'); setInterval(() => {}, 1000)`], { stdio: ['ignore', 'pipe', 'ignore'] });
  return new Promise((resolve, reject) => {
    child.stdout?.once('data', () => resolve(child));
    child.once('exit', (code) => reject(new Error(`the holder exited (${code})`)));
  });
}

test('two node processes: their file pages count once, their own pages each', async (t) => {
  const [a, b] = await Promise.all([holder(20), holder(30)]);
  t.after(() => {
    a.kill();
    b.kill();
  });
  const pa = a.pid!;
  const pb = b.pid!;
  const one = memoryAtOnce([pa]);
  const both = memoryAtOnce([pa, pb]);
  assert.equal(memoryAtOnce([pa, pa]).bytes, one.bytes, 'a process named twice counts once');
  const sum = kb(pa, 'VmRSS') + kb(pb, 'VmRSS');
  // The node binary both map is at least 20 MB resident in each: the pair holds far less than the sum of the two.
  assert.ok(both.bytes < sum - 20 * 1048576, `${both.bytes} held at once, ${sum} added up`);
  assert.ok(both.rssSumBytes >= sum - 1048576 && both.rssSumBytes <= sum + 1048576, 'the resident sets added up, for comparison');
  // Each one's own pages add up: the pair holds at least both buffers, and more than either process alone.
  assert.ok(both.bytes > one.bytes + 30 * 1048576, 'the second process adds its own 30 MB');
  assert.ok(one.bytes >= kb(pa, 'VmRSS') - 1048576, 'one process alone: its resident set');
});

test('a process tree: the process and its children, not the ones gone', async (t) => {
  const parent = spawn('sh', ['-c', 'sleep 30 & sleep 30 & echo started; wait'], { stdio: ['ignore', 'pipe', 'ignore'] });
  t.after(() => {
    for (const pid of processTree(parent.pid!).reverse()) process.kill(pid);
  });
  await new Promise((resolve) => parent.stdout?.once('data', resolve));
  const tree = processTree(parent.pid!);
  assert.equal(tree[0], parent.pid);
  assert.equal(tree.length, 3, `sh and its two sleeps: ${tree.join(' ')}`);
  assert.deepEqual(processTree(2 ** 22 + 1), [2 ** 22 + 1], 'a process that is not there: itself only');
});

test('sampling keeps the most held while the processes ran, though it was let go before the end', async () => {
  // 40 MB more for 400 ms, then gone with its process.
  const child = spawn(process.execPath, ['-e', "process.stdout.write('ready'); setTimeout(() => { globalThis.more = Buffer.alloc(40 * 1048576, 1); setTimeout(() => process.exit(0), 400); }, 200)"], { stdio: ['ignore', 'pipe', 'ignore'] });
  await new Promise((resolve) => child.stdout?.once('data', resolve));
  const pid = child.pid!;
  const before = memoryAtOnce([pid]).bytes / 1048576;
  const sampler = sampleMemory(() => [pid], 20, 100);
  await new Promise((resolve) => child.once('exit', resolve));
  const peak = sampler.stop();
  assert.ok(peak, 'samples were taken');
  assert.ok(peak.peakMb >= before + 35, `peak ${peak.peakMb} MB, ${before.toFixed(1)} MB before the 40 MB`);
  assert.ok(peak.rssSumPeakMb >= peak.peakMb - 1, 'one process: its resident set is what it holds');
});
