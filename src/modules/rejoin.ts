// rejoin: make this host a streaming standby of the primary. A standby that streams from another host is
// re-pointed (primary_conninfo reloads on PostgreSQL 13 and later); a stopped standby or a former primary that has
// not diverged is started as a standby (a clean follow); one that wrote or replayed WAL past the point where the
// primary's timeline forked off its own is rewound with pg_rewind first, and the transactions lost are reported.
import { errorMessage } from '../errors';
import { bytesToText, fromUtf8, textToBytes } from '../facts/bytes';
import { confValues, setConfValues } from '../facts/conf-file';
import { quoteLiteral } from '../facts/sql-session';
import { decideRejoin, formatLsn, historyFileName, parseHistory, parseLsn, switchpointFor, type RejoinDecision, type SourceTimeline } from '../facts/timeline';
import { readControlFields, walAfter, type WalAfter } from '../facts/wal';
import { startServer, stopCleanly } from './pg/clean-stop';
import { currentPrimary, describeMember, postmasterDead, readCluster, readHandle, unique, type MemberState } from './pg/cluster';
import { formatConninfo, parseConninfo } from './pg/conninfo';
import { passfileHosts, passfilePath, passfileText } from './pg/passfile';
import { lastLine, runPg, serverLogFile, sleep } from './pg/server';
import { dropSlots, ensureSlot } from './pg/slot-moves';
import { Secret } from '../secrets';
import { fail, noop, type ModuleDefinition, type Step, type TaskContext } from './types';

export interface RejoinArgs {
  /** Inventory name of the primary to follow; '' or left out: the primary the servers name. */
  primary?: string;
  /** Every PostgreSQL host of the cluster: where the primary is looked for, and the passfile's entries. */
  cluster: string[];
  user: string;
  password: string;
  /** primary_slot_name for a host that has none yet (the slot is created on the primary). */
  slot?: string;
  /** Seconds to wait until the standby streams. */
  timeout?: number;
}

type Action = 'online-follow' | 'follow' | 'rewind';

export interface RejoinFacts {
  host: string;
  me: MemberState;
  members: MemberState[];
  primary: MemberState | null;
  primaryProblem?: string;
  source?: SourceTimeline;
  decision?: RejoinDecision;
  /** A former primary's WAL after the fork point: what it wrote that the primary never received. */
  lost?: WalAfter & { timeline: number; from: string };
  /** The host is a standby streaming from the primary now. */
  streaming: boolean;
  dataDir: string;
  configDir: string;
  passfile: { path: string; current: string | null; wanted: string };
  conninfo: { current: string | null; wanted: string };
  slot: { current: string | null; wanted: string | null };
  unreachable: string[];
  checkMode?: boolean;
}

