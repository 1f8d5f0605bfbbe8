// pg_hba.conf as rules keyed by (type, database, user, address), with comments kept next to their rules.
import { ipFamily } from '../ip-address';

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

/** One word of a pg_hba.conf field as PostgreSQL 15 reads it (hba.c next_token). */
export interface HbaToken {
  /** As written, quotes included. */
  raw: string;
  /** With the quotes taken away and "" read as ". */
  value: string;
  /** Began with a double quote: `"all"` is a name, not the keyword. */
  quoted: boolean;
}

/** Blanks as PostgreSQL's pg_isblank: space, tab and carriage return. */
const isBlank = (c: string) => c === ' ' || c === '\t' || c === '\r';

/**
 * The fields of one line, each a list of tokens, exactly as PostgreSQL 15 splits them: a field is a token
 * followed by `,` and the next token, with blanks allowed after a comma (`db1, db2` is one field) but not
 * before it (`db1 ,db2` is two); `#` outside quotes ends the line; an unterminated quote runs to its end.
 */
export function hbaFields(line: string): { fields: HbaToken[][]; unterminated: boolean } {
  const fields: HbaToken[][] = [];
  let pos = 0;
  let unterminated = false;
  const nextToken = (): { token: HbaToken; comma: boolean } | null => {
    while (pos < line.length && (isBlank(line[pos]) || line[pos] === ',')) pos++;
    const start = pos;
    let value = '';
    let inQuote = false;
    let wasQuote = false;
    let sawQuote = false;
    let quoted = false;
    let comma = false;
    while (pos < line.length && (!isBlank(line[pos]) || inQuote)) {
      const c = line[pos];
      if (c === '#' && !inQuote) {
        const raw = line.slice(start, pos);
        pos = line.length;
        return sawQuote || value.length > 0 ? { token: { raw, value, quoted }, comma: false } : null;
      }
      if (c === ',' && !inQuote) {
        comma = true;
        break;
      }
      if (c !== '"' || wasQuote) value += c;
      wasQuote = inQuote && c === '"' ? !wasQuote : false;
      if (c === '"') {
        inQuote = !inQuote;
        sawQuote = true;
        if (value.length === 0) quoted = true;
      }
      pos++;
    }
    if (inQuote) unterminated = true;
    const raw = line.slice(start, pos);
    if (comma) pos++;
    return sawQuote || value.length > 0 ? { token: { raw, value, quoted }, comma } : null;
  };
  while (pos < line.length) {
    const field: HbaToken[] = [];
    for (;;) {
      const next = nextToken();
      if (!next) break;
      field.push(next.token);
      if (!next.comma) break;
    }
    if (field.length > 0) fields.push(field);
  }
  return { fields, unterminated };
}

function isMask(word: string | undefined): boolean {
  return word !== undefined && ipFamily(word) !== 0 && !word.includes('/');
}

const fieldText = (field: HbaToken[]) => field.map((t) => t.raw).join(',');
const INCLUDES = ['include', 'include_if_exists', 'include_dir'];

export function parseHbaLine(text: string): { rule?: HbaRule; error?: string } {
  if (text.endsWith('\\')) {
    return { error: 'ends with a backslash: PostgreSQL 15 and later join it with the next line (14 and older do not); pgplay edits one rule per line, so join the two lines' };
  }
  const { fields, unterminated } = hbaFields(text);
  if (fields.length === 0) return {};
  if (unterminated) return { error: 'has a double quote that is never closed' };
  const [typeField, database, user] = fields;
  const word = typeField[0].value;
  if (!typeField[0].quoted && INCLUDES.includes(word)) return { error: `"${word}" is read by PostgreSQL 16 and later only, and pgplay does not follow it: write the rules in this file` };
  if (typeField.length > 1) return { error: 'has more than one connection type' };
  const type = word as HbaType;
  if (!HBA_TYPES.includes(type)) return { error: `unknown connection type "${word}"` };
  if (!database) return { error: 'ends before the database' };
  if (!user) return { error: 'ends before the user' };
  let i = 3;
  let address: string | undefined;
  if (type !== 'local') {
    const addr = fields[3];
    if (!addr) return { error: 'ends before the address' };
    if (addr.length > 1) return { error: 'has more than one address' };
    address = addr[0].raw;
    i = 4;
    if (ipFamily(address) !== 0) {
      const mask = fields[4];
      if (!mask || mask.length > 1 || !isMask(mask[0].raw)) return { error: `address ${address} has neither a prefix length nor a netmask after it` };
      address = `${address} ${mask[0].raw}`;
      i = 5;
    }
  }
  const methodField = fields[i];
  if (!methodField) return { error: 'ends before the authentication method' };
  if (methodField.length > 1) return { error: 'has more than one authentication method' };
  const method = methodField[0].value;
  if (!HBA_METHODS.includes(method)) return { error: `unknown authentication method "${method}"` };
  const options = fields.slice(i + 1).flat();
  const bad = options.find((o) => !/^[^=]+=/.test(o.value));
  if (bad) return { error: `option ${bad.raw} is not in name=value form` };
  return { rule: { type, database: fieldText(database), user: fieldText(user), address, method, options: options.map((o) => o.raw) } };
}

