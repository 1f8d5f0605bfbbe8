// Risks of a replication setup that a run should say before they bite. Each is a pure function so that the
// preflight (issue 12) can call it with what it reads from the hosts; the modules of slots and sync call them too.
//   - syncStandbyRisk:  writes on the primary wait forever once fewer than n synchronous standbys are connected;
//   - slotWalRoomRisk:  an abandoned slot may keep up to max_slot_wal_keep_size of WAL on the primary's disk.
import { formatBytes } from '../modules/pg/slots';

export interface SyncSpec {
  method: 'FIRST' | 'ANY';
  count: number;
  standbys: string[];
}

/** synchronous_standby_names for a spec: each name double-quoted, so any inventory name (dots, dashes) stays one name. */
export function synchronousStandbyNames(spec: SyncSpec): string {
  if (spec.standbys.length === 0) return '';
  return `${spec.method} ${spec.count} (${spec.standbys.map((n) => `"${n.replace(/"/g, '""')}"`).join(', ')})`;
}

/**
 * A refusal (writes could never commit) or a warning (losing one standby stops writes) for a spec, given how many of
 * its standbys can be synchronous (the listed ones that exist as replicas); null when a standby can be lost.
 */
export function syncStandbyRisk(spec: SyncSpec, candidates: number): { level: 'refuse' | 'warn'; message: string } | null {
  if (spec.standbys.length === 0) return null;
  if (spec.count > candidates) {
    return { level: 'refuse', message: `${spec.method} ${spec.count} needs ${spec.count} synchronous standbys but only ${candidates} can be (${spec.standbys.join(', ')}): every write on the primary would wait forever` };
  }
  if (spec.count >= candidates) {
    return {
      level: 'warn',
      message: `${spec.method} ${spec.count} of ${candidates} standby(s) (${spec.standbys.join(', ')}): when any one of them is down or cut off, every commit on the primary waits until it is back (lower the count, or list more standbys)`,
    };
  }
  return null;
}

/**
 * For the preflight: the disk under pg_wal must hold what slots may keep (max_slot_wal_keep_size) on top of the
 * WAL the server keeps anyway (max_wal_size, wal_keep_size). All sizes in bytes; -1 keep size means unlimited.
 */
export function slotWalRoomRisk(input: { freeBytes: number; maxSlotWalKeepSize: number; maxWalSize: number; walKeepSize: number; slots: number }): string | null {
  if (input.slots === 0) return null;
  if (input.maxSlotWalKeepSize < 0) {
    return `max_slot_wal_keep_size is unlimited (-1): a replication slot whose standby is gone keeps WAL until the disk under pg_wal (${formatBytes(input.freeBytes)} free) is full; set a bound`;
  }
  const need = input.maxSlotWalKeepSize + Math.max(input.maxWalSize, input.walKeepSize);
  if (need > input.freeBytes) {
    return `the disk under pg_wal has ${formatBytes(input.freeBytes)} free, less than max_slot_wal_keep_size (${formatBytes(input.maxSlotWalKeepSize)}) plus max_wal_size/wal_keep_size (${formatBytes(Math.max(input.maxWalSize, input.walKeepSize))}): a slot whose standby is gone could fill it; lower max_slot_wal_keep_size or add space`;
  }
  return null;
}
