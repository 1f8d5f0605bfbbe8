// From the servers' own accounts to `pgplay status`'s report: roles, upstreams, LSNs, lag, slots, TLS, and what is
// wrong. Pure: the readings and the inventory in, the report and its exit code out.
import { ExitCode } from '../errors';
import { formatBytes } from '../modules/pg/slots';
import type { HostReading, ReplicationView, ServerView, SlotView } from './read-host';

export interface StatusHostInput {
  name: string;
  /** Addresses the host is known by: pg_address, pg_client_address, ansible_host. */
  addresses: string[];
  /** What the inventory says it is: a member of the primary group, of the replicas group, or neither. */
  inventoryRole: 'primary' | 'replica' | null;
  /** The slot this host streams through when it is a standby (its replication_slot variable). */
  slot: string;
  /** Its pg_data_dir, to tell a server that serves another cluster. */
  dataDir: string;
  reading: HostReading;
}

export interface Bounds {
  maxLagBytes?: number;
  maxLagSeconds?: number;
}

/** One host as `--json` prints it (documented in the README). */
export interface HostStatus {
  host: string;
  /** primary, standby, stopped (reachable, server down) or unreachable. */
  state: 'primary' | 'standby' | 'stopped' | 'unreachable';
  /** As the table prints it: primary, standby of pg1, stopped, unreachable. */
  role: string;
  /** What the inventory groups say: primary, replica, or null. */
  inventory_role: 'primary' | 'replica' | null;
  /** The inventory name of the server this standby streams from (or its address when no host has it). */
  upstream: string | null;
  /** The cluster's system identifier (pg_control_system), shared by a primary and its standbys. */
  cluster: string | null;
  timeline: number | null;
  lsn: { current: string | null; sent: string | null; write: string | null; flush: string | null; replay: string | null };
  /** Bytes of WAL the standby has yet to replay, as its upstream counts them. */
  lag_bytes: number | null;
  /** Seconds of replay lag as the upstream measures it (pg_stat_replication.replay_lag; null when idle or unknown). */
  lag_seconds: number | null;
  /** streaming, catchup, startup, ... from the upstream's pg_stat_replication; null when not connected. */
  replication_state: string | null;
  sync_state: string | null;
  /** The slot this standby streams through, on its upstream. */
  slot: { name: string; active: boolean; retained_bytes: number | null; wal_status: string | null } | null;
  /** Its walsender connection as pg_stat_ssl reports it on the upstream. */
  tls: { ssl: boolean; version: string | null } | null;
  /** On a primary: physical slots no inventory host owns. */
  unowned_slots: Array<{ name: string; active: boolean; retained_bytes: number | null }>;
  /** Why the cluster is not healthy because of this host (empty when it is fine). */
  problems: string[];
  /** Why there is no reading (unreachable, stopped). */
  error: string | null;
}

export interface StatusReport {
  hosts: HostStatus[];
  /** Hosts grouped by cluster (system identifier), primaries first; hosts without a reading last. */
  clusters: Array<{ id: string | null; hosts: string[] }>;
  exitCode: number;
  summary: string;
}

const emptyLsn = { current: null, sent: null, write: null, flush: null, replay: null };

