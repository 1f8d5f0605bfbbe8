import { posix } from 'node:path';
import { putFile, readFile } from '../connection/files';
import { readControlData, type ControlData } from '../facts/control-data';
import { confValues, setConfValues } from '../facts/conf-file';
import { Secret } from '../secrets';
import { conninfoWithPassfile, passfileLine } from './pg/conninfo';
import { asPostgres, controlServer, pgCommand, serverState, sleep, type ServerState } from './pg/server';
import { fail, noop, type ModuleDefinition, type TaskContext } from './types';

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
}

export interface BasebackupFacts {
  host: string;
  dataDir: string;
  primary: { name: string; address: string; port: number; systemId?: string; slotExists?: boolean; error?: string; sameDir: boolean };
  state: ServerState;
  control: ControlData | null;
  standbySignal: boolean;
  entries: number;
  lockHeld: boolean;
  /** Databases beyond postgres/template0/template1 (names when running, OID directories when stopped). */
  userDatabases: string[];
  inRecovery?: boolean;
  streamingReplicas?: number;
  userTables?: number;
}

const DEFAULT_DB_OIDS = ['1', '4', '5'];

export const basebackupModule: ModuleDefinition<BasebackupArgs, BasebackupFacts> = {
  name: 'basebackup',
  readsServer: true,
  summary: 'Make this host a standby of the primary with pg_basebackup -Xs -R; the old data directory is moved aside, never deleted silently.',
  secretArgs: ['password'],
  schema: {
    type: 'object',
    description: [
      'Clone the primary into this host\'s data directory. Nothing happens when the host already is a standby of that primary (same system identifier and standby.signal).',
      'What may be replaced (`replace`): `empty` only a missing or empty directory; `fresh` (default) also a default cluster as a package install leaves it (no databases beyond postgres/template0/template1, no user tables, not a standby, no replica streaming from it); `any` any cluster. A running primary with replicas streaming from it, or the primary\'s own directory, is always refused.',
      'The server is stopped, the old directory moved to DATADIR.pgplay-old-TIMESTAMP (deleted only with discard_old), the password written to a 0600 passfile beside the data directory, and primary_conninfo rewritten to use that passfile (no password in postgresql.auto.conf).',
      'The server is left stopped unless `start` is true, so host settings (listen_addresses, port) can be set with ensure_conf first; the service module starts it.',
    ].join(' '),
    properties: {
      primary: { type: 'string', description: 'Inventory name of the primary.', examples: ['pg1', '{{ groups.primary.[0] }}'] },
      user: { type: 'string', description: 'Replication role on the primary.', examples: ['replicator'] },
      password: { type: 'string', minLength: 4, description: 'Its password (secret: from the environment).', examples: ['{{ env.PGPLAY_REPLICATION_PASSWORD }}'] },
      slot: { type: 'string', pattern: '^[a-z0-9_]{1,63}$', patternErrorMessage: 'a slot name: lower-case letters, digits and _, at most 63', description: 'Physical replication slot to use (created on the primary if missing).', examples: ['pg2'] },
      replace: { type: 'string', enum: ['empty', 'fresh', 'any'], default: 'fresh', description: 'Which existing cluster may be moved aside.' },
      discard_old: { type: 'boolean', default: false, description: 'Delete the moved-aside old data directory after a successful copy.' },
      start: { type: 'boolean', default: false, description: 'Start the standby after the copy.' },
      wait: { type: 'boolean', default: true, description: 'With start: wait until the standby streams from the primary.' },
      timeout: { type: 'integer', minimum: 10, default: 3600, description: 'Seconds pg_basebackup may take.' },
      max_rate: { type: 'string', pattern: '^[0-9]+[kM]?$', patternErrorMessage: 'a rate like 32k or 100M (kB/s without a suffix)', description: 'Highest transfer rate of the copy (pg_basebackup --max-rate), to spare a busy primary: 32k to 1024M.', examples: ['100M'] },
    },
    required: ['primary', 'user', 'password'],
    additionalProperties: false,
    examples: [{ primary: 'pg1', user: 'replicator', password: '{{ env.PGPLAY_REPLICATION_PASSWORD }}' }],
  },
  async check(ctx, args) {
    const { pg } = ctx;
    const primary: BasebackupFacts['primary'] = { name: args.primary, address: '', port: 0, sameDir: args.primary === ctx.name };
    try {
      const other = await ctx.otherHost(args.primary);
      Object.assign(primary, { address: other.pg.address, port: other.pg.port });
      primary.sameDir ||= other.pg.address === pg.address && other.pg.dataDir === pg.dataDir;
      const sql = await other.sql();
      const [row] = await sql.query<{ id: string }>('SELECT system_identifier::text AS id FROM pg_control_system()');
      primary.systemId = row.id;
      if (args.slot) primary.slotExists = (await sql.query('SELECT 1 FROM pg_replication_slots WHERE slot_name = $1', [args.slot])).length > 0;
    } catch (err) {
      primary.error = err instanceof Error ? err.message : String(err);
    }
    if (primary.sameDir) return clusterFactsFromFiles(ctx, primary);
    const running = await runningClusterFacts(ctx, primary);
    if ('facts' in running) return running.facts;
    const facts = await clusterFactsFromFiles(ctx, primary);
    // Without its own account, a running server could be a primary with replicas: never judged from files alone.
    if (facts.state === 'running') throw new Error(`PostgreSQL on ${ctx.name} is running but cannot say what it holds, so nothing is replaced: ${running.why}`);
    return facts;
  },
  plan(args, facts) {
    const { primary } = facts;
    // Checked before anything is stopped or moved: the passfile holds one entry per line.
    if (/[\r\n]/.test(args.user) || /[\r\n]/.test(args.password)) return fail('user and password cannot hold a line break: libpq reads the passfile line by line');
    if (primary.sameDir) return fail(`${facts.host} is the primary ${primary.name} itself: refusing to clone it onto its own data directory`);
    if (primary.error || !primary.systemId) return fail(`cannot read the system identifier of the primary ${primary.name}: ${primary.error ?? 'no answer'}`);
    const here = facts.control?.systemIdentifier;
    if (here === primary.systemId && facts.standbySignal) return noop(`${facts.dataDir} is already a standby of ${primary.name} (system identifier ${here})`);
    if (facts.lockHeld) return fail(`another basebackup is running on ${facts.host} (lock ${facts.dataDir}.pgplay-lock); remove that directory if none is`);
    const refusal = refuse(args.replace ?? 'fresh', facts);
    if (refusal) return fail(refusal);
    const running = facts.state === 'running';
    const willMove = facts.entries > 0;
    const before = facts.control
      ? `cluster with system identifier ${here} (${running ? (facts.inRecovery ? 'running standby' : 'running') : facts.control.state})\n`
      : facts.entries > 0 ? `${facts.entries} file(s), no cluster\n` : 'empty\n';
    return {
      kind: 'change',
      summary: `clone ${primary.name} into ${facts.dataDir}${willMove ? `; old directory moved aside${args.discard_old ? ' then deleted' : ''}` : ''}`,
      warnings: running ? [`PostgreSQL on ${facts.host} is stopped for the copy`] : undefined,
      diffs: [{ path: facts.dataDir, before, after: `standby of ${primary.name} (system identifier ${primary.systemId})${args.start ? ', started' : ', stopped'}\n` }],
      result: { primary: primary.name, system_identifier: primary.systemId },
      steps: [{ description: `pg_basebackup from ${primary.name} (${primary.address}:${primary.port})`, apply: (ctx) => cloneFromPrimary(ctx, args, facts) }],
    };
  },
};

