// promote: make one standby the primary. In a switchover the running primary is checkpointed and stopped cleanly
// first, and the standby promoted only once it has replayed the primary's shutdown checkpoint, so no acknowledged
// commit is lost; in a failover the standby with the most WAL is chosen unless one is named, and a primary that
// can still be reached is stopped first, so two primaries never accept writes.
import { errorMessage } from '../errors';
import { readControlFields } from '../facts/wal';
import { formatLsn, parseLsn } from '../facts/timeline';
import type { SqlSession } from '../facts/sql';
import { startServer, stopCleanly } from './pg/clean-stop';
import { currentPrimary, describeMember, readCluster, readHandle, unique, type MemberState } from './pg/cluster';
import { serverState, sleep } from './pg/server';
import { moveSlots } from './pg/slot-moves';
import { REWIND_FUNCTIONS } from './grant-rewind';
import { fail, noop, onceInRun, type ModuleDefinition, type Plan, type Step, type TaskContext } from './types';

export interface PromoteArgs {
  /** Every PostgreSQL host of the cluster (where the primary and the candidates are looked for). */
  cluster: string[];
  /** The host to promote; '' in a failover: the standby that received the most WAL. */
  new_primary?: string;
  mode: 'switchover' | 'failover';
  /** The replication role (pg_rewind connects as it later: its grants are checked). */
  user?: string;
  /** Switchover: the largest replay lag of the candidate, in bytes, allowed before anything stops. */
  max_lag_bytes?: number;
  /** Seconds the candidate may take to replay the old primary's shutdown checkpoint. */
  replay_timeout?: number;
  /** Seconds the candidate may take to leave recovery after pg_promote(). */
  promote_timeout?: number;
}

export interface PromoteFacts {
  host: string;
  members: MemberState[];
  /** The host chosen for promotion, and why. */
  elected: string | null;
  electedWhy: string;
  /** Rewind prerequisites on the old primary: grants for the user (null: not checked), pg_rewind present. */
  grantsMissing?: string[];
  pgRewind?: boolean;
}


