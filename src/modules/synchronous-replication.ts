import { syncStandbyRisk, synchronousStandbyNames, type SyncSpec } from '../facts/replication-risks';
import { ensureConfModule, type EnsureConfFacts } from './ensure-conf';
import { fail, type ModuleDefinition, type Plan } from './types';

export interface SynchronousReplicationArgs {
  standbys: string[];
  method?: 'FIRST' | 'ANY' | 'first' | 'any';
  count?: number;
  commit?: 'on' | 'remote_apply' | 'remote_write' | 'local' | 'off';
}

export interface SynchronousReplicationFacts {
  conf: EnsureConfFacts;
  /** Every inventory host, to check the standbys' names against. */
  inventoryHosts: string[];
}

export const synchronousReplicationModule: ModuleDefinition<SynchronousReplicationArgs, SynchronousReplicationFacts> = {
  name: 'synchronous_replication',
  readsServer: true,
  summary: "Synchronous standbys on the primary: synchronous_standby_names (FIRST n or ANY n of inventory hosts) and synchronous_commit.",
  schema: {
    type: 'object',
    description: [
      'Run on the primary. Sets synchronous_standby_names to `METHOD count ("name", ...)` from the inventory names of `standbys` (a standby is known by its application_name, which basebackup sets to its inventory name), or to empty when `standbys` is empty (every replica asynchronous), and synchronous_commit; then reloads.',
      'FIRST n: the first n connected standbys in the list are synchronous, the others potential; ANY n: a commit waits for any n of them (quorum).',
      'A commit waits until n synchronous standbys confirm it: when fewer than n are connected, writes on the primary hang until enough come back. The task fails when count is above the number of standbys, and warns when it equals it (then losing any one standby stops writes).',
    ].join(' '),
    properties: {
      standbys: { type: 'array', items: { type: 'string', minLength: 1 }, uniqueItems: true, description: 'Inventory names of the standbys that may be synchronous, in priority order for FIRST; empty: asynchronous replication.', examples: [['pg2', 'pg3'], '{{ synchronous_standbys }}'] },
      method: { type: 'string', enum: ['FIRST', 'ANY', 'first', 'any'], default: 'FIRST', description: 'FIRST (priority) or ANY (quorum).' },
      count: { type: 'integer', minimum: 1, default: 1, description: 'How many standbys confirm each commit.' },
      commit: { type: 'string', enum: ['on', 'remote_apply', 'remote_write', 'local', 'off'], default: 'on', description: 'synchronous_commit: what the standbys confirm before a commit returns (on: flushed to their disk; remote_apply: also visible to their queries).' },
    },
    required: ['standbys'],
    additionalProperties: false,
    examples: [{ standbys: ['pg2', 'pg3'], method: 'ANY', count: 1 }],
  },
  async check(ctx) {
    const conf = await ensureConfModule.check(ctx, { settings: { synchronous_standby_names: '', synchronous_commit: 'on' } });
    const hostvars = (ctx.vars.hostvars ?? {}) as Record<string, unknown>;
    return { conf, inventoryHosts: Object.keys(hostvars) };
  },
  plan(args, facts) {
    return planSynchronous(args, facts);
  },
};

export function planSynchronous(args: SynchronousReplicationArgs, facts: SynchronousReplicationFacts): Plan {
  const spec: SyncSpec = { method: (args.method ?? 'FIRST').toUpperCase() as 'FIRST' | 'ANY', count: args.count ?? 1, standbys: args.standbys };
  const unknown = facts.inventoryHosts.length > 0 ? spec.standbys.filter((n) => !facts.inventoryHosts.includes(n)) : [];
  if (unknown.length > 0) return fail(`synchronous standbys must be inventory hosts: ${unknown.join(', ')} ${unknown.length === 1 ? 'is' : 'are'} not`);
  const risk = syncStandbyRisk(spec, spec.standbys.length);
  if (risk?.level === 'refuse') return fail(risk.message);
  const plan = ensureConfModule.plan({ settings: { synchronous_standby_names: synchronousStandbyNames(spec), synchronous_commit: args.commit ?? 'on' } }, facts.conf);
  const warnings = risk ? [risk.message] : [];
  if (plan.kind === 'fail' || warnings.length === 0) return plan;
  return { ...plan, warnings: [...(plan.warnings ?? []), ...warnings] };
}
