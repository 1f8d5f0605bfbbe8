// One connection and one SQL session per host for the whole run, shared by every task.
import type { Inventory, InventoryHost } from '../config/types';
import type { Connection } from '../connection/types';
import { pgSettingsFrom } from '../facts/pg-settings';
import type { SqlSession } from '../facts/sql';
import type { HostHandle } from '../modules/types';

export type ConnectFn = (host: InventoryHost) => Connection;
export type OpenSqlFn = (conn: Connection, handle: HostHandle) => Promise<SqlSession>;

export class HostPool {
  #handles = new Map<string, HostHandle>();
  #connections: Connection[] = [];

  constructor(
    private readonly inventory: Inventory,
    private readonly connect: ConnectFn,
    private readonly openSql: OpenSqlFn,
  ) {}

  handle(name: string): HostHandle {
    const existing = this.#handles.get(name);
    if (existing) return existing;
    const host = this.inventory.hosts.get(name);
    if (!host) throw new Error(`host ${name} is not in the inventory`);
    const conn = this.connect(host);
    this.#connections.push(conn);
    let session: Promise<SqlSession> | null = null;
    const openSql = this.openSql;
    const handle: HostHandle = {
      name,
      host,
      conn,
      pg: pgSettingsFrom(host.vars),
      sql() {
        if (session) {
          const current = session;
          return current.then((s) => (s.closed ? reopen() : s), reopen);
        }
        return reopen();
      },
      async dropSql() {
        const current = session;
        session = null;
        if (current) await current.then((s) => s.close(), () => undefined);
      },
    };
    const reopen = (): Promise<SqlSession> => {
      session = openSql(conn, handle);
      session.catch(() => {
        session = null;
      });
      return session;
    };
    this.#handles.set(name, handle);
    return handle;
  }

  /** Close every SQL session and connection opened during the run. */
  async closeAll(): Promise<void> {
    await Promise.all([...this.#handles.values()].map((h) => h.dropSql().catch(() => undefined)));
    await Promise.all(this.#connections.map((c) => c.close().catch(() => undefined)));
  }
}