export const rejoinModule: ModuleDefinition<RejoinArgs, RejoinFacts> = {
  name: 'rejoin',
  readsServer: true,
  summary: 'Make this host a streaming standby of the primary: re-point a standby, start a former primary as one, or pg_rewind it first when it diverged; lost transactions are reported.',
  secretArgs: ['password'],
  schema: {
    type: 'object',
    description: [
      "Nothing happens on the primary itself, on a host that holds no copy of the primary's cluster (basebackup clones it), or on a standby that already streams from the primary with the passfile complete.",
      "Divergence is read from the servers, as repmgr and Patroni read it: the primary's timeline history file gives the switchpoint of this host's timeline; a standby diverged when it replayed past it (its replay position, or its minimum recovery point when stopped), a former primary when its WAL holds records at or after it (pg_waldump). A standby on the primary's history is re-pointed (ALTER SYSTEM primary_conninfo, reload) or, when stopped, started as one; a former primary that has not diverged gets standby.signal and primary_conninfo and starts (a clean follow).",
      "A diverged host is stopped (a former primary still running beside the new one first of all), the WAL it wrote after the fork is copied aside to DATADIR.pgplay-diverged-TIMESTAMP and the committed transactions in it are counted and reported as lost, then pg_rewind runs from the primary (--config-file when the configuration lives outside the data directory, as on Debian); the host's own postgresql.auto.conf and, when they live in the data directory, postgresql.conf, pg_hba.conf and pg_ident.conf are put back over the primary's copies; then it starts as a standby.",
      'The passfile beside the data directory gets an entry for every host of `cluster`, so a later switchover can re-point it anywhere. primary_conninfo names that passfile, never a password.',
    ].join(' '),
    properties: {
      primary: { type: 'string', description: "The primary to follow; '' or left out: the running primary the servers name (the newest timeline).", examples: ['{{ new_primary }}', '{{ groups.primary.[0] }}'] },
      cluster: { type: 'array', items: { type: 'string' }, minItems: 1, description: 'Inventory names of every PostgreSQL host of the cluster.', examples: ['{{ union groups.primary groups.replicas }}'] },
      user: { type: 'string', description: 'Replication role.', examples: ['{{ replication_user }}'] },
      password: { type: 'string', minLength: 4, description: 'Its password (secret: from the environment).', examples: ['{{ env.PGPLAY_REPLICATION_PASSWORD }}'] },
      slot: { type: 'string', pattern: '^[a-z0-9_]{1,63}$', patternErrorMessage: 'a slot name: lower-case letters, digits and _, at most 63', description: 'primary_slot_name for a host that has none (created on the primary).', examples: ['pg1'] },
      timeout: { type: 'integer', minimum: 1, default: 60, description: 'Seconds to wait until the standby streams.' },
    },
    required: ['cluster', 'user', 'password'],
    additionalProperties: false,
    examples: [{ primary: 'pg2', cluster: ['pg1', 'pg2', 'pg3'], user: 'replicator', password: '{{ env.PGPLAY_REPLICATION_PASSWORD }}' }],
  },
  async check(ctx, args) {
    return readRejoinFacts(ctx, args);
  },
  plan(args, facts) {
    return planRejoin(args, facts);
  },
};