export function parseHba(text: string): HbaFile {
  const errors: string[] = [];
  const lines = text.replace(/\n$/, '').split('\n').map((lineText, n) => {
    // PostgreSQL strips the line end, \r included, before it looks for a continuation.
    const { rule, error } = parseHbaLine(lineText.replace(/\r$/, ''));
    if (error) errors.push(`line ${n + 1}: ${error}`);
    return rule ? { text: lineText, rule } : { text: lineText };
  });
  return { lines: text === '' ? [] : lines, errors };
}

const CONTROL = /[\u0000-\u001f\u007f]/;

/** A `#` outside double quotes: PostgreSQL reads the rest of the line as a comment. */
function unquotedHash(text: string): boolean {
  let inQuote = false;
  for (const c of text) {
    if (c === '"') inQuote = !inQuote;
    else if (c === '#' && !inQuote) return true;
  }
  return false;
}

/** What keeps a value from being written into pg_hba.conf as it reads, or null. */
function injectionProblem(text: string): string | null {
  if (CONTROL.test(text)) return 'holds a line break, tab or other control character, which would end the rule early or start another one';
  if (unquotedHash(text)) return 'holds # outside double quotes, which starts a comment and hides the rest of the rule: quote it, as in "a#b"';
  if (hbaFields(text).unterminated) return 'has a double quote that is never closed';
  return null;
}

/** A database or user list from a playbook as the one field pgplay writes (`db1, db2` gives db1,db2), or why it cannot be one. */
export function hbaFieldFromArg(text: string): { field?: string; problem?: string } {
  const problem = injectionProblem(text);
  if (problem) return { problem };
  const { fields } = hbaFields(text);
  if (fields.length === 0) return { problem: 'is empty' };
  if (fields.length > 1) {
    return { problem: `is read by PostgreSQL as ${fields.length} fields (${fields.map((f) => f.map((t) => t.raw).join(',')).join(' | ')}): separate names by commas with no space before a comma, and quote a name that holds a space, as in "my db"` };
  }
  return { field: fields[0].map((t) => t.raw).join(',') };
}