export const promoteModule: ModuleDefinition<PromoteArgs, PromoteFacts> = {
  name: 'promote',
  readsServer: true,
  summary: 'Promote a standby to primary: a clean switchover (the primary stopped, its last WAL replayed here first) or a failover (the standby with the most WAL).',
  schema: {
    type: 'object',
    description: [
      'Run on the host to promote (switchover) or on every host of the cluster (failover without new_primary: the chosen one acts, the others report it). The servers are read first: roles, timelines, WAL positions.',
      '`switchover` checks before anything stops: the candidate streams from the one running primary with lag under `max_lag_bytes`; no other primary runs; the primary has wal_log_hints or data checksums, and full_page_writes, so it can be rewound; `user` may run the functions pg_rewind needs (or is a superuser); pg_rewind is installed. Then: CHECKPOINT on the primary, a clean fast stop, its shutdown checkpoint read from pg_controldata, the candidate waits until it has replayed it (else the primary is started again as it was), then pg_promote() and a first transaction ID prove the candidate accepts writes.',
      '`failover`: the standby with the highest received WAL position, unless `new_primary` names one. A primary that can still be reached is stopped first; one that cannot is named in a warning: it must be fenced before it comes back (rejoin.yml rewinds it).',
      'Nothing happens when the host already is the primary and no other runs. Physical replication slots of the old primary are created on the new one (moved).',
    ].join(' '),
    properties: {
      cluster: { type: 'array', items: { type: 'string' }, minItems: 2, description: 'Inventory names of every PostgreSQL host of the cluster.', examples: ['{{ union groups.primary groups.replicas }}'] },
      new_primary: { type: 'string', description: "The host to promote; '' (failover): the standby that received the most WAL.", examples: ['{{ new_primary }}'] },
      mode: { type: 'string', enum: ['switchover', 'failover'], description: 'switchover: planned, no acknowledged commit lost; failover: the primary is gone.' },
      user: { type: 'string', description: 'The replication role: pg_rewind connects as it, so its grants are checked in a switchover.', examples: ['{{ replication_user }}'] },
      max_lag_bytes: { type: 'integer', minimum: 0, default: 16777216, description: 'Switchover: the largest replay lag of the candidate allowed before the primary is stopped.' },
      replay_timeout: { type: 'number', minimum: 1, default: 30, description: "Seconds the candidate may take to replay the old primary's shutdown checkpoint." },
      promote_timeout: { type: 'number', minimum: 1, default: 60, description: 'Seconds the candidate may take to leave recovery once pg_promote() asked it to (pg_ctl promote waits as long). The request and this wait run to their end through an interrupt: what follows then says which host is the primary.' },
    },
    required: ['cluster', 'mode'],
    additionalProperties: false,
    examples: [{ cluster: ['pg1', 'pg2', 'pg3'], new_primary: 'pg2', mode: 'switchover', user: 'replicator' }],
  },
  async check(ctx, args) {
    const names = unique([...args.cluster, ctx.name]);
    // A failover's choice is made once per run, so every host's task sees the same one.
    const members = args.mode === 'failover' ? await onceInRun(ctx, `promote:${names.join(',')}`, () => readCluster(ctx, names)) : await readCluster(ctx, names);
    const { elected, why } = elect(args, members, ctx.name);
    const facts: PromoteFacts = { host: ctx.name, members, elected, electedWhy: why };
    if (args.mode === 'switchover' && elected === ctx.name) {
      const old = currentPrimary(members.filter((m) => m.name !== ctx.name)).primary;
      if (old && old.state === 'running') {
        Object.assign(facts, await rewindReadiness(ctx, old.name, args.user));
        // A standby whose primary just restarted reconnects within wal_retrieve_retry_interval (5 s): wait that long.
        const i = members.findIndex((m) => m.name === ctx.name);
        const deadline = Date.now() + 10_000;
        while (i >= 0 && members[i].state === 'running' && members[i].role === 'standby' && members[i].upstream?.status !== 'streaming' && Date.now() < deadline && !ctx.signal.aborted) {
          ctx.progress(`waiting until ${ctx.name} streams from ${old.name} again`);
          await sleep(200);
          members[i] = await readHandle(ctx);
        }
      }
    }
    return facts;
  },
  plan(args, facts) {
    return planPromote(args, facts);
  },
};

/** The host to promote: the one named, or in a failover the running standby with the highest received WAL. */
export function elect(args: PromoteArgs, members: MemberState[], self: string): { elected: string | null; why: string } {
  const named = args.new_primary || (args.mode === 'switchover' ? self : '');
  if (named) return { elected: named, why: `named${args.new_primary ? ' (new_primary)' : ''}` };
  // Without a name a running primary is never replaced (a re-run after a failover finds the promoted host here).
  const running = currentPrimary(members);
  if (running.primary) return { elected: running.primary.name, why: `it runs as the primary on timeline ${running.primary.timeline} (name new_primary to replace it)` };
  const standbys = members.filter((m) => m.state === 'running' && m.role === 'standby');
  if (standbys.length === 0) return { elected: null, why: 'no standby is running' };
  const position = (m: MemberState) => parseLsn(m.receiveLsn ?? m.lsn ?? '0/0');
  let best = standbys[0];
  for (const m of standbys) if (position(m) > position(best)) best = m;
  const all = standbys.map((m) => `${m.name} ${formatLsn(position(m))}`).join(', ');
  return { elected: best.name, why: `it received the most WAL (${all})` };
}

