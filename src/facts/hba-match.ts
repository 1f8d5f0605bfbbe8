// Which pg_hba.conf rule a replication connection meets, as PostgreSQL 15 picks it: the first rule whose type,
// database, user and address all match, in file order; its method admits (or `reject` refuses); no rule: refused.
import { ipFamily } from '../ip-address';
import { hbaItems, parseCidr, parseHba } from './hba';

/** One item of a database or user field; keyword when written without quotes (all, replication, +group, ...). */
export interface HbaRuleItem {
  name: string;
  keyword: boolean;
}

/** A rule as pg_hba_file_rules shows it, or as pgplay parses the file of a stopped server. */
export interface HbaRuleRow {
  line: number;
  type: string;
  databases: HbaRuleItem[];
  users: HbaRuleItem[];
  /** 'all', 'samehost', 'samenet', an address (with `netmask` or a /prefix), or a host name; null for local. */
  address: string | null;
  netmask: string | null;
  method: string;
  /** The server could not read the rule: it is not in force. */
  error?: string | null;
}

/** A physical replication connection (database "replication") as the primary would see it. */
export interface HbaConnection {
  address: string;
  user: string;
  /** The connection is encrypted with TLS: the server has ssl on and libpq's sslmode is prefer or stronger. */
  ssl: boolean;
  /** Roles the user is a member of (for +group items); null: not known (a stopped server). */
  memberOf: string[] | null;
}

export type HbaVerdict =
  | { kind: 'admit'; rule: HbaRuleRow }
  | { kind: 'reject'; rule: HbaRuleRow }
  | { kind: 'none' }
  /** A rule pgplay cannot judge here (a host name, samenet, a group of a stopped server) comes first. */
  | { kind: 'unknown'; rule: HbaRuleRow; why: string };

const KEYWORDS = new Set(['all', 'replication', 'sameuser', 'samerole', 'samegroup']);

/** Rows of pg_hba_file_rules: the names come without their quotes, so a name that is a keyword reads as one. */
export function rowFromFileRules(r: {
  line_number: number;
  type: string | null;
  database: string[] | null;
  user_name: string[] | null;
  address: string | null;
  netmask: string | null;
  auth_method: string | null;
  error: string | null;
}): HbaRuleRow {
  const items = (names: string[] | null) => (names ?? []).map((name) => ({ name, keyword: KEYWORDS.has(name) || /^[+@]/.test(name) }));
  return { line: r.line_number, type: r.type ?? '', databases: items(r.database), users: items(r.user_name), address: r.address, netmask: r.netmask, method: r.auth_method ?? '', error: r.error };
}

/** The rules of a pg_hba.conf text, as a stopped server would read them at start. */
export function rowsFromHbaText(text: string): HbaRuleRow[] {
  const items = (field: string) => hbaItems(field).map((i) => ({ name: i.name, keyword: i.keyword !== null }));
  return parseHba(text).lines.flatMap((l, i) => {
    if (!l.rule) return [];
    const [address, netmask] = l.rule.address?.split(' ') ?? [null, null];
    return [{ line: i + 1, type: l.rule.type, databases: items(l.rule.database), users: items(l.rule.user), address: address ?? null, netmask: netmask ?? null, method: l.rule.method }];
  });
}

function typeMatches(type: string, ssl: boolean): boolean {
  switch (type) {
    case 'host':
    case 'hostnogssenc':
      return true;
    case 'hostssl':
      return ssl;
    case 'hostnossl':
      return !ssl;
    default:
      return false; // local, hostgssenc: never a replica's TCP connection without GSSAPI
  }
}

/** Only the `replication` keyword matches a physical replication connection (`all` does not). */
function databaseMatches(items: HbaRuleItem[]): boolean {
  return items.some((i) => i.keyword && i.name === 'replication');
}

function userMatches(items: HbaRuleItem[], conn: HbaConnection): boolean | 'unknown' {
  let unknown = false;
  for (const i of items) {
    if (i.keyword && i.name === 'all') return true;
    if (i.keyword && i.name.startsWith('+')) {
      if (conn.memberOf === null) unknown = true;
      else if (conn.memberOf.includes(i.name.slice(1)) || i.name.slice(1) === conn.user) return true;
      continue;
    }
    if (i.keyword && i.name.startsWith('@')) {
      unknown = true;
      continue;
    }
    if (i.name === conn.user) return true;
  }
  return unknown ? 'unknown' : false;
}

function addressMatches(rule: HbaRuleRow, address: string): boolean | 'unknown' {
  const a = rule.address;
  if (a === null) return false;
  if (a === 'all') return true;
  if (a === 'samehost' || a === 'samenet') return 'unknown';
  const hostFamily = ipFamily(a);
  const cidr = parseCidr(rule.netmask ? `${a} ${rule.netmask}` : a.includes('/') ? a : hostFamily ? `${a}/${hostFamily === 4 ? 32 : 128}` : '');
  if (!cidr) return 'unknown'; // a host name: PostgreSQL resolves it both ways
  const client = parseCidr(`${address}/${ipFamily(address) === 6 ? 128 : 32}`);
  if (!client || client.family !== cidr.family) return false;
  const width = BigInt(cidr.family === 4 ? 32 : 128);
  const shift = width - BigInt(cidr.prefix);
  return client.bits >> shift === cidr.bits >> shift;
}

/** The first rule a replication connection meets, in file order. */
export function firstMatchingRule(rules: HbaRuleRow[], conn: HbaConnection): HbaVerdict {
  for (const rule of [...rules].sort((a, b) => a.line - b.line)) {
    if (rule.error) continue;
    if (!typeMatches(rule.type, conn.ssl) || !databaseMatches(rule.databases)) continue;
    const user = userMatches(rule.users, conn);
    if (user === false) continue;
    const address = addressMatches(rule, conn.address);
    if (address === false) continue;
    if (user === 'unknown' || address === 'unknown') {
      const why = address === 'unknown' ? `its address ${rule.address} cannot be judged here` : 'its user list names a group or file that cannot be read here';
      return { kind: 'unknown', rule, why };
    }
    return rule.method === 'reject' ? { kind: 'reject', rule } : { kind: 'admit', rule };
  }
  return { kind: 'none' };
}

/** A rule as one line of text, for messages. */
export function describeRule(rule: HbaRuleRow): string {
  const list = (items: HbaRuleItem[]) => items.map((i) => i.name).join(',');
  const address = rule.address ? `${rule.address}${rule.netmask ? ` ${rule.netmask}` : ''}` : '';
  return [rule.type, list(rule.databases), list(rule.users), address, rule.method].filter(Boolean).join(' ');
}
