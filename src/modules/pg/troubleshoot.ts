// Why a replica does not clone or stream: what the client, the replica's log and the primary's log said, and
// what the servers report, mapped to one line of cause and fix, as a DBA reads them by hand. Pure: the reading is
// in failure-evidence.ts.
import type { LogEntry } from '../../facts/server-log';
import { walReceiverCause } from '../../facts/wal-receiver-errors';

export interface Evidence {
  replica: { name: string; address: string };
  primary: {
    name: string;
    address: string;
    port: number;
    /** The primary's listen_addresses, when it could be read. */
    listenAddresses?: string;
    /** false: PostgreSQL on the primary is not running. */
    running?: boolean;
    walKeepSize?: string;
  };
  user?: string;
  /** What the client said (pg_basebackup's or psql's standard error), and which client it was. */
  clientError?: string;
  client?: string;
  /** The address the replica's connections come from, when it is known (pg_client_address, or seen). */
  clientAddress?: string;
  /** Messages of the replica's and the primary's server logs, oldest first. */
  replicaLog: LogEntry[];
  primaryLog: LogEntry[];
  /** The primary's log was read from where it ended before the attempt: all of it is this attempt's. */
  primaryLogSinceAttempt?: boolean;
  /** Where the replica's primary_conninfo leads (host or hostaddr, port), when it has one. */
  conninfo?: { host?: string; hostaddr?: string; port?: number };
  /** The replica's server answers pg_is_in_recovery() so. */
  inRecovery?: boolean;
  /** standby.signal is in the replica's data directory. */
  standbySignal?: boolean;
  dataDir?: string;
  /** The replica's primary_slot_name ('' or absent: none). */
  slot?: string;
}

export interface Diagnosis {
  /** What is wrong, in one sentence. */
  cause: string;
  fix: string;
  /** The log lines it rests on, with where each was read ("pg1's log: FATAL: ..."). */
  seen: string[];
}

/** One kind of failure as PostgreSQL words it (its English messages), with what the words hold. */
interface Signal {
  kind:
    | 'no-hba'
    | 'hba-reject'
    | 'password'
    | 'no-role'
    | 'no-login'
    | 'no-replication'
    | 'refused'
    | 'timeout'
    | 'unreachable'
    | 'dns'
    | 'wal-senders'
    | 'slots-full'
    | 'no-slot'
    | 'wal-removed'
    | 'other-system'
    | 'diverged'
    | 'starting';
  address?: string;
  user?: string;
  segment?: string;
  slot?: string;
  value?: string;
  host?: string;
  /** The words, for quoting. */
  text: string;
}

const PATTERNS: Array<[RegExp, (m: RegExpExecArray) => Omit<Signal, 'text'>]> = [
  [/no pg_hba\.conf entry for replication connection from host "([^"]+)", user "([^"]+)"/, (m) => ({ kind: 'no-hba', address: m[1], user: m[2] })],
  [/pg_hba\.conf rejects replication connection for host "([^"]+)", user "([^"]+)"/, (m) => ({ kind: 'hba-reject', address: m[1], user: m[2] })],
  [/Role "([^"]+)" does not exist/, (m) => ({ kind: 'no-role', user: m[1] })],
  [/password authentication failed for user "([^"]+)"/, (m) => ({ kind: 'password', user: m[1] })],
  [/role "([^"]+)" is not permitted to log in/, (m) => ({ kind: 'no-login', user: m[1] })],
  [/must be superuser or replication role to start walsender|permission denied to start WAL sender/, () => ({ kind: 'no-replication' })],
  [/number of requested standby connections exceeds max_wal_senders \(currently (\d+)\)/, (m) => ({ kind: 'wal-senders', value: m[1] })],
  [/all replication slots are in use/, () => ({ kind: 'slots-full' })],
  [/replication slot "([^"]+)" does not exist/, (m) => ({ kind: 'no-slot', slot: m[1] })],
  [/requested WAL segment (\w+) has already been removed/, (m) => ({ kind: 'wal-removed', segment: m[1] })],
  [/database system identifier differs between the primary and standby/, () => ({ kind: 'other-system' })],
  [/is ahead of the WAL flush position of this server|highest timeline \d+ of the primary is behind recovery timeline/, () => ({ kind: 'diverged' })],
  [/could not translate host name "([^"]+)" to address/, (m) => ({ kind: 'dns', host: m[1] })],
  [/connection to server at "([^"]+)"(?: \([^)]*\))?, port \d+ failed: Connection refused/, (m) => ({ kind: 'refused', host: m[1] })],
  [/connection to server at "([^"]+)"(?: \([^)]*\))?, port \d+ failed: (?:timeout expired|Connection timed out)/, (m) => ({ kind: 'timeout', host: m[1] })],
  [/connection to server at "([^"]+)"(?: \([^)]*\))?, port \d+ failed: (?:No route to host|Network is unreachable)/, (m) => ({ kind: 'unreachable', host: m[1] })],
  [/the database system is (?:starting up|shutting down|in recovery mode|not yet accepting connections)/, () => ({ kind: 'starting' })],
];

