// What the troubleshooter reads when a replica fails to clone or stream: both servers' logs (since the attempt
// began, when pgplay marked them), the primary's listen_addresses, the replica's recovery state, standby.signal
// and primary_conninfo. Reading never throws: what cannot be read is left out.
import { bytesToText } from '../../facts/bytes';
import { confValues } from '../../facts/conf-file';
import { markServerLog, readServerLog, serverLogPaths, type LogMark } from '../../facts/server-log';
import type { SqlSession } from '../../facts/sql';
import type { HostHandle } from '../types';
import { parseConninfo } from './conninfo';
import { serverState } from './server';
import { diagnose, formatDiagnosis, type Evidence } from './troubleshoot';

/** The logs of a server at a moment: their paths and lengths. */
export interface LogPlace {
  paths: string[];
  mark: LogMark;
}

const within = <T>(ms: number, work: Promise<T>, fallback: T): Promise<T> =>
  Promise.race([work.catch(() => fallback), new Promise<T>((resolve) => setTimeout(() => resolve(fallback), ms).unref())]);

async function session(handle: HostHandle): Promise<SqlSession | null> {
  return within(10_000, handle.sql(), null);
}

/** Where the server's log ends now: what is written after is what the next attempt caused. */
export async function markLogs(handle: HostHandle): Promise<LogPlace> {
  return within(10_000, (async () => {
    const paths = await serverLogPaths(handle.pg, await session(handle));
    return { paths, mark: await markServerLog(handle.conn, paths) };
  })(), { paths: [handle.pg.logFile], mark: {} });
}

export interface EvidenceOptions {
  user?: string;
  clientError?: string;
  client?: string;
  clientAddress?: string;
  /** Log places marked before the attempt; without them the logs' last part is read. */
  since?: { primary?: LogPlace; replica?: LogPlace };
  /** The replica's server was started (its state, settings and log mean something); false during a copy. */
  replicaServer?: boolean;
}

async function primaryFacts(primary: HostHandle): Promise<Partial<Evidence['primary']>> {
  const sql = await session(primary);
  if (!sql) {
    const state = await within(10_000, serverState(primary.conn, primary.pg), null);
    return state && state !== 'running' ? { running: false } : {};
  }
  const [row] = await within(
    10_000,
    sql.query<{ listen: string; keep: string }>("SELECT current_setting('listen_addresses') AS listen, current_setting('wal_keep_size') AS keep"),
    [] as Array<{ listen: string; keep: string }>,
  );
  return row ? { running: true, listenAddresses: row.listen, walKeepSize: row.keep } : { running: true };
}

type ReplicaFacts = Pick<Evidence, 'inRecovery' | 'standbySignal' | 'conninfo' | 'slot' | 'dataDir' | 'user'>;

async function replicaFacts(replica: HostHandle): Promise<ReplicaFacts> {
  const { pg, conn } = replica;
  const facts: ReplicaFacts = { dataDir: pg.dataDir };
  const signal = await conn.stat(`${pg.dataDir}/standby.signal`).catch(() => undefined);
  if (signal !== undefined) facts.standbySignal = signal !== null;
  const sql = await session(replica);
  let conninfo: string | undefined;
  if (sql) {
    const [row] = await within(
      10_000,
      sql.query<{ rec: boolean; conninfo: string; slot: string }>("SELECT pg_is_in_recovery() AS rec, current_setting('primary_conninfo') AS conninfo, current_setting('primary_slot_name') AS slot"),
      [] as Array<{ rec: boolean; conninfo: string; slot: string }>,
    );
    if (row) {
      facts.inRecovery = row.rec;
      conninfo = row.conninfo;
      facts.slot = row.slot;
    }
  } else {
    const auto = await conn.readFile(`${pg.dataDir}/postgresql.auto.conf`).catch(() => null);
    const values = auto ? confValues(bytesToText(auto.content)) : new Map<string, string>();
    conninfo = values.get('primary_conninfo');
    facts.slot = values.get('primary_slot_name');
  }
  if (conninfo) {
    const pairs = new Map(parseConninfo(conninfo));
    const port = Number(pairs.get('port') ?? 5432);
    facts.conninfo = { host: pairs.get('host'), hostaddr: pairs.get('hostaddr'), port: Number.isFinite(port) ? port : undefined };
    if (pairs.get('user')) facts.user = pairs.get('user');
  }
  return facts;
}

/** Everything the troubleshooter reads about one replica and its primary. */
export async function gatherEvidence(replica: HostHandle, primary: HostHandle, options: EvidenceOptions = {}): Promise<Evidence> {
  const replicaServer = options.replicaServer !== false;
  const readLog = async (handle: HostHandle, place?: LogPlace) => {
    const paths = place?.paths ?? (await serverLogPaths(handle.pg, await session(handle)));
    return within(15_000, readServerLog(handle.conn, handle.pg, paths, place?.mark), []);
  };
  const [p, r, primaryLog, replicaLog] = await Promise.all([
    within(15_000, primaryFacts(primary), {}),
    replicaServer ? within(15_000, replicaFacts(replica), {}) : Promise.resolve({}),
    readLog(primary, options.since?.primary),
    replicaServer ? readLog(replica, options.since?.replica) : Promise.resolve([]),
  ]);
  return {
    replica: { name: replica.name, address: replica.pg.address },
    primary: { name: primary.name, address: primary.pg.address, port: primary.pg.port, ...p },
    clientError: options.clientError,
    client: options.client,
    clientAddress: options.clientAddress,
    primaryLog,
    primaryLogSinceAttempt: options.since?.primary !== undefined,
    replicaLog,
    ...r,
    user: options.user ?? (r as ReplicaFacts).user,
  };
}

/** Why the replica failed, as text (cause and fix, then the lines it rests on), or null when nothing explains it. */
export async function explainFailure(replica: HostHandle, primary: HostHandle, options: EvidenceOptions = {}): Promise<string | null> {
  try {
    const d = diagnose(await gatherEvidence(replica, primary, options));
    return d ? formatDiagnosis(d) : null;
  } catch {
    return null;
  }
}
