// The preflight's judgement, pure: from what the primary and each replica host reported, every finding that would
// keep a replica from cloning or streaming, each with its fix; and what is left to later tasks of the playbook.
import { describeRule, firstMatchingRule, type HbaRuleRow } from '../../facts/hba-match';
import type { ReplicaProbe } from './replica-probe';
import { listensOn, readSignal } from './troubleshoot';
import { slotWalRoomRisk } from '../../facts/replication-risks';

export interface PreflightArgs {
  replicas: string[];
  user: string;
  password?: string;
  /** Seconds a replica waits for the primary to answer a TCP connection. */
  connect_timeout?: number;
  /** Each replica keeps a physical replication slot of its own. */
  slots?: boolean;
  /** What later tasks of the playbook set up: judged as it will be, so a gap they close is no finding. */
  planned?: {
    started?: boolean;
    role?: boolean;
    hba?: boolean;
    /** A later task installs the server package and makes the cluster where there is none (package, ensure_cluster). */
    packages?: boolean;
    /** A later task opens the port on the primary's own firewall to the replicas (firewall). */
    firewall?: boolean;
    settings?: Record<string, string | number | boolean>;
  };
}

/** The primary as it reported itself: over SQL when it runs, from its files when it is stopped. */
export interface PrimaryState {
  name: string;
  address: string;
  port: number;
  running: boolean;
  /** server_version_num, e.g. 150006. */
  versionNum: number | null;
  /** Settings by name as the server (or postgres -C) gives them. */
  settings: Record<string, string>;
  systemId: string | null;
  /** Connections of WAL senders now (pg_stat_replication), and replication slots. */
  walSenders: number;
  slots: number;
  /** The replication role: null when it does not exist, undefined when it cannot be read (stopped server). */
  role?: { login: boolean; replication: boolean; memberOf: string[] } | null;
  hba: { rows: HbaRuleRow[] } | { error: string };
  /** Bytes of the databases (only read when a replica needs a copy). */
  size?: number | null;
  /** Why the server could not be read at all. */
  error?: string;
  /** Free bytes on the file system under pg_wal, when it could be read. */
  walFree?: number | null;
}

export interface ReplicaState {
  name: string;
  /** pg_address, and pg_client_address when the inventory sets it. */
  address: string;
  clientAddress?: string;
  dataDir: string;
  binDir: string;
  probe?: ReplicaProbe;
  /** Free space where its data directory goes (read only when it needs a copy). */
  free?: { bytes: number | null; dir: string };
  /** Why the host could not be checked. */
  error?: string;
  /** The host cannot be reached, or is out of the run: its own tasks say so; the others go on. */
  unreachable?: string;
}

export interface PreflightFacts {
  primary: PrimaryState;
  replicas: ReplicaState[];
}

export interface Finding {
  /** The host the finding is about: a replica, or the primary for what every replica shares. */
  host: string;
  problem: string;
  fix: string;
}

export interface PreflightVerdict {
  findings: Finding[];
  /** Gaps that later tasks close, and what could not be judged. */
  notes: string[];
  /** How many checks were made. */
  checks: number;
}

/** A replica needs a base backup unless its directory already is a standby of this primary. */
export function needsCopy(primary: PrimaryState, r: ReplicaState): boolean {
  const p = r.probe;
  return !p || !(p.systemId !== undefined && p.systemId === primary.systemId && p.standbySignal);
}

export function formatBytes(n: number): string {
  const units = ['bytes', 'kB', 'MB', 'GB', 'TB'];
  let v = n;
  let u = 0;
  while (v >= 1024 && u < units.length - 1) {
    v /= 1024;
    u++;
  }
  return `${u === 0 ? v : v.toFixed(1)} ${units[u]}`;
}

/** A size setting in bytes: '8GB', '256MB', '1024' (in `unit`, MB for the WAL sizes), '-1' stays -1; null when unreadable. */
export function settingBytes(value: string | number | boolean | undefined, unit = 1024 * 1024): number | null {
  if (value === undefined || typeof value === 'boolean') return null;
  const m = /^\s*(-?\d+(?:\.\d+)?)\s*(B|kB|MB|GB|TB)?\s*$/.exec(String(value));
  if (!m) return null;
  const n = Number(m[1]);
  if (n < 0) return -1;
  const units: Record<string, number> = { B: 1, kB: 1024, MB: 1024 ** 2, GB: 1024 ** 3, TB: 1024 ** 4 };
  return Math.round(n * (m[2] ? units[m[2]] : unit));
}

const enabled = (v: unknown) => v === true || (typeof v === 'string' && /^(on|true|yes|1)$/i.test(v));