type PrimaryFacts = BasebackupFacts['primary'];

/** A running server describes its own cluster in one query: no command on the host. Else why it could not. */
async function runningClusterFacts(ctx: TaskContext, primary: PrimaryFacts): Promise<{ facts: BasebackupFacts } | { why: string }> {
  let sql;
  try {
    sql = await ctx.sql();
  } catch (err) {
    return { why: err instanceof Error ? err.message : String(err) };
  }
  const [r] = await sql.query<{ dir: string; id: string; rec: boolean; signal: boolean; lock: boolean; entries: number; dbs: string[]; reps: number; tables: number }>(
    `SELECT current_setting('data_directory') AS dir,
            (SELECT system_identifier::text FROM pg_control_system()) AS id,
            pg_is_in_recovery() AS rec,
            (pg_stat_file('standby.signal', true)).size IS NOT NULL AS signal,
            (pg_stat_file($1, true)).size IS NOT NULL AS lock,
            (SELECT count(*)::int FROM pg_ls_dir('.')) AS entries,
            ARRAY(SELECT datname::text FROM pg_database WHERE datname NOT IN ('postgres', 'template0', 'template1') ORDER BY 1) AS dbs,
            (SELECT count(*)::int FROM pg_stat_replication) AS reps,
            (SELECT count(*)::int FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
              WHERE c.relkind IN ('r', 'p', 'm') AND n.nspname NOT IN ('pg_catalog', 'information_schema', 'pg_toast')) AS tables`,
    [`${ctx.pg.dataDir}.pgplay-lock`],
  );
  if (r.dir.replace(/\/+$/, '') !== ctx.pg.dataDir.replace(/\/+$/, '')) return { why: `its data directory is ${r.dir}, not ${ctx.pg.dataDir} as the inventory says` };
  const facts: BasebackupFacts = {
    host: ctx.name,
    dataDir: ctx.pg.dataDir,
    primary,
    state: 'running',
    control: { systemIdentifier: r.id, state: r.rec ? 'in archive recovery' : 'in production' },
    standbySignal: r.signal,
    lockHeld: r.lock,
    entries: r.entries,
    userDatabases: r.dbs,
    inRecovery: r.rec,
    streamingReplicas: r.reps,
    userTables: r.tables,
  };
  return { facts };
}

