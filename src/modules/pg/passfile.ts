// The libpq password file pgplay keeps beside a standby's data directory: one entry per PostgreSQL host of the
// cluster, so a standby re-pointed at any of them (a switchover, a failover) can log in.
import { posix } from 'node:path';
import type { PgSettings } from '../../facts/pg-settings';
import { passfileLine } from './conninfo';

export function passfilePath(pg: PgSettings): string {
  return `${posix.dirname(pg.dataDir)}/.pgpass-pgplay-${posix.basename(pg.dataDir)}`;
}

/** The file's text: the given hosts' entries, each address:port once, in order. */
export function passfileText(hosts: Array<{ address: string; port: number }>, user: string, password: string): string {
  const seen = new Set<string>();
  let text = '';
  for (const h of hosts) {
    const key = `${h.address}:${h.port}`;
    if (seen.has(key) || !h.address) continue;
    seen.add(key);
    text += passfileLine(h.address, h.port, user, password);
  }
  return text;
}

/** The addresses a passfile names (for diffs: never the password). */
export function passfileHosts(text: string): string[] {
  return text
    .split('\n')
    .filter((l) => l.trim() && !l.startsWith('#'))
    .map((l) => {
      const fields = l.match(/(?:\\.|[^:])+/g) ?? [];
      return `${fields[0] ?? ''}:${fields[1] ?? ''}`;
    });
}
