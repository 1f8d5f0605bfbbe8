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
import { replicationSlotModule } from './replication-slot';
import { synchronousReplicationModule } from './synchronous-replication';
import { tlsCertificateModule } from './tls-certificate';
import { packageModule } from './package';
import { ensureClusterModule } from './ensure-cluster';
import { firewallModule } from './firewall';
import { promoteModule } from './promote';
import { rejoinModule } from './rejoin';
import { assertPrimaryModule } from './assert-primary';
import { grantRewindModule } from './grant-rewind';
import { dropSlotsModule } from './drop-slots';

const all: ModuleDefinition[] = [
  ensureConfModule,
  ensureRoleModule,
  ensureHbaLineModule,
  basebackupModule,
  serviceModule,
  replicationSlotModule,
  tlsCertificateModule,
  synchronousReplicationModule,
  assertStreamingModule,
  assertPrimaryModule,
  grantRewindModule,
  promoteModule,
  rejoinModule,
  dropSlotsModule,
  templateModule,
  commandModule,
  assertModule,
  packageModule,
  ensureClusterModule,
  firewallModule,
];

export function allModules(): ModuleDefinition[] {
  return all;
}

export function findModule(name: string): ModuleDefinition | undefined {
  return all.find((m) => m.name === name);
}
