// pg_hba.conf as rules keyed by (type, database, user, address), with comments kept next to their rules.
import { isIP } from 'node:net';

export type HbaType = 'local' | 'host' | 'hostssl' | 'hostnossl' | 'hostgssenc' | 'hostnogssenc';

export interface HbaRule {
  type: HbaType;
  database: string;
  user: string;
  address?: string; // as written; "ip mask" when given as two words
  method: string;
  options: string[];
}

export interface HbaLine {
  text: string;
  rule?: HbaRule;
}

export interface HbaFile {
  lines: HbaLine[];
  errors: string[];
}

export const HBA_TYPES: HbaType[] = ['local', 'host', 'hostssl', 'hostnossl', 'hostgssenc', 'hostnogssenc'];
export const HBA_METHODS = ['trust', 'reject', 'scram-sha-256', 'md5', 'password', 'gss', 'sspi', 'ident', 'peer', 'pam', 'ldap', 'radius', 'cert'];

function tokens(line: string): string[] {
  const out: string[] = [];
  const re = /((?:"(?:[^"]|"")*"|[^\s#"])+)|(#.*)/g;
  let m: RegExpExecArray | null;
  while ((m = re.exec(line))) {
    if (m[2] !== undefined) break;
    out.push(m[1]);
  }
  return out;
}

function isMask(word: string | undefined): boolean {
  return word !== undefined && isIP(word) !== 0 && !word.includes('/');
}

export function parseHbaLine(text: string): { rule?: HbaRule; error?: string } {
  const t = tokens(text);
  if (t.length === 0) return {};
  const type = t[0] as HbaType;
  if (!HBA_TYPES.includes(type)) return { error: `unknown connection type "${t[0]}"` };
  let i = 3;
  let address: string | undefined;
  if (type !== 'local') {
    address = t[3];
    i = 4;
    if (isMask(t[4]) && isIP(t[3] ?? '') !== 0) {
      address = `${t[3]} ${t[4]}`;
      i = 5;
    }
  }
  const method = t[i];
  if (t.length < 3 || !method) return { error: `incomplete rule "${text.trim()}"` };
  return { rule: { type, database: t[1], user: t[2], address, method, options: t.slice(i + 1) } };
}

export function parseHba(text: string): HbaFile {
  const errors: string[] = [];
  const lines = text.replace(/\n$/, '').split('\n').map((lineText, n) => {
    const { rule, error } = parseHbaLine(lineText);
    if (error) errors.push(`line ${n + 1}: ${error}`);
    return rule ? { text: lineText, rule } : { text: lineText };
  });
  return { lines: text === '' ? [] : lines, errors };
}

export function renderHba(file: HbaFile): string {
  return file.lines.length === 0 ? '' : `${file.lines.map((l) => l.text).join('\n')}\n`;
}

export function formatRule(rule: HbaRule): string {
  const cols = [rule.type.padEnd(7), rule.database.padEnd(15), rule.user.padEnd(15)];
  if (rule.type !== 'local') cols.push((rule.address ?? '').padEnd(23));
  else cols.push(''.padEnd(23));
  return [...cols, rule.method, ...rule.options].join(' ').trimEnd();
}

interface Cidr {
  family: 4 | 6;
  bits: bigint;
  prefix: number;
}

function ipBits(ip: string): bigint | null {
  const family = isIP(ip);
  if (family === 4) return ip.split('.').reduce((acc, p) => (acc << 8n) | BigInt(Number(p)), 0n);
  if (family !== 6) return null;
  const [head, tail] = ip.includes('::') ? ip.split('::') : [ip, undefined];
  const parse = (s: string | undefined) => (s ? s.split(':') : []);
  let h = parse(head);
  let tl = parse(tail);
  const last = (tl.length ? tl : h)[(tl.length ? tl : h).length - 1];
  if (last && last.includes('.')) {
    const v4 = ipBits(last);
    if (v4 === null) return null;
    const words = [(v4 >> 16n).toString(16), (v4 & 0xffffn).toString(16)];
    if (tl.length) tl = [...tl.slice(0, -1), ...words];
    else h = [...h.slice(0, -1), ...words];
  }
  const groups = tail === undefined ? h : [...h, ...Array(8 - h.length - tl.length).fill('0'), ...tl];
  return groups.reduce((acc, g) => (acc << 16n) | BigInt(parseInt(g || '0', 16)), 0n);
}

/** An address as a network, or null for keywords and host names. */
export function parseCidr(address: string): Cidr | null {
  let ip: string;
  let prefix: number;
  if (address.includes(' ')) {
    const [a, mask] = address.split(' ');
    const m = ipBits(mask);
    const fam = isIP(mask);
    if (m === null) return null;
    const width = fam === 4 ? 32 : 128;
    prefix = m.toString(2).replace(/0+$/, '').length;
    if (m !== 0n && m.toString(2).length !== width) prefix = 0;
    ip = a;
  } else {
    const m = /^([^/]+)\/(\d{1,3})$/.exec(address);
    if (!m) return null;
    ip = m[1];
    prefix = Number(m[2]);
  }
  const family = isIP(ip);
  const bits = ipBits(ip);
  if (family === 0 || bits === null) return null;
  const width = family === 4 ? 32 : 128;
  if (prefix > width) return null;
  return { family: family as 4 | 6, bits, prefix };
}

