// The one SQL session per server: pg's protocol over a unix-socket stream the host agent opens as the
// PostgreSQL OS user (peer authentication, no password, no extra channel).
import type { Duplex } from 'node:stream';
import type { Client as PgClient } from 'pg';
import { HostOpError, type Connection } from '../connection/types';
import type { PgSettings } from './pg-settings';
import type { QueryOptions, SqlSession } from './sql';

export function socketPath(pg: PgSettings): string {
  return `${pg.socketDir}/.s.PGSQL.${pg.port}`;
}

/** An agent stream (unix or TCP), shaped like the net.Socket pg expects: connect() answers at once, the stream is open. */
export function pgSocket(stream: Duplex): Duplex {
  return Object.assign(stream, {
    connect(this: Duplex) {
      process.nextTick(() => this.emit('connect'));
      return this;
    },
    setNoDelay(this: Duplex) {
      return this;
    },
    setKeepAlive(this: Duplex) {
      return this;
    },
    ref(this: Duplex) {
      return this;
    },
    unref(this: Duplex) {
      return this;
    },
  });
}

let pgClientClass: typeof PgClient | null = null;

/**
 * pg, loaded when a run opens its first SQL session. As it loads it asks whether it runs in a Cloudflare Worker: on
 * Node 20, which has no `navigator`, by making a `Response`, which loads Node's whole fetch implementation (undici,
 * 20 to 30 ms of CPU). A `navigator` that says Node while pg loads answers it at once; it is gone again after.
 */
export function loadPgDriver(): void {
  pgClient();
}

function pgClient(): typeof PgClient {
  if (pgClientClass) return pgClientClass;
  const shim = !('navigator' in globalThis);
  if (shim) Object.defineProperty(globalThis, 'navigator', { value: { userAgent: `Node.js/${process.version}` }, configurable: true });
  try {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    pgClientClass = (require('pg') as { Client: typeof PgClient }).Client;
  } finally {
    if (shim) delete (globalThis as { navigator?: unknown }).navigator;
  }
  return pgClientClass;
}

/** Two paths name the same directory: the same text, or the same file behind links. */
async function sameDirectory(conn: Connection, a: string, b: string): Promise<boolean> {
  const trim = (p: string) => p.replace(/\/+$/, '');
  if (trim(a) === trim(b)) return true;
  const [sa, sb] = await Promise.all([conn.stat(a).catch(() => null), conn.stat(b).catch(() => null)]);
  return sa !== null && sb !== null && sa.identity === sb.identity;
}

