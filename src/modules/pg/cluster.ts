// The replication cluster as its servers tell it: for each inventory host its role, timeline, WAL positions,
// upstream and the settings a switchover or a rewind needs; a host that cannot be reached says so.
import { errorMessage } from '../../errors';
import { readControlFields } from '../../facts/wal';
import { recentInTask, type HostHandle, type TaskContext } from '../types';
import { probeServer } from './server';

export interface MemberState {
  name: string;
  address: string;
  port: number;
  state: 'running' | 'stopped' | 'no-cluster' | 'unreachable';
  /** Why it could not be read (unreachable, or a server that refused). */
  error?: string;
  systemId?: string;
  role?: 'primary' | 'standby';
  timeline?: number;
  /** A primary's current WAL position; a standby's replayed position (running) or minimum recovery point (stopped). */
  lsn?: string;
  /** A running standby: the WAL it has received and flushed. */
  receiveLsn?: string | null;
  /** A running standby's WAL receiver. */
  upstream?: { host: string | null; status: string | null; slot: string | null };
  settings?: { walLogHints: boolean; checksums: boolean; fullPageWrites: boolean };
  /** A stopped cluster: pg_controldata's fields. */
  control?: Map<string, string>;
  /** Physical replication slots (running server). */
  slots?: string[];
}

interface Row {
  id: string;
  rec: boolean;
  current_lsn: string | null;
  current_tli: number | null;
  replay_lsn: string | null;
  receive_lsn: string | null;
  checkpoint_tli: number;
  min_tli: number;
  status: string | null;
  sender_host: string | null;
  received_tli: number | null;
  slot_name: string | null;
  hints: boolean;
  checksums: boolean;
  fpw: boolean;
  slots: string[];
}

export const MEMBER_QUERY = `SELECT (SELECT system_identifier::text FROM pg_control_system()) AS id,
       pg_is_in_recovery() AS rec,
       CASE WHEN pg_is_in_recovery() THEN NULL ELSE pg_current_wal_lsn()::text END AS current_lsn,
       CASE WHEN pg_is_in_recovery() THEN NULL ELSE ('x' || substr(pg_walfile_name(pg_current_wal_lsn()), 1, 8))::bit(32)::int END AS current_tli,
       pg_last_wal_replay_lsn()::text AS replay_lsn,
       pg_last_wal_receive_lsn()::text AS receive_lsn,
       (SELECT timeline_id FROM pg_control_checkpoint()) AS checkpoint_tli,
       (SELECT min_recovery_end_timeline FROM pg_control_recovery()) AS min_tli,
       w.status, w.sender_host, w.received_tli, w.slot_name,
       current_setting('wal_log_hints') = 'on' AS hints,
       current_setting('data_checksums') = 'on' AS checksums,
       current_setting('full_page_writes') = 'on' AS fpw,
       ARRAY(SELECT slot_name::text FROM pg_replication_slots WHERE slot_type = 'physical' ORDER BY 1) AS slots
  FROM (SELECT 1) AS one LEFT JOIN pg_stat_wal_receiver AS w ON true`;

/** A standby's timeline: the one it receives on when it streams, else the newest its control file names. */
export function standbyTimeline(r: Pick<Row, 'received_tli' | 'checkpoint_tli' | 'min_tli' | 'status'>): number {
  return Math.max(r.received_tli ?? 0, r.checkpoint_tli ?? 0, r.min_tli ?? 0);
}

/** A member's state, read by `read` once the host is reached (this task's own host is not reached again). */
export async function readMember(ctx: TaskContext, name: string, read: (handle: HostHandle) => Promise<MemberState> = readHandle): Promise<MemberState> {
  let handle: HostHandle;
  try {
    handle = name === ctx.name ? ctx : await ctx.otherHost(name);
  } catch (err) {
    return { name, address: '', port: 0, state: 'unreachable', error: errorMessage(err) };
  }
  return read(handle);
}

/**
 * Whether the postmaster named in postmaster.pid is gone or a zombie: a killed postmaster stays a zombie until its
 * parent reaps it, and pg_ctl status calls that running.
 */
export async function postmasterDead(handle: HostHandle): Promise<boolean> {
  const file = await handle.conn.readFile(`${handle.pg.dataDir}/postmaster.pid`);
  const pid = file ? Number(file.content.toString('utf8').split('\n')[0]) : NaN;
  if (!Number.isInteger(pid) || pid <= 1) return true;
  const stat = await handle.conn.readFile(`/proc/${pid}/stat`).catch(() => null);
  if (!stat) return true;
  return /^\d+ \(.*\) [ZX]/s.test(stat.content.toString('utf8'));
}

/** probeServer, with a killed postmaster (dead or a zombie, its pid file left behind) read as stopped. */
async function probe(handle: HostHandle): Promise<{ state: 'running' | 'stopped' | 'no-cluster'; sql: Awaited<ReturnType<typeof probeServer>>['sql'] }> {
  try {
    return await probeServer(handle);
  } catch (err) {
    if (await postmasterDead(handle).catch(() => false)) return { state: 'stopped', sql: null };
    throw err;
  }
}

