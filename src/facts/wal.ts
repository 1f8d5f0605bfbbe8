// A cluster's files read without its server: every pg_controldata field, and what its WAL holds after a position
// (pg_waldump --stats), which is how a rejoin tells whether a former primary wrote past a fork point.
import type { Connection } from '../connection/types';
import type { PgSettings } from './pg-settings';

/** Every "Name: value" line of pg_controldata's output. */
export function parseControlFields(text: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const line of text.split('\n')) {
    const m = /^([^:]+):\s*(.*)$/.exec(line);
    if (m) out.set(m[1].trim(), m[2].trim());
  }
  return out;
}

/** pg_controldata's fields of the directory; null when it holds no cluster. */
export async function readControlFields(conn: Connection, pg: PgSettings, dataDir = pg.dataDir): Promise<Map<string, string> | null> {
  const r = await conn.run([`${pg.binDir}/pg_controldata`, '-D', dataDir], { as: pg.osUser, env: { LC_ALL: 'C' } });
  if (r.failed) {
    if (/No such file|could not open|not a database cluster/i.test(r.stderr)) return null;
    throw new Error(`pg_controldata on ${conn.hostName} failed: ${r.stderr.trim().split('\n').pop() ?? r.exitCode}`);
  }
  return parseControlFields(r.stdout);
}

export interface WalAfter {
  /** WAL records found at or after the position (0: the WAL ends there). */
  records: number;
  /** Of those, transaction commits (what a client saw acknowledged). */
  commits: number;
  /** Where the readable WAL ends, when pg_waldump said. */
  end: string | null;
}

/** pg_waldump --stats=record's summary, or its "nothing after" answer; anything else is an error, never read as empty. */
export function parseWalStats(stdout: string, stderr: string): WalAfter {
  if (/could not find a valid record after/.test(stderr) && !/WAL statistics/.test(stdout)) return { records: 0, commits: 0, end: null };
  const total = /^Total\s+(\d+)/m.exec(stdout);
  if (!total) throw new Error(`pg_waldump said: ${stderr.trim().split('\n').pop() || stdout.trim().split('\n').pop() || 'nothing'}`);
  const commits = [...stdout.matchAll(/^Transaction\/COMMIT(?:_PREPARED)?\s+(\d+)/gm)].reduce((n, m) => n + Number(m[1]), 0);
  const end = /WAL statistics between \S+ and ([0-9A-F]+\/[0-9A-F]+)/.exec(stdout)?.[1] ?? null;
  return { records: Number(total[1]), commits, end };
}

/** What the directory's WAL of this timeline holds at or after lsn. */
export async function walAfter(conn: Connection, pg: PgSettings, dataDir: string, timeline: number, lsn: string): Promise<WalAfter> {
  const r = await conn.run([`${pg.binDir}/pg_waldump`, '-p', `${dataDir}/pg_wal`, '-t', String(timeline), '-s', lsn, '--stats=record'], { as: pg.osUser, env: { LC_ALL: 'C' }, timeoutMs: 300_000 });
  try {
    return parseWalStats(r.stdout, r.stderr);
  } catch (err) {
    throw new Error(`cannot read the WAL of ${dataDir} on ${conn.hostName} after ${lsn} on timeline ${timeline}: ${(err as Error).message}`);
  }
}
