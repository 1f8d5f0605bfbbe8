// drop_slots: remove physical replication slots by name (a removed replica's slot would keep WAL forever).
import { dropSlots } from './pg/slot-moves';
import { fail, noop, type ModuleDefinition } from './types';

export interface DropSlotsArgs {
  names: string[];
}

interface DropSlotsFacts {
  found: Array<{ name: string; active: boolean }>;
}

export const dropSlotsModule: ModuleDefinition<DropSlotsArgs, DropSlotsFacts> = {
  name: 'drop_slots',
  readsServer: true,
  summary: 'Drop replication slots by name (those of a removed replica); a slot still in use is refused.',
  schema: {
    type: 'object',
    description: 'Run on the primary. Slots that do not exist are fine; a slot a standby still streams through is refused (stop the standby first).',
    properties: {
      names: { type: 'array', items: { type: 'string' }, minItems: 1, description: 'Slot names.', examples: [['pg3']] },
    },
    required: ['names'],
    additionalProperties: false,
    examples: [{ names: ['pg3'] }],
  },
  async check(ctx, args) {
    const sql = await ctx.sql();
    const found = await sql.query<{ name: string; active: boolean }>('SELECT slot_name::text AS name, active FROM pg_replication_slots WHERE slot_name = ANY($1) ORDER BY 1', [args.names]);
    return { found };
  },
  plan(args, facts) {
    if (facts.found.length === 0) return noop(`no slot named ${args.names.join(', ')}`);
    const active = facts.found.filter((s) => s.active);
    if (active.length > 0) return fail(`slot ${active.map((s) => s.name).join(', ')} is in use: stop the standby that streams through it first`);
    const names = facts.found.map((s) => s.name);
    return {
      kind: 'change',
      summary: `drop slot ${names.join(', ')}`,
      diffs: [{ path: 'replication slots', before: names.map((n) => `${n}\n`).join(''), after: '' }],
      steps: [{ description: `drop slot ${names.join(', ')}`, async apply(ctx) { await dropSlots(await ctx.sql(), names); } }],
    };
  },
};