async function readRejoinFacts(ctx: TaskContext, args: RejoinArgs): Promise<RejoinFacts> {
  const names = unique([...args.cluster, ...(args.primary ? [args.primary] : [])]).filter((n) => n !== ctx.name);
  const pf = passfilePath(ctx.pg);
  // This host's passfile and postgresql.auto.conf are read beside the cluster's state, not after it.
  const [me, members, currentPassfile, autoConf] = await Promise.all([
    readHandle(ctx),
    // The other members as the other replicas' rejoin read them a moment ago; this host itself is read above.
    readCluster(ctx, names, { shared: true }),
    ctx.conn.readFile(pf),
    ctx.conn.readFile(`${ctx.pg.dataDir}/postgresql.auto.conf`),
  ]);
  const all = [me, ...members];
  let primary: MemberState | null = null;
  let primaryProblem: string | undefined;
  if (args.primary) {
    primary = all.find((m) => m.name === args.primary) ?? null;
    if (primary && !(primary.state === 'running' && primary.role === 'primary')) {
      primaryProblem = `${args.primary} is not a running primary (${describeMember(primary)})`;
    }
  } else {
    const found = currentPrimary(all.filter((m) => !me.systemId || m.systemId === me.systemId || m.name === ctx.name));
    primary = found.primary;
    primaryProblem = found.problem ?? (primary ? undefined : `no primary is running among ${all.map((m) => m.name).join(', ')}`);
  }
  const conf = autoConf ? confValues(bytesToText(autoConf.content)) : new Map<string, string>();
  const currentConninfo = conf.get('primary_conninfo') ?? null;
  const currentSlot = conf.get('primary_slot_name') || null;
  const facts: RejoinFacts = {
    host: ctx.name,
    me,
    members,
    primary,
    primaryProblem,
    streaming: false,
    dataDir: ctx.pg.dataDir,
    configDir: ctx.pg.configDir,
    passfile: {
      path: pf,
      current: currentPassfile ? currentPassfile.content.toString('utf8') : null,
      wanted: passfileText([...(primary ? [primary] : []), ...all.filter((m) => m.state !== 'unreachable')], args.user, args.password),
    },
    conninfo: { current: currentConninfo, wanted: primary ? wantedConninfo(currentConninfo, primary, args.user, pf, ctx.name) : '' },
    slot: { current: currentSlot, wanted: currentSlot ?? args.slot ?? null },
    unreachable: members.filter((m) => m.state === 'unreachable').map((m) => m.name),
    checkMode: ctx.checkMode,
  };
  if (ctx.checkMode && primary && primary.role === 'standby' && primary.state === 'running') return facts;
  if (!primary || primaryProblem || primary.name === ctx.name || me.state === 'no-cluster' || me.systemId !== primary.systemId) return facts;
  if (me.state === 'unreachable') throw new Error(`cannot read ${ctx.name}: ${me.error}`);
  facts.source = await readSourceTimeline(ctx, primary);
  facts.streaming = me.state === 'running' && me.role === 'standby' && me.upstream?.status === 'streaming' && me.upstream.host === primary.address;
  if (facts.streaming) return facts;
  if (me.role === 'standby') {
    const timeline = me.state === 'running' ? ((await replayTimeline(ctx)) ?? me.timeline ?? 0) : (me.timeline ?? 0);
    facts.decision = decideRejoin({ kind: 'standby', timeline, lsn: parseLsn(me.lsn ?? '0/0') }, facts.source);
    return facts;
  }
  // A former primary: its newest timeline (a promotion not yet checkpointed shows only in its history files).
  const walFiles = (await ctx.conn.list(`${ctx.pg.dataDir}/pg_wal`)) ?? [];
  const timeline = Math.max(me.timeline ?? 0, ...walFiles.filter((f) => /^[0-9A-F]{8}\.history$/.test(f)).map((f) => parseInt(f.slice(0, 8), 16)));
  const { switchpoint } = switchpointFor(timeline, facts.source);
  let records: number | null = null;
  if (switchpoint !== null) {
    try {
      const after = await walAfter(ctx.conn, ctx.pg, ctx.pg.dataDir, timeline, formatLsn(switchpoint));
      facts.lost = { ...after, timeline, from: formatLsn(switchpoint) };
      records = after.records;
    } catch (err) {
      facts.primaryProblem = errorMessage(err);
    }
  }
  facts.decision = decideRejoin({ kind: 'primary', timeline, recordsAfterSwitch: records }, facts.source);
  return facts;
}

/**
 * The timeline a running standby replays, as IDENTIFY_SYSTEM on a replication connection over its own socket says
 * (Patroni's way): its control file lags until the next restartpoint. null when that connection is not allowed.
 */
async function replayTimeline(ctx: TaskContext): Promise<number | null> {
  const conninfo = formatConninfo([['host', ctx.pg.socketDir], ['port', String(ctx.pg.port)], ['dbname', 'postgres'], ['replication', 'database']]);
  const r = await runPg(ctx.conn, ctx.pg, 'psql', ['-X', '-qAt', '-d', conninfo, '-c', 'IDENTIFY_SYSTEM'], { timeoutMs: 10_000 });
  const timeline = r.failed ? NaN : Number(r.stdout.trim().split('|')[1]);
  return Number.isInteger(timeline) && timeline > 0 ? timeline : null;
}

/** The primary's timeline and its history file (none on timeline 1), read from the primary's pg_wal. */
async function readSourceTimeline(ctx: TaskContext, primary: MemberState): Promise<SourceTimeline> {
  const timeline = primary.timeline ?? 1;
  if (timeline <= 1) return { timeline, history: [] };
  const handle = await ctx.otherHost(primary.name);
  const file = await handle.conn.readFile(`${handle.pg.dataDir}/pg_wal/${historyFileName(timeline)}`);
  if (!file) throw new Error(`${primary.name} is on timeline ${timeline} but has no ${historyFileName(timeline)} in its pg_wal`);
  return { timeline, history: parseHistory(file.content.toString('utf8')) };
}