/** A stopped server (or none): pg_ctl status, pg_controldata and a look at the directory, at once. */
async function clusterFactsFromFiles(ctx: TaskContext, primary: PrimaryFacts): Promise<BasebackupFacts> {
  const { pg } = ctx;
  const [state, control, look] = await Promise.all([
    serverState(ctx.conn, pg),
    readControlData(ctx.conn, pg),
    ctx.conn.run({
      argv: ['sh', '-c', 'd=$1; [ -e "$d/standby.signal" ] && echo signal; [ -d "$d.pgplay-lock" ] && echo lock; echo "entries $(ls -A "$d" 2>/dev/null | wc -l)"; echo "base $(ls "$d/base" 2>/dev/null | tr "\\n" " ")"', 'sh', pg.dataDir],
      become: asPostgres(pg),
    }),
  ]);
  const lines = look.stdout.split('\n');
  return {
    host: ctx.name,
    dataDir: pg.dataDir,
    primary,
    state,
    control: state === 'no-cluster' ? null : control,
    standbySignal: lines.includes('signal'),
    lockHeld: lines.includes('lock'),
    entries: Number(/^entries (\d+)/m.exec(look.stdout)?.[1] ?? 0),
    userDatabases: (/^base (.*)$/m.exec(look.stdout)?.[1] ?? '').split(' ').filter((o) => o && !DEFAULT_DB_OIDS.includes(o)),
  };
}

/** Why this directory must not be replaced, or null when it may be. */
export function refuse(replace: 'empty' | 'fresh' | 'any', facts: BasebackupFacts): string | null {
  const dir = facts.dataDir;
  if (facts.state === 'running' && !facts.inRecovery && (facts.streamingReplicas ?? 0) > 0) {
    return `${dir} holds a running primary with ${facts.streamingReplicas} replica(s) streaming from it: refusing to replace it`;
  }
  if (replace === 'any' || facts.entries === 0) return null;
  if (!facts.control) return `${dir} holds ${facts.entries} file(s) but no cluster: refusing to move it unless replace: any`;
  const id = facts.control.systemIdentifier;
  if (replace === 'empty') return `${dir} holds a cluster (system identifier ${id}): refusing to replace it with replace: empty`;
  if (id === facts.primary.systemId) return `${dir} holds a copy of ${facts.primary.name} that is not a standby (no standby.signal; promoted?): refusing to replace it unless replace: any`;
  const standby = facts.standbySignal || facts.inRecovery || /recovery/.test(facts.control.state);
  if (standby) return `${dir} holds a standby of another primary (system identifier ${id}): refusing to replace it unless replace: any`;
  if (facts.userDatabases.length > 0) return `${dir} holds a cluster with user databases (${facts.userDatabases.join(', ')}): refusing to replace it unless replace: any`;
  if ((facts.userTables ?? 0) > 0) return `${dir} holds a cluster with ${facts.userTables} user table(s): refusing to replace it unless replace: any`;
  return null;
}