/** What one piece of text says, or null when it is none of the failures pgplay knows. */
export function readSignal(text: string): Signal | null {
  // The most specific first: a password failure also says "connection ... failed".
  for (const [re, make] of PATTERNS) {
    const m = re.exec(text);
    if (m) return { ...make(m), text: quoteOf(text, m.index) };
  }
  return null;
}

/** The message around a match, on one line, without the client's "pg_basebackup: error:" lead. */
function quoteOf(text: string, at: number): string {
  const lines = text.split('\n');
  let pos = 0;
  for (const line of lines) {
    if (at < pos + line.length + 1) return line.trim().replace(/^\S+: error: /, '');
    pos += line.length + 1;
  }
  return text.trim();
}

function entrySignal(e: LogEntry): Signal | null {
  const own = readSignal(e.message);
  // "password authentication failed" with DETAIL "Role ... does not exist": the role is the cause.
  const detail = e.detail ? readSignal(e.detail) : null;
  const signal = detail?.kind === 'no-role' ? { ...detail, text: `${e.message} (${e.detail})` } : own;
  return signal ? { ...signal, text: `${e.severity}:  ${signal.kind === 'no-role' ? signal.text : e.message}` } : null;
}

/** The walreceiver connected after whatever failed before it: what failed is over. */
const RECOVERED = /^started streaming WAL from primary/;

/** The newest signal of a log, or null; none when the replica started streaming since. */
function lastSignal(entries: LogEntry[], accept: (s: Signal) => boolean = () => true): Signal | null {
  for (let i = entries.length - 1; i >= 0; i--) {
    if (RECOVERED.test(entries[i].message)) return null;
    const s = entrySignal(entries[i]);
    if (s && accept(s)) return s;
  }
  return null;
}

/** listen_addresses lets a server take connections on this address: '*', an any-address, or the address named. */
export function listensOn(listen: string, address: string): boolean | null {
  const items = listen.split(',').map((s) => s.trim().toLowerCase()).filter(Boolean);
  if (items.length === 0) return false;
  if (items.some((i) => i === '*' || i === '0.0.0.0' || i === '::')) return true;
  if (items.includes(address.toLowerCase())) return true;
  const local = (i: string) => i === 'localhost' || i.startsWith('127.') || i === '::1';
  if (items.every(local) && !local(address.toLowerCase())) return false;
  return null; // names pgplay cannot resolve here
}

function conninfoTarget(e: Evidence): string | null {
  const c = e.conninfo;
  if (!c || (!c.host && !c.hostaddr)) return null;
  return c.hostaddr || c.host || null;
}

/** The replica's primary_conninfo leads elsewhere than the primary (another address or port). */
function wrongConninfo(e: Evidence): string | null {
  const c = e.conninfo;
  const target = conninfoTarget(e);
  if (!c || !target) return null;
  const names = [c.host, c.hostaddr].filter(Boolean).map((s) => (s as string).toLowerCase());
  const sameHost = names.includes(e.primary.address.toLowerCase());
  const samePort = (c.port ?? 5432) === e.primary.port;
  if (sameHost && samePort) return null;
  return `${target}:${c.port ?? 5432}`;
}

