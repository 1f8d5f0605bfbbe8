// What `pgplay status` reads from one server: one query, over the host's one connection and agent. It reads what the
// table prints and no more (the upstream's host from primary_conninfo, never the rest of it).
import { UnreachableError } from '../errors';
import type { HostHandle } from '../modules/types';

export interface ReplicationView {
  application_name: string;
  client_addr: string | null;
  state: string;
  sent_lsn: string | null;
  write_lsn: string | null;
  flush_lsn: string | null;
  replay_lsn: string | null;
  lag_bytes: number | null;
  replay_lag: number | null;
  sync_state: string;
  ssl: boolean | null;
  ssl_version: string | null;
  slot: string | null;
}

export interface SlotView {
  name: string;
  active: boolean;
  retained_bytes: number | null;
  wal_status: string | null;
}

export interface ServerView {
  data_directory: string;
  system_identifier: string;
  in_recovery: boolean;
  timeline: number | null;
  current_lsn: string | null;
  /** Standby only: its own account, used when its upstream cannot be read. */
  receive_lsn: string | null;
  replay_lsn: string | null;
  replay_age_seconds: number | null;
  receiver: { status: string; sender_host: string | null; slot: string | null } | null;
  /** Standby only: host= of primary_conninfo, when the WAL receiver is not connected. */
  conninfo_host: string | null;
  replication: ReplicationView[];
  slots: SlotView[];
}

export type HostReading =
  | { kind: 'server'; view: ServerView }
  | { kind: 'unreachable'; error: string }
  | { kind: 'stopped'; error: string };

const CURRENT = 'CASE WHEN pg_is_in_recovery() THEN pg_last_wal_replay_lsn() ELSE pg_current_wal_lsn() END';

export const STATUS_QUERY = `SELECT json_build_object(
  'data_directory', current_setting('data_directory'),
  'system_identifier', (SELECT system_identifier::text FROM pg_control_system()),
  'in_recovery', pg_is_in_recovery(),
  'timeline', CASE WHEN pg_is_in_recovery()
                   THEN coalesce((SELECT received_tli FROM pg_stat_wal_receiver), (SELECT timeline_id FROM pg_control_checkpoint()))
                   ELSE ('x' || substr(pg_walfile_name(pg_current_wal_lsn()), 1, 8))::bit(32)::int END,
  'current_lsn', ${CURRENT},
  'receive_lsn', pg_last_wal_receive_lsn(),
  'replay_lsn', pg_last_wal_replay_lsn(),
  'replay_age_seconds', CASE WHEN pg_is_in_recovery() THEN extract(epoch FROM now() - pg_last_xact_replay_timestamp())::float8 END,
  'receiver', (SELECT json_build_object('status', status, 'sender_host', sender_host, 'slot', slot_name) FROM pg_stat_wal_receiver),
  'conninfo_host', CASE WHEN pg_is_in_recovery() THEN substring(current_setting('primary_conninfo') FROM '(?:^|\\s)host=''?([^''\\s]+)') END,
  'replication', coalesce((SELECT json_agg(json_build_object(
        'application_name', r.application_name, 'client_addr', host(r.client_addr), 'state', r.state,
        'sent_lsn', r.sent_lsn, 'write_lsn', r.write_lsn, 'flush_lsn', r.flush_lsn, 'replay_lsn', r.replay_lsn,
        'lag_bytes', pg_wal_lsn_diff(${CURRENT}, r.replay_lsn), 'replay_lag', extract(epoch FROM r.replay_lag)::float8,
        'sync_state', r.sync_state, 'ssl', s.ssl, 'ssl_version', s.version, 'slot', sl.slot_name) ORDER BY r.application_name)
      FROM pg_stat_replication r LEFT JOIN pg_stat_ssl s ON s.pid = r.pid LEFT JOIN pg_replication_slots sl ON sl.active_pid = r.pid), '[]'::json),
  'slots', coalesce((SELECT json_agg(json_build_object(
        'name', slot_name, 'active', active, 'retained_bytes', pg_wal_lsn_diff(${CURRENT}, restart_lsn), 'wal_status', wal_status) ORDER BY slot_name)
      FROM pg_replication_slots WHERE slot_type = 'physical' AND NOT temporary), '[]'::json)
) AS status`;

function unreachable(err: unknown): boolean {
  for (let e: unknown = err; e; e = (e as { cause?: unknown }).cause) if (e instanceof UnreachableError) return true;
  return false;
}

/** One host's reading: its server's view, or why there is none (the host cannot be reached, or its server is down). */
export async function readHost(handle: HostHandle): Promise<HostReading> {
  try {
    const sql = await handle.sql();
    const [row] = await sql.query<{ status: ServerView }>(STATUS_QUERY);
    const view = row.status;
    for (const r of view.replication) r.lag_bytes = r.lag_bytes === null ? null : Number(r.lag_bytes);
    for (const s of view.slots) s.retained_bytes = s.retained_bytes === null ? null : Number(s.retained_bytes);
    return { kind: 'server', view };
  } catch (err) {
    const message = err instanceof Error ? err.message : String(err);
    if (unreachable(err)) return { kind: 'unreachable', error: message };
    // A session that cannot open on a reachable host: the server is down (or refuses pgplay).
    return { kind: 'stopped', error: message };
  }
}
