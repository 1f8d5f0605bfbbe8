import { posix } from 'node:path';
import { HostOpError } from '../connection/types';
import { errorMessage } from '../errors';
import { bytesToText, fromUtf8, textToBytes } from '../facts/bytes';
import { readClusterDir, type ClusterDirFacts } from '../facts/cluster-dir';
import { confValues, setConfValues } from '../facts/conf-file';
import { readControlData, type ControlData } from '../facts/control-data';
import { Secret } from '../secrets';
import { explainFailure, markLogs, type LogPlace } from './pg/failure-evidence';
import { conninfoWithPassfile, conninfoWithTls, sameConninfo } from './pg/conninfo';
import { ensureConfModule, type EnsureConfFacts } from './ensure-conf';
import { passfileText } from './pg/passfile';
import { controlServer, lastLine, runPg, serverState, sleep, type ServerState } from './pg/server';
import { fail, noop, recentInTask, type ModuleDefinition, type Plan, type Step, type TaskContext } from './types';

export interface BasebackupArgs {
  primary: string;
  user: string;
  password: string;
  slot?: string;
  /** What may be replaced: empty (no cluster), fresh (a default cluster, the default), any. */
  replace?: 'empty' | 'fresh' | 'any';
  discard_old?: boolean;
  start?: boolean;
  wait?: boolean;
  timeout?: number;
  /** pg_basebackup --max-rate, to spare a busy primary's disks and network. */
  max_rate?: string;
  /** Seconds pg_basebackup (and the standby, through primary_conninfo) waits for the primary to answer a connection. */
  connect_timeout?: number;
  /** libpq sslmode of the copy and of primary_conninfo (verify-full for replication over TLS). */
  sslmode?: 'disable' | 'allow' | 'prefer' | 'require' | 'verify-ca' | 'verify-full';
  /** The CA certificate on this host that the primary's certificate must chain to (sslrootcert); empty: none. */
  sslrootcert?: string;
  /** Every PostgreSQL host of the cluster: the passfile gets an entry for each, so a switchover can re-point the standby. */
  cluster?: string[];
}

export interface PrimaryFacts {
  name: string;
  address: string;
  port: number;
  systemId?: string;
  slotExists?: boolean;
  error?: string;
  sameDir: boolean;
  /** --check before the run started a stopped primary: its identity came from its files. */
  stopped?: boolean;
  /** Why the primary is out of this run (it failed or was unreachable earlier): nothing is cloned from it. */
  outOfRun?: string;
}

export interface BasebackupFacts {
  host: string;
  dataDir: string;
  primary: PrimaryFacts;
  state: ServerState;
  control: ControlData | null;
  /** What the directory holds, read from its files whatever the server's state. */
  dir: ClusterDirFacts;
  inRecovery?: boolean;
  /** Running server only: replicas streaming from it now. */
  streamingReplicas?: number;
  /** Running server only: users' databases by name, and user tables in the postgres database. */
  userDatabases?: string[];
  userTables?: number;
  /** Replication slots, from the server when it runs, else from pg_replslot. */
  slots: string[];
  /** Already a standby of the primary: its primary_conninfo and primary_slot_name, as ensure_conf reads them. */
  standbyConf?: EnsureConfFacts;
  /** Addresses the passfile names besides the primary's (the other hosts of `cluster`). */
  passfileHosts?: Array<{ address: string; port: number }>;
}

