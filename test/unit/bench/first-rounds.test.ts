// How many first converges the bench takes at a size (bench/measure.ts moreFirstRounds).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { moreFirstRounds } from '../../../bench/measure';

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