export function evaluatePreflight(args: PreflightArgs, facts: PreflightFacts): PreflightVerdict {
  const { primary } = facts;
  const p = primary.name;
  const planned = args.planned ?? {};
  const want = (name: string): string | undefined => {
    const v = planned.settings?.[name];
    return v === undefined ? undefined : v === true ? 'on' : v === false ? 'off' : String(v);
  };
  const effective = (name: string) => want(name) ?? primary.settings[name];
  const laterNote = (name: string) => (want(name) !== undefined && want(name) !== primary.settings[name] ? ` (${primary.settings[name] ?? 'unknown'} now, as a later task sets it)` : '');
  const findings: Finding[] = [];
  const notes: string[] = [];
  let checks = 0;
  const find = (host: string, problem: string, fix: string) => findings.push({ host, problem, fix });
  const target = `${primary.address}:${primary.port}`;
  const copies = facts.replicas.filter((r) => !r.error && !r.unreachable && needsCopy(primary, r));

  // The primary itself: running, wal_level, WAL senders and slots, pg_hba.conf lines it cannot read.
  checks++;
  if (primary.error && primary.running && planned.packages) notes.push(`${p}'s server cannot be read now (${primary.error}); a later task installs it and makes its cluster`);
  else if (primary.error && primary.running) find(p, `its settings cannot be read: ${primary.error}`, `check that PostgreSQL on ${p} accepts pgplay's session (pg_socket_dir, pg_port, pg_os_user)`);
  if (!primary.running) {
    if (planned.started) notes.push(`${p} is stopped now; a later task starts it`);
    else find(p, `PostgreSQL on ${p} is stopped: nothing can be cloned from it`, `start it (service: state: started) before the replicas are cloned`);
  }
  const walLevel = effective('wal_level');
  checks++;
  if (walLevel !== undefined && !['replica', 'logical'].includes(walLevel.toLowerCase())) {
    find(p, `wal_level is ${walLevel}${laterNote('wal_level')}: replicas need replica (or logical)`, `set wal_level = replica on ${p} (ensure_conf) and restart it`);
  }
  const senders = Number(effective('max_wal_senders'));
  const needSenders = primary.walSenders + 2 * copies.length;
  checks++;
  if (Number.isFinite(senders) && senders < needSenders) {
    find(
      p,
      `max_wal_senders is ${senders}${laterNote('max_wal_senders')}: ${primary.walSenders} WAL sender(s) run now and ${copies.length} base backup(s) would run at once, taking two each: ${needSenders} needed`,
      `set max_wal_senders to at least ${needSenders} on ${p} (ensure_conf) and restart it`,
    );
  }
  const slots = Number(effective('max_replication_slots'));
  const needSlots = primary.slots + copies.length;
  checks++;
  if (Number.isFinite(slots) && slots < needSlots) {
    find(
      p,
      `max_replication_slots is ${slots}${laterNote('max_replication_slots')}: ${primary.slots} slot(s) exist and each of ${copies.length} base backup(s) holds one${args.slots ? ' (the replica\'s own slot)' : ' while it copies'}: ${needSlots} needed`,
      `set max_replication_slots to at least ${needSlots} on ${p} (ensure_conf) and restart it`,
    );
  }
  if ('error' in primary.hba) notes.push(`${p}'s pg_hba.conf could not be read: ${primary.hba.error}`);
  else {
    for (const row of primary.hba.rows.filter((r) => r.error)) {
      find(p, `line ${row.line} of ${p}'s pg_hba.conf cannot be read: ${row.error}`, `correct that line: while it is there, a reload keeps the rules the server had`);
    }
  }
  // The replication role, as the server knows it.
  const role = primary.role;
  checks++;
  const roleLater = planned.role === true;
  let roleProblem = false;
  if (role === undefined) {
    if (!roleLater) notes.push(`the role ${args.user} cannot be read while ${p} is stopped`);
  } else if (role === null || !role.login || !role.replication) {
    roleProblem = true;
    const what = role === null ? `the role ${args.user} does not exist on ${p}` : `the role ${args.user} on ${p} lacks ${[!role.login && 'LOGIN', !role.replication && 'REPLICATION'].filter(Boolean).join(' and ')}`;
    if (roleLater) notes.push(`${what}; a later task sets it up`);
    else find(p, what, `create or alter it with LOGIN and REPLICATION and the playbook's password (ensure_role)`);
  }
  // Room under pg_wal for what the slots may keep (facts/replication-risks.ts): a risk to say, not a reason to stop.
  const slotCount = Math.max(primary.slots, args.slots ? args.replicas.length : 0);
  const walRoom = [effective('max_slot_wal_keep_size'), effective('max_wal_size'), effective('wal_keep_size')].map((v) => settingBytes(v));
  if (typeof primary.walFree === 'number' && walRoom.every((v) => v !== null)) {
    checks++;
    const [maxSlotWalKeepSize, maxWalSize, walKeepSize] = walRoom as number[];
    const risk = slotWalRoomRisk({ freeBytes: primary.walFree, maxSlotWalKeepSize, maxWalSize, walKeepSize, slots: slotCount });
    if (risk) notes.push(`${p}: ${risk}`);
  }
  const primaryMajor = primary.versionNum ? Math.floor(primary.versionNum / 10_000) : null;
  const refusedByListen: string[] = [];
  const listen = primary.settings.listen_addresses;
  const listensNow = listen !== undefined ? listensOn(listen, primary.address) : null;
  const plannedListen = want('listen_addresses');
  const listensLater = plannedListen !== undefined ? listensOn(plannedListen, primary.address) : listensNow;

  const primaryEnd = findings.length;
  for (const r of facts.replicas) {
    const name = r.name;
    if (r.unreachable) {
      notes.push(`${name} not checked: ${r.unreachable}`);
      continue;
    }
    if (r.error || !r.probe) {
      checks++;
      find(name, `cannot be checked: ${r.error ?? 'no answer'}`, `make ${name} reachable over ssh, with perl (pgplay's agent needs it)`);
      continue;
    }
    const probe = r.probe;
    const from = probe.localAddress ?? r.clientAddress ?? r.address;
    // Reachability, from the replica host itself.
    checks++;
    switch (probe.tcp) {
      case 'connected':
        break;
      case 'refused':
        if (!primary.running) break; // said once above
        if (listensNow === false) {
          if (listensLater) notes.push(`${p} listens on ${primary.address} once a later task sets listen_addresses`);
          else refusedByListen.push(name);
        } else if (primary.settings.port !== undefined && Number(primary.settings.port) !== primary.port) {
          find(name, `${p} runs on port ${primary.settings.port}, but pg_port says ${primary.port}: ${target} refused ${name}'s connection`, `set pg_port of ${p} to ${primary.settings.port}, or port = ${primary.port} on ${p}`);
        } else if (planned.firewall) {
          notes.push(`${target} refused ${name} now; a later task opens port ${primary.port} on ${p}'s firewall to it`);
        } else {
          find(
            name,
            `${target} refused the connection from ${name}${probe.localAddress ? ` (${probe.localAddress})` : ''}: a firewall rejects it`,
            `open TCP port ${primary.port} on ${p} to ${from} (firewall-cmd, ufw, nft or iptables)`,
          );
        }
        break;
      case 'timeout':
        if (planned.firewall) {
          notes.push(`no answer from ${target} to ${name} now; a later task opens port ${primary.port} on ${p}'s firewall to it (a firewall between them would still drop it)`);
          break;
        }
        find(
          name,
          `no answer from ${target} to ${name} within ${args.connect_timeout ?? 5} s (timed out): a firewall drops the connection, or the address is wrong`,
          `open TCP port ${primary.port} on ${p} to ${from} (firewall-cmd, ufw, nft or iptables, and any firewall between them), and check pg_address of ${p}`,
        );
        break;
      case 'unreachable':
        find(name, `${name} has no route to ${primary.address} (${probe.tcpError ?? 'unreachable'})`, `check pg_address of ${p} and the network between the hosts`);
        break;
      case 'resolve':
        find(name, `${name} cannot resolve ${primary.address} (${probe.tcpError ?? ''})`, `use an address for pg_address of ${p}, or fix name resolution on ${name}`);
        break;
      default:
        find(name, `connecting from ${name} to ${target} failed: ${probe.tcpError ?? 'unknown error'}`, `check the network between ${name} and ${p}`);
    }
    // The primary's pg_hba.conf, judged for the address this replica really connects from.
    let hbaProblem = false;
    if (!('error' in primary.hba)) {
      checks++;
      const verdict = firstMatchingRule(primary.hba.rows, { address: from, user: args.user, ssl: enabled(primary.settings.ssl), memberOf: role ? role.memberOf : null });
      const laterAddress = r.clientAddress ?? r.address;
      if (verdict.kind === 'unknown') notes.push(`line ${verdict.rule.line} of ${p}'s pg_hba.conf (${describeRule(verdict.rule)}) may match ${name}: ${verdict.why}`);
      else if (verdict.kind !== 'admit') {
        hbaProblem = true;
        if (planned.hba) {
          if (probe.localAddress && probe.localAddress !== laterAddress) {
            find(name, `${name} connects to ${p} from ${probe.localAddress}, but the rule a later task adds is for ${laterAddress}/32`, `set pg_client_address: ${probe.localAddress} for ${name}`);
          } else notes.push(`a later task adds ${name}'s rule to ${p}'s pg_hba.conf`);
        } else if (verdict.kind === 'none') {
          find(name, `no rule in ${p}'s pg_hba.conf admits replication connections from ${name} (${from}, user ${args.user})`, `add "host replication ${args.user} ${from}/32 scram-sha-256" to ${p}'s pg_hba.conf and reload it (ensure_hba_line)`);
        } else {
          find(
            name,
            `line ${verdict.rule.line} of ${p}'s pg_hba.conf (${describeRule(verdict.rule)}) rejects replication connections from ${name} (${from})`,
            `put "host replication ${args.user} ${from}/32 scram-sha-256" before it and reload ${p} (ensure_hba_line places it so)`,
          );
        }
      }
    }
    // A replication login with the given password, from the replica host.
    if (probe.login) {
      checks++;
      if (!probe.login.ok) {
        const signal = readSignal(probe.login.output);
        const said = probe.login.output.split('\n').map((l) => l.trim()).filter(Boolean).pop() ?? '';
        const kind = signal?.kind;
        if (kind === 'password' || kind === 'no-role' || kind === 'no-login' || kind === 'no-replication') {
          if (roleLater) {
            if (!roleProblem) notes.push(`${name} cannot log in as ${args.user} yet; a later task sets the role's password`);
          } else if (!roleProblem) find(name, `the password given does not log in as ${args.user} on ${p} from ${name} (${signal?.text ?? said})`, `give the playbook and the role the same password (ensure_role with password:)`);
        } else if (kind === 'no-hba' || kind === 'hba-reject') {
          if (planned.hba) {
            if (!hbaProblem) notes.push(`${name}'s login is refused by ${p}'s pg_hba.conf until a later task adds its rule`);
          } else if (!hbaProblem) find(name, `${p} refused ${name}'s login (${signal?.text}), though its pg_hba.conf file admits it: the server has not loaded the file`, `reload ${p} (service: state: reloaded)`);
        } else if (kind === 'wal-senders') {
          find(p, `${p} has no free WAL sender for a new connection (${signal?.text})`, `raise max_wal_senders on ${p} and restart it`);
        } else {
          find(name, `the replication login from ${name} to ${target} failed: ${said}`, `read ${p}'s server log for why`);
        }
      }
    } else if (probe.tcp === 'connected' && !args.password) notes.push(`no password given: ${name}'s login was not tried`);
    // The same major version.
    checks++;
    if (probe.major === null && planned.packages) {
      notes.push(`PostgreSQL's programs do not run on ${name} now; a later task installs them`);
    } else if (probe.major === null) {
      find(name, `PostgreSQL's programs do not run on ${name} from ${r.binDir} (${probe.versionText || 'not found'})`, `install PostgreSQL${primaryMajor ? ` ${primaryMajor}` : ''} on ${name}, or set pg_bin_dir to where it is`);
    } else if (primaryMajor !== null && probe.major !== primaryMajor) {
      const has = probe.versionFrom === 'binaries' ? `${name} has PostgreSQL ${probe.major} (${r.binDir})` : `${name}'s data directory holds PostgreSQL ${probe.major}`;
      find(name, `${has}, ${p} runs ${primaryMajor}: a replica needs the same major version`, `install PostgreSQL ${primaryMajor} on ${name} and point pg_bin_dir at it`);
    }
    // Room for the copy where the data directory goes.
    const free = r.free?.bytes;
    if (needsCopy(primary, r) && typeof primary.size === 'number' && typeof free === 'number') {
      checks++;
      const need = Math.ceil(primary.size * 1.1);
      if (free < need) {
        find(
          name,
          `${name} has ${formatBytes(free)} free in ${r.free?.dir} (where ${r.dataDir} goes); a copy of ${p} needs about ${formatBytes(need)} (its databases: ${formatBytes(primary.size)}, plus 10%)`,
          `free space there, or give ${name} a pg_data_dir on a larger file system`,
        );
      }
    }
  }
  if (refusedByListen.length > 0) {
    findings.splice(primaryEnd, 0, {
      host: p,
      problem: `${p} does not listen on ${primary.address}: listen_addresses is '${listen}', so ${target} refused ${refusedByListen.join(', ')}`,
      fix: `set listen_addresses = '*' (or add ${primary.address}) on ${p} (ensure_conf) and restart it`,
    });
  }
  return { findings, notes, checks };
}

/** The failure message: how many findings, then one line each with its fix. */
export function formatFindings(findings: Finding[]): string {
  const head = `${findings.length} problem${findings.length === 1 ? '' : 's'} would keep replicas from cloning or streaming:`;
  return [head, ...findings.map((f) => `${f.host}: ${f.problem}. Fix: ${f.fix}`)].join('\n');
}