function network(c: Cidr): bigint {
  const width = BigInt(c.family === 4 ? 32 : 128);
  const host = width - BigInt(c.prefix);
  return (c.bits >> host) << host;
}

function normalisedAddress(address: string | undefined): string {
  if (address === undefined) return '';
  const c = parseCidr(address);
  if (!c) return address.toLowerCase();
  return `${c.family}:${network(c).toString(16)}/${c.prefix}`;
}

/** A rule's identity: the same key with another method or options is the same rule, changed. */
export function ruleKey(rule: Pick<HbaRule, 'type' | 'database' | 'user' | 'address'>): string {
  return [rule.type, rule.database, rule.user, rule.type === 'local' ? '' : normalisedAddress(rule.address)].join('\u0000');
}

function typeCovers(a: HbaType, b: HbaType): boolean {
  if (a === b) return true;
  return a === 'host' && b !== 'local';
}

function listCovers(a: string, b: string, isDatabase: boolean): boolean {
  const as = a.split(',');
  return b.split(',').every((item) => {
    if (as.includes(item)) return true;
    // `all` does not match the replication pseudo-database; group (+), file (@) and same* entries are not compared.
    if (!as.includes('all')) return false;
    if (isDatabase && item === 'replication') return false;
    return item !== 'all' && !/^[+@]/.test(item) && !(isDatabase && /^same(user|role|group)$/.test(item));
  });
}

function addressCovers(a: string | undefined, b: string | undefined): boolean {
  if (a === undefined || b === undefined) return a === b;
  if (a === 'all') return true;
  const ca = parseCidr(a);
  const cb = parseCidr(b);
  if (!ca || !cb) return a.toLowerCase() === b.toLowerCase();
  if (ca.family !== cb.family || ca.prefix > cb.prefix) return false;
  return network(ca) === network({ ...cb, prefix: ca.prefix });
}

/** Does rule a, earlier in the file, match every connection that rule b would? Then b would never be used. */
export function shadows(a: HbaRule, b: HbaRule): boolean {
  return typeCovers(a.type, b.type) && listCovers(a.database, b.database, true) && listCovers(a.user, b.user, false) && (a.type === 'local' || addressCovers(a.address, b.address));
}

export type HbaEdit = { kind: 'none' } | { kind: 'update'; before: HbaRule } | { kind: 'insert'; before?: HbaRule } | { kind: 'append' } | { kind: 'remove' };

function sameRule(a: HbaRule, b: HbaRule): boolean {
  return a.method === b.method && a.options.join(' ') === b.options.join(' ');
}

/** Where the comment lines directly above a rule start: an insertion before the rule goes above them. */
function blockStart(lines: HbaLine[], index: number): number {
  let i = index;
  while (i > 0 && !lines[i - 1].rule && /^\s*#/.test(lines[i - 1].text)) i--;
  return i;
}

/** The file with the rule present (updated in place, inserted before the first rule that would shadow it, or appended) or absent. */
export function ensureHbaRule(file: HbaFile, wanted: HbaRule, state: 'present' | 'absent'): { file: HbaFile; edit: HbaEdit } {
  const key = ruleKey(wanted);
  const index = file.lines.findIndex((l) => l.rule && ruleKey(l.rule) === key);
  const lines = [...file.lines];
  if (state === 'absent') {
    if (index < 0) return { file, edit: { kind: 'none' } };
    lines.splice(index, 1);
    return { file: { ...file, lines }, edit: { kind: 'remove' } };
  }
  const line: HbaLine = { text: formatRule(wanted), rule: wanted };
  if (index >= 0) {
    const current = lines[index].rule as HbaRule;
    if (sameRule(current, wanted)) return { file, edit: { kind: 'none' } };
    lines[index] = line;
    return { file: { ...file, lines }, edit: { kind: 'update', before: current } };
  }
  const shadowing = lines.findIndex((l) => l.rule && shadows(l.rule, wanted));
  if (shadowing >= 0) {
    lines.splice(blockStart(lines, shadowing), 0, line);
    return { file: { ...file, lines }, edit: { kind: 'insert', before: file.lines[shadowing].rule } };
  }
  lines.push(line);
  return { file: { ...file, lines }, edit: { kind: 'append' } };
}

const HOSTNAME = /^(?=.{1,253}$)(?!-)[A-Za-z0-9-]{1,63}(?<!-)(\.(?!-)[A-Za-z0-9-]{1,63}(?<!-))*\.?$/;

/** Problems with an address for a host* rule; a host name is allowed but reported as a warning by the caller. */
export function addressProblem(address: string): string | null {
  if (['all', 'samehost', 'samenet'].includes(address)) return null;
  if (isIP(address) === 4) return `address ${address} has no prefix length: write ${address}/32 for this one host`;
  if (isIP(address) === 6) return `address ${address} has no prefix length: write ${address}/128 for this one host`;
  if (address.includes('/') || address.split(' ').every((w) => isIP(w) !== 0)) return parseCidr(address) ? null : `address ${address} is not a valid CIDR network (like 10.0.0.0/24)`;
  if (/^[\d.]+$/.test(address)) return `address ${address} is not a valid IPv4 address`;
  if (HOSTNAME.test(address) && /[A-Za-z]/.test(address)) return null;
  return `address ${address} is neither a CIDR network, a keyword (all, samehost, samenet) nor a host name`;
}

export function isHostName(address: string): boolean {
  return !['all', 'samehost', 'samenet'].includes(address) && parseCidr(address) === null && addressProblem(address) === null;
}