export const basebackupModule: ModuleDefinition<BasebackupArgs, BasebackupFacts> = {
  name: 'basebackup',
  readsServer: true,
  summary: 'Make this host a standby of the primary with pg_basebackup -Xs -R; the old data directory is moved aside, never deleted silently.',
  secretArgs: ['password'],
  schema: {
    type: 'object',
    description: [
      "Clone the primary into this host's data directory. Nothing happens when the host already is a standby of that primary (same system identifier and standby.signal).",
      'What may be replaced (`replace`): `empty` only a missing or empty directory; `fresh` (default) also a default cluster as a package install leaves it, proven from its files (no database, table, index or sequence made by a user, no tablespace, not a standby, no replication slot); `any` any cluster. A primary with replicas or replication slots, or the primary\'s own directory, is always refused; so is a cluster pgplay cannot read.',
      'The facts are read again under a lock right before anything is stopped. The server is stopped, the old directory moved to DATADIR.pgplay-old-TIMESTAMP, the password written to a 0600 passfile beside the data directory, and primary_conninfo rewritten to use that passfile (no password in postgresql.auto.conf). When any of it fails, or the run is interrupted, or the connection drops, the old directory is put back and checked.',
      'The server is left stopped unless `start` is true, so host settings (listen_addresses, port) can be set with ensure_conf first; the service module starts it. `discard_old` deletes the moved-aside directory only after the new standby streams, so it needs `start` and `wait`.',
      "A host whose configuration lives in its data directory (RHEL's layout) gets back its own postgresql.conf, pg_hba.conf and pg_ident.conf from the moved-aside directory when the copy has none (a primary in Debian's layout keeps them in /etc).",
    ].join(' '),
    properties: {
      primary: { type: 'string', description: 'Inventory name of the primary.', examples: ['pg1', '{{ groups.primary.[0] }}'] },
      user: { type: 'string', description: 'Replication role on the primary.', examples: ['replicator'] },
      password: { type: 'string', minLength: 4, description: 'Its password (secret: from the environment).', examples: ['{{ env.PGPLAY_REPLICATION_PASSWORD }}'] },
      slot: { type: 'string', pattern: '^[a-z0-9_]{1,63}$', patternErrorMessage: 'a slot name: lower-case letters, digits and _, at most 63', description: 'Physical replication slot to stream through (created on the primary if missing); it becomes primary_slot_name, also on a host that already is a standby.', examples: ['pg2'] },
      replace: { type: 'string', enum: ['empty', 'fresh', 'any'], default: 'fresh', description: 'Which existing cluster may be moved aside.' },
      discard_old: { type: 'boolean', default: false, description: 'Delete the moved-aside old data directory once the new standby streams (needs start and wait).' },
      start: { type: 'boolean', default: false, description: 'Start the standby after the copy.' },
      wait: { type: 'boolean', default: true, description: 'With start: wait until the standby streams from the primary.' },
      timeout: { type: 'integer', minimum: 10, default: 3600, description: 'Seconds pg_basebackup may take.' },
      connect_timeout: {
        type: 'integer',
        minimum: 2,
        maximum: 600,
        default: 10,
        description: "Seconds pg_basebackup waits for the primary to answer a connection (libpq's connect_timeout, kept in primary_conninfo for the standby): a firewall that drops the packets fails the copy then, not after the kernel's two minutes.",
      },
      max_rate: { type: 'string', pattern: '^[0-9]+[kM]?$', patternErrorMessage: 'a rate like 32k or 100M (kB/s without a suffix)', description: 'Highest transfer rate of the copy (pg_basebackup --max-rate), to spare a busy primary: 32k to 1024M.', examples: ['100M'] },
      sslmode: {
        type: 'string',
        enum: ['disable', 'allow', 'prefer', 'require', 'verify-ca', 'verify-full'],
        description: "libpq's sslmode for the copy and in primary_conninfo: verify-full makes the standby check that the primary's certificate chains to `sslrootcert` and names the primary's address. On a host that already is a standby, primary_conninfo is brought to it (and reloaded).",
        examples: ['verify-full'],
      },
      sslrootcert: { type: 'string', description: "The CA certificate on this host (sslrootcert) the primary's certificate must chain to; empty: none.", examples: ['/var/lib/postgresql/15/main.pgplay-tls/root.crt'] },
      cluster: { type: 'array', items: { type: 'string' }, description: "Every PostgreSQL host of the cluster: the passfile gets an entry for each one's address, so a switchover or a failover can re-point this standby at any of them.", examples: ['{{ union groups.primary groups.replicas }}'] },
    },
    required: ['primary', 'user', 'password'],
    additionalProperties: false,
    examples: [{ primary: 'pg1', user: 'replicator', password: '{{ env.PGPLAY_REPLICATION_PASSWORD }}' }],
  },
  validate(args) {
    if (args.discard_old === true && (args.start !== true || args.wait === false)) {
      return [{ arg: 'discard_old', message: 'discard_old needs start: true and wait: true: the old directory is deleted only once the new standby streams' }];
    }
    return [];
  },
  async check(ctx, args) {
    // A primary that failed earlier in this run (its preflight, its settings) is not cloned from.
    const out = args.primary === ctx.name ? null : ctx.outOfRun(args.primary);
    if (out) return readFacts(ctx, { name: args.primary, address: '', port: 0, sameDir: false, outOfRun: out.split('\n')[0] });
    // This host's own account and the names in its data directory are asked beside the primary's identity (they do
    // not depend on it): round trips less.
    const local = readLocalAccount(ctx);
    local.catch(() => undefined);
    const listed = ctx.conn.list(ctx.pg.dataDir);
    listed.catch(() => undefined);
    // The replicas cloned by this task ask the same primary at about the same time: one read serves them all.
    const primary = await readPrimary(ctx, args, { shared: true });
    // --check before the run has started a stopped primary: its identity is in its files.
    if (primary.error && ctx.checkMode) Object.assign(primary, await stoppedPrimaryIdentity(ctx, args.primary));
    const facts = await readFacts(ctx, primary, local, listed);
    const standby = facts.control?.systemIdentifier === primary.systemId && facts.dir.standbySignal;
    if (standby && (args.slot !== undefined || args.sslmode !== undefined || args.sslrootcert !== undefined)) {
      facts.standbyConf = await ensureConfModule.check(ctx, { settings: { primary_conninfo: '', primary_slot_name: '' } });
    }
    facts.passfileHosts = await clusterAddresses(ctx, args.cluster ?? []);
    return facts;
  },
  plan(args, facts) {
    const { primary } = facts;
    // Checked before anything is stopped or moved: the passfile holds one entry per line.
    if (/[\r\n]/.test(args.user) || /[\r\n]/.test(args.password)) return fail('user and password cannot hold a line break: libpq reads the passfile line by line');
    if (primary.outOfRun) return fail(`not cloned: the primary ${primary.name} ${primary.outOfRun}`);
    if (primary.sameDir) return fail(`${facts.host} is the primary ${primary.name} itself: refusing to clone it onto its own data directory`);
    if (primary.error || !primary.systemId) return fail(`cannot read the system identifier of the primary ${primary.name}: ${primary.error ?? 'no answer'}`);
    if (args.discard_old && (!args.start || args.wait === false)) return fail('discard_old needs start: true and wait: true: the old directory is deleted only once the new standby streams');
    const here = facts.control?.systemIdentifier;
    if (here === primary.systemId && facts.dir.standbySignal) return planStandbyConnection(args, facts);
    const refusal = refuse(args.replace ?? 'fresh', facts);
    if (refusal) return fail(refusal);
    const running = facts.state === 'running';
    const entries = facts.dir.entries?.length ?? 0;
    const before = facts.control
      ? `cluster with system identifier ${here} (${running ? (facts.inRecovery ? 'running standby' : 'running') : facts.control.state})\n`
      : facts.dir.entries === null ? 'no directory\n' : entries > 0 ? `${entries} file(s), no cluster\n` : 'empty\n';
    const warnings = [
      ...(running ? [`PostgreSQL on ${facts.host} is stopped for the copy`] : []),
      ...(primary.stopped ? [`PostgreSQL on the primary ${primary.name} is stopped: the copy needs it running`] : []),
    ];
    return {
      kind: 'change',
      summary: `clone ${primary.name} into ${facts.dataDir}${entries > 0 ? `; old directory moved aside${args.discard_old ? ', deleted once the standby streams' : ''}` : ''}`,
      warnings: warnings.length > 0 ? warnings : undefined,
      diffs: [{ path: facts.dataDir, before, after: `standby of ${primary.name} (system identifier ${primary.systemId})${args.start ? ', started' : ', stopped'}\n` }],
      result: { primary: primary.name, system_identifier: primary.systemId },
      steps: cloneSteps(args, facts),
    };
  },
};