/** primary_conninfo for the primary: the host's other options kept, no password (the passfile has it). */
export function wantedConninfo(current: string | null, primary: { address: string; port: number }, user: string, passfile: string, applicationName: string): string {
  const drop = new Set(['host', 'hostaddr', 'port', 'user', 'password', 'passfile', 'application_name']);
  const kept = current ? parseConninfo(current).filter(([k]) => !drop.has(k)) : [];
  return formatConninfo([['host', primary.address], ['port', String(primary.port)], ['user', user], ...kept, ['passfile', passfile], ['application_name', applicationName]]);
}

export function planRejoin(args: RejoinArgs, f: RejoinFacts) {
  const { me, primary } = f;
  if (f.checkMode && primary && primary.state === 'running' && primary.role === 'standby' && primary.systemId === me.systemId && primary.name !== f.host) {
    // --check of a switchover: the new primary is promoted only when the run applies.
    return {
      kind: 'change' as const,
      summary: `follow ${primary.name} once it is promoted (it is still a standby: ${me.role === 'primary' ? 'a clean follow, or pg_rewind when this host wrote past the fork point' : 're-pointed'})`,
      result: { primary: primary.name },
      steps: [],
    };
  }
  if (!primary) return fail(`${f.host} cannot rejoin: ${f.primaryProblem ?? 'no primary'}`);
  if (primary.name === f.host) return noop(`${f.host} is the primary`, { primary: primary.name });
  if (me.state === 'unreachable') return fail(`${f.host} cannot rejoin ${primary.name}: its server cannot be read (${me.error})`);
  if (me.state === 'no-cluster' || (primary.systemId && me.systemId !== primary.systemId)) {
    return noop(`${f.host} holds no copy of ${primary.name}'s cluster${me.systemId ? ` (system identifier ${me.systemId}, not ${primary.systemId})` : ''}: basebackup clones it`, { primary: primary.name });
  }
  if (f.primaryProblem && f.checkMode && primary.state === 'stopped') {
    // --check of site.yml on a stopped primary: the run starts it first.
    return { kind: 'change' as const, summary: `follow ${primary.name} once it runs (it is stopped; check mode)`, result: { primary: primary.name }, steps: [] };
  }
  if (f.primaryProblem && !f.decision) return fail(`${f.host} cannot rejoin: ${f.primaryProblem}`);
  const passfileChanged = f.passfile.current !== f.passfile.wanted;
  const warnings = f.unreachable.length ? [`${f.unreachable.join(', ')} could not be reached: the passfile has no entry for ${f.unreachable.length > 1 ? 'them' : 'it'} yet`] : [];
  const passDiff = { path: f.passfile.path, before: `${(f.passfile.current === null ? [] : passfileHosts(f.passfile.current)).join('\n')}\n`, after: `${passfileHosts(f.passfile.wanted).join('\n')}\n` };
  // A standby that streams from the primary is left alone: its passfile is completed when it is next re-pointed.
  if (f.streaming) return noop(`${f.host} streams from ${primary.name}`, { primary: primary.name, action: 'none' });
  const decision = f.decision as RejoinDecision;
  if (decision.action === 'refuse') return fail(`${f.host} cannot rejoin ${primary.name}: ${decision.why}`);
  const action: Action = decision.action === 'rewind' ? 'rewind' : me.state === 'running' && me.role === 'standby' ? 'online-follow' : 'follow';
  const lostCommits = action === 'rewind' && f.lost && f.lost.records > 0 ? f.lost : null;
  if (lostCommits) {
    warnings.push(
      `${f.host} wrote ${lostCommits.records} WAL record(s) on timeline ${lostCommits.timeline} after ${lostCommits.from}${me.state === 'running' ? ' (so far: it still runs)' : ''}, with ${lostCommits.commits} committed transaction(s) that ${primary.name} never received: they are LOST; that WAL is copied aside before the rewind`,
    );
  }
  const what =
    action === 'online-follow'
      ? `re-point ${f.host} at ${primary.name} (reload)`
      : action === 'follow'
        ? `start ${f.host} as a standby of ${primary.name}${me.role === 'primary' ? ' (clean follow: it did not diverge)' : ''}`
        : `${me.state === 'running' ? `stop ${f.host}${me.role === 'primary' ? ` (it runs as a primary beside ${primary.name})` : ''}, ` : ''}rewind it onto ${primary.name} with pg_rewind, start it as a standby`;
  const summary = `${what}: ${decision.why}${lostCommits ? `; ${lostCommits.commits} committed transaction(s) of ${f.host} after ${lostCommits.from} are LOST` : ''}`;
  return {
    kind: 'change' as const,
    summary,
    warnings: warnings.length ? warnings : undefined,
    diffs: [
      { path: `${f.host}`, before: `${describeMember(me)}\n`, after: `standby of ${primary.name} on timeline ${f.source?.timeline}, streaming\n` },
      { path: `${f.dataDir}/postgresql.auto.conf primary_conninfo`, before: `${f.conninfo.current ?? '(none)'}\n`, after: `${f.conninfo.wanted}\n` },
      ...(passfileChanged ? [passDiff] : []),
    ],
    result: {
      primary: primary.name,
      action,
      ...(decision.switchpoint !== null ? { switchpoint: formatLsn(decision.switchpoint) } : {}),
      ...(lostCommits ? { lost_commits: lostCommits.commits, lost_records: lostCommits.records, lost_after: lostCommits.from } : {}),
    },
    steps: rejoinSteps(args, f, action),
  };
}

