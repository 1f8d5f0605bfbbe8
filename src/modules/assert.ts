import { evaluateCondition } from '../templates/render';
import { fail, noop, type ModuleDefinition } from './types';

export interface AssertArgs {
  that: string | string[];
  fail_msg?: string;
  success_msg?: string;
}

interface AssertFacts {
  failed: string[];
  error?: string;
}

export const assertModule: ModuleDefinition<AssertArgs, AssertFacts> = {
  name: 'assert',
  summary: 'Fail the host with a message when a condition is false.',
  schema: {
    type: 'object',
    description: 'Check conditions (expressions like `when`); the host fails when one is false.',
    properties: {
      that: {
        oneOf: [{ type: 'string' }, { type: 'array', items: { type: 'string' }, minItems: 1 }],
        description: 'One condition or a list; all must hold.',
        examples: ['eq replication.changed false', ['gt (length groups.replicas) 0']],
      },
      fail_msg: { type: 'string', description: 'Message when a condition is false.' },
      success_msg: { type: 'string', description: 'Message when all hold.' },
    },
    required: ['that'],
    additionalProperties: false,
  },
  async check(ctx, args) {
    const conditions = Array.isArray(args.that) ? args.that : [args.that];
    try {
      return { failed: conditions.filter((c) => !evaluateCondition(c, ctx.vars)) };
    } catch (err) {
      return { failed: [], error: err instanceof Error ? err.message : String(err) };
    }
  },
  plan(args, facts) {
    if (facts.error) return fail(facts.error);
    if (facts.failed.length > 0) return fail(args.fail_msg ?? `assertion failed: ${facts.failed.join('; ')}`);
    return noop(args.success_msg ?? 'all assertions passed');
  },
};
