import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { assertStreamingModule } from '../../../src/modules/assert-streaming';

describe('assert_streaming plan', () => {
  const ok = (host: string, check: string) => ({ host, check, ok: true, seen: 'fine' });
  it('passes with a count of checks', () => {
    const plan = assertStreamingModule.plan({ replicas: ['pg2', 'pg3'] }, { primary: 'pg1', checks: [ok('pg2', 'a'), ok('pg3', 'a'), ok('pg3', 'b')] });
    assert.equal(plan.kind === 'noop' && plan.reason, '3 checks passed on pg2, pg3');
  });
  it('fails naming the check, the host and what was seen', () => {
    const plan = assertStreamingModule.plan({ replicas: ['pg2'] }, { primary: 'pg1', checks: [ok('pg2', 'a'), { host: 'pg2', check: 'refuses writes', ok: false, seen: 'the INSERT succeeded' }] });
    assert.equal(plan.kind === 'fail' && plan.message, 'pg2: refuses writes failed (the INSERT succeeded)');
  });
  it('fails at once, one line per replica, for replicas out of the run; never waits for them', async () => {
    let queries = 0;
    const ctx = {
      name: 'pg1',
      sql: async () => ({ query: async () => { queries++; return []; }, close: async () => undefined, closed: false }),
      otherHost: async (name: string) => { throw new Error(`${name} should not be reached`); },
      outOfRun: (name: string) => ({ pg2: "was unreachable earlier in this run: ssh to pg2 (10.0.0.12:22): connection refused", pg3: "failed earlier in this run (task 'Base backup'): pg_basebackup from pg1 failed" })[name] ?? null,
      progress: () => undefined,
      signal: new AbortController().signal,
    } as never;
    const started = Date.now();
    const facts = await assertStreamingModule.check(ctx, { replicas: ['pg2', 'pg3'], timeout: 30 });
    assert.ok(Date.now() - started < 1000);
    assert.equal(queries, 0, 'no marker is written when no replica can be checked');
    const plan = assertStreamingModule.plan({ replicas: ['pg2', 'pg3'] }, facts);
    assert.equal(
      plan.kind === 'fail' && plan.message,
      "pg2: not checked: it was unreachable earlier in this run: ssh to pg2 (10.0.0.12:22): connection refused\npg3: not checked: it failed earlier in this run (task 'Base backup'): pg_basebackup from pg1 failed",
    );
  });
  it('one line per replica when several checks fail', () => {
    const bad = (host: string, check: string) => ({ host, check, ok: false, seen: 'no' });
    const plan = assertStreamingModule.plan({ replicas: ['pg2', 'pg3'] }, { primary: 'pg1', checks: [bad('pg3', 'a'), ok('pg2', 'a'), bad('pg3', 'b'), bad('pg2', 'c')] });
    assert.equal(plan.kind === 'fail' && plan.message, 'pg2: c failed (no)\npg3: a failed (no); b failed (no)');
  });
  it('is skipped in check mode', () => {
    assert.equal(assertStreamingModule.checkMode, 'skip');
  });
});