async function rewindReadiness(ctx: TaskContext, oldName: string, user?: string): Promise<Pick<PromoteFacts, 'grantsMissing' | 'pgRewind'>> {
  try {
    const old = await ctx.otherHost(oldName);
    const pgRewind = (await old.conn.stat(`${old.pg.binDir}/pg_rewind`)) !== null;
    if (!user) return { pgRewind };
    const sql = await old.sql();
    const rows = await sql.query<{ fn: string; ok: boolean }>(
      `SELECT f AS fn, (SELECT rolsuper FROM pg_roles WHERE rolname = $1) OR has_function_privilege($1, f, 'EXECUTE') AS ok
         FROM unnest($2::text[]) AS f WHERE EXISTS (SELECT 1 FROM pg_roles WHERE rolname = $1)`,
      [user, REWIND_FUNCTIONS],
    );
    const missing = rows.length === 0 ? [`the role ${user} does not exist`] : rows.filter((r) => !r.ok).map((r) => r.fn);
    return { pgRewind, grantsMissing: missing };
  } catch (err) {
    return { pgRewind: false, grantsMissing: [`cannot be checked: ${errorMessage(err)}`] };
  }
}

export function planPromote(args: PromoteArgs, facts: PromoteFacts): Plan {
  const { members, host } = facts;
  if (!facts.elected) return fail(`no standby can be promoted: ${facts.electedWhy}; ${members.map(describeMember).join('; ')}`);
  const unreachableNames = members.filter((m) => m.state === 'unreachable').map((m) => m.name);
  if (facts.elected !== host) return noop(`${facts.elected} is promoted, not ${host}: ${facts.electedWhy}`, { primary: facts.elected, unreachable: unreachableNames });
  const me = members.find((m) => m.name === host) as MemberState;
  if (me.state !== 'running') return fail(`${host} cannot be promoted: PostgreSQL is ${me.state === 'stopped' ? 'stopped' : me.state}${me.error ? ` (${me.error})` : ''}`);
  const others = members.filter((m) => m.name !== host && m.systemId === me.systemId);
  const unreachable = members.filter((m) => m.state === 'unreachable');
  const running = currentPrimary(others);
  if (me.role === 'primary') {
    const beside = others.filter((m) => m.state === 'running' && m.role === 'primary');
    const also = beside.map((m) => `; ${m.name} also runs as a primary (timeline ${m.timeline}): rejoin stops and rewinds it`).join('');
    return noop(`${host} is the primary (timeline ${me.timeline})${also}`, { primary: host, timeline: me.timeline, unreachable: unreachableNames });
  }
  if (running.problem) return fail(`refusing to promote ${host}: ${running.problem}`);
  const old = running.primary ?? stoppedPrimary(others);
  const warnings: string[] = [];
  for (const m of unreachable) {
    warnings.push(
      args.mode === 'failover' && (!old || old.name !== m.name)
        ? `${m.name} cannot be reached (${m.error ?? 'unreachable'}): if it still runs as a primary it must be fenced (stopped, or cut off) before it comes back; rejoin.yml then rewinds it`
        : `${m.name} cannot be reached (${m.error ?? 'unreachable'}): it will not follow ${host}`,
    );
  }
  if (me.settings && !me.settings.walLogHints && !me.settings.checksums) warnings.push(`${host} has neither wal_log_hints nor data checksums: it could not be rewound after a later switchover (site.yml sets wal_log_hints = on; it needs a restart)`);
  if (args.mode === 'switchover') {
    const problems = switchoverProblems(args, facts, me, old, others);
    if (problems.length > 0) return fail(`switchover to ${host} refused before anything changed:\n${problems.map((p) => `- ${p}`).join('\n')}`);
  }
  const lostUnknown = args.mode === 'failover' && !old ? 'no primary was reached: WAL it wrote that no standby received is lost' : null;
  if (lostUnknown) warnings.push(lostUnknown);
  const oldRunning = old?.state === 'running' ? old : null;
  const summary = oldRunning
    ? `stop ${oldRunning.name} cleanly, wait until ${host} replayed its shutdown checkpoint, promote ${host}: ${host} becomes the primary`
    : `promote ${host}${old ? ` (${old.name} is stopped)` : ''}: ${host} becomes the primary`;
  return {
    kind: 'change',
    summary: `${summary}${args.mode === 'failover' ? ` (${facts.electedWhy})` : ''}`,
    warnings: warnings.length ? warnings : undefined,
    diffs: [
      {
        path: 'cluster',
        before: members.map((m) => `${describeMember(m)}\n`).join(''),
        after: `${host} primary on timeline ${(me.timeline ?? 0) + 1}${oldRunning ? `\n${oldRunning.name} stopped (rejoin makes it a standby)` : ''}\n`,
      },
    ],
    result: { primary: host, old_primary: old?.name ?? null, unreachable: unreachableNames },
    steps: promoteSteps(args, host, oldRunning, old, me.upstream?.slot ?? null),
  };
}

