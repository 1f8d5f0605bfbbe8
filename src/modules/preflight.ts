// Before anything changes: everything that would keep a replica from cloning or streaming, checked from the
// primary and from each replica host at once, every finding reported with its fix. Read-only.
import { errorMessage, UnreachableError } from '../errors';
import { bytesToText } from '../facts/bytes';
import { readControlData } from '../facts/control-data';
import { rowFromFileRules, rowsFromHbaText } from '../facts/hba-match';
import type { SqlSession } from '../facts/sql';
import { evaluatePreflight, formatFindings, needsCopy, type PreflightArgs, type PreflightFacts, type PrimaryState, type ReplicaState } from './pg/preflight-findings';
import { freeSpace, probeReplica } from './pg/replica-probe';
import { probeServer, runPg } from './pg/server';
import { fail, noop, type HostHandle, type ModuleDefinition, type TaskContext } from './types';

export type { PreflightArgs } from './pg/preflight-findings';

const SETTINGS = ['wal_level', 'max_wal_senders', 'max_replication_slots', 'listen_addresses', 'port', 'ssl', 'max_slot_wal_keep_size', 'max_wal_size', 'wal_keep_size'];
const DEFAULT_CONNECT_TIMEOUT = 5;

export const preflightModule: ModuleDefinition<PreflightArgs, PreflightFacts> = {
  name: 'preflight',
  readsServer: true,
  summary: "Check, before anything changes, what would keep a replica from cloning or streaming (from each replica host too), and report every finding with its fix.",
  secretArgs: ['password'],
  schema: {
    type: 'object',
    description: [
      "Run on the primary. Reads, and changes nothing: it runs in check mode too, and on stopped servers (a stopped primary's settings come from its files). From each replica host, side by side: a TCP connection to the primary's pg_address and pg_port opened by the replica's agent (connected, refused or timed out: a firewall that rejects or drops, or listen_addresses), a replication login as `user` with `password` over that connection (pgplay speaks the protocol itself: the password never reaches the replica host), the major version of its PostgreSQL, and the free space where its data directory goes against the size of the primary's databases.",
      "On the primary: wal_level; max_wal_senders against the WAL senders running plus two for each base backup that would run at once (every replica that is not yet a standby of this primary); max_replication_slots likewise; the replication role (LOGIN, REPLICATION); and pg_hba.conf, judged rule by rule in file order, as PostgreSQL does, for each replica's real client address (the one its connection left from).",
      'Every finding is reported at once, each with its fix, and the task fails. `planned` names what later tasks of the playbook set up (as site.yml does): those gaps are noted, not findings. A replica out of reach over ssh, or busy with another pgplay run, is noted too: its own tasks report it, and the others go on.',
    ].join(' '),
    properties: {
      replicas: { type: 'array', items: { type: 'string' }, minItems: 1, description: 'Inventory names of the replicas.', examples: [['pg2', 'pg3'], '{{ groups.replicas }}'] },
      user: { type: 'string', minLength: 1, description: 'The replication role.', examples: ['replicator', '{{ replication_user }}'] },
      password: { type: 'string', minLength: 4, description: 'Its password (secret: from the environment). Left out: the login is not tried.', examples: ['{{ env.PGPLAY_REPLICATION_PASSWORD }}'] },
      connect_timeout: { type: 'number', minimum: 1, maximum: 60, default: DEFAULT_CONNECT_TIMEOUT, description: 'Seconds a replica waits for the primary to answer a TCP connection before it is reported as dropped by a firewall.' },
      slots: { type: 'boolean', default: false, description: 'Each replica keeps a physical replication slot of its own (basebackup with slot:).' },
      planned: {
        type: 'object',
        description: 'What later tasks of the playbook set up: judged as it will be.',
        properties: {
          started: { type: 'boolean', description: 'A later task starts the primary (service: state: started).' },
          role: { type: 'boolean', description: 'A later task creates the role with LOGIN, REPLICATION and this password (ensure_role).' },
          packages: { type: 'boolean', description: 'A later task installs the server package and makes the cluster where there is none (package, ensure_cluster): programs or a cluster not there yet are noted, not found.' },
          firewall: { type: 'boolean', description: "A later task opens the port on the primary's own firewall to the replicas (firewall): a connection refused or dropped now is noted, not found." },
          hba: { type: 'boolean', description: "A later task adds a rule for each replica's pg_client_address, else its pg_address (ensure_hba_line, as site.yml does)." },
          settings: {
            type: 'object',
            description: 'Settings a later task gives the primary (ensure_conf): wal_level, max_wal_senders, max_replication_slots, listen_addresses.',
            additionalProperties: { type: ['string', 'number', 'boolean'] },
            examples: [{ wal_level: 'replica', max_wal_senders: 32, max_replication_slots: 16, listen_addresses: '*' }],
          },
        },
        additionalProperties: false,
      },
    },
    required: ['replicas', 'user'],
    additionalProperties: false,
    examples: [{ replicas: '{{ groups.replicas }}', user: '{{ replication_user }}', password: '{{ env.PGPLAY_REPLICATION_PASSWORD }}' }],
  },
  async check(ctx, args) {
    const timeout = args.connect_timeout ?? DEFAULT_CONNECT_TIMEOUT;
    // The primary's own account and every replica's probe, side by side; a replica's login waits only for whether
    // the primary has ssl on (its libpq would use TLS then).
    const primaryRead = readPrimary(ctx, args.user);
    const ssl = primaryRead.then((p) => /^on$/i.test(p.settings.ssl ?? ''), () => false);
    // The room under pg_wal for what slots may keep, beside the rest (one df on the primary).
    const walFree = freeSpace(ctx.conn, `${ctx.pg.dataDir}/pg_wal`).then((f) => f.bytes, () => null);
    const [primary, replicas, walBytes] = await Promise.all([primaryRead, Promise.all(args.replicas.map((name) => readReplica(ctx, name, args, timeout, ssl))), walFree]);
    primary.walFree = walBytes;
    // Room for a copy matters only where one is needed: a no-op run reads neither sizes nor free space.
    const copies = replicas.filter((r) => !r.error && !r.unreachable && needsCopy(primary, r));
    if (copies.length > 0) {
      const [size] = await Promise.all([
        databaseSize(ctx, primary.running),
        ...copies.map(async (r) => {
          const handle = await ctx.otherHost(r.name);
          r.free = await freeSpace(handle.conn, handle.pg.dataDir).catch(() => undefined);
        }),
      ]);
      primary.size = size;
    }
    return { primary, replicas };
  },
  plan(args, facts) {
    const { findings, notes, checks } = evaluatePreflight(args, facts);
    const result = { findings, notes };
    if (findings.length > 0) return fail(formatFindings(findings), result);
    const later = notes.length > 0 ? `; noted: ${notes.join('; ')}` : '';
    return noop(`${checks} checks passed for ${args.replicas.join(', ')}${later}`, result);
  },
};