/** The one cause of a failed clone or stream, or null when nothing pgplay knows explains it. */
export function diagnose(e: Evidence): Diagnosis | null {
  const { replica, primary } = e;
  const rebuild = `rebuild ${replica.name} from ${primary.name} (basebackup with replace: any)`;
  if (e.inRecovery === false) {
    const where = e.dataDir ? ` from ${e.dataDir}` : '';
    return {
      cause: e.standbySignal === false
        ? `standby.signal is missing${where}: ${replica.name} started as a primary (pg_is_in_recovery() is false)`
        : `${replica.name} runs as a primary (pg_is_in_recovery() is false): it was promoted`,
      fix: `${rebuild}; pg_rewind can also bring it back. Creating standby.signal and restarting is enough only if it has written nothing since`,
      seen: [],
    };
  }
  const client = e.clientError ? readSignal(e.clientError) : null;
  const fromReplica = lastSignal(e.replicaLog);
  // The primary's log holds every client's failures: only those that can be this replica's count.
  const mine = (s: Signal) => (!s.address || [replica.address, e.clientAddress].includes(s.address)) && (!s.user || !e.user || s.user === e.user);
  // Only a log read since the attempt began speaks for it: an old refusal in the last part of a log may be long fixed.
  const signal = client ?? fromReplica ?? (e.primaryLogSinceAttempt ? lastSignal(e.primaryLog, mine) : null);
  const elsewhere = wrongConninfo(e);
  // A replica that tries another server: whatever that server answers, the conninfo is the cause.
  if (elsewhere && (!signal || ['refused', 'timeout', 'unreachable', 'dns', 'other-system', 'no-hba', 'password'].includes(signal.kind))) {
    return {
      cause: `primary_conninfo on ${replica.name} points at ${elsewhere}, not at the primary ${primary.name} (${primary.address}:${primary.port})`,
      fix: `${rebuild}, or correct host and port in primary_conninfo (postgresql.auto.conf) and restart ${replica.name}`,
      seen: signal ? [`${replica.name}'s log: ${signal.text}`] : [],
    };
  }
  if (!signal) return receiverOnly(e);
  const seen: string[] = [];
  const quote = (who: string, s: Signal | null) => s && seen.push(`${who}: ${s.text}`);
  if (client) quote(`${e.client ?? 'the client'} on ${replica.name}`, client);
  else if (fromReplica) quote(`${replica.name}'s log`, fromReplica);
  // The primary's own words for the same failure: they name the address it saw.
  const primarySide = lastSignal(e.primaryLog, (s) => sameKind(s, signal) && (signal.address && s.address ? s.address === signal.address : mine(s)));
  if (primarySide) quote(`${primary.name}'s log`, primarySide);
  const s = primarySide && (primarySide.address || primarySide.kind === 'no-role') ? primarySide : signal;
  const user = s.user ?? e.user ?? 'the replication role';
  const target = `${primary.address}:${primary.port}`;
  switch (s.kind) {
    case 'no-hba':
    case 'hba-reject': {
      const address = s.address ?? replica.address;
      const other = address !== replica.address ? `; ${replica.name} connects from ${address}, not its pg_address ${replica.address}: set pg_client_address for it` : '';
      return {
        cause: s.kind === 'no-hba'
          ? `${primary.name}'s pg_hba.conf has no rule for replication connections from ${address} (user ${user})`
          : `a rule in ${primary.name}'s pg_hba.conf rejects replication connections from ${address} (user ${user})`,
        fix: `${s.kind === 'hba-reject' ? 'put before that rule ' : 'add '}"host replication ${user} ${address}/32 scram-sha-256" in ${primary.name}'s pg_hba.conf and reload it (ensure_hba_line does both)${other}`,
        seen,
      };
    }
    case 'no-role':
      return { cause: `the role ${user} does not exist on ${primary.name}`, fix: `create it with LOGIN and REPLICATION and the playbook's password (ensure_role)`, seen };
    case 'password':
      return {
        cause: `the password for ${user} is not the one ${primary.name} has`,
        fix: `give the replica the role's password, or set the role's password on ${primary.name} to the playbook's (ensure_role with password:)`,
        seen,
      };
    case 'no-login':
      return { cause: `the role ${user} may not log in on ${primary.name}`, fix: `give it LOGIN (ensure_role with login: true)`, seen };
    case 'no-replication':
      return { cause: `the role ${user} lacks REPLICATION on ${primary.name}`, fix: `give it REPLICATION (ensure_role with replication: true)`, seen };
    case 'refused': {
      if (primary.running === false) return { cause: `PostgreSQL on ${primary.name} is not running: ${target} refused the connection`, fix: `start it (service: state: started)`, seen };
      const listens = primary.listenAddresses !== undefined ? listensOn(primary.listenAddresses, primary.address) : null;
      if (listens === false) {
        return {
          cause: `${primary.name} does not listen on ${primary.address}: listen_addresses is '${primary.listenAddresses}', so ${target} refused the connection`,
          fix: `set listen_addresses = '*' (or add ${primary.address}) on ${primary.name} and restart it (ensure_conf, then service: restarted)`,
          seen,
        };
      }
      return {
        cause: `${target} refused the connection from ${replica.name}: a firewall rejects it, or nothing listens on that port`,
        fix: `open TCP port ${primary.port} on ${primary.name} to ${replica.address} (firewall-cmd, ufw, nft or iptables) and check pg_port of ${primary.name}`,
        seen,
      };
    }
    case 'timeout':
      return {
        cause: `no answer from ${target} to ${replica.name} (timed out): a firewall drops the connection, or the address is wrong`,
        fix: `open TCP port ${primary.port} on ${primary.name} to ${replica.address} (firewall-cmd, ufw, nft or iptables, and any firewall between them), and check pg_address of ${primary.name}`,
        seen,
      };
    case 'unreachable':
      return { cause: `${replica.name} has no route to ${s.host ?? primary.address}`, fix: `check pg_address of ${primary.name} and the network between the hosts`, seen };
    case 'dns':
      return { cause: `${replica.name} cannot resolve the host name ${s.host}`, fix: `use an address, or fix name resolution on ${replica.name}`, seen };
    case 'wal-senders':
      return {
        cause: `${primary.name} has no free WAL sender (max_wal_senders${s.value ? ` is ${s.value}` : ''}, all in use)`,
        fix: `raise max_wal_senders on ${primary.name} (one per replica streaming, two per base backup running) and restart it`,
        seen,
      };
    case 'slots-full':
      return { cause: `every replication slot of ${primary.name} is in use`, fix: `raise max_replication_slots on ${primary.name} and restart it, or drop slots no replica uses`, seen };
    case 'no-slot':
      return { cause: `the replication slot ${s.slot} does not exist on ${primary.name}`, fix: `create it (basebackup with slot: creates it) or clear primary_slot_name on ${replica.name}`, seen };
    case 'wal-removed': {
      const segment = s.segment ? ` (segment ${s.segment})` : '';
      if (e.slot) {
        return {
          cause: `${primary.name} has already removed WAL that ${replica.name} needs${segment}, though ${replica.name} uses the slot ${e.slot}: the slot lost it (max_slot_wal_keep_size)`,
          fix: `${rebuild}; raise max_slot_wal_keep_size on ${primary.name} so the slot keeps what a late replica needs`,
          seen,
        };
      }
      return {
        cause: `${primary.name} has already removed WAL that ${replica.name} needs${segment}: with no replication slot, it fell more than wal_keep_size${primary.walKeepSize ? ` (${primary.walKeepSize})` : ''} behind`,
        fix: `${rebuild}; give it a replication slot (basebackup slot:) or raise wal_keep_size on ${primary.name}`,
        seen,
      };
    }
    case 'other-system':
      return { cause: `primary_conninfo on ${replica.name} leads to a server that is not its primary (another database system identifier)`, fix: `${rebuild}, or point primary_conninfo at ${target}`, seen };
    case 'diverged':
      return { cause: `${replica.name} holds WAL that ${primary.name} does not have: it wrote on its own (promoted, or started without standby.signal)`, fix: `${rebuild}, or pg_rewind it onto ${primary.name}`, seen };
    case 'starting':
      return { cause: `PostgreSQL on ${primary.name} is starting up or shutting down`, fix: `wait until it accepts connections, then run again`, seen };
  }
}