/** A host that already is a standby of the primary: nothing, or its primary_conninfo (TLS) and slot brought to what is asked. */
function planStandbyConnection(args: BasebackupArgs, facts: BasebackupFacts): Plan {
  const already = `${facts.dataDir} is already a standby of ${facts.primary.name} (system identifier ${facts.primary.systemId})`;
  const conf = facts.standbyConf;
  if (!conf) return noop(already);
  const current = (name: string) => conf.inFiles[name]?.value ?? conf.info[name]?.active ?? '';
  const settings: Record<string, string> = {};
  const conninfo = current('primary_conninfo');
  const wanted = conninfoWithTls(conninfo, { sslmode: args.sslmode, sslrootcert: args.sslrootcert });
  if (!sameConninfo(conninfo, wanted)) settings.primary_conninfo = wanted;
  if (args.slot !== undefined && current('primary_slot_name') !== args.slot) settings.primary_slot_name = args.slot;
  if (Object.keys(settings).length === 0) return noop(already);
  const plan = ensureConfModule.plan({ settings }, conf);
  if (plan.kind !== 'change') return plan.kind === 'noop' ? noop(already) : plan;
  const what = [
    ...(settings.primary_conninfo !== undefined ? [`primary_conninfo with ${[args.sslmode && `sslmode=${args.sslmode}`, args.sslrootcert && `sslrootcert=${args.sslrootcert}`].filter(Boolean).join(' ') || 'no sslrootcert'}`] : []),
    ...(settings.primary_slot_name !== undefined ? [`primary_slot_name = ${args.slot}`] : []),
  ];
  return { ...plan, summary: `${already}; ${what.join(', ')}${conf.running ? ' (reloaded: the WAL receiver reconnects)' : ''}` };
}

