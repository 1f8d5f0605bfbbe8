import { randomBytes } from 'node:crypto';
import { RecentWork } from '../executor/recent-work';
import type { SqlSession } from '../facts/sql';
import { explainFailure } from './pg/failure-evidence';
import { quoteLiteral } from '../facts/sql-session';
import { walReceiverCause, type WalReceiverCause } from '../facts/wal-receiver-errors';
import { slotName } from './pg/slots';
import { sleep } from './pg/server';
import { fail, noop, type HostHandle, type ModuleDefinition, type TaskContext } from './types';

export interface AssertStreamingArgs {
  replicas: string[];
  timeout?: number;
  max_lag_bytes?: number;
  max_lag_seconds?: number;
  /** Each replica streams through its own slot: the one its replication_slot variable names (else named after it). */
  slots?: boolean;
  /** Each replica's walsender connection is encrypted (pg_stat_ssl). */
  tls?: boolean;
  /** What synchronous replication was asked for: each replica's sync_state must follow from it. */
  synchronous?: { standbys: string[]; method?: string; count?: number };
}

export interface CheckOutcome {
  host: string;
  check: string;
  ok: boolean;
  seen: string;
  /** What the replica's own log says about it (the WAL receiver's last error, explained), shown when the troubleshooter has no cause. */
  detail?: string;
}

export interface AssertStreamingFacts {
  primary: string;
  checks: CheckOutcome[];
  /** For a replica that failed a check: the cause and its fix, as the troubleshooter reads them from both logs. */
  causes?: Record<string, string>;
}

export interface ReplicationRow {
  application_name: string;
  client_addr: string | null;
  state: string;
  sync_state: string;
  lag_bytes: string | null;
  replay_lag_seconds: number | null;
  ssl: boolean | null;
  ssl_version: string | null;
  slot: string | null;
}

export const assertStreamingModule: ModuleDefinition<AssertStreamingArgs, AssertStreamingFacts> = {
  name: 'assert_streaming',
  readsServer: true,
  summary: 'Prove streaming replication: each replica streams, is in recovery, reads a marker written on the primary and refuses writes.',
  checkMode: 'skip',
  schema: {
    type: 'object',
    description:
      'Run on the primary. For each replica: it is `streaming` in pg_stat_replication (matched by application_name = its inventory name, or client_addr = its pg_address); pg_is_in_recovery() and its WAL receiver streams (when it does not, the last error of its WAL receiver in its log is quoted and explained); a marker row written on the primary (table pgplay.marker, created if missing) is read on the replica within `timeout`; a write on the replica fails with SQLSTATE 25006; lag stays under the optional bounds; with `slots`, `tls` and `synchronous`, it streams through its own slot, over TLS, with the sync_state asked for. Changes nothing but the marker row; skipped in check mode.',
    properties: {
      replicas: { type: 'array', items: { type: 'string' }, minItems: 1, description: 'Inventory names of the replicas.', examples: [['pg2', 'pg3'], '{{ groups.replicas }}'] },
      timeout: { type: 'number', minimum: 1, default: 30, description: 'Seconds to wait for streaming and for the marker on each replica.' },
      max_lag_bytes: { type: 'integer', minimum: 0, description: 'Largest replay lag allowed, in bytes of WAL.', examples: [16777216] },
      max_lag_seconds: { type: 'number', minimum: 0, description: 'Largest replay lag allowed, in seconds.', examples: [5] },
      slots: { type: 'boolean', default: false, description: "Each replica streams through its own replication slot: the walsender holds the slot the replica's replication_slot variable names (by default its inventory name, lower case, [a-z0-9_])." },
      tls: { type: 'boolean', default: false, description: "Each replica's walsender connection is encrypted: pg_stat_ssl.ssl is true for it on the primary." },
      synchronous: {
        type: 'object',
        description: 'The synchronous replication asked for (as synchronous_replication takes it): each replica\'s sync_state must be what it implies (FIRST n: the first n listed are sync, the other listed potential; ANY n: listed are quorum; not listed: async).',
        properties: {
          standbys: { type: 'array', items: { type: 'string' }, description: 'Inventory names of the standbys that may be synchronous, in priority order.' },
          method: { type: 'string', enum: ['FIRST', 'ANY', 'first', 'any'], default: 'FIRST', description: 'FIRST (priority) or ANY (quorum).' },
          count: { type: 'integer', minimum: 1, default: 1, description: 'How many standbys confirm each commit.' },
        },
        required: ['standbys'],
        additionalProperties: false,
      },
    },
    required: ['replicas'],
    additionalProperties: false,
    examples: [{ replicas: ['pg2', 'pg3'], timeout: 60 }],
  },
  async check(ctx, args) {
    const timeoutMs = (args.timeout ?? 30) * 1000;
    const primary = await ctx.sql();
    const checks: CheckOutcome[] = [];
    const replicas: Array<{ name: string; handle: HostHandle }> = [];
    // A replica that failed or was unreachable earlier in this run cannot stream: say so now rather than wait for it.
    for (const name of args.replicas) {
      const why = ctx.outOfRun(name);
      if (why) checks.push({ host: name, check: 'not checked', ok: false, seen: why });
      else replicas.push({ name, handle: await ctx.otherHost(name) });
    }
    if (replicas.length === 0) return { primary: ctx.name, checks };
    // Replicas are checked side by side; the checks keep the order of args.replicas. What the primary sees of them is
    // one read of pg_stat_replication for all that wait at the same time, not one query each.
    const reads = new RecentWork(0);
    const replication = () => reads.get('pg_stat_replication', () => readReplication(primary));
    for (const found of await Promise.all(replicas.map(({ name, handle }) => primarySeesReplica(ctx, replication, name, handle.pg.address, args, timeoutMs)))) checks.push(...found);
    const token = randomBytes(8).toString('hex');
    const written = await writeMarker(primary, ctx.name, token);
    for (const found of await Promise.all(replicas.map(({ name, handle }) => replicaChecks(ctx, name, handle, { token, lsn: written }, timeoutMs)))) checks.push(...found);
    const failing = replicas.filter(({ name }) => checks.some((c) => c.host === name && !c.ok));
    if (failing.length === 0 || ctx.signal.aborted) return { primary: ctx.name, checks };
    const causes: Record<string, string> = {};
    await Promise.all(
      failing.map(async ({ name, handle }) => {
        const cause = await explainFailure(handle, ctx, { clientAddress: clientAddressOf(ctx, name) });
        if (cause) causes[name] = cause;
      }),
    );
    return { primary: ctx.name, checks, causes };
  },
  plan(args, facts) {
    const failed = facts.checks.filter((c) => !c.ok);
    if (failed.length > 0) {
      // One line per replica, in the order of args.replicas.
      const lines = args.replicas.flatMap((host) => {
        const mine = failed.filter((c) => c.host === host);
        if (mine.length === 0) return [];
        if (mine[0].check === 'not checked') return [`${host}: not checked: it ${mine[0].seen}`];
        const cause = facts.causes?.[host];
        // The troubleshooter's cause already reads the replica's log: its WAL receiver error is said once, with the fix.
        const said = (c: CheckOutcome) => `${c.check} failed (${c.seen}${c.detail && !cause ? `: ${c.detail}` : ''})`;
        return [`${host}: ${mine.map(said).join('; ')}`, ...(cause ? cause.split('\n').map((line, i) => `${host}: ${i === 0 ? 'why: ' : ''}${line}`) : [])];
      });
      return fail(lines.join('\n'), { checks: facts.checks });
    }
    return noop(`${facts.checks.length} checks passed on ${args.replicas.join(', ')}`, { checks: facts.checks });
  },
};

