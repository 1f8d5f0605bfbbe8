// libpq key=value connection strings (primary_conninfo) and passfile lines.
export function parseConninfo(text: string): Array<[string, string]> {
  const out: Array<[string, string]> = [];
  const re = /\s*([A-Za-z_]+)\s*=\s*(?:'((?:[^'\\]|\\.)*)'|(\S*))/g;
  let m: RegExpExecArray | null;
  while ((m = re.exec(text))) out.push([m[1], m[2] !== undefined ? m[2].replace(/\\(.)/g, '$1') : m[3]]);
  return out;
}

export function formatConninfo(pairs: Array<[string, string]>): string {
  return pairs.map(([k, v]) => `${k}=${/^[^\s'\\]+$/.test(v) ? v : `'${v.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`}`).join(' ');
}

/** primary_conninfo without a password: libpq reads it from the passfile instead. */
export function conninfoWithPassfile(text: string, passfile: string, applicationName: string): string {
  const kept = parseConninfo(text).filter(([k]) => !['password', 'passfile', 'application_name'].includes(k));
  return formatConninfo([...kept, ['passfile', passfile], ['application_name', applicationName]]);
}

/** One line of a libpq password file; ':' and '\' in a field are escaped. */
export function passfileLine(host: string, port: number, user: string, password: string): string {
  // A line break would end the entry and start another: libpq reads the passfile line by line, with no escape for it.
  if ([host, user, password].some((s) => /[\r\n]/.test(s))) throw new Error('a passfile entry cannot hold a line break (in the host, user or password)');
  const esc = (s: string) => s.replace(/\\/g, '\\\\').replace(/:/g, '\\:');
  return `${esc(host)}:${port}:*:${esc(user)}:${esc(password)}\n`;
}

/** The TLS keys a standby connects with, set in a conninfo (an empty value removes the key); other keys kept in place. */
export function conninfoWithTls(text: string, tls: { sslmode?: string; sslrootcert?: string }): string {
  const pairs = parseConninfo(text);
  for (const key of ['sslmode', 'sslrootcert'] as const) {
    const wanted = tls[key];
    if (wanted === undefined) continue;
    const at = pairs.findIndex(([k]) => k === key);
    if (wanted === '') {
      if (at >= 0) pairs.splice(at, 1);
    } else if (at >= 0) pairs[at] = [key, wanted];
    else pairs.push([key, wanted]);
  }
  return formatConninfo(pairs);
}

/** Two conninfos say the same: the same keys with the same values, in any order. */
export function sameConninfo(a: string, b: string): boolean {
  const norm = (t: string) => parseConninfo(t).map(([k, v]) => `${k}=${v}`).sort().join('\n');
  return norm(a) === norm(b);
}
