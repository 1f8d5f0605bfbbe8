import type { ModuleDefinition } from './types';

export const commandModule: ModuleDefinition = {
  name: 'command',
  summary: 'TODO',
  schema: { type: 'object' },
  async check() {
    return {};
  },
  plan() {
    return { kind: 'noop', reason: 'TODO' };
  },
};