/** The address a replica's connections come from, when the inventory says (pg_client_address). */
function clientAddressOf(ctx: TaskContext, name: string): string | undefined {
  const hosts = ctx.vars.hostvars as Record<string, Record<string, unknown>> | undefined;
  try {
    const given = hosts?.[name]?.pg_client_address;
    return typeof given === 'string' && given ? given : undefined;
  } catch {
    return undefined;
  }
}

/** Every walsender the primary has, with its TLS state and the slot it holds. */
function readReplication(sql: SqlSession): Promise<ReplicationRow[]> {
  return sql.query<ReplicationRow>(
    `SELECT r.application_name, host(r.client_addr) AS client_addr, r.state, r.sync_state,
            pg_wal_lsn_diff(pg_current_wal_lsn(), r.replay_lsn)::text AS lag_bytes,
            extract(epoch FROM r.replay_lag)::float8 AS replay_lag_seconds,
            s.ssl, s.version AS ssl_version,
            (SELECT slot_name::text FROM pg_replication_slots WHERE active_pid = r.pid) AS slot
       FROM pg_stat_replication r LEFT JOIN pg_stat_ssl s ON s.pid = r.pid`,
  );
}

/** The walsender of this replica: by its application_name or its address, a streaming one first, then a name match. */
export function replicationRowOf(rows: ReplicationRow[], name: string, address: string): ReplicationRow | undefined {
  const rank = (r: ReplicationRow) => (r.state === 'streaming' ? 2 : 0) + (r.application_name === name ? 1 : 0);
  return rows.filter((r) => r.application_name === name || r.client_addr === address).sort((a, b) => rank(b) - rank(a))[0];
}