/** Open a session as pg.osUser on database postgres; throws a plain message when the server is down. */
export async function openSqlSession(conn: Connection, pg: PgSettings, options: { database?: string; checkDataDir?: boolean; signal?: AbortSignal } = {}): Promise<SqlSession> {
  const path = socketPath(pg);
  let stream: Duplex;
  try {
    stream = await conn.connectUnix(path, { as: pg.osUser });
  } catch (err) {
    if (!(err instanceof HostOpError)) throw err; // the connection itself is gone
    if (err.code === 'EUSER') throw new Error(`cannot reach PostgreSQL's socket on ${conn.hostName} as ${pg.osUser}: there is no such user (pg_os_user)`, { cause: err });
    if (err.code === 'EPERM') throw new Error(`cannot reach PostgreSQL's socket on ${conn.hostName} as ${pg.osUser}: ${err.message.replace(/^[^:]*: /, '')}`, { cause: err });
    throw new Error(`PostgreSQL on ${conn.hostName} is not accepting connections on socket ${path} (${err.message.replace(/^[^:]*: /, '')})`, { cause: err });
  }
  const socket = pgSocket(stream);
  const Client = pgClient();
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
    throw new Error(`PostgreSQL on ${conn.hostName} is not accepting connections on socket ${path} (${message})`, { cause: err });
  }
  // Tasks of several hosts may share a server's session (replicas ask the primary): one query at a time.
  let queue: Promise<unknown> = Promise.resolve();
  if (options.checkDataDir !== false) {
    // The right cluster: a wrong pg_port on a host with two clusters must not edit the other one.
    const { rows } = await client.query<{ dir: string }>("SELECT current_setting('data_directory') AS dir");
    const dir = rows[0].dir;
    if (!(await sameDirectory(conn, dir, pg.dataDir))) {
      await client.end().catch(() => undefined);
      socket.destroy();
      throw new Error(
        `the PostgreSQL server on ${conn.hostName}'s socket ${path} serves the data directory ${dir}, not ${pg.dataDir} (pg_data_dir): check pg_port and pg_socket_dir; nothing was done on it`,
      );
    }
  }
  // Ctrl-C while a statement runs (a lock wait, a commit waiting for a synchronous standby) cancels that statement,
  // as psql does: the server gets a cancel request on a new connection, the query fails, and the session stays usable
  // for the undos that follow. A cancel names the backend, not the statement: the next statement waits until the
  // server has taken the request, so that one that finished by itself meanwhile does not pass the cancel on to it.
  // Whether the statement running now (if any) may be cancelled by an interrupt.
  let cancellable = false;
  let cancelling: Promise<void> = Promise.resolve();
  const onAbort = () => {
    if (cancellable && !closed) cancelling = sendCancel(conn, path, pg.osUser, client as unknown as BackendKey);
  };
  options.signal?.addEventListener('abort', onAbort);
  return {
    query<T = Record<string, unknown>>(text: string, params: unknown[] = [], queryOptions: QueryOptions = {}): Promise<T[]> {
      const result = queue.then(async () => {
        await cancelling;
        cancellable = queryOptions.interruptible !== false;
        try {
          return await client.query(text, params);
        } finally {
          cancellable = false;
        }
      });
      queue = result.catch(() => undefined);
      // Several statements in one text give one result each: the last statement's rows are the answer.
      return result.then((r) => (Array.isArray(r) ? (r.at(-1)?.rows ?? []) : r.rows) as T[]);
    },
    async close(closing: { wait?: boolean } = {}) {
      if (closed) return;
      closed = true;
      options.signal?.removeEventListener('abort', onAbort);
      const ended = client.end().catch(() => undefined);
      // Not waiting for the server: the goodbye and the end of the stream are handed to the agent (a tick later, from
      // pg's write callback), so that the agent's close sees them sent.
      if (closing.wait === false) {
        if (!socket.writableFinished && !socket.destroyed) {
          await new Promise<void>((resolve) => {
            const done = () => {
              clearTimeout(timer);
              resolve();
            };
            const timer = setTimeout(done, 2000).unref();
            socket.once('finish', done).once('close', done).once('error', done);
          });
        }
        return;
      }
      // A server that does not answer the goodbye (a backend still busy) is not waited for long.
      await Promise.race([ended, new Promise((r) => setTimeout(r, 2000).unref())]);
      socket.destroy();
    },
    get closed() {
      return closed;
    },
  };
}

/** What a session's backend gave at its start to let it be cancelled (pg's Client keeps them). */
interface BackendKey {
  processID?: number;
  secretKey?: number;
}

/** PostgreSQL's CancelRequest for one backend, on a connection of its own to the server's socket; best effort. */
async function sendCancel(conn: Connection, path: string, osUser: string, key: BackendKey): Promise<void> {
  if (key.processID === undefined || key.secretKey === undefined) return;
  const packet = Buffer.alloc(16);
  packet.writeInt32BE(16, 0);
  packet.writeInt32BE(80877102, 4);
  packet.writeInt32BE(key.processID, 8);
  packet.writeInt32BE(key.secretKey, 12);
  try {
    const stream = await conn.connectUnix(path, { as: osUser });
    // The server closes the connection once it has signalled the backend (or found nothing to cancel).
    await new Promise<void>((resolve) => {
      const done = () => {
        clearTimeout(timer);
        stream.destroy();
        resolve();
      };
      const timer = setTimeout(done, 1000);
      stream.on('error', () => undefined);
      stream.once('end', done).once('close', done);
      stream.resume();
      stream.end(packet);
    });
  } catch {
    // The host or its server is gone: nothing is left to cancel there.
  }
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
