// `pgplay status` as people read it: one table per cluster, then what is wrong, then one line that sums it up.
import { bytesText, type HostStatus, type StatusReport } from './model';

const HEADERS = ['host', 'role', 'tl', 'current', 'sent', 'write', 'flush', 'replay', 'lag', 'lag time', 'sync', 'slot', 'tls'];

function cells(h: HostStatus): string[] {
  const dash = (v: string | number | null | undefined) => (v === null || v === undefined || v === '' ? '-' : String(v));
  const slot = h.slot ? `${h.slot.name} ${h.slot.active ? 'active' : 'INACTIVE'}, ${bytesText(h.slot.retained_bytes)}` : '-';
  const tls = h.tls ? (h.tls.ssl ? (h.tls.version ?? 'on') : 'off') : '-';
  const lagTime = h.lag_seconds === null ? '-' : `${h.lag_seconds.toFixed(h.lag_seconds < 10 ? 3 : 1)} s`;
  return [h.host, h.role, dash(h.timeline), dash(h.lsn.current), dash(h.lsn.sent), dash(h.lsn.write), dash(h.lsn.flush), dash(h.lsn.replay), h.lag_bytes === null ? '-' : bytesText(h.lag_bytes), lagTime, dash(h.sync_state), slot, tls];
}

function table(rows: string[][]): string[] {
  const widths = HEADERS.map((_, i) => Math.max(...rows.map((r) => r[i].length)));
  return rows.map((r) => r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i]))).join('  ').trimEnd());
}

export function renderStatus(report: StatusReport): string {
  const byName = new Map(report.hosts.map((h) => [h.host, h]));
  const out: string[] = [];
  for (const cluster of report.clusters) {
    const hosts = cluster.hosts.map((n) => byName.get(n) as HostStatus);
    out.push(cluster.id ? `cluster ${cluster.id}` : 'hosts without a reading');
    out.push(...table([HEADERS, ...hosts.map(cells)]));
    for (const h of hosts) for (const s of h.unowned_slots) out.push(`  unowned slot ${s.name} on ${h.host}: ${s.active ? 'active' : 'inactive'}, keeps ${bytesText(s.retained_bytes)} of WAL`);
    out.push('');
  }
  for (const h of report.hosts) for (const p of h.problems) out.push(`! ${h.host}: ${p}`);
  out.push(report.summary);
  return `${out.join('\n')}\n`;
}