/** The address and port of each host of the cluster that this run can reach (the others get their entry from rejoin later). */
async function clusterAddresses(ctx: TaskContext, names: string[]): Promise<Array<{ address: string; port: number }>> {
  const found = await Promise.allSettled(names.map((n) => (n === ctx.name ? Promise.resolve(ctx) : ctx.otherHost(n))));
  return found.flatMap((r) => (r.status === 'fulfilled' ? [{ address: r.value.pg.address, port: r.value.pg.port }] : []));
}

/**
 * The primary's identity, through its own SQL session. Shared: the read made for another replica of this task within
 * the last second serves (it names every slot); the read before a change is the host's own.
 */
async function readPrimary(ctx: TaskContext, args: BasebackupArgs, options: { shared?: boolean } = {}): Promise<PrimaryFacts> {
  const primary: PrimaryFacts = { name: args.primary, address: '', port: 0, sameDir: args.primary === ctx.name };
  try {
    const other = await ctx.otherHost(args.primary);
    Object.assign(primary, { address: other.pg.address, port: other.pg.port });
    primary.sameDir ||= other.pg.address === ctx.pg.address && other.pg.dataDir === ctx.pg.dataDir;
    const read = async () => {
      const sql = await other.sql();
      const [row] = await sql.query<{ id: string; slots: string[] }>('SELECT system_identifier::text AS id, ARRAY(SELECT slot_name::text FROM pg_replication_slots) AS slots FROM pg_control_system()');
      return row;
    };
    const row = options.shared ? await recentInTask(ctx, `primary ${args.primary}`, read) : await read();
    primary.systemId = row.id;
    if (args.slot) primary.slotExists = row.slots.includes(args.slot);
  } catch (err) {
    primary.error = err instanceof Error ? err.message : String(err);
  }
  return primary;
}

/** The system identifier of a stopped primary, from pg_controldata; nothing when it is not stopped or has no cluster. */
async function stoppedPrimaryIdentity(ctx: TaskContext, name: string): Promise<Partial<PrimaryFacts>> {
  try {
    const other = await ctx.otherHost(name);
    if ((await serverState(other.conn, other.pg)) !== 'stopped') return {};
    const control = await readControlData(other.conn, other.pg);
    return control ? { systemId: control.systemIdentifier, stopped: true, error: undefined } : {};
  } catch {
    return {};
  }
}

interface LocalAccount {
  id: string;
  rec: boolean;
  dbs: string[];
  reps: number;
  tables: number;
  slots: string[];
}

/** What this host's running server says it holds (fails when it does not answer). */
async function readLocalAccount(ctx: TaskContext): Promise<LocalAccount> {
  const sql = await ctx.sql();
  const [r] = await sql.query<LocalAccount>(
    `SELECT (SELECT system_identifier::text FROM pg_control_system()) AS id,
            pg_is_in_recovery() AS rec,
            ARRAY(SELECT datname::text FROM pg_database WHERE oid >= 16384 ORDER BY 1) AS dbs,
            (SELECT count(*)::int FROM pg_stat_replication) AS reps,
            (SELECT count(*)::int FROM pg_class WHERE oid >= 16384 AND relkind IN ('r', 'p', 'm', 'S', 'i', 'f')) AS tables,
            ARRAY(SELECT slot_name::text FROM pg_replication_slots ORDER BY 1) AS slots`,
  );
  return r;
}