async function readPrimary(ctx: TaskContext, user: string): Promise<PrimaryState> {
  const base = { name: ctx.name, address: ctx.pg.address, port: ctx.pg.port };
  const probe = await probeServer(ctx).catch((err: unknown) => ({ state: 'running' as const, sql: null, error: err instanceof Error ? err.message : String(err) }));
  if (probe.sql) return readRunning(ctx, probe.sql, user, base);
  if ('error' in probe) return { ...base, running: true, versionNum: null, settings: {}, systemId: null, walSenders: 0, slots: 0, hba: { error: 'the server did not answer' }, error: probe.error };
  return readStopped(ctx, base);
}

interface PrimaryRow {
  version_num: number;
  settings: Record<string, string>;
  system_id: string;
  wal_senders: number;
  slots: number;
  role: { login: boolean; replication: boolean; member_of: string[] } | null;
}

async function readRunning(ctx: TaskContext, sql: SqlSession, user: string, base: Pick<PrimaryState, 'name' | 'address' | 'port'>): Promise<PrimaryState> {
  const [[row], hbaRows] = await Promise.all([
    sql.query<PrimaryRow>(
      `SELECT current_setting('server_version_num')::int AS version_num,
              (SELECT json_object_agg(name, setting) FROM pg_settings WHERE name = ANY($2)) AS settings,
              (SELECT system_identifier::text FROM pg_control_system()) AS system_id,
              (SELECT count(*)::int FROM pg_stat_replication WHERE application_name IS DISTINCT FROM 'pgplay_preflight') AS wal_senders,
              (SELECT count(*)::int FROM pg_replication_slots) AS slots,
              (SELECT json_build_object('login', a.rolcanlogin, 'replication', a.rolreplication,
                        'member_of', ARRAY(SELECT b.rolname::text FROM pg_roles b WHERE b.oid <> a.oid AND pg_has_role(a.oid, b.oid, 'MEMBER')))
                 FROM pg_roles a WHERE a.rolname = $1) AS role`,
      [user, SETTINGS],
    ),
    sql
      .query<Parameters<typeof rowFromFileRules>[0]>('SELECT line_number, type, database, user_name, address, netmask, auth_method, error FROM pg_hba_file_rules ORDER BY line_number')
      .then((rows) => ({ rows: rows.map(rowFromFileRules) }), (err: Error) => ({ error: err.message })),
  ]);
  return {
    ...base,
    running: true,
    versionNum: row.version_num,
    settings: row.settings ?? {},
    systemId: row.system_id,
    walSenders: row.wal_senders,
    slots: row.slots,
    role: row.role ? { login: row.role.login, replication: row.role.replication, memberOf: row.role.member_of ?? [] } : null,
    hba: hbaRows,
  };
}

