// Physical replication slots: the name pgplay gives a replica's slot, and what the primary says about its slots.
import type { SqlSession } from '../../facts/sql';

/** A replica's slot name from its inventory name: lower case, anything outside [a-z0-9_] replaced by _, at most 63. */
export function slotName(inventoryName: string): string {
  return inventoryName.toLowerCase().replace(/[^a-z0-9_]/g, '_').slice(0, 63);
}

export const SLOT_NAME_PATTERN = '^[a-z0-9_]{1,63}$';

export interface SlotRow {
  name: string;
  active: boolean;
  /** The walsender streaming through it, when active. */
  activePid: number | null;
  /** Who streams through it: application_name and address of that walsender. */
  client: string | null;
  /** WAL the slot keeps on the primary, in bytes (null: it reserves none yet). */
  retainedBytes: number | null;
  /** reserved, extended, unreserved or lost (lost: max_slot_wal_keep_size let its WAL go). */
  walStatus: string | null;
}

/** The server's physical slots, temporary ones (a pg_basebackup without -S) left out. */
export async function readPhysicalSlots(sql: SqlSession): Promise<SlotRow[]> {
  const rows = await sql.query<{ name: string; active: boolean; pid: number | null; client: string | null; retained: string | null; wal_status: string | null }>(
    `SELECT s.slot_name::text AS name, s.active, s.active_pid AS pid,
            CASE WHEN r.pid IS NULL THEN NULL ELSE r.application_name || ' from ' || coalesce(host(r.client_addr), 'local') END AS client,
            CASE WHEN s.restart_lsn IS NULL THEN NULL
                 ELSE pg_wal_lsn_diff(CASE WHEN pg_is_in_recovery() THEN pg_last_wal_replay_lsn() ELSE pg_current_wal_lsn() END, s.restart_lsn)::text END AS retained,
            s.wal_status
       FROM pg_replication_slots s LEFT JOIN pg_stat_replication r ON r.pid = s.active_pid
      WHERE s.slot_type = 'physical' AND NOT s.temporary
      ORDER BY s.slot_name`,
  );
  return rows.map((r) => ({ name: r.name, active: r.active, activePid: r.pid, client: r.client, retainedBytes: r.retained === null ? null : Number(r.retained), walStatus: r.wal_status }));
}

/** 1234567 -> "1.2 MB": WAL sizes for people. */
export function formatBytes(bytes: number): string {
  const units = ['bytes', 'kB', 'MB', 'GB', 'TB'];
  let value = bytes;
  let unit = 0;
  while (Math.abs(value) >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  return unit === 0 ? `${value} bytes` : `${value.toFixed(1)} ${units[unit]}`;
}