/** A stopped former primary of the cluster (an interrupted switchover stopped it): the newest timeline's. */
function stoppedPrimary(others: MemberState[]): MemberState | null {
  const stopped = others.filter((m) => m.state === 'stopped' && m.role === 'primary').sort((a, b) => (b.timeline ?? 0) - (a.timeline ?? 0));
  return stopped[0] ?? null;
}

function switchoverProblems(args: PromoteArgs, facts: PromoteFacts, me: MemberState, old: MemberState | null, others: MemberState[]): string[] {
  const host = me.name;
  if (!old) return [`no primary of ${host}'s cluster is running or stopped cleanly: nothing to switch over from (failover.yml promotes without one)`];
  const out: string[] = [];
  if (old.state === 'stopped') {
    // An interrupted switchover: the primary was stopped cleanly; the candidate must have replayed all of it.
    const state = old.control?.get('Database cluster state');
    if (state !== 'shut down') out.push(`${old.name} is stopped but not cleanly (${state}): start it again (site.yml), or use failover.yml`);
    else if (me.lsn && old.lsn && parseLsn(me.lsn) <= parseLsn(old.lsn)) out.push(`${old.name} is stopped, and ${host} has not replayed its shutdown checkpoint at ${old.lsn} (replayed ${me.lsn}): start ${old.name} again and re-run`);
    return out;
  }
  const streaming = me.upstream?.status === 'streaming' && me.upstream.host === old.address;
  if (!streaming) out.push(`${host} does not stream from ${old.name} (${old.address}): its WAL receiver is ${me.upstream?.status ?? 'not running'}${me.upstream?.host ? ` from ${me.upstream.host}` : ''}`);
  const lag = old.lsn && me.lsn ? parseLsn(old.lsn) - parseLsn(me.lsn) : null;
  const bound = BigInt(args.max_lag_bytes ?? 16777216);
  if (lag === null) out.push(`${host}'s replay position cannot be read`);
  else if (lag > bound) out.push(`${host} lags ${lag} bytes behind ${old.name} (replayed ${me.lsn}, primary at ${old.lsn}), more than max_lag_bytes ${bound}`);
  const beside = others.filter((m) => m.name !== old.name && m.state === 'running' && m.role === 'primary');
  for (const m of beside) out.push(`${m.name} also runs as a primary: two primaries already; fix that first (rejoin.yml)`);
  const s = old.settings;
  if (s && !s.walLogHints && !s.checksums) out.push(`${old.name} has neither wal_log_hints nor data checksums, so pg_rewind could not make it a standby if it diverged: set wal_log_hints = on (site.yml does) and restart it`);
  if (s && !s.fullPageWrites) out.push(`${old.name} has full_page_writes off: pg_rewind needs it on`);
  if (facts.pgRewind === false) out.push(`pg_rewind is not in ${old.name}'s pg_bin_dir`);
  if (facts.grantsMissing && facts.grantsMissing.length > 0) out.push(`the replication role ${args.user} cannot run what pg_rewind needs on ${old.name}: ${facts.grantsMissing.join(', ')} (the grant_rewind task of site.yml grants them)`);
  return out;
}

