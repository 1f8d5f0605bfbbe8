import type { ModuleDefinition } from './types';

export const templateModule: ModuleDefinition = {
  name: 'template',
  summary: 'TODO',
  schema: { type: 'object' },
  async check() {
    return {};
  },
  plan() {
    return { kind: 'noop', reason: 'TODO' };
  },
};
