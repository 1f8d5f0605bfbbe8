// What a replica host itself sees before a clone: a TCP connection to the primary opened from the replica (told
// apart: connected, refused, timed out, no route; and the address it left from), a replication login over that very
// connection with the given password, the version of its PostgreSQL and what its data directory holds now. All of it
// through the replica's agent, side by side, with no command run in a no-op run: the login speaks PostgreSQL's
// protocol from pgplay over the agent's stream, so the password never reaches the replica host at all.
import { posix } from 'node:path';
import type { Client as PgClient } from 'pg';
import type { Connection } from '../../connection/types';
import type { PgSettings } from '../../facts/pg-settings';
import { pgSocket } from '../../facts/sql-session';

export interface ReplicaProbe {
  tcp: 'connected' | 'refused' | 'timeout' | 'unreachable' | 'resolve' | 'error';
  tcpError?: string;
  /** The address the connection left from: what the primary sees as client_addr. */
  localAddress?: string;
  /** Not tried when there was no connection or no password. */
  login?: { ok: boolean; output: string };
  /** Major version of the replica's PostgreSQL, or null when its programs cannot run. */
  major: number | null;
  versionText: string;
  /** A standby's version comes from its data directory; any other's from the programs that would run the copy. */
  versionFrom: 'binaries' | 'data directory';
  /** System identifier of the cluster in the data directory now, if any. */
  systemId?: string;
  standbySignal: boolean;
  dataDirExists: boolean;
}

export interface ProbeTarget {
  address: string;
  port: number;
  timeoutSeconds: number;
  user: string;
  password?: string;
  /** Whether the replica's libpq would use TLS (the primary has ssl on; libpq's sslmode prefer): known once the primary answers. */
  ssl: Promise<boolean>;
}

const TCP_STATES: Record<string, ReplicaProbe['tcp']> = { ECONNREFUSED: 'refused', ETIMEDOUT: 'timeout', EHOSTUNREACH: 'unreachable', ENETUNREACH: 'unreachable', EAI: 'resolve' };

/** The system identifier in the first 8 bytes of global/pg_control (little-endian on the hosts PostgreSQL runs on). */
export function controlSystemId(head: Buffer): string | undefined {
  return head.length >= 8 ? head.readBigUInt64LE(0).toString() : undefined;
}

/** Major version in `postgres -V` output ("postgres (PostgreSQL) 15.6 ...") or a PG_VERSION file ("15"). */
export function majorVersion(text: string): number | null {
  const m = /\(PostgreSQL\)\s+(\d+)/.exec(text) ?? /^\s*(\d+)\s*$/.exec(text);
  return m ? Number(m[1]) : null;
}

/** A physical replication login over a stream, as a replica's walreceiver makes it; IDENTIFY_SYSTEM proves it. */
async function replicationLogin(stream: import('node:stream').Duplex, target: ProbeTarget, ssl: boolean): Promise<{ ok: boolean; output: string }> {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const { Client } = require('pg') as { Client: typeof PgClient };
  const client = new Client({
    user: target.user,
    password: target.password,
    database: 'replication',
    replication: 'true',
    application_name: 'pgplay_preflight',
    stream: () => pgSocket(stream) as never,
    ssl: ssl ? { rejectUnauthorized: false } : false,
    connectionTimeoutMillis: Math.max(2, target.timeoutSeconds) * 1000,
  } as never);
  client.on('error', () => undefined);
  try {
    await client.connect();
    const r = await client.query('IDENTIFY_SYSTEM');
    return { ok: true, output: String(Object.values(r.rows[0] ?? {})[0] ?? '') };
  } catch (err) {
    return { ok: false, output: err instanceof Error ? err.message : String(err) };
  } finally {
    await client.end().catch(() => undefined);
    stream.destroy();
  }
}

/** Run the probe through the replica's agent, so the connection leaves from the replica host. */
export async function probeReplica(conn: Connection, pg: PgSettings, target: ProbeTarget): Promise<ReplicaProbe> {
  const dir = pg.dataDir;
  const [tcp, standby, pgVersion, control, dirStat] = await Promise.all([
    conn.connectTcp(target.address, target.port, { timeoutMs: target.timeoutSeconds * 1000 }),
    conn.stat(`${dir}/standby.signal`),
    conn.readFile(`${dir}/PG_VERSION`).catch(() => null),
    conn.readFile(`${dir}/global/pg_control`).catch(() => null),
    conn.stat(dir),
  ]);
  const isStandby = standby !== null && pgVersion !== null;
  // A standby's own directory says its version; else the programs that would run the copy must say it.
  const version = isStandby ? null : await conn.run([`${pg.binDir}/postgres`, '-V'], { as: pg.osUser, env: { LC_ALL: 'C' }, timeoutMs: 30_000 });
  const probe: ReplicaProbe = {
    tcp: tcp.connected ? 'connected' : (TCP_STATES[tcp.code] ?? 'error'),
    major: version ? (version.failed ? null : majorVersion(version.stdout)) : majorVersion(pgVersion?.content.toString() ?? ''),
    versionText: version ? (version.stdout || version.stderr).trim() : `PG_VERSION ${pgVersion?.content.toString().trim()}`,
    versionFrom: version ? 'binaries' : 'data directory',
    standbySignal: standby !== null,
    dataDirExists: dirStat?.type === 'directory',
  };
  if (tcp.localAddress) probe.localAddress = tcp.localAddress;
  if (!tcp.connected) probe.tcpError = tcp.message;
  if (control) probe.systemId = controlSystemId(control.content);
  if (tcp.connected) {
    if (target.password) probe.login = await replicationLogin(tcp.stream, target, await target.ssl);
    else tcp.stream.destroy();
  }
  return probe;
}

/** Free bytes on the file system where a data directory goes (its nearest existing directory), and that directory. */
export async function freeSpace(conn: Connection, dataDir: string): Promise<{ bytes: number | null; dir: string }> {
  let dir = dataDir;
  while (dir !== '/' && (await conn.stat(dir))?.type !== 'directory') dir = posix.dirname(dir);
  const r = await conn.run(['df', '-Pk', dir], { env: { LC_ALL: 'C' }, timeoutMs: 30_000 });
  const cols = r.stdout.trim().split('\n').pop()?.trim().split(/\s+/) ?? [];
  return { bytes: !r.failed && cols.length >= 4 && /^\d+$/.test(cols[3]) ? Number(cols[3]) * 1024 : null, dir };
}