async function primarySeesReplica(ctx: TaskContext, replication: () => Promise<ReplicationRow[]>, name: string, address: string, args: AssertStreamingArgs, timeoutMs: number): Promise<CheckOutcome[]> {
  const deadline = Date.now() + timeoutMs;
  let row: ReplicationRow | undefined;
  for (;;) {
    row = replicationRowOf(await replication(), name, address);
    if (row?.state === 'streaming' || Date.now() >= deadline || ctx.signal.aborted) break;
    ctx.progress(`waiting for ${name} to stream (${row ? row.state : 'not connected'})`);
    await sleep(100);
  }
  const out: CheckOutcome[] = [
    { host: name, check: `primary ${ctx.name} sees it streaming`, ok: row?.state === 'streaming', seen: row ? `state ${row.state}` : `no row in pg_stat_replication for application_name ${name} or client_addr ${address}` },
  ];
  if (row && args.slots) {
    const wanted = expectedSlot(ctx, name);
    out.push({ host: name, check: `streams through its slot ${wanted}`, ok: row.slot === wanted, seen: row.slot ? `through the slot ${row.slot}` : 'through no slot' });
  }
  if (row && args.tls) {
    out.push({ host: name, check: 'streams over TLS', ok: row.ssl === true, seen: row.ssl ? `pg_stat_ssl: ${row.ssl_version}` : 'pg_stat_ssl.ssl is false: the walsender connection is not encrypted' });
  }
  if (row && args.synchronous) {
    const wanted = expectedSyncStates(args.synchronous, args.replicas).get(name) ?? 'async';
    out.push({ host: name, check: `sync_state ${wanted}`, ok: row.sync_state === wanted, seen: `sync_state ${row.sync_state}` });
  }
  if (row && args.max_lag_bytes !== undefined) {
    const lag = Number(row.lag_bytes ?? 0);
    out.push({ host: name, check: `lag under ${args.max_lag_bytes} bytes`, ok: lag <= args.max_lag_bytes, seen: `${lag} bytes` });
  }
  if (row && args.max_lag_seconds !== undefined) {
    const lag = row.replay_lag_seconds ?? 0;
    out.push({ host: name, check: `lag under ${args.max_lag_seconds} s`, ok: lag <= args.max_lag_seconds, seen: `${lag.toFixed(3)} s` });
  }
  return out;
}

/** The slot a replica should stream through: its replication_slot variable, else the name pgplay gives it. */
function expectedSlot(ctx: TaskContext, name: string): string {
  try {
    const vars = (ctx.vars.hostvars as Record<string, Record<string, unknown>> | undefined)?.[name];
    const given = vars?.replication_slot;
    if (typeof given === 'string' && given) return given;
  } catch {
    // A variable that cannot be rendered: the default name.
  }
  return slotName(name);
}

/** The sync_state pg_stat_replication shows for each replica when all of them stream. */
export function expectedSyncStates(spec: { standbys: string[]; method?: string; count?: number }, replicas: string[]): Map<string, string> {
  const out = new Map<string, string>(replicas.map((r) => [r, 'async']));
  const listed = spec.standbys.filter((s) => replicas.includes(s));
  if ((spec.method ?? 'FIRST').toUpperCase() === 'ANY') {
    for (const s of listed) out.set(s, 'quorum');
  } else {
    listed.forEach((s, i) => out.set(s, i < (spec.count ?? 1) ? 'sync' : 'potential'));
  }
  return out;
}

/** The newest WAL receiver error in the replica's server log, when pgplay can read it. */
async function lastReceiverError(handle: HostHandle): Promise<WalReceiverCause | null> {
  try {
    const tail = await handle.conn.run(['tail', '-c', '65536', handle.pg.logFile], { timeoutMs: 10_000 });
    return tail.failed ? null : walReceiverCause(tail.stdout);
  } catch {
    return null;
  }
}

/**
 * Writes the marker and answers the primary's WAL flush position after its commit: a replica that has replayed up to
 * there can read it. One round, one transaction that commits locally: with a synchronous standby down, a marker that
 * waited for it would hang the check instead of reporting that standby.
 */
async function writeMarker(sql: SqlSession, host: string, token: string): Promise<string> {
  const statements = [
    'BEGIN',
    'SET LOCAL synchronous_commit = local',
    'CREATE SCHEMA IF NOT EXISTS pgplay',
    'CREATE TABLE IF NOT EXISTS pgplay.marker (id text PRIMARY KEY, token text NOT NULL, written_at timestamptz NOT NULL DEFAULT now())',
    `INSERT INTO pgplay.marker (id, token) VALUES (${quoteLiteral(host)}, ${quoteLiteral(token)}) ON CONFLICT (id) DO UPDATE SET token = EXCLUDED.token, written_at = now()`,
    'COMMIT',
    'SELECT pg_current_wal_flush_lsn()::text AS lsn',
  ];
  try {
    const [row] = await sql.query<{ lsn: string }>(statements.join(';\n'));
    return row.lsn;
  } catch (err) {
    // A failed statement leaves the transaction open and aborted: end it, so the session stays usable.
    await sql.query('ROLLBACK').catch(() => undefined);
    throw err;
  }
}

