import type { ModuleDefinition } from './types';

export const assertModule: ModuleDefinition = {
  name: 'assert',
  summary: 'TODO',
  schema: { type: 'object' },
  async check() {
    return {};
  },
  plan() {
    return { kind: 'noop', reason: 'TODO' };
  },
};
