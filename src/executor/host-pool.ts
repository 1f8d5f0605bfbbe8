// One connection and one SQL session per host for the whole run, shared by every task; a play whose vars change a
// host's connection or PostgreSQL settings gets a handle of its own (and a connection of its own when those differ).
import type { Inventory } from '../config/types';
import type { CloseOptions, Connection } from '../connection/types';
import type { SqlSession } from '../facts/sql';
import type { HostHandle } from '../modules/types';
import type { HostSettings } from './host-settings';

/** Opens (lazily) a connection from a host's rendered settings. */
export type ConnectFn = (settings: HostSettings) => Connection;
export type OpenSqlFn = (conn: Connection, handle: HostHandle) => Promise<SqlSession>;
/** The settings of a host in a play; null: without play vars. */
export type SettingsFn = (host: string, play: number | null) => HostSettings;

export class HostPool {
  #handles = new Map<string, HostHandle>();
  #connections = new Map<string, Connection>();

  constructor(
    private readonly inventory: Inventory,
    private readonly settingsFor: SettingsFn,
    private readonly connect: ConnectFn,
    private readonly openSql: OpenSqlFn,
  ) {}

  /** The host's handle in a play (null: without play vars, as other hosts' tasks see it). */
  handle(name: string, play: number | null = null): HostHandle {
    const host = this.inventory.hosts.get(name);
    if (!host) throw new Error(`host ${name} is not in the inventory`);
    const settings = this.settingsFor(name, play);
    const connKey = `${name}\0${connectionKey(settings)}`;
    const key = `${connKey}\0${JSON.stringify(settings.pg)}`;
    const existing = this.#handles.get(key);
    if (existing) return existing;
    let conn = this.#connections.get(connKey);
    if (!conn) {
      conn = this.connect(settings);
      this.#connections.set(connKey, conn);
    }
    const connection = conn;
    let session: Promise<SqlSession> | null = null;
    const openSql = this.openSql;
    const handle: HostHandle = {
      name,
      host,
      conn: connection,
      pg: settings.pg,
      settings,
      sql() {
        if (session) {
          const current = session;
          return current.then((s) => (s.closed ? reopen() : s), reopen);
        }
        return reopen();
      },
      async dropSql(options?: { wait?: boolean }) {
        const current = session;
        session = null;
        if (current) await current.then((s) => s.close(options), () => undefined);
      },
    };
    const reopen = (): Promise<SqlSession> => {
      session = openSql(connection, handle);
      session.catch(() => {
        session = null;
      });
      return session;
    };
    this.#handles.set(key, handle);
    return handle;
  }

  /** Close every SQL session and connection opened during the run; `{ wait: false }` at its end, just before pgplay exits. */
  async closeAll(options: CloseOptions = {}): Promise<void> {
    // Each SQL session's Terminate goes out without waiting for its server's end: the agents close right after, and
    // each writes what it was sent to the server before it closes the socket. At a run's end each host's goodbyes
    // (its SQL session's end, its agent's end of input, ssh's disconnect) leave together: one write a host, not three.
    if (options.wait === false) for (const c of this.#connections.values()) c.holdWrites?.();
    await Promise.all([...this.#handles.values()].map((h) => h.dropSql({ wait: false }).catch(() => undefined)));
    await Promise.all([...this.#connections.values()].map((c) => c.close(options).catch(() => undefined)));
  }
}

/** What makes two connections to a host the same: everything but the secret itself. */
function connectionKey(s: HostSettings): string {
  return JSON.stringify({ kind: s.connection, ssh: s.ssh, become: { ...s.become, password: s.become.password ? 'set' : undefined } });
}