export function buildReport(inputs: StatusHostInput[], bounds: Bounds): StatusReport {
  const byAddress = new Map<string, string>();
  for (const h of inputs) for (const a of h.addresses) if (!byAddress.has(a)) byAddress.set(a, h.name);
  const views = new Map<string, ServerView>();
  for (const h of inputs) if (h.reading.kind === 'server') views.set(h.name, h.reading.view);
  const ownedSlots = new Set(inputs.map((h) => h.slot));

  const hosts: HostStatus[] = inputs.map((h) => {
    const base: HostStatus = {
      host: h.name,
      state: 'unreachable',
      role: 'unreachable',
      inventory_role: h.inventoryRole,
      upstream: null,
      cluster: null,
      timeline: null,
      lsn: { ...emptyLsn },
      lag_bytes: null,
      lag_seconds: null,
      replication_state: null,
      sync_state: null,
      slot: null,
      tls: null,
      unowned_slots: [],
      problems: [],
      error: null,
    };
    const r = h.reading;
    if (r.kind !== 'server') {
      return { ...base, state: r.kind, role: r.kind, error: r.error, problems: [r.kind === 'unreachable' ? `unreachable: ${r.error}` : `PostgreSQL is not running (or refuses pgplay): ${r.error}`] };
    }
    const v = r.view;
    const out: HostStatus = { ...base, cluster: v.system_identifier, timeline: v.timeline };
    if (v.data_directory.replace(/\/+$/, '') !== h.dataDir.replace(/\/+$/, '')) out.problems.push(`the server on its socket serves ${v.data_directory}, not pg_data_dir ${h.dataDir}`);
    if (!v.in_recovery) {
      out.state = 'primary';
      out.role = 'primary';
      out.lsn.current = v.current_lsn;
      if (h.inventoryRole === 'replica') out.problems.push('the server is a primary, but the inventory has it in replicas (promoted by hand?)');
      for (const s of v.slots) {
        if (!ownedSlots.has(s.name)) out.unowned_slots.push({ name: s.name, active: s.active, retained_bytes: s.retained_bytes });
        if (!s.active) out.problems.push(`slot ${s.name} is inactive and keeps ${bytesText(s.retained_bytes)} of WAL${ownedSlots.has(s.name) ? '' : ' (no inventory host owns it)'}`);
        if (s.wal_status === 'lost') out.problems.push(`slot ${s.name} lost the WAL its standby needs (max_slot_wal_keep_size): that standby must be cloned again`);
      }
      return out;
    }
    out.state = 'standby';
    const upstreamAddress = v.receiver?.sender_host ?? v.conninfo_host;
    const upstream = upstreamAddress ? (byAddress.get(upstreamAddress) ?? upstreamAddress) : null;
    out.upstream = upstream;
    out.role = upstream ? `standby of ${upstream}` : 'standby';
    out.lsn.current = v.replay_lsn;
    if (h.inventoryRole === 'primary') out.problems.push('the server is a standby, but the inventory has it as the primary');
    const up = upstream ? views.get(upstream) : undefined;
    const row = up ? findRow(up.replication, h) : undefined;
    if (up && row) {
      out.lsn = { current: v.replay_lsn, sent: row.sent_lsn, write: row.write_lsn, flush: row.flush_lsn, replay: row.replay_lsn };
      out.lag_bytes = row.lag_bytes;
      out.lag_seconds = row.replay_lag;
      out.replication_state = row.state;
      out.sync_state = row.sync_state;
      out.tls = row.ssl === null ? null : { ssl: row.ssl, version: row.ssl_version };
      const slotName = row.slot ?? v.receiver?.slot ?? null;
      const slot = slotName ? up.slots.find((s) => s.name === slotName) : undefined;
      out.slot = slot ? slotStatus(slot) : slotName ? { name: slotName, active: false, retained_bytes: null, wal_status: null } : null;
      if (row.state !== 'streaming') out.problems.push(`not streaming: ${upstream} sees it in state ${row.state}`);
    } else {
      // No upstream to ask: the standby's own account.
      out.lsn = { ...emptyLsn, current: v.replay_lsn, flush: v.receive_lsn, replay: v.replay_lsn };
      out.lag_seconds = v.replay_age_seconds;
      out.replication_state = v.receiver?.status ?? null;
      const own = h.slot;
      const slot = up?.slots.find((s) => s.name === (v.receiver?.slot ?? own));
      if (slot) out.slot = slotStatus(slot);
      // Its upstream is not read (left out by --limit, unreachable, or not in the inventory): the standby's word.
      if (up) out.problems.push(`not streaming: ${upstream} has no walsender for it; WAL receiver ${v.receiver?.status ?? 'not running'}`);
      else if (v.receiver?.status !== 'streaming') out.problems.push(`not streaming: WAL receiver ${v.receiver?.status ?? 'not running'}${upstream ? '' : ', and primary_conninfo names no host'}`);
    }
    if (bounds.maxLagBytes !== undefined && out.lag_bytes !== null && out.lag_bytes > bounds.maxLagBytes) out.problems.push(`lag ${out.lag_bytes} bytes is over --max-lag-bytes ${bounds.maxLagBytes}`);
    if (bounds.maxLagSeconds !== undefined && out.lag_seconds !== null && out.lag_seconds > bounds.maxLagSeconds) out.problems.push(`lag ${out.lag_seconds.toFixed(3)} s is over --max-lag-seconds ${bounds.maxLagSeconds}`);
    return out;
  });

  // Two primaries of one cluster: say it on both.
  const primaries = new Map<string, string[]>();
  for (const h of hosts) if (h.state === 'primary' && h.cluster) primaries.set(h.cluster, [...(primaries.get(h.cluster) ?? []), h.host]);
  for (const [, names] of primaries) {
    if (names.length < 2) continue;
    for (const h of hosts) if (names.includes(h.host)) h.problems.push(`${names.length} primaries of one cluster accept writes: ${names.join(', ')}`);
  }

  const ids = [...new Set(hosts.map((h) => h.cluster).filter((c): c is string => c !== null))];
  // A cluster's table: its primary first, then its standbys in inventory order.
  const clusters: StatusReport['clusters'] = ids.map((id) => ({
    id,
    hosts: hosts.filter((h) => h.cluster === id).sort((a, b) => Number(b.state === 'primary') - Number(a.state === 'primary')).map((h) => h.host),
  }));
  const unread = hosts.filter((h) => h.cluster === null).map((h) => h.host);
  if (unread.length > 0) clusters.push({ id: null, hosts: unread });

  const unreachable = hosts.filter((h) => h.state === 'unreachable').map((h) => h.host);
  const troubled = hosts.filter((h) => h.problems.length > 0).map((h) => h.host);
  const exitCode = unreachable.length > 0 ? ExitCode.hostUnreachable : troubled.length > 0 ? 2 : ExitCode.ok;
  const summary =
    unreachable.length > 0
      ? `unreachable: ${unreachable.join(', ')}${troubled.length > unreachable.length ? `; degraded: ${troubled.filter((t) => !unreachable.includes(t)).join(', ')}` : ''}`
      : troubled.length > 0
        ? `degraded: ${troubled.join(', ')}`
        : `healthy: ${hosts.length} host(s)`;
  return { hosts, clusters, exitCode, summary };
}

function findRow(rows: ReplicationView[], h: StatusHostInput): ReplicationView | undefined {
  return rows.find((r) => r.application_name === h.name) ?? rows.find((r) => r.client_addr !== null && h.addresses.includes(r.client_addr));
}

function slotStatus(s: SlotView): HostStatus['slot'] {
  return { name: s.name, active: s.active, retained_bytes: s.retained_bytes, wal_status: s.wal_status };
}

export function bytesText(bytes: number | null): string {
  return bytes === null ? 'no' : formatBytes(bytes);
}
