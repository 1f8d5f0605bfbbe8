import { test } from 'node:test';
import assert from 'node:assert/strict';
import { formatDiff, lineEdits, unifiedHunks } from '../../../src/reporters/diff';

test('equal texts have no diff', () => {
  assert.deepEqual(unifiedHunks('a\nb\n', 'a\nb\n'), []);
  assert.deepEqual(formatDiff({ path: 'f', before: 'x', after: 'x' }), []);
});

test('the edit script is a longest common subsequence: kept lines stay, the rest is - then +', () => {
  const ops = lineEdits(['a', 'b', 'c', 'd'], ['a', 'c', 'x', 'd']);
  assert.deepEqual(ops.map((o) => `${o.kind}${o.text}`), [' a', '-b', ' c', '+x', ' d']);
});

test('hunks carry three lines of context and diff -u line numbers; far-apart changes get their own hunk', () => {
  const before = Array.from({ length: 20 }, (_, i) => `line ${i + 1}`).join('\n') + '\n';
  const after = before.replace('line 2\n', 'line two\n').replace('line 18\n', '');
  assert.deepEqual(unifiedHunks(before, after), [
    '@@ -1,5 +1,5 @@',
    ' line 1',
    '-line 2',
    '+line two',
    ' line 3',
    ' line 4',
    ' line 5',
    '@@ -15,6 +15,5 @@',
    ' line 15',
    ' line 16',
    ' line 17',
    '-line 18',
    ' line 19',
    ' line 20',
  ]);
});

test('changes whose contexts touch share one hunk', () => {
  const before = 'a\nb\nc\nd\ne\nf\ng\nh\ni\n';
  const after = 'A\nb\nc\nd\ne\nf\ng\nH\ni\n';
  const hunks = unifiedHunks(before, after);
  assert.equal(hunks.filter((l) => l.startsWith('@@')).length, 1);
  assert.equal(hunks[0], '@@ -1,9 +1,9 @@');
});

test('a new file and a removed file count from line 0 on the empty side', () => {
  assert.deepEqual(formatDiff({ path: 'role r', before: '', after: 'LOGIN\n' }), ['--- role r (before)', '+++ role r (after)', '@@ -0,0 +1,1 @@', '+LOGIN']);
  assert.deepEqual(unifiedHunks('x\ny\n', ''), ['@@ -1,2 +0,0 @@', '-x', '-y']);
});

test('a huge rewrite falls back to remove-all/add-all instead of a quadratic table', () => {
  const before = Array.from({ length: 3000 }, (_, i) => `a${i}`).join('\n');
  const after = Array.from({ length: 3000 }, (_, i) => `b${i}`).join('\n');
  const hunks = unifiedHunks(before, after, 0);
  assert.equal(hunks[0], '@@ -1,3000 +1,3000 @@');
  assert.equal(hunks.filter((l) => l.startsWith('-')).length, 3000);
});
