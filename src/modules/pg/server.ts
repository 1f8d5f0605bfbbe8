// Server control: pg_ctl as the PostgreSQL OS user, Debian's pg_ctlcluster, or systemctl; state and readiness.
import type { Connection, RunOptions, RunResult } from '../../connection/types';
import type { PgSettings } from '../../facts/pg-settings';
import type { SqlSession } from '../../facts/sql';
import type { HostHandle } from '../types';

export type ServerState = 'running' | 'stopped' | 'no-cluster';

/** Run one of PostgreSQL's programs (pg_ctl, pg_basebackup, ...) as the PostgreSQL OS user. */
export function runPg(conn: Connection, pg: PgSettings, program: string, args: string[], options: RunOptions = {}): Promise<RunResult> {
  return conn.run([`${pg.binDir}/${program}`, ...args], { as: pg.osUser, ...options });
}

/** The last line a failed command said, for messages. */
export function lastLine(result: RunResult): string {
  const text = (result.stderr.trim() || result.stdout.trim() || `exit code ${result.exitCode ?? result.signal}`).split('\n');
  return result.timedOut ? `timed out after ${result.durationMs} ms` : text[text.length - 1];
}

/** pg_ctl status: 0 running, 3 not running, 4 no cluster in the directory. */
export async function serverState(conn: Connection, pg: PgSettings): Promise<ServerState> {
  const r = await runPg(conn, pg, 'pg_ctl', ['status', '-D', pg.dataDir]);
  if (r.exitCode === 0) return 'running';
  if (r.exitCode === 3) return 'stopped';
  if (r.exitCode === 4) return 'no-cluster';
  throw new Error(`pg_ctl status on ${conn.hostName} failed: ${lastLine(r)}`);
}

/**
 * The server's state through its SQL session when one opens (no command on the host: a no-op run reads
 * everything in SQL), else through pg_ctl status. A running server that refuses the session is an error.
 */
export async function probeServer(handle: HostHandle): Promise<{ state: ServerState; sql: SqlSession | null }> {
  try {
    return { state: 'running', sql: await handle.sql() };
  } catch (err) {
    const state = await serverState(handle.conn, handle.pg);
    if (state === 'running') throw err;
    return { state, sql: null };
  }
}

export type ServerAction = 'start' | 'stop' | 'restart' | 'reload';

/** The command for one action; start and restart name the configuration directory so Debian's layout works too. */
export function serverCommand(pg: PgSettings, action: ServerAction): { argv: string[]; as?: string } {
  const control = pg.serviceControl;
  if (control.startsWith('systemd:')) return { argv: ['systemctl', action, control.slice('systemd:'.length)] };
  // Debian's own tool (as the seed guide runs it): it reads /etc/postgresql/VERSION/CLUSTER and runs as the cluster's owner.
  if (control === 'pg_ctlcluster') return { argv: ['pg_ctlcluster', pg.version, pg.cluster, action] };
  const bin = `${pg.binDir}/pg_ctl`;
  switch (action) {
    case 'start':
      return { argv: [bin, 'start', '-D', pg.configDir, '-l', pg.logFile, '-w', '-t', '60'], as: pg.osUser };
    case 'restart':
      return { argv: [bin, 'restart', '-D', pg.configDir, '-l', pg.logFile, '-m', 'fast', '-w', '-t', '60'], as: pg.osUser };
    case 'stop':
      return { argv: [bin, 'stop', '-D', pg.dataDir, '-m', 'fast', '-w', '-t', '120'], as: pg.osUser };
    case 'reload':
      return { argv: [bin, 'reload', '-D', pg.dataDir], as: pg.osUser };
  }
}

/** The server's log: the file pgplay's pg_ctl writes, or Debian's per-cluster log under /var/log/postgresql. */
export function serverLogFile(pg: PgSettings): string {
  return pg.logFile;
}

async function logTail(conn: Connection, pg: PgSettings): Promise<string> {
  const file = await conn.readFile(serverLogFile(pg)).catch(() => null);
  if (!file) return '';
  return file.content.toString('utf8').trimEnd().split('\n').slice(-5).join('\n');
}

/** Run an action and wait for its end state; a failure says what the tool and the server log said. */
export async function controlServer(conn: Connection, pg: PgSettings, action: ServerAction, signal?: AbortSignal): Promise<RunResult> {
  const { argv, as } = serverCommand(pg, action);
  const r = await conn.run(argv, { as, timeoutMs: 180_000, signal });
  if (r.failed) {
    const tail = action === 'reload' ? '' : await logTail(conn, pg);
    throw new Error(`${action} of PostgreSQL on ${conn.hostName} failed: ${lastLine(r)}${tail ? `\nlast lines of ${serverLogFile(pg)}:\n${tail}` : ''}`);
  }
  if (action === 'start' || action === 'restart') await waitUntilReady(conn, pg, 60_000, signal);
  if (action === 'stop') await waitUntilDown(conn, pg, 60_000);
  return r;
}

/** pg_isready on the unix socket until it answers "accepting connections". */
export async function waitUntilReady(conn: Connection, pg: PgSettings, timeoutMs: number, signal?: AbortSignal): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last: RunResult | null = null;
  while (Date.now() < deadline && !signal?.aborted) {
    last = await runPg(conn, pg, 'pg_isready', ['-q', '-h', pg.socketDir, '-p', String(pg.port)], { timeoutMs: 10_000 });
    if (last.exitCode === 0) return;
    await sleep(100);
  }
  throw new Error(`PostgreSQL on ${conn.hostName} is not accepting connections on ${pg.socketDir} port ${pg.port} after ${Math.round(timeoutMs / 1000)} s${last ? ` (pg_isready exit ${last.exitCode})` : ''}`);
}

export async function waitUntilDown(conn: Connection, pg: PgSettings, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if ((await serverState(conn, pg)) !== 'running') return;
    await sleep(100);
  }
  throw new Error(`PostgreSQL on ${conn.hostName} is still running ${Math.round(timeoutMs / 1000)} s after the stop`);
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