interface PromoteState {
  /**
   * asked: pg_promote() was sent (or about to be); done: the server left recovery after it; timed out: it was still in
   * recovery when the wait for it ended (the undo does not wait again).
   */
  promotion: 'not asked' | 'asked' | 'done' | 'timed out';
  stopStartedAt?: number;
}

function promoteSteps(args: PromoteArgs, host: string, oldRunning: MemberState | null, old: MemberState | null, ownSlot: string | null): Step[] {
  const s: PromoteState = { promotion: 'not asked' };
  const replayTimeoutMs = (args.replay_timeout ?? 30) * 1000;
  const promoteTimeoutMs = (args.promote_timeout ?? 60) * 1000;
  const steps: Step[] = [];
  if (oldRunning) {
    const oldName = oldRunning.name;
    steps.push(
      {
        description: `CHECKPOINT on ${oldName}`,
        async apply(ctx) {
          ctx.progress(`CHECKPOINT on ${oldName}`);
          const other = await ctx.otherHost(oldName);
          // The shutdown checkpoint that follows then has little left to write: the stop is short.
          await (await other.sql()).query('CHECKPOINT');
        },
        async undo(ctx) {
          // Nothing to put back; say which host is the primary, checked.
          const other = await ctx.otherHost(oldName);
          const [r] = await (await other.sql()).query<{ rec: boolean }>('SELECT pg_is_in_recovery() AS rec');
          if (r.rec) throw new Error(`${oldName} is in recovery`);
          return `${oldName} was not stopped: it is the primary, as it was`;
        },
      },
      {
        description: `stop ${oldName} cleanly`,
        async apply(ctx) {
          ctx.progress(`stopping ${oldName} (fast shutdown)`);
          const other = await ctx.otherHost(oldName);
          s.stopStartedAt = Date.now();
          // Not cut short by an interrupt: a half-made stop is what would leave no primary; the next step sees it.
          await stopCleanly(other);
          return { old_primary_stopped_ms: Date.now() - s.stopStartedAt };
        },
        async undo(ctx) {
          const me = await ctx.sql().catch(() => null);
          const promoted = () => new Error(`${host} was promoted: ${oldName} stays stopped; ${host} is the primary now: re-run the playbook to make ${oldName} its standby`);
          if (s.promotion !== 'not asked') {
            // Asked for: the promotion may still be under way, and only the server can say it is done. Never
            // started again here: with the promotion still coming, that would make two primaries.
            if (s.promotion === 'done') throw promoted();
            if (!me) throw new Error(`${host} was asked to promote, and whether it did cannot be read now (no SQL session): ${oldName} stays stopped, since starting it could make two primaries; re-run the playbook once ${host} answers`);
            // A wait that timed out in the step is not made again: one look.
            if (await waitPromoted(me, s.promotion === 'timed out' ? 0 : promoteTimeoutMs)) throw promoted();
            throw stillInRecovery(host, promoteTimeoutMs);
          }
          const inRecovery = me ? (await me.query<{ rec: boolean }>('SELECT pg_is_in_recovery() AS rec'))[0].rec : null;
          if (inRecovery === false) throw promoted();
          const other = await ctx.otherHost(oldName);
          if ((await serverState(other.conn, other.pg)) !== 'running') await startServer(other);
          return `${oldName} started again: it is the primary, as it was (${host} was not promoted)`;
        },
      },
      {
        description: `wait until ${host} replayed ${oldName}'s shutdown checkpoint`,
        async apply(ctx) {
          const other = await ctx.otherHost(oldName);
          const control = await readControlFields(other.conn, other.pg);
          const state = control?.get('Database cluster state');
          const checkpoint = control?.get('Latest checkpoint location');
          if (state !== 'shut down' || !checkpoint) throw new Error(`${oldName} did not shut down cleanly (pg_controldata says ${state ?? 'nothing'})`);
          ctx.progress(`waiting until ${host} replayed ${oldName}'s shutdown checkpoint at ${checkpoint}`);
          await waitReplayed(ctx, checkpoint, replayTimeoutMs, args.mode === 'switchover', oldName);
          return { shutdown_checkpoint: checkpoint };
        },
      },
    );
  } else if (old && old.state === 'stopped') {
    steps.push({
      description: `check that ${host} replayed ${old.name}'s last checkpoint`,
      async apply(ctx) {
        if (args.mode !== 'switchover' || !old.lsn) return;
        await waitReplayed(ctx, old.lsn, replayTimeoutMs, true, old.name);
      },
    });
  }
  steps.push({
    description: `promote ${host}`,
    async apply(ctx) {
      ctx.progress(`promoting ${host}`);
      const sql = await ctx.sql();
      s.promotion = 'asked';
      // pg_promote(true) polls every 100 ms; asking without waiting and polling here ends the outage sooner. Not cut
      // short by an interrupt, the request or the wait: a promotion asked for goes on in the server, and what follows
      // (the undos, the output) must say which host is the primary once it has happened.
      await sql.query('SELECT pg_promote(false)', [], { interruptible: false });
      if (!(await waitPromoted(sql, promoteTimeoutMs))) {
        s.promotion = 'timed out';
        throw stillInRecovery(host, promoteTimeoutMs);
      }
      s.promotion = 'done';
      // A transaction ID is given only to a server that accepts writes.
      const [w] = await sql.query<{ xid: string; lsn: string; tli: number }>(
        "SELECT txid_current()::text AS xid, pg_current_wal_lsn()::text AS lsn, ('x' || substr(pg_walfile_name(pg_current_wal_lsn()), 1, 8))::bit(32)::int AS tli",
        [],
        { interruptible: false },
      );
      const outage = s.stopStartedAt ? Date.now() - s.stopStartedAt : null;
      return { timeline: w.tli, promoted_at: w.lsn, ...(outage !== null ? { write_outage_ms: outage } : {}) };
    },
  });
  if (old && old.slots && old.slots.length > 0) {
    const slots = old.slots;
    steps.push({
      description: `move the replication slots of ${old.name} to ${host}`,
      async apply(ctx) {
        const created = await moveSlots(await ctx.sql(), slots, ownSlot);
        return created.length ? { slots_created: created } : undefined;
      },
    });
  }
  return steps;
}

