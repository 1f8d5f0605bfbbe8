// What a data directory holds, read from its files (so a stopped cluster is judged as surely as a running one):
// entries, databases, relation files, tablespaces, slots, standby.signal.
import type { Connection } from '../connection/types';

/** Objects PostgreSQL creates at initdb have OIDs (and relation file numbers) below this; users' objects start here. */
export const FIRST_NORMAL_OBJECT_ID = 16384;

export interface ClusterDirFacts {
  /** Entries in the directory; null when the directory does not exist. */
  entries: string[] | null;
  standbySignal: boolean;
  /** Database directories under base/ with OIDs of users' databases (>= 16384). */
  userDatabaseOids: string[];
  /** Relation files numbered >= 16384 in the default databases: tables, indexes, sequences users made. */
  userRelationFiles: number;
  /** Entries of pg_tblspc (users' tablespaces). */
  tablespaces: string[];
  /** Replication slots on disk (pg_replslot), active or not. */
  slots: string[];
}

/** The leading number of a relation file name: 16384, 16384_fsm, 16384.1; null for anything else. */
export function relationNumber(name: string): number | null {
  const m = /^(\d+)(?:_(?:fsm|vm|init))?(?:\.\d+)?$/.exec(name);
  return m ? Number(m[1]) : null;
}

/**
 * Read the directory's facts; an entry that cannot be listed is an error, never read as empty. `entriesOnly` stops
 * after the top level (entries, standby.signal): for a caller that needs nothing more.
 */
export async function readClusterDir(conn: Connection, dataDir: string, options: { entriesOnly?: boolean; listed?: Promise<string[] | null> } = {}): Promise<ClusterDirFacts> {
  const entries = await (options.listed ?? conn.list(dataDir));
  const facts: ClusterDirFacts = { entries, standbySignal: false, userDatabaseOids: [], userRelationFiles: 0, tablespaces: [], slots: [] };
  if (!entries || entries.length === 0) return facts;
  facts.standbySignal = entries.includes('standby.signal');
  if (!entries.includes('PG_VERSION') || options.entriesOnly) return facts;
  const [databases, tablespaces, slots] = await Promise.all([conn.list(`${dataDir}/base`), conn.list(`${dataDir}/pg_tblspc`), conn.list(`${dataDir}/pg_replslot`)]);
  facts.tablespaces = tablespaces ?? [];
  facts.slots = slots ?? [];
  const oids = (databases ?? []).filter((d) => /^\d+$/.test(d));
  facts.userDatabaseOids = oids.filter((oid) => Number(oid) >= FIRST_NORMAL_OBJECT_ID);
  const files = await Promise.all(oids.filter((oid) => Number(oid) < FIRST_NORMAL_OBJECT_ID).map((oid) => conn.list(`${dataDir}/base/${oid}`)));
  for (const names of files) facts.userRelationFiles += (names ?? []).filter((n) => (relationNumber(n) ?? 0) >= FIRST_NORMAL_OBJECT_ID).length;
  return facts;
}