/** This host's cluster: its files always, its server's own account when it runs (asked already when local is given). */
async function readFacts(ctx: TaskContext, primary: PrimaryFacts, local?: Promise<LocalAccount>, listed?: Promise<string[] | null>): Promise<BasebackupFacts> {
  const { pg } = ctx;
  const base = { host: ctx.name, dataDir: pg.dataDir, primary };
  if (primary.sameDir || primary.outOfRun) return { ...base, state: 'stopped', control: null, dir: await readClusterDir(ctx.conn, pg.dataDir), slots: [] };
  let sqlError: string | null = null;
  try {
    const r = await (local ?? readLocalAccount(ctx));
    // A copy of the primary already: the plan reads only standby.signal (a no-op), or refuses it as a copy that is
    // not a standby, from the server's own account; the files of its databases are not needed.
    const dir = await readClusterDir(ctx.conn, pg.dataDir, { entriesOnly: r.id === primary.systemId, listed });
    return {
      ...base,
      state: 'running',
      control: { systemIdentifier: r.id, state: r.rec ? 'in archive recovery' : 'in production' },
      dir,
      inRecovery: r.rec,
      streamingReplicas: r.reps,
      userDatabases: r.dbs,
      userTables: r.tables,
      slots: r.slots,
    };
  } catch (err) {
    sqlError = err instanceof Error ? err.message : String(err);
  }
  const [state, dir] = await Promise.all([serverState(ctx.conn, pg), readClusterDir(ctx.conn, pg.dataDir)]);
  // Without its own account, a running server could be a primary with replicas: never judged from files alone.
  if (state === 'running') throw new Error(`PostgreSQL on ${ctx.name} is running but cannot say what it holds, so nothing is replaced: ${sqlError}`);
  const control = state === 'no-cluster' || !dir.entries?.includes('PG_VERSION') ? null : await readControlData(ctx.conn, pg);
  return { ...base, state, control, dir, slots: dir.slots };
}

/** Why this directory must not be replaced, or null when it may be. */
export function refuse(replace: 'empty' | 'fresh' | 'any', facts: BasebackupFacts): string | null {
  const dir = facts.dataDir;
  const primaryLike = !facts.inRecovery && !facts.dir.standbySignal;
  if (primaryLike && facts.state === 'running' && (facts.streamingReplicas ?? 0) > 0) {
    return `${dir} holds a running primary with ${facts.streamingReplicas} replica(s) streaming from it: refusing to replace it`;
  }
  if (primaryLike && facts.slots.length > 0) {
    return `${dir} holds a primary with replication slot(s) ${facts.slots.join(', ')}: replicas depend on it, active or not; refusing to replace it (drop the slots first if it really is unused)`;
  }
  const entries = facts.dir.entries?.length ?? 0;
  if (replace === 'any' || entries === 0) return null;
  if (!facts.control) return `${dir} holds ${entries} file(s) but no cluster: refusing to move it unless replace: any`;
  const id = facts.control.systemIdentifier;
  if (replace === 'empty') return `${dir} holds a cluster (system identifier ${id}): refusing to replace it with replace: empty`;
  if (id === facts.primary.systemId) return `${dir} holds a copy of ${facts.primary.name} that is not a standby (no standby.signal; promoted?): refusing to replace it unless replace: any`;
  const standby = facts.dir.standbySignal || facts.inRecovery || /recovery/.test(facts.control.state);
  if (standby) return `${dir} holds a standby of another primary (system identifier ${id}): refusing to replace it unless replace: any`;
  const databases = facts.userDatabases?.length ? facts.userDatabases : facts.dir.userDatabaseOids.map((oid) => `OID ${oid}`);
  if (databases.length > 0) return `${dir} holds a cluster with user databases (${databases.join(', ')}): refusing to replace it unless replace: any`;
  if (facts.dir.tablespaces.length > 0) return `${dir} holds a cluster with tablespaces (${facts.dir.tablespaces.join(', ')}): refusing to replace it unless replace: any`;
  // The server's count covers only the database pgplay is connected to; the files cover every default database
  // (template1 too), running or stopped. Say whichever found more.
  const tables = facts.userTables ?? 0;
  const files = facts.dir.userRelationFiles;
  if (tables > 0 || files > 0) {
    const found = tables >= files ? `${tables} relation(s)` : `${files} relation file(s)`;
    return `${dir} holds a cluster with user tables (${found} made by users): refusing to replace it unless replace: any`;
  }
  return null;
}

/** Seconds pg_basebackup (and, through primary_conninfo, the standby) waits for the primary to answer a connection. */
const CONNECT_TIMEOUT_S = 10;

/** The address this host's connections come from, when the inventory says (pg_client_address). */
function clientAddress(ctx: TaskContext): string | undefined {
  try {
    const given = ctx.vars.pg_client_address;
    return typeof given === 'string' && given ? given : undefined;
  } catch {
    return undefined; // a value that cannot be rendered: the troubleshooter does without it
  }
}

const timestamp = () => new Date().toISOString().replace(/[-:]/g, '').replace(/\.\d+Z$/, 'Z');

