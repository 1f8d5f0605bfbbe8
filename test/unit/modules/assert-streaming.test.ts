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
  it('is skipped in check mode', () => {
    assert.equal(assertStreamingModule.checkMode, 'skip');
  });
});
