import { probeServer } from './pg/server';
import { formatBytes, readPhysicalSlots, SLOT_NAME_PATTERN, type SlotRow } from './pg/slots';
import { fail, noop, type ModuleDefinition, type Plan, type Step } from './types';

export interface ReplicationSlotArgs {
  slots: string[];
  state?: 'present' | 'absent';
  /** Physical slots on the server that are not in `slots`: report them (a warning), drop them, or say nothing. */
  unowned?: 'report' | 'drop' | 'ignore';
}

export interface ReplicationSlotFacts {
  host: string;
  /** --check on a server not running yet (the run would start it first): its slots cannot be read. */
  serverDown?: 'stopped' | 'no-cluster';
  inRecovery: boolean;
  slots: SlotRow[];
  maxSlots: number;
}

export const replicationSlotModule: ModuleDefinition<ReplicationSlotArgs, ReplicationSlotFacts> = {
  name: 'replication_slot',
  readsServer: true,
  summary: 'Physical replication slots on the primary: present or absent; an active slot is never dropped; slots nobody owns are reported, dropped only when asked.',
  schema: {
    type: 'object',
    description: [
      'Run on the primary. `present` creates each slot in `slots` that is missing (pg_create_physical_replication_slot, reserving WAL at once, so a base backup that follows loses none); `absent` drops each one that is there.',
      'A slot in use by a walsender (active) is never dropped: the task fails and names who streams through it.',
      'Physical slots on the server that are not in `slots` are unowned: with `unowned: report` (the default) each is a warning saying whether it is active and how much WAL it keeps; `drop` drops the inactive ones (and fails on an active one); `ignore` says nothing. A slot keeps WAL on the primary until its standby comes back, up to max_slot_wal_keep_size.',
    ].join(' '),
    properties: {
      slots: {
        type: 'array',
        items: { type: 'string', pattern: SLOT_NAME_PATTERN, patternErrorMessage: 'a slot name: lower-case letters, digits and _, at most 63' },
        uniqueItems: true,
        description: 'The slots this task is about; with `present` also every slot the inventory owns (the rest are unowned).',
        examples: [['pg2', 'pg3'], "{{ extract groups.replicas 'replication_slot' }}"],
      },
      state: { type: 'string', enum: ['present', 'absent'], default: 'present', description: 'present: created when missing; absent: dropped when there (refused while active).' },
      unowned: { type: 'string', enum: ['report', 'drop', 'ignore'], default: 'report', description: 'What to do with physical slots not in `slots` (with state present).' },
    },
    required: ['slots'],
    additionalProperties: false,
    examples: [{ slots: ['pg2', 'pg3'] }, { slots: ['old_replica'], state: 'absent' }],
  },
  validate(args) {
    const seen = new Set<string>();
    for (const name of Array.isArray(args.slots) ? args.slots : []) {
      if (typeof name === 'string' && !name.includes('{{') && seen.has(name)) return [{ arg: 'slots', message: `the slot ${name} is named twice: two replicas would share it` }];
      seen.add(name);
    }
    return [];
  },
  async check(ctx) {
    const { state, sql } = await probeServer(ctx);
    if (!sql) {
      if (ctx.checkMode) return { host: ctx.name, inRecovery: false, slots: [], maxSlots: Number.MAX_SAFE_INTEGER, serverDown: state === 'stopped' ? 'stopped' : 'no-cluster' };
      throw new Error(`PostgreSQL on ${ctx.name} ${state === 'stopped' ? 'is stopped' : `has no cluster in ${ctx.pg.dataDir}`}: slots are read and made over SQL, so start it first (service: state: started)`);
    }
    const [row] = await sql.query<{ rec: boolean; max: number }>("SELECT pg_is_in_recovery() AS rec, current_setting('max_replication_slots')::int AS max");
    return { host: ctx.name, inRecovery: row.rec, slots: await readPhysicalSlots(sql), maxSlots: row.max };
  },
  plan(args, facts) {
    return planSlots(args, facts);
  },
};

/** What slot (active, who streams, WAL kept) for messages. */
function describeSlot(s: SlotRow): string {
  const kept = s.retainedBytes === null ? 'no WAL reserved yet' : `keeps ${formatBytes(s.retainedBytes)} of WAL${s.walStatus && s.walStatus !== 'reserved' ? ` (${s.walStatus})` : ''}`;
  return s.active ? `active, ${s.client ?? `walsender pid ${s.activePid}`} streams through it, ${kept}` : `inactive, ${kept}`;
}

