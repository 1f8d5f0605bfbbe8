import { test } from 'node:test';
import assert from 'node:assert/strict';
import { recapLines } from '../../../src/reporters/recap';
import { createPaint, stripAnsi } from '../../../src/reporters/paint';
import { formatDuration, itemLabel, splitMessage, taskLabel } from '../../../src/reporters/format';

const zero = { ok: 0, changed: 0, failed: 0, skipped: 0, unreachable: 0, ignored: 0 };

test('the recap aligns its columns across hosts of different name lengths and counts', () => {
  const lines = recapLines({
    kind: 'recap', time: '', durationMs: 125_000, exitCode: 0, interrupted: false,
    hosts: { 'db-primary-1': { ...zero, ok: 12, changed: 3 }, pg2: { ...zero, ok: 1, skipped: 10 } },
  });
  assert.deepEqual(lines, [
    'PLAY RECAP',
    'db-primary-1  ok=12 changed=3 unreachable=0 failed=0 skipped=0  ignored=0',
    'pg2           ok=1  changed=0 unreachable=0 failed=0 skipped=10 ignored=0',
    'wall time 2 min 05 s',
  ]);
});

test('the recap says when the run was interrupted or ran on no host, and colours only what is not zero', () => {
  const lines = recapLines({ kind: 'recap', time: '', durationMs: 10, exitCode: 99, interrupted: true, hosts: {} });
  assert.deepEqual(lines, ['PLAY RECAP', 'no host ran a task', 'wall time 10 ms (interrupted: not every task ran)']);
  const colored = recapLines({ kind: 'recap', time: '', durationMs: 10, exitCode: 2, interrupted: false, hosts: { pg1: { ...zero, failed: 1 } } }, createPaint(true));
  assert.ok(colored[1].startsWith('\u001b[31mpg1'));
  assert.ok(colored[1].includes('\u001b[31mfailed=1'));
  assert.ok(!colored[1].includes('\u001b[32mok=0'));
  assert.equal(stripAnsi(colored[1]), 'pg1  ok=0 changed=0 unreachable=0 failed=1 skipped=0 ignored=0');
});

test('durations, loop items and multi-line messages read well on one line', () => {
  assert.deepEqual([0, 35.4, 999, 1000, 12_345, 59_999, 60_000, 3_725_000].map(formatDuration), ['0 ms', '35 ms', '999 ms', '1.0 s', '12.3 s', '1 min 00 s', '1 min 00 s', '1 h 02 min 05 s']);
  assert.equal(itemLabel('pg2'), 'pg2');
  assert.equal(itemLabel({ a: 1 }), '{"a":1}');
  assert.equal(itemLabel('x'.repeat(100)).length, 60);
  assert.equal(taskLabel('t', undefined), 't');
  assert.equal(taskLabel('t', 3), 't (item=3)');
  assert.deepEqual(splitMessage('one\r\ntwo  \n\n'), { first: 'one', rest: ['two'] });
  assert.deepEqual(splitMessage(undefined), { first: '', rest: [] });
});