/** Poll until the server accepts writes after pg_promote() (true), or the time is up (false); each poll runs even after an interrupt. */
async function waitPromoted(sql: SqlSession, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const [r] = await sql.query<{ rec: boolean }>('SELECT pg_is_in_recovery() AS rec', [], { interruptible: false });
    if (!r.rec) return true;
    if (Date.now() >= deadline) return false;
    await sleep(5);
  }
}

function stillInRecovery(host: string, timeoutMs: number): Error {
  return new Error(`${host} is still in recovery ${timeoutMs / 1000} s after pg_promote() (promote_timeout): read its server log; its old primary was not started again, since that could make two primaries`);
}

/** Poll the candidate until its replay position is past the checkpoint record (it replayed it). */
async function waitReplayed(ctx: TaskContext, checkpoint: string, timeoutMs: number, required: boolean, oldName: string): Promise<void> {
  const target = parseLsn(checkpoint);
  const sql = await ctx.sql();
  const deadline = Date.now() + timeoutMs;
  let replayed = '0/0';
  for (;;) {
    const [r] = await sql.query<{ replay: string | null }>('SELECT pg_last_wal_replay_lsn()::text AS replay');
    replayed = r.replay ?? '0/0';
    if (parseLsn(replayed) > target) return;
    if (Date.now() > deadline || ctx.signal.aborted) break;
    await sleep(5);
  }
  const why = `${ctx.name} replayed up to ${replayed}, not past ${oldName}'s shutdown checkpoint at ${checkpoint}${ctx.signal.aborted ? ' (interrupted)' : ` within ${timeoutMs / 1000} s`}`;
  if (required) throw new Error(why);
  ctx.progress(`${why}: promoting anyway (failover); WAL after ${replayed} is lost`);
}
