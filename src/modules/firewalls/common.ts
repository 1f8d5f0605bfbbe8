// What the firewall module knows whichever firewall runs: sources as one canonical text, the rule a task owns,
// and finding a program on the host.
import { ipFamily } from '../../ip-address';
import type { Connection } from '../../connection/types';

export type FirewallBackend = 'ufw' | 'firewalld' | 'nftables';
export type Proto = 'tcp' | 'udp';

/** What one task asks for: this port, from these sources, marked with this comment. */
export interface PortRule {
  port: number;
  proto: Proto;
  comment: string;
}

/** A comment every backend can carry, and that names a firewalld ipset when slugged. */
export const COMMENT = /^[A-Za-z0-9][A-Za-z0-9 ._-]{0,19}$/;

/** 'any' for every address; else an address (IPv4 or IPv6) or a network in CIDR, canonical: 10.0.0.12, 10.0.0.0/24, 2001:db8::1. */
export function canonicalSource(text: string): string | null {
  const t = text.trim().toLowerCase();
  if (t === 'any' || t === '0.0.0.0/0' || t === '::/0' || t === 'anywhere') return 'any';
  const [address, lengthText, extra] = t.split('/');
  if (extra !== undefined) return null;
  const family = ipFamily(address);
  if (family === 0) return null;
  const max = family === 4 ? 32 : 128;
  const length = lengthText === undefined ? max : /^\d{1,3}$/.test(lengthText) ? Number(lengthText) : NaN;
  if (!(length >= 0 && length <= max)) return null;
  if (length === 0) return 'any';
  const base = family === 4 ? maskV4(address, length) : canonicalV6(address);
  return length === max ? base : `${base}/${length}`;
}

export function sourceFamily(source: string): 4 | 6 | 'any' {
  if (source === 'any') return 'any';
  return ipFamily(source.split('/')[0]) === 6 ? 6 : 4;
}

function maskV4(address: string, length: number): string {
  const n = address.split('.').reduce((acc, p) => ((acc << 8) | Number(p)) >>> 0, 0);
  const masked = length === 0 ? 0 : (n & ((0xffffffff << (32 - length)) >>> 0)) >>> 0;
  return [masked >>> 24, (masked >>> 16) & 255, (masked >>> 8) & 255, masked & 255].join('.');
}

/** The compressed, lower-case form of an IPv6 address, as the URL parser writes it. */
function canonicalV6(address: string): string {
  return new URL(`http://[${address}]/`).hostname.slice(1, -1);
}

/**
 * The first of these paths where a program is installed, or null. The paths are looked at together (one round trip)
 * and read in order: a path that cannot be looked at is an error only when every path before it is absent.
 */
export async function findProgram(conn: Connection, name: string): Promise<string | null> {
  const paths = ['/usr/sbin', '/usr/bin', '/sbin', '/bin'].map((dir) => `${dir}/${name}`);
  const found = await Promise.allSettled(paths.map((path) => conn.stat(path)));
  for (const [i, r] of found.entries()) {
    if (r.status === 'rejected') throw r.reason;
    if (r.value) return paths[i];
  }
  return null;
}

export function byAddress(a: string, b: string): number {
  return a.localeCompare(b, 'en', { numeric: true });
}