/** Method options from a playbook as the words pgplay writes, each name=value, or why they cannot be. */
export function hbaOptionsFromArg(options: string | string[]): { options?: string[]; problem?: string } {
  const out: string[] = [];
  for (const text of Array.isArray(options) ? options : [options]) {
    const problem = injectionProblem(text);
    if (problem) return { problem: `option ${JSON.stringify(text)} ${problem}` };
    for (const token of hbaFields(text).fields.flat()) {
      if (!/^[^=]+=/.test(token.value)) {
        const comma = /,/.test(text) ? ' (PostgreSQL splits options at commas: quote a value that holds one, as in ldapserver="a,b")' : '';
        return { problem: `option ${token.raw} is not in name=value form${comma}` };
      }
      out.push(token.raw);
    }
  }
  return { options: out };
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

/** An IP address's family and bits (the family found once: an IPv6 address is checked by a URL parse). */
function ipBits(ip: string): { family: 4 | 6; bits: bigint } | null {
  const family = ipFamily(ip);
  if (family === 4) return { family, bits: ip.split('.').reduce((acc, p) => (acc << 8n) | BigInt(Number(p)), 0n) };
  if (family !== 6) return null;
  const [head, tail] = ip.includes('::') ? ip.split('::') : [ip, undefined];
  const parse = (s: string | undefined) => (s ? s.split(':') : []);
  let h = parse(head);
  let tl = parse(tail);
  const last = (tl.length ? tl : h)[(tl.length ? tl : h).length - 1];
  if (last && last.includes('.')) {
    const v4 = ipBits(last);
    if (v4 === null) return null;
    const words = [(v4.bits >> 16n).toString(16), (v4.bits & 0xffffn).toString(16)];
    if (tl.length) tl = [...tl.slice(0, -1), ...words];
    else h = [...h.slice(0, -1), ...words];
  }
  const groups = tail === undefined ? h : [...h, ...Array(8 - h.length - tl.length).fill('0'), ...tl];
  return { family, bits: groups.reduce((acc, g) => (acc << 16n) | BigInt(parseInt(g || '0', 16)), 0n) };
}

/** An address as a network, or null for keywords and host names. */
export function parseCidr(address: string): Cidr | null {
  let ip: string;
  let prefix: number;
  if (address.includes(' ')) {
    const [a, mask] = address.split(' ');
    const m = ipBits(mask);
    if (m === null) return null;
    const width = m.family === 4 ? 32 : 128;
    prefix = m.bits.toString(2).replace(/0+$/, '').length;
    if (m.bits !== 0n && m.bits.toString(2).length !== width) prefix = 0;
    ip = a;
  } else {
    const m = /^([^/]+)\/(\d{1,3})$/.exec(address);
    if (!m) return null;
    ip = m[1];
    prefix = Number(m[2]);
  }
  const parsed = ipBits(ip);
  if (parsed === null) return null;
  if (prefix > (parsed.family === 4 ? 32 : 128)) return null;
  return { ...parsed, prefix };
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

/** A database or user item: its name, and the keyword (or +group, @file mark) when written without quotes. */
interface HbaItem {
  name: string;
  keyword: 'all' | 'replication' | 'sameuser' | 'samerole' | 'samegroup' | '+' | '@' | null;
}

const KEYWORDS = ['all', 'replication', 'sameuser', 'samerole', 'samegroup'] as const;

/** The items of a database or user field, as PostgreSQL tells names from keywords. */
export function hbaItems(field: string): HbaItem[] {
  return (hbaFields(field).fields[0] ?? []).map((t) => {
    if (t.quoted) return { name: t.value, keyword: null };
    const keyword = (KEYWORDS as readonly string[]).includes(t.value) ? (t.value as HbaItem['keyword']) : t.value.startsWith('+') ? '+' : t.value.startsWith('@') ? '@' : null;
    return { name: t.value, keyword };
  });
}

/** An item written so that two spellings of the same item compare equal (`"app"` is `app`; `"all"` is not `all`). */
const itemId = (item: HbaItem) => (item.keyword === null && ((KEYWORDS as readonly string[]).includes(item.name) || /^[+@]/.test(item.name)) ? `"${item.name}"` : item.name);

/** A rule's identity: the same key with another method or options is the same rule, changed. */
export function ruleKey(rule: Pick<HbaRule, 'type' | 'database' | 'user' | 'address'>): string {
  const list = (field: string) => hbaItems(field).map(itemId).join(',');
  return [rule.type, list(rule.database), list(rule.user), rule.type === 'local' ? '' : normalisedAddress(rule.address)].join('\u0000');
}

function typeCovers(a: HbaType, b: HbaType): boolean {
  if (a === b) return true;
  return a === 'host' && b !== 'local';
}

/**
 * Does every item of b match only connections that a matches too? `all` matches every database but the
 * replication pseudo-database, and every user: +group, @file and same* items included. Other groups and
 * files cannot be read here, so they count as not covering.
 */
function listCovers(a: string, b: string, isDatabase: boolean): boolean {
  const as = hbaItems(a);
  const ids = new Set(as.map(itemId));
  const all = as.some((i) => i.keyword === 'all');
  return hbaItems(b).every((item) => ids.has(itemId(item)) || (all && !(isDatabase && item.keyword === 'replication')));
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

export type HbaEdit =
  | { kind: 'none' }
  | { kind: 'update'; before: HbaRule }
  | { kind: 'insert'; before?: HbaRule; line?: number }
  | { kind: 'append' }
  | { kind: 'remove'; count: number }
  /** The rule was there, but behind an earlier rule that matches all its connections first: moved before it. */
  | { kind: 'move'; before: HbaRule; line: number; changed?: HbaRule };

const optionValues = (rule: HbaRule) => rule.options.flatMap((o) => hbaFields(o).fields.flat().map((t) => t.value)).join('\u0000');

function sameRule(a: HbaRule, b: HbaRule): boolean {
  return a.method === b.method && optionValues(a) === optionValues(b);
}

/** Where the comment lines directly above a rule start: an insertion before the rule goes above them. */
function blockStart(lines: HbaLine[], index: number): number {
  let i = index;
  while (i > 0 && !lines[i - 1].rule && /^\s*#/.test(lines[i - 1].text)) i--;
  return i;
}

/** The first rule before `end` that matches every connection of `rule` (so `rule` is never used), or -1. */
export function firstShadowing(lines: HbaLine[], rule: HbaRule, end = lines.length): number {
  return lines.findIndex((l, i) => i < end && l.rule !== undefined && shadows(l.rule, rule));
}

/**
 * The file with the rule present and in use, or absent. Present: updated in place; or, when an earlier rule
 * matches all its connections first (it would never be used), moved with its comments before that rule; a new
 * rule goes before the first rule that would shadow it, else at the end. Absent: every rule with its key goes.
 */
export function ensureHbaRule(file: HbaFile, wanted: HbaRule, state: 'present' | 'absent'): { file: HbaFile; edit: HbaEdit } {
  const key = ruleKey(wanted);
  const index = file.lines.findIndex((l) => l.rule && ruleKey(l.rule) === key);
  if (state === 'absent') {
    if (index < 0) return { file, edit: { kind: 'none' } };
    const lines = file.lines.filter((l) => !(l.rule && ruleKey(l.rule) === key));
    return { file: { ...file, lines }, edit: { kind: 'remove', count: file.lines.length - lines.length } };
  }
  const lines = [...file.lines];
  const line: HbaLine = { text: formatRule(wanted), rule: wanted };
  if (index >= 0) {
    const current = lines[index].rule as HbaRule;
    const shadowing = firstShadowing(lines, current, index);
    if (shadowing < 0) {
      if (sameRule(current, wanted)) return { file, edit: { kind: 'none' } };
      lines[index] = line;
      return { file: { ...file, lines }, edit: { kind: 'update', before: current } };
    }
    const from = blockStart(lines, index);
    const moved = lines.splice(from, index - from + 1);
    if (!sameRule(current, wanted)) moved[moved.length - 1] = line;
    lines.splice(blockStart(lines, shadowing), 0, ...moved);
    const shadowed = file.lines[shadowing].rule as HbaRule;
    return { file: { ...file, lines }, edit: { kind: 'move', before: shadowed, line: shadowing + 1, ...(sameRule(current, wanted) ? {} : { changed: current }) } };
  }
  const shadowing = firstShadowing(lines, wanted);
  if (shadowing >= 0) {
    lines.splice(blockStart(lines, shadowing), 0, line);
    return { file: { ...file, lines }, edit: { kind: 'insert', before: file.lines[shadowing].rule, line: shadowing + 1 } };
  }
  lines.push(line);
  return { file: { ...file, lines }, edit: { kind: 'append' } };
}

const HOSTNAME = /^(?=.{1,253}$)(?!-)[A-Za-z0-9-]{1,63}(?<!-)(\.(?!-)[A-Za-z0-9-]{1,63}(?<!-))*\.?$/;

/** Problems with an address for a host* rule; a host name is allowed but reported as a warning by the caller. */
export function addressProblem(address: string): string | null {
  if (['all', 'samehost', 'samenet'].includes(address)) return null;
  if (address.includes('/')) return parseCidr(address) ? null : `address ${address} is not a valid CIDR network (like 10.0.0.0/24)`;
  const family = ipFamily(address);
  if (family !== 0) return `address ${address} has no prefix length: write ${address}/${family === 4 ? 32 : 128} for this one host`;
  if (address.split(' ').every((w) => ipFamily(w) !== 0)) return parseCidr(address) ? null : `address ${address} is not a valid CIDR network (like 10.0.0.0/24)`;
  if (/^[\d.]+$/.test(address)) return `address ${address} is not a valid IPv4 address`;
  if (HOSTNAME.test(address) && /[A-Za-z]/.test(address)) return null;
  return `address ${address} is neither a CIDR network, a keyword (all, samehost, samenet) nor a host name`;
}

export function isHostName(address: string): boolean {
  return !['all', 'samehost', 'samenet'].includes(address) && parseCidr(address) === null && addressProblem(address) === null;
}