async function cloneFromPrimary(ctx: TaskContext, args: BasebackupArgs, facts: BasebackupFacts): Promise<Record<string, unknown>> {
  const { conn, pg } = ctx;
  const become = asPostgres(pg);
  const sh = (script: string, ...params: string[]) => conn.run({ argv: ['sh', '-c', script, 'sh', ...params], become });
  const lock = `${pg.dataDir}.pgplay-lock`;
  const locked = await sh('mkdir "$1"', lock);
  if (locked.failed) throw new Error(`another basebackup is running on ${ctx.name} (cannot create ${lock}: ${locked.stderr.trim()})`);
  try {
    const wasRunning = (await serverState(conn, pg)) === 'running';
    if (wasRunning) {
      ctx.progress('stopping PostgreSQL');
      await ctx.dropSql();
      await controlServer(conn, pg, 'stop', ctx.signal);
    }
    let old: string | null = null;
    if (facts.entries > 0) {
      old = `${pg.dataDir}.pgplay-old-${new Date().toISOString().replace(/[-:]/g, '').replace(/\.\d+Z$/, 'Z')}`;
      ctx.progress(`moving ${pg.dataDir} to ${old}`);
      const moved = await sh('mv "$1" "$2"', pg.dataDir, old);
      if (moved.failed) {
        if (wasRunning) await controlServer(conn, pg, 'start', ctx.signal).catch(() => undefined);
        throw new Error(`cannot move ${pg.dataDir} aside: ${moved.stderr.trim()}`);
      }
    }
    const passfile = `${posix.dirname(pg.dataDir)}/.pgpass-pgplay-${posix.basename(pg.dataDir)}`;
    await putFile(conn, passfile, new Secret(passfileLine(facts.primary.address, facts.primary.port, args.user, args.password)), { mode: '0600', become });
    const argv = ['-h', facts.primary.address, '-p', String(facts.primary.port), '-U', args.user, '-D', pg.dataDir, '-X', 'stream', '-R', '-P', '-c', 'fast', '-w'];
    if (args.slot) argv.push('-S', args.slot, ...(facts.primary.slotExists ? [] : ['-C']));
    if (args.max_rate) argv.push('-r', args.max_rate);
    ctx.progress(`pg_basebackup from ${facts.primary.name}`);
    const copy = await conn.run(pgCommand(pg, 'pg_basebackup', argv, { PGPASSFILE: passfile, PGAPPNAME: ctx.name }), {
      timeoutMs: (args.timeout ?? 3600) * 1000,
      signal: ctx.signal,
      onOutput: throttledProgress(ctx),
    });
    if (copy.failed) {
      const why = copy.timedOut ? `timed out after ${args.timeout ?? 3600} s` : copy.stderr.split(/[\r\n]+/).map((l) => l.trim()).filter((l) => l && !/^\d+\/\d+ kB/.test(l)).join('; ');
      if (old) {
        await sh('rm -rf "$1" && mv "$2" "$1"', pg.dataDir, old);
        if (wasRunning) await controlServer(conn, pg, 'start', ctx.signal).catch(() => undefined);
      }
      throw new Error(`pg_basebackup from ${facts.primary.name} failed: ${why}${old ? `; ${pg.dataDir} is back as it was` : ''}`);
    }
    await rewriteConninfo(ctx, passfile);
    await sh('chmod 0700 "$1"', pg.dataDir);
    if (args.start) {
      ctx.progress('starting the standby');
      await controlServer(conn, pg, 'start', ctx.signal);
      if (args.wait !== false) await waitStreaming(ctx, 60_000);
    }
    if (old && args.discard_old) {
      ctx.progress(`deleting ${old}`);
      await sh('rm -rf "$1"', old);
    }
    return { old_data_dir: old && !args.discard_old ? old : null, passfile };
  } finally {
    await sh('rmdir "$1"', lock);
  }
}

/** pg_basebackup -R copies the password into primary_conninfo; point it at the passfile instead. */
async function rewriteConninfo(ctx: TaskContext, passfile: string): Promise<void> {
  const path = `${ctx.pg.dataDir}/postgresql.auto.conf`;
  const become = asPostgres(ctx.pg);
  const current = await readFile(ctx.conn, path, become);
  const conninfo = confValues(current.content).get('primary_conninfo');
  if (conninfo === undefined) throw new Error(`pg_basebackup -R wrote no primary_conninfo to ${path}`);
  const content = setConfValues(current.content, { primary_conninfo: conninfoWithPassfile(conninfo, passfile, ctx.name) });
  await putFile(ctx.conn, path, content, { mode: '0600', become });
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