function passfileStep(f: RejoinFacts): Step {
  return {
    description: `write the passfile ${f.passfile.path}`,
    async apply(ctx) {
      if (f.passfile.current === f.passfile.wanted) return;
      await ctx.conn.writeFile(f.passfile.path, new Secret(f.passfile.wanted), { owner: ctx.pg.osUser, mode: '0600' });
    },
    async undo(ctx) {
      if (f.passfile.current === f.passfile.wanted) return;
      if (f.passfile.current === null) await ctx.conn.remove(f.passfile.path);
      else await ctx.conn.writeFile(f.passfile.path, new Secret(f.passfile.current), { owner: ctx.pg.osUser, mode: '0600' });
      return `${f.passfile.path} put back`;
    },
  };
}

const CONFIG_FILES = ['postgresql.auto.conf', 'postgresql.conf', 'pg_hba.conf', 'pg_ident.conf'];
const timestamp = () => new Date().toISOString().replace(/[-:]/g, '').replace(/\.\d+Z$/, 'Z');

interface RejoinState {
  stopped: boolean;
  autoConf?: Buffer | null;
  signalCreated?: boolean;
  rewound?: boolean;
  lost?: WalAfter;
}

function rejoinSteps(args: RejoinArgs, f: RejoinFacts, action: Action): Step[] {
  const primary = f.primary as MemberState;
  const s: RejoinState = { stopped: false };
  const wasStandby = f.me.role === 'standby';
  const timeoutMs = (args.timeout ?? 60) * 1000;
  const steps: Step[] = [passfileStep(f)];
  if (f.slot.wanted) {
    const slot = f.slot.wanted;
    steps.push({
      description: `replication slot ${slot} on ${primary.name}`,
      async apply(ctx) {
        const created = await ensureSlot(await (await ctx.otherHost(primary.name)).sql(), slot);
        return created ? { slot_created: slot } : undefined;
      },
    });
  }
  if (action === 'online-follow') {
    steps.push({
      description: `point primary_conninfo at ${primary.name} and reload`,
      async apply(ctx) {
        const sql = await ctx.sql();
        await sql.query(`ALTER SYSTEM SET primary_conninfo = ${quoteLiteral(f.conninfo.wanted)}`);
        if (f.slot.wanted && f.slot.wanted !== f.slot.current) await sql.query(`ALTER SYSTEM SET primary_slot_name = ${quoteLiteral(f.slot.wanted)}`);
        await sql.query('SELECT pg_reload_conf()');
      },
      async undo(ctx) {
        const sql = await ctx.sql();
        await sql.query(f.conninfo.current === null ? 'ALTER SYSTEM RESET primary_conninfo' : `ALTER SYSTEM SET primary_conninfo = ${quoteLiteral(f.conninfo.current)}`);
        await sql.query('SELECT pg_reload_conf()');
        return 'primary_conninfo put back';
      },
    });
    steps.push(waitStep(primary, timeoutMs));
    return steps;
  }
  if (f.me.state === 'running') {
    steps.push({
      description: `stop ${f.host}`,
      async apply(ctx) {
        ctx.progress(`stopping ${f.host}`);
        await stopCleanly(ctx);
        s.stopped = true;
      },
      async undo(ctx) {
        // A former primary is never started again as one: that would make two primaries.
        if (!wasStandby) return `${f.host} left stopped: started, it would be a second primary; ${primary.name} is the primary`;
        if (s.rewound) return `${f.host} left stopped: it was rewound and cannot run as it was`;
        await startServer(ctx, ctx.signal);
        return `${f.host} started again as it was`;
      },
    });
  }
  if (f.me.state === 'stopped') {
    steps.push({
      description: `make sure the server of ${f.host} is gone`,
      async apply(ctx) {
        // A killed postmaster is a zombie until its parent reaps it; PostgreSQL will not start over its pid file before.
        const deadline = Date.now() + 30_000;
        while ((await ctx.conn.stat(`${ctx.pg.dataDir}/postmaster.pid`)) && !(await postmasterGone(ctx))) {
          if (Date.now() > deadline) throw new Error(`the postmaster named in ${ctx.pg.dataDir}/postmaster.pid is still there 30 s on`);
          await sleep(100);
        }
      },
    });
  }
  if (action === 'rewind') {
    steps.push({
      description: `pg_rewind ${f.host} from ${primary.name}`,
      async apply(ctx) {
        return rewind(ctx, args, f, s);
      },
    });
  }
  steps.push({
    description: `configure ${f.host} as a standby of ${primary.name}`,
    async apply(ctx) {
      const path = `${ctx.pg.dataDir}/postgresql.auto.conf`;
      const current = await ctx.conn.readFile(path);
      s.autoConf = current?.content ?? null;
      const text = current ? bytesToText(current.content) : '';
      const values: Record<string, string> = { primary_conninfo: fromUtf8(f.conninfo.wanted) };
      if (f.slot.wanted) values.primary_slot_name = f.slot.wanted;
      await ctx.conn.writeFile(path, textToBytes(setConfValues(text, values)), { owner: ctx.pg.osUser, mode: '0600' });
      const signal = `${ctx.pg.dataDir}/standby.signal`;
      if (!(await ctx.conn.stat(signal))) {
        await ctx.conn.writeFile(signal, '', { owner: ctx.pg.osUser, mode: '0600' });
        s.signalCreated = true;
      }
    },
    async undo(ctx) {
      if (s.rewound) return 'left as a standby: it was rewound';
      // A former primary keeps standby.signal: started by anyone later, it must not come up as a second primary.
      if (!wasStandby) return `${f.host} left stopped with standby.signal: ${primary.name} is the primary; a re-run makes ${f.host} its standby`;
      if (s.signalCreated) await ctx.conn.remove(`${ctx.pg.dataDir}/standby.signal`);
      if (s.autoConf) await ctx.conn.writeFile(`${ctx.pg.dataDir}/postgresql.auto.conf`, s.autoConf, { owner: ctx.pg.osUser, mode: '0600' });
      return 'standby.signal and postgresql.auto.conf put back';
    },
  });
  steps.push({
    description: `start ${f.host} as a standby`,
    async apply(ctx) {
      ctx.progress(`starting ${f.host} as a standby of ${primary.name}`);
      // Not cut short by an interrupt: a start half made leaves a server nobody waited for.
      await startServer(ctx);
    },
    async undo(ctx) {
      // A former primary running as a standby is where a re-run would take it: stopped, it would only wait.
      if (!wasStandby) return `${f.host} left running as a standby: ${primary.name} is the primary`;
      await ctx.dropSql();
      await stopCleanly(ctx);
      return `${f.host} stopped again`;
    },
  });
  steps.push(waitStep(primary, timeoutMs));
  if (!wasStandby && f.me.slots && f.me.slots.length > 0) {
    // The slots it kept as a primary were created on the new primary by promote; here they would only hold WAL.
    const own = f.me.slots;
    steps.push({
      description: `drop the slots ${f.host} kept as a primary`,
      async apply(ctx) {
        // Those now on the primary, and the one the primary itself streamed through while it was a standby.
        const onPrimary = await (await (await ctx.otherHost(primary.name)).sql()).query<{ name: string }>(
          "SELECT slot_name::text AS name FROM pg_replication_slots WHERE slot_name = ANY($1) UNION SELECT current_setting('primary_slot_name') WHERE current_setting('primary_slot_name') = ANY($1)",
          [own],
        );
        const dropped = await dropSlots(await ctx.sql(), onPrimary.map((r) => r.name));
        return dropped.length ? { slots_dropped: dropped } : undefined;
      },
    });
  }
  return steps;
}

