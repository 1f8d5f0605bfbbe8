import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { UnreachableError } from '../../../src/errors';
import { applySteps, StepsFailedError, type UndoReport } from '../../../src/executor/steps';
import type { Step, TaskContext } from '../../../src/modules/types';

const ctx = () => ({ signal: new AbortController().signal, progress: () => undefined }) as unknown as TaskContext;

function step(name: string, log: string[], options: { fail?: Error; undo?: () => string; guarded?: string } = {}): Step {
  return {
    description: name,
    async apply() {
      log.push(`apply ${name}`);
      if (options.fail) throw options.fail;
    },
    ...(options.undo ? { undo: async () => (log.push(`undo ${name}`), options.undo!()) } : {}),
    ...(options.guarded ? { guarded: () => options.guarded! } : {}),
  };
}

describe('steps and their undos', () => {
  it('a failed step undoes the completed ones in reverse, reports each, and says the host is back only when every undo said so', async () => {
    const log: string[] = [];
    const reports: UndoReport[] = [];
    const steps = [step('a', log, { undo: () => 'a put back' }), step('b', log, { undo: () => 'b put back' }), step('c', log, { fail: new Error('c broke') })];
    await assert.rejects(applySteps(steps, ctx(), (r) => reports.push(r)), (err: unknown) => {
      assert.ok(err instanceof StepsFailedError);
      assert.equal(err.message, 'c broke; undone: b put back; a put back');
      return true;
    });
    assert.deepEqual(log, ['apply a', 'apply b', 'apply c', 'undo b', 'undo a']);
    assert.deepEqual(reports.map((r) => [r.step, r.ok]), [['b', true], ['a', true]]);
    const broken = [step('a', [], { undo: () => 'a put back' }), step('b', [], { undo: () => { throw new Error('b is not as it was'); } }), step('c', [], { fail: new Error('c broke') })];
    await assert.rejects(applySteps(broken, ctx()), /^Error: c broke; undone: a put back; NOT back as it was: b: b is not as it was$/);
  });

  it("a failed step's own undo runs first: it may have done part of its work", async () => {
    const log: string[] = [];
    const steps = [step('a', log, { undo: () => 'a put back' }), step('b', log, { fail: new Error('b broke half-way'), undo: () => 'what b began is put back' })];
    await assert.rejects(applySteps(steps, ctx()), /^Error: b broke half-way; undone: what b began is put back; a put back$/);
    assert.deepEqual(log, ['apply a', 'apply b', 'undo b', 'undo a']);
  });

  it('when the host cannot be reached, the undos after the first that could not reach it are not tried, and nothing is said to be back', async () => {
    const log: string[] = [];
    const lost = new UnreachableError('ssh to pg2 (10.0.0.2:22): connection lost while running: pg_basebackup');
    const steps = [
      step('lock', log, { undo: () => 'unlocked' }),
      step('move aside', log, { undo: () => { throw new UnreachableError('ssh to pg2 (10.0.0.2:22): connection timed out'); }, guarded: '/d.pgplay-old-1 back at /d' }),
      step('passfile', log, { undo: () => { throw new UnreachableError('ssh to pg2 (10.0.0.2:22): connection timed out'); } }),
      step('copy', log, { fail: new Error('pg_basebackup failed', { cause: lost }) }),
    ];
    const reports: UndoReport[] = [];
    await assert.rejects(applySteps(steps, ctx(), (r) => reports.push(r)), (err: unknown) => {
      assert.equal(
        (err as Error).message,
        'pg_basebackup failed; NOT undone and NOT checked (the host cannot be reached: ssh to pg2 (10.0.0.2:22): connection timed out): passfile, move aside, lock; the host\'s agent puts back by itself, once it hears nothing more from pgplay: /d.pgplay-old-1 back at /d',
      );
      return true;
    });
    assert.deepEqual(log, ['apply lock', 'apply move aside', 'apply passfile', 'apply copy', 'undo passfile']);
    assert.deepEqual(reports.map((r) => [r.step, r.ok, r.unreachable]), [['passfile', false, true], ['move aside', false, true], ['lock', false, true]]);
  });
});