/** The steps of a clone, each with its undo: when one fails the host goes back to what it was. */
function cloneSteps(args: BasebackupArgs, planned: BasebackupFacts): Step[] {
  const dataDir = planned.dataDir;
  const guardName = `basebackup ${dataDir}`;
  const s: {
    lock?: string;
    wasRunning: boolean;
    old: string | null;
    before?: { entries: string[]; id?: string };
    passfile?: string;
    oldPassfile?: Buffer | null;
    created?: boolean;
    primaryLog?: LogPlace;
  } = {
    wasRunning: false,
    old: null,
  };
  const steps: Step[] = [
    {
      description: `lock ${dataDir} and read its facts again`,
      async apply(ctx) {
        try {
          s.lock = await ctx.conn.lock(`datadir-${dataDir.replace(/[^A-Za-z0-9_.-]/g, '_')}`, 0);
        } catch (err) {
          if (err instanceof HostOpError && err.code === 'EBUSY') throw new Error(`another basebackup of ${dataDir} is running on ${ctx.name}`);
          throw err;
        }
        // Between the check and now the server may have started and replicas connected: judge again.
        const facts = await readFacts(ctx, await readPrimary(ctx, args));
        const refusal = facts.primary.systemId !== planned.primary.systemId ? `the primary ${args.primary} changed since the check` : refuse(args.replace ?? 'fresh', facts);
        if (refusal) throw new Error(`${refusal} (read again before anything was stopped: nothing was changed)`);
        s.wasRunning = facts.state === 'running';
        s.before = { entries: withoutPid(facts.dir.entries ?? []), id: facts.control?.systemIdentifier };
        s.created = facts.dir.entries === null;
      },
      async undo(ctx) {
        if (s.lock) await ctx.conn.unlock(s.lock);
        return `released the lock on ${dataDir}`;
      },
    },
    {
      description: 'stop PostgreSQL',
      async apply(ctx) {
        if (!s.wasRunning) return;
        ctx.progress('stopping PostgreSQL');
        await ctx.dropSql();
        await controlServer(ctx.conn, ctx.pg, 'stop', ctx.signal);
      },
      async undo(ctx) {
        if (!s.wasRunning) return 'PostgreSQL was stopped before: left stopped';
        if ((await serverState(ctx.conn, ctx.pg)) !== 'running') await controlServer(ctx.conn, ctx.pg, 'start', ctx.signal);
        return 'PostgreSQL started again';
      },
    },
    {
      description: `move ${dataDir} aside`,
      async apply(ctx) {
        const { conn, pg } = ctx;
        if ((s.before?.entries.length ?? 0) > 0) {
          const old = `${dataDir}.pgplay-old-${timestamp()}`;
          ctx.progress(`moving ${dataDir} to ${old}`);
          await conn.move(dataDir, old);
          // Only once it moved: the undo puts back what this run moved, never a directory that was there before.
          s.old = old;
          await conn.guard(guardName, [
            { kind: 'remove', path: dataDir },
            { kind: 'move', from: s.old, to: dataDir },
          ]);
          await conn.mkdir(dataDir, { owner: pg.osUser, mode: '0700' });
        } else if (s.created) {
          await conn.guard(guardName, [{ kind: 'remove', path: dataDir }]);
          await conn.mkdir(dataDir, { owner: pg.osUser, mode: '0700' });
        }
        return s.old ? { old_data_dir: s.old } : undefined;
      },
      async undo(ctx) {
        return putBack(ctx, dataDir, s, guardName);
      },
      guarded: () => (s.old ? `${s.old} back at ${dataDir}` : s.created ? `${dataDir} removed` : null),
    },
    {
      description: 'write the passfile',
      async apply(ctx) {
        const passfile = `${posix.dirname(dataDir)}/.pgpass-pgplay-${posix.basename(dataDir)}`;
        s.oldPassfile = (await ctx.conn.readFile(passfile))?.content ?? null;
        // Known from here on: the undo puts back what was read, or removes what this run made.
        s.passfile = passfile;
        const text = passfileText([planned.primary, ...(planned.passfileHosts ?? [])], args.user, args.password);
        await ctx.conn.writeFile(passfile, new Secret(text), { owner: ctx.pg.osUser, mode: '0600' });
      },
      async undo(ctx) {
        if (!s.passfile) return 'no passfile written';
        if (s.oldPassfile) await ctx.conn.writeFile(s.passfile, s.oldPassfile);
        else await ctx.conn.remove(s.passfile);
        return `${s.passfile} ${s.oldPassfile ? 'put back' : 'removed'}`;
      },
    },
    {
      description: `pg_basebackup from ${planned.primary.name} (${planned.primary.address}:${planned.primary.port})`,
      async apply(ctx) {
        const { primary } = planned;
        const argv = ['-h', primary.address, '-p', String(primary.port), '-U', args.user, '-D', dataDir, '-X', 'stream', '-R', '-P', '-c', 'fast', '-w'];
        if (args.slot) argv.push('-S', args.slot, ...(primary.slotExists ? [] : ['-C']));
        if (args.max_rate) argv.push('-r', args.max_rate);
        ctx.progress(`pg_basebackup from ${primary.name}`);
        const tlsEnv: Record<string, string> = {};
        if (args.sslmode) tlsEnv.PGSSLMODE = args.sslmode;
        if (args.sslrootcert) tlsEnv.PGSSLROOTCERT = args.sslrootcert;
        // Where the primary's log ends now: what the copy makes it write tells why a copy failed.
        const primaryHandle = await ctx.otherHost(primary.name);
        s.primaryLog = await markLogs(primaryHandle);
        const copy = await runPg(ctx.conn, ctx.pg, 'pg_basebackup', argv, {
          // A firewall that drops the packets fails the copy in seconds, not after the kernel's two minutes.
          env: { PGPASSFILE: s.passfile as string, PGAPPNAME: ctx.name, PGCONNECT_TIMEOUT: String(args.connect_timeout ?? CONNECT_TIMEOUT_S), LC_MESSAGES: 'C', ...tlsEnv },
          timeoutMs: (args.timeout ?? 3600) * 1000,
          signal: ctx.signal,
          onOutput: throttledProgress(ctx),
        });
        if (copy.failed) {
          const said = copy.stderr.split(/[\r\n]+/).map((l) => l.trim()).filter((l) => l && !/^\d+\/\d+ kB/.test(l)).join('; ') || lastLine(copy);
          const why = copy.timedOut ? `timed out after ${args.timeout ?? 3600} s` : said;
          const cause = ctx.signal.aborted
            ? null
            : await explainFailure(ctx, primaryHandle, { user: args.user, clientError: copy.stderr, client: 'pg_basebackup', clientAddress: clientAddress(ctx), since: { primary: s.primaryLog }, replicaServer: false });
          throw new Error(`pg_basebackup from ${primary.name} failed: ${cause ?? why}`);
        }
        await rewriteConninfo(ctx, s.passfile as string, { sslmode: args.sslmode, sslrootcert: args.sslrootcert });
        const kept = s.old && samePath(ctx.pg.configDir, dataDir) ? await keepOwnConfig(ctx, s.old) : [];
        return { passfile: s.passfile, ...(kept.length > 0 ? { config_kept: kept } : {}) };
      },
    },
    {
      description: 'start the standby',
      async apply(ctx) {
        if (!args.start) return;
        ctx.progress('starting the standby');
        const ownLog = await markLogs(ctx);
        await controlServer(ctx.conn, ctx.pg, 'start', ctx.signal);
        if (args.wait === false) return;
        try {
          await waitStreaming(ctx, 60_000);
        } catch (err) {
          if (ctx.signal.aborted) throw err;
          const cause = await explainFailure(ctx, await ctx.otherHost(args.primary), {
            user: args.user,
            clientAddress: clientAddress(ctx),
            since: { primary: s.primaryLog, replica: ownLog },
          });
          throw cause ? new Error(`${errorMessage(err)}: ${cause}`, { cause: err }) : err;
        }
      },
      async undo(ctx) {
        if (!args.start) return;
        await ctx.dropSql();
        if ((await serverState(ctx.conn, ctx.pg)) === 'running') await controlServer(ctx.conn, ctx.pg, 'stop', ctx.signal);
        return 'the new standby stopped';
      },
    },
    {
      description: 'finish',
      async apply(ctx) {
        await ctx.conn.guard(guardName, null);
        if (s.old && args.discard_old) {
          ctx.progress(`deleting ${s.old}`);
          await ctx.conn.remove(s.old, { recursive: true });
        }
        if (s.lock) await ctx.conn.unlock(s.lock);
        return { old_data_dir: s.old && !args.discard_old ? s.old : null };
      },
    },
  ];
  return steps;
}

