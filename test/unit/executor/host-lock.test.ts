import { test } from 'node:test';
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { LocalConnection } from '../../../src/connection/local';
import { acquireHostLock } from '../../../src/executor/host-lock';

test('a second run waits for the host lock, then fails clearly; the lock frees on release', async () => {
  const path = `/tmp/pgplay-lock-test-${process.pid}.lock`;
  const a = new LocalConnection('pg1');
  const b = new LocalConnection('pg1');
  const first = await acquireHostLock(a, 'pg1', path, 0);
  const started = Date.now();
  await assert.rejects(acquireHostLock(b, 'pg1', path, 1), /host pg1 is busy: another pgplay run holds/);
  assert.ok(Date.now() - started >= 900, 'waited for the lock');
  await first.release();
  const second = await acquireHostLock(b, 'pg1', path, 0);
  await second.release();
  await a.close();
  await b.close();
  rmSync(path, { force: true });
});
