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