/** A running server's pid file is not part of what it holds. */
function withoutPid(entries: string[]): string[] {
  return entries.filter((e) => e !== 'postmaster.pid' && e !== 'postmaster.opts');
}

/**
 * Undo of the move: what pgplay made at dataDir goes, the old directory comes back, and that is checked. It also runs
 * when the move itself failed: a directory never moved is left alone (and checked), never emptied.
 */
async function putBack(ctx: TaskContext, dataDir: string, s: { old: string | null; before?: { entries: string[]; id?: string }; created?: boolean }, guardName: string): Promise<string> {
  const { conn, pg } = ctx;
  await conn.guard(guardName, null);
  if (!s.old && s.created) {
    await conn.remove(dataDir, { recursive: true });
    return `${dataDir} removed again (it did not exist before)`;
  }
  if (!s.old && (s.before?.entries.length ?? 0) === 0) {
    // It was empty: empty it again.
    for (const name of (await conn.list(dataDir)) ?? []) await conn.remove(`${dataDir}/${name}`, { recursive: true });
    return `${dataDir} emptied again`;
  }
  if (s.old && (await conn.stat(s.old))) {
    await conn.remove(dataDir, { recursive: true });
    await conn.move(s.old, dataDir);
  }
  // Back as it was only when it is: the same entries and the same cluster.
  const entries = withoutPid((await conn.list(dataDir)) ?? []);
  const control = s.before?.id ? await readControlData(conn, pg) : null;
  const wanted = s.before?.entries ?? [];
  if (entries.join('/') !== wanted.join('/') || (s.before?.id && control?.systemIdentifier !== s.before.id)) {
    throw new Error(`${dataDir} holds ${entries.length} entries (system identifier ${control?.systemIdentifier ?? 'none'}) ${s.old ? `after putting ${s.old} back` : 'though it was never moved'}, not the ${wanted.length} it held (${s.before?.id ?? 'none'})`);
  }
  return `${dataDir} is ${s.old ? 'back' : 'still'} as it was (system identifier ${s.before?.id ?? 'none'}, ${entries.length} entries)`;
}