/** The postmaster of the pid file is no process at all any more (not even a zombie); no pid file counts as gone. */
async function postmasterGone(ctx: TaskContext): Promise<boolean> {
  const file = await ctx.conn.readFile(`${ctx.pg.dataDir}/postmaster.pid`);
  if (!file) return true;
  const pid = Number(file.content.toString('utf8').split('\n')[0]);
  if (!(await postmasterDead(ctx))) return false;
  return !(await ctx.conn.stat(`/proc/${pid}`));
}

function waitStep(primary: MemberState, timeoutMs: number): Step {
  return {
    description: `wait until it streams from ${primary.name}`,
    async apply(ctx) {
      ctx.progress(`waiting until ${ctx.name} streams from ${primary.name}`);
      const deadline = Date.now() + timeoutMs;
      let seen = 'no WAL receiver';
      for (;;) {
        try {
          const rows = await (await ctx.sql()).query<{ status: string; host: string | null }>('SELECT status, sender_host AS host FROM pg_stat_wal_receiver');
          const r = rows[0];
          seen = r ? `${r.status}${r.host ? ` from ${r.host}` : ''}` : 'no WAL receiver';
          if (r?.status === 'streaming' && r.host === primary.address) return { streaming_from: primary.name };
        } catch (err) {
          seen = errorMessage(err);
        }
        if (Date.now() > deadline || ctx.signal.aborted) break;
        await sleep(20);
      }
      const log = await ctx.conn.readFile(serverLogFile(ctx.pg)).catch(() => null);
      const tail = log ? log.content.toString('utf8').trimEnd().split('\n').slice(-3).join('\n') : '';
      throw new Error(`${ctx.name} does not stream from ${primary.name} after ${timeoutMs / 1000} s (${seen})${tail ? `\nlast lines of ${serverLogFile(ctx.pg)}:\n${tail}` : ''}`);
    },
  };
}

