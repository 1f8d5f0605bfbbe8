// Server control: pg_ctl as the PostgreSQL OS user, Debian's pg_ctlcluster or systemctl as root; state, readiness.
import type { Become, Command } from '../../connection/command';
import { firstLine } from '../../connection/files';
import type { Connection, RunResult } from '../../connection/types';
import type { PgSettings } from '../../facts/pg-settings';
import type { SqlSession } from '../../facts/sql';
import type { HostHandle } from '../types';

export type ServerState = 'running' | 'stopped' | 'no-cluster';

export function asPostgres(pg: PgSettings): Become {
  return { user: pg.osUser, method: pg.becomeMethod };
}

export function pgCommand(pg: PgSettings, program: string, args: string[], env?: Record<string, string>): Command {
  return { argv: [`${pg.binDir}/${program}`, ...args], become: asPostgres(pg), env };
}

function systemdUnit(pg: PgSettings): string | null {
  return pg.serviceControl.startsWith('systemd:') ? pg.serviceControl.slice('systemd:'.length) : null;
}

/** pg_ctl status: 0 running, 3 not running, 4 no cluster in the directory. */
export async function serverState(conn: Connection, pg: PgSettings): Promise<ServerState> {
  const r = await conn.run(pgCommand(pg, 'pg_ctl', ['status', '-D', pg.dataDir]));
  if (r.exitCode === 0) return 'running';
  if (r.exitCode === 3) return 'stopped';
  if (r.exitCode === 4) return 'no-cluster';
  throw new Error(`pg_ctl status on ${conn.hostName} failed: ${firstLine(r)}`);
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

/**
 * The command for one action; start and restart name the configuration directory so Debian's layout works too.
 * pg_ctlcluster runs as root, as Debian's guides write it: under systemd it hands the action to postgresql@V-NAME.
 */
export function serverCommand(pg: PgSettings, action: ServerAction): Command {
  const asRoot = { user: 'root', method: pg.becomeMethod } as const;
  const unit = systemdUnit(pg);
  if (unit) return { argv: ['systemctl', action, unit], become: asRoot };
  if (pg.serviceControl === 'pg_ctlcluster') return { argv: ['pg_ctlcluster', pg.version, pg.cluster, action], become: asRoot };
  switch (action) {
    case 'start':
      return pgCommand(pg, 'pg_ctl', ['start', '-D', pg.configDir, '-l', pg.logFile, '-w', '-t', '60']);
    case 'restart':
      return pgCommand(pg, 'pg_ctl', ['restart', '-D', pg.configDir, '-l', pg.logFile, '-m', 'fast', '-w', '-t', '60']);
    case 'stop':
      return pgCommand(pg, 'pg_ctl', ['stop', '-D', pg.dataDir, '-m', 'fast', '-w', '-t', '120']);
    case 'reload':
      return pgCommand(pg, 'pg_ctl', ['reload', '-D', pg.dataDir]);
  }
}

async function logTail(conn: Connection, pg: PgSettings): Promise<string> {
  const r = await conn.run({ argv: ['tail', '-n', '5', pg.logFile], become: asPostgres(pg) });
  return r.failed ? '' : r.stdout.trim();
}

/** Run an action and wait for its end state; a failure says what pg_ctl and the server log said. */
export async function controlServer(conn: Connection, pg: PgSettings, action: ServerAction, signal?: AbortSignal): Promise<RunResult> {
  const r = await conn.run(serverCommand(pg, action), { timeoutMs: 180_000, signal });
  if (r.failed) {
    const tail = action === 'reload' ? '' : await logTail(conn, pg);
    throw new Error(`${action} of PostgreSQL on ${conn.hostName} failed: ${firstLine(r)}${tail ? `\nlast lines of ${pg.logFile}:\n${tail}` : ''}`);
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
    last = await conn.run(pgCommand(pg, 'pg_isready', ['-q', '-h', pg.socketDir, '-p', String(pg.port)]), { timeoutMs: 10_000 });
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