/** A replica's state: in recovery, and its WAL receiver's status (none without one). */
const REPLICA_STATE = 'SELECT pg_is_in_recovery() AS rec, (SELECT status FROM pg_stat_wal_receiver) AS status';
/**
 * Waits on the replica until it has replayed the primary's WAL up to $1, for at most $2 turns of 2 ms: the server
 * sleeps while the marker travels instead of pgplay asking again. Answers at once on a replica already there or not in
 * recovery (its replay position is null).
 */
const REPLAY_WAIT = 'SELECT count(*) FROM (SELECT pg_sleep(0.002) FROM generate_series(1, $2::int) WHERE pg_last_wal_replay_lsn() < $1::pg_lsn) turns';
/**
 * The wait, then a read of the marker the primary wrote ($3: the primary's inventory name). The read sees the rows
 * replayed before the statement began: when the statement waited, the marker arrived during it and is read again.
 */
const WAIT_AND_READ = `(${REPLAY_WAIT}) AS turns, (SELECT token FROM pgplay.marker WHERE id = $3) AS token`;
/** Server-side turns of 2 ms to wait for the replay at most in one statement, so that a timeout or abort is seen. */
const REPLAY_WAIT_TURNS = 500;

async function replicaChecks(ctx: TaskContext, name: string, handle: HostHandle, marker: { token: string; lsn: string }, timeoutMs: number): Promise<CheckOutcome[]> {
  let sql: SqlSession;
  try {
    sql = await handle.sql();
  } catch (err) {
    return [{ host: name, check: 'connect', ok: false, seen: err instanceof Error ? err.message : String(err) }];
  }
  const out: CheckOutcome[] = [];
  const deadline = Date.now() + timeoutMs;
  const params = () => [marker.lsn, Math.max(1, Math.min(REPLAY_WAIT_TURNS, Math.ceil((deadline - Date.now()) / 2))), ctx.name];
  type Read = { turns: string; token: string | null };
  const markerSeen = (row: Read) => (row.token != null ? (row.token === marker.token ? 'marker read' : 'an older marker') : 'no marker row');
  // One round for the replica's state, its wait for the marker's commit and a first read of the marker; when the
  // marker's table has not reached the replica (the statement fails before it waits), the state and the wait alone.
  let state: { rec: boolean; status: string | null };
  let seen: string | null = null;
  let waited = true;
  try {
    const [row] = await sql.query<{ rec: boolean; status: string | null } & Read>(`${REPLICA_STATE}, ${WAIT_AND_READ}`, params());
    state = row;
    seen = markerSeen(row);
    waited = Number(row.turns) > 0;
  } catch {
    [state] = await sql.query<{ rec: boolean; status: string | null }>(`${REPLICA_STATE}, (${REPLAY_WAIT}) AS turns`, params().slice(0, 2));
  }
  out.push({ host: name, check: 'in recovery', ok: state.rec, seen: `pg_is_in_recovery() = ${state.rec}` });
  const receiving = state.status === 'streaming';
  const cause = receiving ? null : await lastReceiverError(handle);
  out.push({
    host: name,
    check: 'WAL receiver streaming',
    ok: receiving,
    seen: `status ${state.status ?? 'none (no WAL receiver)'}`,
    ...(cause ? { detail: `${cause.meaning}; its log says: ${cause.line}` } : {}),
  });
  while (seen !== 'marker read' && Date.now() < deadline && !ctx.signal.aborted) {
    // Not read though the replay was already past the marker's position (a replica of another primary or timeline):
    // ask again a little later. After a wait, at once.
    if (!waited) await sleep(50);
    try {
      const [row] = await sql.query<Read>(`SELECT ${WAIT_AND_READ}`, params());
      seen = markerSeen(row);
      waited = Number(row.turns) > 0;
    } catch (err) {
      seen = (err as Error).message;
      waited = false;
    }
  }
  out.push({ host: name, check: `marker written on ${ctx.name} read within ${timeoutMs / 1000} s`, ok: seen === 'marker read', seen: seen ?? 'nothing' });
  try {
    await sql.query('INSERT INTO pgplay.marker (id, token) VALUES ($1, $2)', [`write-test-${name}`, marker.token]);
    out.push({ host: name, check: 'refuses writes', ok: false, seen: 'the INSERT succeeded' });
  } catch (err) {
    const code = (err as { code?: string }).code;
    out.push({ host: name, check: 'refuses writes', ok: code === '25006', seen: `SQLSTATE ${code ?? '?'}: ${(err as Error).message}` });
  }
  return out;
}
