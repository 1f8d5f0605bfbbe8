import assert from 'node:assert/strict';
import { test } from 'node:test';
import { RecentWork } from '../../../src/executor/recent-work';

test('a read still coming or just come is shared; an old one or a failure is done again', async () => {
  let clock = 1000;
  const recent = new RecentWork(1000, () => clock);
  let reads = 0;
  const read = () => Promise.resolve(++reads);
  // Two hosts ask at once: one read.
  const [a, b] = await Promise.all([recent.get('member pg1', read), recent.get('member pg1', read)]);
  assert.deepEqual([a, b, reads], [1, 1, 1]);
  // Another key is its own read.
  assert.equal(await recent.get('member pg2', read), 2);
  // Half a second later: the same answer.
  clock += 500;
  assert.equal(await recent.get('member pg1', read), 1);
  // A second after it came: read again.
  clock += 600;
  assert.equal(await recent.get('member pg1', read), 3);
  // A failed read is not kept: the next host reads anew.
  let fail = true;
  const flaky = () => (fail ? Promise.reject(new Error('connection lost')) : Promise.resolve('read'));
  await assert.rejects(recent.get('member pg3', flaky), /connection lost/);
  fail = false;
  assert.equal(await recent.get('member pg3', flaky), 'read');
});