export function planSlots(args: ReplicationSlotArgs, facts: ReplicationSlotFacts): Plan {
  const state = args.state ?? 'present';
  if (facts.serverDown) {
    const why = facts.serverDown === 'stopped' ? 'PostgreSQL is stopped, so its slots cannot be read' : 'there is no cluster yet';
    return {
      kind: 'change',
      summary: `${state === 'absent' ? 'drop' : 'create'} slot(s) ${args.slots.join(', ')} as needed once the server runs (${why})`,
      diffs: [{ path: `replication slots on ${facts.host}`, before: `unknown (${why})\n`, after: state === 'absent' ? '(none of them)\n' : lines(args.slots) }],
      steps: [
        {
          description: 'read the slots, then make the plan',
          async apply(ctx) {
            const plan = planSlots(args, await replicationSlotModule.check(ctx, args));
            if (plan.kind === 'fail') throw new Error(plan.message);
            if (plan.kind === 'change') for (const step of plan.steps) await step.apply(ctx);
          },
        },
      ],
    };
  }
  const unowned = args.unowned ?? 'report';
  const duplicate = args.slots.find((name, i) => args.slots.indexOf(name) !== i);
  if (duplicate) return fail(`the slot ${duplicate} is named twice: two replicas would share it`);
  if (facts.inRecovery) return fail(`${facts.host} is a standby (in recovery): replication slots for the replicas belong on the primary`);
  const byName = new Map(facts.slots.map((s) => [s.name, s]));
  const others = facts.slots.filter((s) => !args.slots.includes(s.name));
  const warnings: string[] = [];
  const steps: Step[] = [];
  const changes: string[] = [];
  if (state === 'absent') {
    const there = args.slots.map((n) => byName.get(n)).filter((s): s is SlotRow => s !== undefined);
    const active = there.filter((s) => s.active);
    if (active.length > 0) {
      return fail(active.map((s) => `refusing to drop the slot ${s.name}: it is ${describeSlot(s)}; stop that standby or point it at another slot first`).join('\n'));
    }
    for (const s of there) steps.push(dropStep(s.name));
    changes.push(...there.map((s) => `drop slot ${s.name}`));
    if (steps.length === 0) return noop(`no slot ${args.slots.join(', ')} on ${facts.host}`, { slots: [] });
  } else {
    const missing = args.slots.filter((n) => !byName.has(n));
    const drop = unowned === 'drop' ? others : [];
    const activeUnowned = drop.filter((s) => s.active);
    if (activeUnowned.length > 0) {
      return fail(activeUnowned.map((s) => `refusing to drop the unowned slot ${s.name}: it is ${describeSlot(s)}`).join('\n'));
    }
    const total = facts.slots.length + missing.length - drop.length;
    if (total > facts.maxSlots) return fail(`${total} replication slots would exist on ${facts.host}, more than max_replication_slots (${facts.maxSlots}): raise it (a restart) or drop unowned slots`);
    for (const s of drop) steps.push(dropStep(s.name));
    for (const name of missing) steps.push(createStep(name));
    changes.push(...drop.map((s) => `drop unowned slot ${s.name}`), ...missing.map((n) => `create slot ${n}`));
    if (unowned === 'report') {
      for (const s of others) warnings.push(`the replication slot ${s.name} on ${facts.host} is owned by no inventory host (${describeSlot(s)}): drop it with unowned: drop, or replication_slot state: absent`);
    }
    const result = { slots: args.slots, unowned: others.map((s) => ({ name: s.name, active: s.active, retained_bytes: s.retainedBytes })) };
    if (steps.length === 0) {
      const reason = `slot${args.slots.length === 1 ? '' : 's'} ${args.slots.join(', ') || '(none)'} present on ${facts.host}`;
      return warnings.length > 0 ? { kind: 'noop', reason: `${reason}; ${others.length} unowned`, result, warnings } : noop(reason, result);
    }
    return {
      kind: 'change' as const,
      summary: changes.join(', '),
      steps,
      diffs: [{ path: `replication slots on ${facts.host}`, before: lines(facts.slots.map((s) => s.name)), after: lines([...facts.slots.map((s) => s.name).filter((n) => !drop.some((d) => d.name === n)), ...missing].sort()) }],
      warnings: warnings.length > 0 ? warnings : undefined,
      result,
    };
  }
  return {
    kind: 'change' as const,
    summary: changes.join(', '),
    steps,
    diffs: [{ path: `replication slots on ${facts.host}`, before: lines(facts.slots.map((s) => s.name)), after: lines(facts.slots.map((s) => s.name).filter((n) => !args.slots.includes(n))) }],
    result: { slots: [], dropped: changes.length },
  };
}

function lines(names: string[]): string {
  return names.length > 0 ? `${names.join('\n')}\n` : '(no slot)\n';
}

function createStep(name: string): Step {
  return {
    description: `create the physical replication slot ${name}`,
    async apply(ctx) {
      // Reserving WAL now: the base backup that follows streams from this slot and must find every segment.
      await (await ctx.sql()).query('SELECT pg_create_physical_replication_slot($1, true)', [name]);
    },
    async undo(ctx) {
      const sql = await ctx.sql();
      const [row] = await sql.query<{ active: boolean }>('SELECT active FROM pg_replication_slots WHERE slot_name = $1', [name]);
      if (!row) return `the slot ${name} is already gone`;
      if (row.active) throw new Error(`the slot ${name} is in use by now: left in place`);
      await sql.query('SELECT pg_drop_replication_slot($1)', [name]);
      return `the slot ${name} dropped again`;
    },
  };
}

function dropStep(name: string): Step {
  return {
    description: `drop the replication slot ${name}`,
    async apply(ctx) {
      const sql = await ctx.sql();
      // Read again right before: a standby may have connected since the check. Dropping an active slot fails in
      // PostgreSQL too, but its error would not say who streams.
      const [row] = await sql.query<{ active: boolean; pid: number | null }>('SELECT active, active_pid AS pid FROM pg_replication_slots WHERE slot_name = $1', [name]);
      if (!row) return;
      if (row.active) throw new Error(`refusing to drop the slot ${name}: it became active since the check (walsender pid ${row.pid})`);
      await sql.query('SELECT pg_drop_replication_slot($1)', [name]);
    },
  };
}
