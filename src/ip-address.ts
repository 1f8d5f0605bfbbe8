// An address's IP family, as node:net's isIP tells it, without node's IPv6 test: that is a large regular expression
// compiled on its first use (5-7 ms of CPU on the path of a run's first task; Debian's pg_hba.conf has IPv6 rules).
// An IPv6 address is checked by the URL parser instead (native code, RFC 4291 as the WHATWG URL standard reads it).
import { isIPv4 } from 'node:net';

/** 4 or 6 for an IP address (no prefix length), 0 for anything else. */
export function ipFamily(text: string): 0 | 4 | 6 {
  if (text.includes(':')) return isIPv6Address(text) ? 6 : 0;
  return isIPv4(text) ? 4 : 0;
}

// What may follow '%' (a zone, as in fe80::1%eth0), as node accepts it.
const ZONE = /^[0-9a-zA-Z.:-]+$/;
// The URL parser drops tabs and newlines and reads other forms in brackets: only these characters reach it.
const V6_CHARS = /^[0-9a-fA-F:.]+$/;

function isIPv6Address(text: string): boolean {
  const at = text.indexOf('%');
  const address = at < 0 ? text : text.slice(0, at);
  if (at >= 0 && !ZONE.test(text.slice(at + 1))) return false;
  if (!V6_CHARS.test(address)) return false;
  try {
    new URL(`http://[${address}]/`);
    return true;
  } catch {
    return false;
  }
}
