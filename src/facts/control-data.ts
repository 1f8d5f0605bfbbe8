// pg_controldata reads a cluster's identity without a running server (stopped replicas, moved directories).
import type { Connection } from '../connection/types';
import { becomeAs, type PgSettings } from './pg-settings';

export interface ControlData {
  systemIdentifier: string;
  /** e.g. "in production", "in archive recovery", "shut down", "shut down in recovery" */
  state: string;
}

export function parseControlData(text: string): ControlData | null {
  const field = (name: string) => new RegExp(`^${name}:\\s*(.+)$`, 'm').exec(text)?.[1].trim();
  const systemIdentifier = field('Database system identifier');
  const state = field('Database cluster state');
  return systemIdentifier && state ? { systemIdentifier, state } : null;
}

/** null when the directory holds no cluster. */
export async function readControlData(conn: Connection, pg: PgSettings, dataDir = pg.dataDir): Promise<ControlData | null> {
  const r = await conn.run({
    argv: [`${pg.binDir}/pg_controldata`, '-D', dataDir],
    env: { LC_ALL: 'C' },
    become: becomeAs(pg.osUser, pg),
  });
  if (r.failed) {
    if (/No such file|could not open|not a database cluster/i.test(r.stderr)) return null;
    throw new Error(`pg_controldata on ${conn.hostName} failed: ${r.stderr.trim().split('\n').pop() ?? r.exitCode}`);
  }
  return parseControlData(r.stdout);
}
