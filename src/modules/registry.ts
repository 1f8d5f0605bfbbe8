// Every module pgplay knows; the playbook schema is built from this list.
import type { ModuleDefinition } from './types';
import { commandModule } from './command';
import { templateModule } from './template';
import { assertModule } from './assert';
import { ensureConfModule } from './ensure-conf';
import { ensureRoleModule } from './ensure-role';
import { ensureHbaLineModule } from './ensure-hba-line';
import { basebackupModule } from './basebackup';
import { serviceModule } from './service';
import { assertStreamingModule } from './assert-streaming';
import { preflightModule } from './preflight';

const all: ModuleDefinition[] = [
  ensureConfModule,
  ensureRoleModule,
  ensureHbaLineModule,
  basebackupModule,
  serviceModule,
  assertStreamingModule,
  preflightModule,
  templateModule,
  commandModule,
  assertModule,
];

export function allModules(): ModuleDefinition[] {
  return all;
}

export function findModule(name: string): ModuleDefinition | undefined {
  return all.find((m) => m.name === name);
}