/** Keep the diverged WAL aside, pg_rewind, then put this host's own configuration files back. */
async function rewind(ctx: TaskContext, args: RejoinArgs, f: RejoinFacts, s: RejoinState): Promise<Record<string, unknown>> {
  const { conn, pg } = ctx;
  const primary = f.primary as MemberState;
  const out: Record<string, unknown> = {};
  // What it wrote after the fork, counted again now that it is stopped, and its WAL kept for whoever wants it back.
  if (f.lost) {
    const after = await walAfter(conn, pg, pg.dataDir, f.lost.timeline, f.lost.from);
    s.lost = after;
    out.lost_commits = after.commits;
    out.lost_records = after.records;
    if (after.records > 0) out.diverged_wal = await keepDivergedWal(ctx, f.lost.timeline, f.lost.from);
  }
  const saved = new Map<string, Buffer | null>();
  for (const name of CONFIG_FILES) saved.set(name, (await conn.readFile(`${pg.dataDir}/${name}`))?.content ?? null);
  const source = formatConninfo([
    ['host', primary.address],
    ['port', String(primary.port)],
    ['user', args.user],
    ['dbname', 'postgres'],
    ['passfile', f.passfile.path],
    ['application_name', `${ctx.name}-rewind`],
  ]);
  const argv = ['--target-pgdata', pg.dataDir, '--source-server', source];
  // Debian: postgresql.conf lives in /etc; pg_rewind starts the server alone to finish a crash recovery with it.
  if (pg.configDir.replace(/\/+$/, '') !== pg.dataDir.replace(/\/+$/, '')) argv.push('--config-file', `${pg.configDir}/postgresql.conf`);
  // pg_rewind reads the source's timeline from its control file, which a promotion updates only at the next
  // checkpoint (Patroni checkpoints the new primary for the same reason).
  ctx.progress(`CHECKPOINT on ${primary.name}, then pg_rewind from it`);
  await (await (await ctx.otherHost(primary.name)).sql()).query('CHECKPOINT');
  const r = await runPg(conn, pg, 'pg_rewind', argv, { env: { LC_ALL: 'C' }, timeoutMs: 3600_000, signal: ctx.signal });
  const said = `${r.stdout}\n${r.stderr}`;
  if (r.failed) throw new Error(`pg_rewind from ${primary.name} failed: ${said.trim().split('\n').filter(Boolean).slice(-2).join('; ') || lastLine(r)}`);
  s.rewound = true;
  out.rewound = !/no rewind required/.test(said);
  const diverged = /servers diverged at WAL location (\S+) on timeline (\d+)/.exec(said);
  if (diverged) out.diverged_at = diverged[1];
  for (const [name, content] of saved) {
    const path = `${pg.dataDir}/${name}`;
    if (content) await conn.writeFile(path, content, { owner: pg.osUser, mode: name === 'postgresql.auto.conf' ? '0600' : undefined });
    else if (name !== 'postgresql.auto.conf') await conn.remove(path);
  }
  await ctx.dropSql();
  return out;
}