/**
 * What none of the causes above explains (TLS above all): the WAL receiver's last error since the replica last
 * streamed, in plain words, as assert_streaming gives it (facts/wal-receiver-errors.ts).
 */
function receiverOnly(e: Evidence): Diagnosis | null {
  let from = 0;
  e.replicaLog.forEach((entry, i) => {
    if (RECOVERED.test(entry.message)) from = i + 1;
  });
  const receiver = walReceiverCause(e.replicaLog.slice(from).map((entry) => `${entry.severity}:  ${entry.message}`).join('\n'));
  if (!receiver) return null;
  return {
    cause: `${e.replica.name} cannot stream from ${e.primary.name}: ${receiver.meaning}`,
    fix: `correct what ${e.replica.name}'s log names below, then restart ${e.replica.name}`,
    seen: [`${e.replica.name}'s log: ${receiver.line}`],
  };
}

function sameKind(a: Signal, b: Signal): boolean {
  const auth = ['password', 'no-role'];
  return a.kind === b.kind || (auth.includes(a.kind) && auth.includes(b.kind));
}

/** The diagnosis as text: the cause and the fix on one line, then what it rests on. */
export function formatDiagnosis(d: Diagnosis): string {
  return [`${d.cause}. Fix: ${d.fix}`, ...d.seen.map((s) => `seen in ${s}`)].join('\n');
}
