// OpenSSH's known_hosts, read and written the way ssh does: host keys are checked before any secret is sent.
import { createHash, createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { appendFileSync, chmodSync, existsSync, mkdirSync, readFileSync } from 'node:fs';
import { dirname } from 'node:path';

export interface HostKey {
  type: string; // ssh-ed25519, ecdsa-sha2-nistp256, ssh-rsa, ...
  base64: string; // the key blob as known_hosts writes it
}

export interface KnownHostEntry {
  /** The known_hosts file, when entries of several files are checked together. */
  file?: string;
  line: number; // 1-based
  marker: 'cert-authority' | 'revoked' | null;
  /** Plain patterns (host, [host]:port, *, !negated), or null for a hashed entry. */
  patterns: string[] | null;
  hashed: { salt: Buffer; hash: Buffer } | null;
  key: HostKey;
}

export type HostKeyVerdict =
  | { kind: 'known'; line: number; file?: string }
  | { kind: 'unknown'; knownTypes: string[] }
  | { kind: 'changed'; line: number; file?: string; knownType: string }
  | { kind: 'revoked'; line: number; file?: string };

/** The name ssh looks a host up by: the bare host on port 22, [host]:port otherwise. */
export function hostLookupName(host: string, port: number): string {
  const name = host.toLowerCase();
  return port === 22 ? name : `[${name}]:${port}`;
}

/** Every usable line; comments, blank and malformed lines are skipped as ssh skips them. */
export function parseKnownHosts(text: string): KnownHostEntry[] {
  const entries: KnownHostEntry[] = [];
  text.split('\n').forEach((raw, index) => {
    const fields = raw.trim().split(/\s+/);
    if (fields[0] === '' || fields[0].startsWith('#')) return;
    let marker: KnownHostEntry['marker'] = null;
    if (fields[0].startsWith('@')) {
      const name = fields.shift()!.slice(1);
      if (name !== 'cert-authority' && name !== 'revoked') return;
      marker = name;
    }
    const [hosts, type, base64] = fields;
    if (!hosts || !type || !base64 || !blobHasType(base64, type)) return;
    const hashed = parseHashed(hosts);
    if (hosts.startsWith('|') && !hashed) return;
    entries.push({ line: index + 1, marker, patterns: hashed ? null : hosts.split(','), hashed, key: { type, base64 } });
  });
  return entries;
}

/** As ssh reads a key: base64 of a blob that starts with the same type name. */
function blobHasType(base64: string, type: string): boolean {
  if (!/^[A-Za-z0-9+/]+=*$/.test(base64)) return false;
  try {
    return hostKeyFromBlob(Buffer.from(base64, 'base64')).type === type;
  } catch {
    return false;
  }
}

function parseHashed(field: string): KnownHostEntry['hashed'] {
  const m = /^\|1\|([A-Za-z0-9+/=]+)\|([A-Za-z0-9+/=]+)$/.exec(field);
  if (!m) return null;
  const salt = Buffer.from(m[1], 'base64');
  const hash = Buffer.from(m[2], 'base64');
  return salt.length === 20 && hash.length === 20 ? { salt, hash } : null;
}

/** Whether an entry names the host: HMAC-SHA1 for hashed entries, OpenSSH's pattern lists (with !negation) otherwise. */
export function entryMatches(entry: KnownHostEntry, lookupName: string): boolean {
  if (entry.hashed) {
    const mac = createHmac('sha1', entry.hashed.salt).update(lookupName).digest();
    return timingSafeEqual(mac, entry.hashed.hash);
  }
  let matched = false;
  for (const pattern of entry.patterns ?? []) {
    const negated = pattern.startsWith('!');
    if (!wildcardMatch(negated ? pattern.slice(1) : pattern, lookupName)) continue;
    if (negated) return false;
    matched = true;
  }
  return matched;
}

function wildcardMatch(pattern: string, name: string): boolean {
  const re = pattern
    .toLowerCase()
    .replace(/[.+^${}()|[\]\\]/g, '\\$&')
    .replace(/\*/g, '.*')
    .replace(/\?/g, '.');
  return new RegExp(`^${re}$`).test(name);
}

/** What OpenSSH concludes from the entries for the key a server presents (certificate authorities are not used). */
export function checkHostKey(entries: KnownHostEntry[], lookupName: string, presented: HostKey): HostKeyVerdict {
  const mine = entries.filter((e) => entryMatches(e, lookupName));
  const same = (e: KnownHostEntry) => e.key.type === presented.type && e.key.base64 === presented.base64;
  const revoked = entries.find((e) => e.marker === 'revoked' && same(e));
  if (revoked) return { kind: 'revoked', line: revoked.line, ...fileOf(revoked) };
  const plain = mine.filter((e) => e.marker === null);
  const known = plain.find(same);
  if (known) return { kind: 'known', line: known.line, ...fileOf(known) };
  const other = plain.find((e) => e.key.type === presented.type);
  if (other) return { kind: 'changed', line: other.line, ...fileOf(other), knownType: other.key.type };
  return { kind: 'unknown', knownTypes: [...new Set(plain.map((e) => e.key.type))] };
}

function fileOf(entry: KnownHostEntry): { file?: string } {
  return entry.file ? { file: entry.file } : {};
}

/** Key types known for a host, so the client can ask the server for one of those first (as ssh does). */
export function knownKeyTypes(entries: KnownHostEntry[], lookupName: string): string[] {
  return [...new Set(entries.filter((e) => e.marker === null && entryMatches(e, lookupName)).map((e) => e.key.type))];
}

/** The key type and base64 text of a raw SSH public key blob (string type, then key data). */
export function hostKeyFromBlob(blob: Buffer): HostKey {
  const length = blob.length >= 4 ? blob.readUInt32BE(0) : -1;
  if (length < 1 || 4 + length > blob.length) throw new Error('the server sent a malformed host key');
  return { type: blob.subarray(4, 4 + length).toString('latin1'), base64: blob.toString('base64') };
}

/** SHA256:... as ssh prints a key's fingerprint. */
export function fingerprint(key: HostKey): string {
  return `SHA256:${createHash('sha256').update(Buffer.from(key.base64, 'base64')).digest('base64').replace(/=+$/, '')}`;
}

/** A plain line, readable in review; or, for a file whose names are hashed, a hashed one as ssh -o HashKnownHosts=yes writes it. */
export function knownHostsLine(lookupName: string, key: HostKey, hashed = false): string {
  if (!hashed) return `${lookupName} ${key.type} ${key.base64}`;
  const salt = randomBytes(20);
  const hash = createHmac('sha1', salt).update(lookupName).digest();
  return `|1|${salt.toString('base64')}|${hash.toString('base64')} ${key.type} ${key.base64}`;
}

// Each file is parsed once per run, not once per host and lookup: its entries are kept with its text, and the file is
// parsed again as soon as its text differs (a key recorded meanwhile, an edit). Reading it is cheap; parsing is not.
const parsed = new Map<string, { text: string; entries: KnownHostEntry[] }>();

export function readKnownHosts(file: string): KnownHostEntry[] {
  if (!existsSync(file)) {
    parsed.delete(file);
    return [];
  }
  const text = readFileSync(file, 'utf8');
  const kept = parsed.get(file);
  if (kept && kept.text === text) return kept.entries;
  const entries = parseKnownHosts(text);
  parsed.set(file, { text, entries });
  return entries;
}

/**
 * Append one line, creating the file 0600 (and its directory 0700) when missing. It is hashed when asked
 * (HashKnownHosts=yes) or when the file is hashed (ssh-keygen -H, or ssh with HashKnownHosts, which appends hashed
 * lines): the file's last entry says which it is.
 */
export function appendKnownHost(file: string, lookupName: string, key: HostKey, options: { hash?: boolean } = {}): void {
  if (!existsSync(file)) {
    mkdirSync(dirname(file), { recursive: true, mode: 0o700 });
    appendFileSync(file, '', { mode: 0o600 });
    chmodSync(file, 0o600);
  }
  const text = readFileSync(file);
  const hashed = options.hash === true || parseKnownHosts(text.toString('utf8')).pop()?.hashed != null;
  const needsNewline = text.length > 0 && text[text.length - 1] !== 0x0a;
  appendFileSync(file, `${needsNewline ? '\n' : ''}${knownHostsLine(lookupName, key, hashed)}\n`);
}
