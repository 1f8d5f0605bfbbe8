// The one SQL session per server: pg's protocol through a relay run as the PostgreSQL OS user (peer auth, no password).
import type { Client as PgClient } from 'pg';
import type { Connection } from '../connection/types';
import { becomeAs, type PgSettings } from './pg-settings';
import type { SqlSession } from './sql';
import { RelaySocket, relayArgv } from './sql-relay';

export function socketPath(pg: PgSettings): string {
  return `${pg.socketDir}/.s.PGSQL.${pg.port}`;
}

/** Open a session as pg.osUser on database postgres; throws a plain message when the server is down. */
export async function openSqlSession(conn: Connection, pg: PgSettings, options: { database?: string } = {}): Promise<SqlSession> {
  const path = socketPath(pg);
  const notAccepting = (reason: string, relayRan = true) =>
    relayRan
      ? `PostgreSQL on ${conn.hostName} is not accepting connections on socket ${path} (${reason})`
      : `cannot reach PostgreSQL's socket on ${conn.hostName} as ${pg.osUser}: ${reason}`;
  const channel = await conn.open({ argv: relayArgv(path), become: becomeAs(pg.osUser, pg) });
  const socket = new RelaySocket(channel, notAccepting);
  // pg loads only when a run opens its first SQL session.
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const { Client } = require('pg') as { Client: typeof PgClient };
  const client = new Client({
    user: pg.osUser,
    database: options.database ?? 'postgres',
    application_name: 'pgplay',
    stream: () => socket as never,
    connectionTimeoutMillis: 30_000,
  });
  let closed = false;
  client.on('error', () => {
    closed = true;
  });
  client.on('end', () => {
    closed = true;
  });
  try {
    await client.connect();
  } catch (err) {
    socket.destroy();
    const message = err instanceof Error ? err.message : String(err);
    if ((err as { severity?: string }).severity) throw new Error(`PostgreSQL on ${conn.hostName} refused a session as ${pg.osUser}: ${message}`, { cause: err });
    throw new Error(/^(PostgreSQL on |cannot reach )/.test(message) ? message : notAccepting(message), { cause: err });
  }
  // Tasks of several hosts may share a server's session (replicas ask the primary): one query at a time.
  let queue: Promise<unknown> = Promise.resolve();
  return {
    query<T = Record<string, unknown>>(text: string, params: unknown[] = []): Promise<T[]> {
      const result = queue.then(() => client.query(text, params));
      queue = result.catch(() => undefined);
      return result.then((r) => r.rows as T[]);
    },
    async close() {
      if (closed) return;
      closed = true;
      await client.end().catch(() => undefined);
      socket.destroy();
    },
    get closed() {
      return closed;
    },
  };
}

/** Quote an identifier (role, table) for SQL text; values always go as parameters. */
export function quoteIdent(name: string): string {
  return `"${name.replace(/"/g, '""')}"`;
}

/** Quote a literal for the few statements that take no parameters (ALTER SYSTEM, ALTER ROLE ... PASSWORD). */
export function quoteLiteral(value: string): string {
  if (value.includes('\0')) throw new Error('a SQL literal cannot hold a NUL character');
  const escaped = value.replace(/'/g, "''");
  return value.includes('\\') ? `E'${escaped.replace(/\\/g, '\\\\')}'` : `'${escaped}'`;
}
