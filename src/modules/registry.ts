// Every module pgplay knows; the playbook schema is built from this list.
import type { ModuleDefinition } from './types';
import { commandModule } from './command';
import { templateModule } from './template';
import { assertModule } from './assert';

const all: ModuleDefinition[] = [commandModule, templateModule, assertModule];

export function allModules(): ModuleDefinition[] {
  return all;
}

export function findModule(name: string): ModuleDefinition | undefined {
  return all.find((m) => m.name === name);
}