/** A stopped primary: its settings as it would start with them (postgres -C), its rules and identity from its files. */
async function readStopped(ctx: TaskContext, base: Pick<PrimaryState, 'name' | 'address' | 'port'>): Promise<PrimaryState> {
  const { conn, pg } = ctx;
  const show = async (name: string): Promise<[string, string | undefined]> => {
    const r = await runPg(conn, pg, 'postgres', ['-D', pg.configDir, '-C', name], { env: { LC_ALL: 'C' } });
    return [name, r.failed ? undefined : r.stdout.trim()];
  };
  const [shown, control, slots] = await Promise.all([
    Promise.all([...SETTINGS, 'server_version_num', 'hba_file'].map(show)),
    readControlData(conn, pg).catch(() => null),
    conn.list(`${pg.dataDir}/pg_replslot`).catch(() => null),
  ]);
  const settings: Record<string, string> = {};
  for (const [name, value] of shown) if (value !== undefined) settings[name] = value;
  const hbaFile = settings.hba_file || `${pg.configDir}/pg_hba.conf`;
  const text = await conn.readFile(hbaFile).catch((err: Error) => err);
  const hba = text instanceof Error ? { error: text.message } : text ? { rows: rowsFromHbaText(bytesToText(text.content)) } : { error: `${hbaFile} does not exist` };
  return {
    ...base,
    running: false,
    versionNum: settings.server_version_num ? Number(settings.server_version_num) : null,
    settings,
    systemId: control?.systemIdentifier ?? null,
    walSenders: 0,
    slots: slots?.length ?? 0,
    hba,
  };
}

async function readReplica(ctx: TaskContext, name: string, args: PreflightArgs, timeout: number, ssl: Promise<boolean>): Promise<ReplicaState> {
  const why = ctx.outOfRun(name);
  const base = { name, address: '', dataDir: '', binDir: '' };
  if (why) return { ...base, unreachable: `it ${why.split('\n')[0]}` };
  let handle: HostHandle;
  try {
    handle = await ctx.otherHost(name);
  } catch (err) {
    // Out of reach or busy with another run: its own tasks report it, and the others go on.
    return { ...base, unreachable: errorMessage(err) };
  }
  try {
    const state: ReplicaState = { ...base, address: handle.pg.address, clientAddress: clientAddressOf(ctx, name), dataDir: handle.pg.dataDir, binDir: handle.pg.binDir };
    state.probe = await probeReplica(handle.conn, handle.pg, { address: ctx.pg.address, port: ctx.pg.port, timeoutSeconds: timeout, user: args.user, password: args.password, ssl });
    return state;
  } catch (err) {
    // The connection dropped under the probe: its own tasks report it too.
    if (err instanceof UnreachableError || (err as { cause?: unknown }).cause instanceof UnreachableError) return { ...base, unreachable: errorMessage(err) };
    return { ...base, error: errorMessage(err) };
  }
}

/** pg_client_address of a replica, when the inventory sets it. */
function clientAddressOf(ctx: TaskContext, name: string): string | undefined {
  try {
    const given = (ctx.vars.hostvars as Record<string, Record<string, unknown>> | undefined)?.[name]?.pg_client_address;
    return typeof given === 'string' && given ? given : undefined;
  } catch {
    return undefined;
  }
}

/** Bytes a copy of the primary takes: its databases, or the data directory of a stopped server. */
async function databaseSize(ctx: TaskContext, running: boolean): Promise<number | null> {
  try {
    if (running) {
      const [row] = await (await ctx.sql()).query<{ size: string }>('SELECT sum(pg_database_size(oid))::text AS size FROM pg_database');
      return Number(row.size);
    }
    const r = await ctx.conn.run(['du', '-sk', ctx.pg.dataDir], { timeoutMs: 120_000 });
    const kb = /^(\d+)/.exec(r.stdout)?.[1];
    return r.failed || !kb ? null : Number(kb) * 1024;
  } catch {
    return null;
  }
}