const CONFIG_FILES = ['postgresql.conf', 'pg_hba.conf', 'pg_ident.conf'];

function samePath(a: string, b: string): boolean {
  return a.replace(/\/+$/, '') === b.replace(/\/+$/, '');
}

/**
 * A host whose configuration lives in its data directory (RHEL) cloned from one whose does not (Debian) gets no
 * postgresql.conf: the files the copy lacks come back from the directory moved aside. The primary's, when copied, stay.
 */
async function keepOwnConfig(ctx: TaskContext, old: string): Promise<string[]> {
  const kept: string[] = [];
  for (const name of CONFIG_FILES) {
    if (await ctx.conn.stat(`${ctx.pg.dataDir}/${name}`)) continue;
    const own = await ctx.conn.readFile(`${old}/${name}`);
    if (!own) continue;
    await ctx.conn.writeFile(`${ctx.pg.dataDir}/${name}`, own.content, { owner: own.owner, group: own.group, mode: own.mode });
    kept.push(name);
  }
  return kept;
}

/** pg_basebackup -R copies the password into primary_conninfo; point it at the passfile instead. */
async function rewriteConninfo(ctx: TaskContext, passfile: string, tls: { sslmode?: string; sslrootcert?: string }): Promise<void> {
  const path = `${ctx.pg.dataDir}/postgresql.auto.conf`;
  const current = await ctx.conn.readFile(path);
  const text = current ? bytesToText(current.content) : '';
  const conninfo = confValues(text).get('primary_conninfo');
  if (conninfo === undefined) throw new Error(`pg_basebackup -R wrote no primary_conninfo to ${path}`);
  const rewritten = conninfoWithTls(conninfoWithPassfile(Buffer.from(conninfo, 'latin1').toString('utf8'), passfile, ctx.name), tls);
  const content = setConfValues(text, { primary_conninfo: fromUtf8(rewritten) });
  await ctx.conn.writeFile(path, textToBytes(content), { owner: ctx.pg.osUser, mode: '0600' });
}

async function waitStreaming(ctx: TaskContext, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let status = 'no WAL receiver';
  while (Date.now() < deadline) {
    const rows = await (await ctx.sql()).query<{ status: string }>('SELECT status FROM pg_stat_wal_receiver');
    status = rows[0]?.status ?? 'no WAL receiver';
    if (status === 'streaming') return;
    await sleep(100);
  }
  throw new Error(`the standby on ${ctx.name} started but is not streaming after ${timeoutMs / 1000} s (${status})`);
}

function throttledProgress(ctx: TaskContext): (chunk: string) => void {
  let last = 0;
  return (chunk) => {
    const line = chunk.split(/[\r\n]+/).filter((l) => l.trim()).pop();
    if (!line || Date.now() - last < 1000) return;
    last = Date.now();
    ctx.progress(line.trim());
  };
}