export async function readHandle(handle: HostHandle): Promise<MemberState> {
  const base = { name: handle.name, address: handle.pg.address, port: handle.pg.port };
  try {
    const { state, sql } = await probe(handle);
    if (sql) {
      const [r] = await sql.query<Row>(MEMBER_QUERY);
      const standby = r.rec;
      return {
        ...base,
        state: 'running',
        systemId: r.id,
        role: standby ? 'standby' : 'primary',
        timeline: standby ? standbyTimeline(r) : (r.current_tli ?? r.checkpoint_tli),
        lsn: (standby ? r.replay_lsn : r.current_lsn) ?? undefined,
        receiveLsn: standby ? r.receive_lsn : undefined,
        upstream: standby ? { host: r.sender_host, status: r.status, slot: r.slot_name } : undefined,
        settings: { walLogHints: r.hints, checksums: r.checksums, fullPageWrites: r.fpw },
        slots: r.slots,
      };
    }
    if (state === 'no-cluster') return { ...base, state };
    const control = await readControlFields(handle.conn, handle.pg);
    if (!control) return { ...base, state: 'no-cluster' };
    const signal = (await handle.conn.stat(`${handle.pg.dataDir}/standby.signal`)) !== null;
    const clusterState = control.get('Database cluster state') ?? '';
    const minLsn = control.get('Minimum recovery ending location') ?? '0/0';
    const inRecovery = signal || /recovery/.test(clusterState);
    const useMin = inRecovery && minLsn !== '0/0';
    return {
      ...base,
      state: 'stopped',
      systemId: control.get('Database system identifier'),
      role: inRecovery ? 'standby' : 'primary',
      timeline: Number(useMin ? control.get("Min recovery ending loc's timeline") : control.get("Latest checkpoint's TimeLineID")),
      lsn: useMin ? minLsn : control.get('Latest checkpoint location'),
      // Slots on disk, active or not (a stopped former primary still holds its standbys' slots).
      slots: ((await handle.conn.list(`${handle.pg.dataDir}/pg_replslot`)) ?? []).filter((n) => !n.startsWith('.')),
      settings: {
        walLogHints: control.get('wal_log_hints setting') === 'on',
        checksums: (control.get('Data page checksum version') ?? '0') !== '0',
        fullPageWrites: true,
      },
      control,
    };
  } catch (err) {
    return { ...base, state: 'unreachable', error: errorMessage(err) };
  }
}

/**
 * Each member's state. shared: a read another host's run of this same task made a moment ago (TaskContext.recent)
 * serves this one too: eight replicas' checks read each member once, not eight times. The member is reached either
 * way (it is locked, and counts as read for --check).
 */
export async function readCluster(ctx: TaskContext, names: string[], options: { shared?: boolean } = {}): Promise<MemberState[]> {
  // Another host's read is shared; each task gets a copy, so no host's plan can change what another's reads.
  const shared = (handle: HostHandle) =>
    handle === ctx ? readHandle(handle) : recentInTask(ctx, `member ${handle.name}`, () => readHandle(handle)).then((m) => structuredClone(m));
  return Promise.all(unique(names).map((n) => readMember(ctx, n, options.shared ? shared : readHandle)));
}

export function unique(names: string[]): string[] {
  return [...new Set(names)];
}

/** One line per host, for messages and diffs: "pg1 primary timeline 1 at 0/3000148". */
export function describeMember(m: MemberState): string {
  if (m.state === 'unreachable') return `${m.name} unreachable`;
  if (m.state === 'no-cluster') return `${m.name} has no cluster`;
  const where = m.role === 'standby' && m.state === 'running' ? `${m.upstream?.status ?? 'not streaming'}${m.upstream?.host ? ` from ${m.upstream.host}` : ''}, replayed ${m.lsn}` : `at ${m.lsn}`;
  return `${m.name} ${m.state === 'stopped' ? 'stopped ' : ''}${m.role} on timeline ${m.timeline}, ${where}`;
}

/**
 * The primary among the members that share a system identifier: the running one not in recovery; when several
 * run, the one on the newest timeline (the others are former primaries cut off by a failover). Two on one timeline
 * is a split brain: no answer.
 */
export function currentPrimary(members: MemberState[], systemId?: string): { primary: MemberState | null; stale: MemberState[]; problem?: string } {
  const running = members.filter((m) => m.state === 'running' && m.role === 'primary' && (!systemId || m.systemId === systemId));
  if (running.length === 0) return { primary: null, stale: [] };
  const sorted = [...running].sort((a, b) => (b.timeline ?? 0) - (a.timeline ?? 0));
  if (sorted.length > 1 && sorted[0].timeline === sorted[1].timeline) {
    return { primary: null, stale: [], problem: `${sorted.filter((m) => m.timeline === sorted[0].timeline).map((m) => m.name).join(' and ')} both run as primaries on timeline ${sorted[0].timeline}` };
  }
  return { primary: sorted[0], stale: sorted.slice(1) };
}