/** Copy the WAL files of the diverged timeline from the fork point on to DATADIR.pgplay-diverged-TIMESTAMP. */
async function keepDivergedWal(ctx: TaskContext, timeline: number, from: string): Promise<string> {
  const { conn, pg } = ctx;
  const control = await readControlFields(conn, pg);
  const segment = BigInt(control?.get('Bytes per WAL segment') ?? 16 * 1024 * 1024);
  const first = parseLsn(from) / segment;
  const perLog = 0x100000000n / segment;
  const prefix = timeline.toString(16).toUpperCase().padStart(8, '0');
  const files = ((await conn.list(`${pg.dataDir}/pg_wal`)) ?? []).filter((name) => {
    if (!/^[0-9A-F]{24}$/.test(name) || !name.startsWith(prefix)) return false;
    return BigInt(`0x${name.slice(8, 16)}`) * perLog + BigInt(`0x${name.slice(16)}`) >= first;
  });
  const dir = `${pg.dataDir}.pgplay-diverged-${timestamp()}`;
  await conn.mkdir(dir, { owner: pg.osUser, mode: '0700' });
  if (files.length > 0) {
    const r = await conn.run(['cp', '-p', '--', ...files.map((name) => `${pg.dataDir}/pg_wal/${name}`), dir], { as: pg.osUser });
    if (r.failed) throw new Error(`cannot copy the diverged WAL to ${dir}: ${lastLine(r)}`);
  }
  await conn.writeFile(`${dir}/README`, `WAL of timeline ${timeline} from ${from} on, written by this host after the new primary's timeline forked off, kept by pgplay before pg_rewind.\nRead it with: pg_waldump -p ${dir} -t ${timeline} -s ${from}\n`, { owner: pg.osUser, mode: '0600' });
  return dir;
}
