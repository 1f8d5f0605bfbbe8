// An address's IP family. Node's own IPv6 test is a large expression compiled on its first use (some 5 ms, on the
// path of a run's first task): it runs only for text that holds a ':', which every IPv6 address does.
import { isIPv4, isIPv6 } from 'node:net';

/** 4 or 6 for an IP address (no prefix length), 0 for anything else. */
export function ipFamily(text: string): 0 | 4 | 6 {
  if (text.includes(':')) return isIPv6(text) ? 6 : 0;
  return isIPv4(text) ? 4 : 0;
}
