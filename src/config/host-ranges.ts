// Host names as Ansible's inventories write them: ranges (pg[01:09], db[a:c], web[1:10:2]) and an optional :port.

export class HostRangeError extends Error {
  constructor(
    message: string,
    /** 0-based offset in the pattern of what is wrong. */
    readonly offset = 0,
  ) {
    super(message);
  }
}

const LETTERS = 'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ';

/** A host pattern with an optional port: host:2222, [::1]:2222, pg[1:3]:2222; a bare IPv6 address has no port. */
export function splitHostPort(pattern: string): { host: string; port?: number } {
  const bracketed = /^\[([^\]]*:[^\]]*)\](?::(\d+))?$/.exec(pattern);
  if (bracketed && !/^(\d*:\d+(:\d+)?|[A-Za-z]:[A-Za-z])$/.test(bracketed[1])) return { host: bracketed[1], port: bracketed[2] ? Number(bracketed[2]) : undefined };
  // Colons inside [..] ranges are not ports.
  const outside = pattern.replace(/\[[^\]]*\]/g, (m) => '_'.repeat(m.length));
  const colons = [...outside].filter((c) => c === ':').length;
  if (colons === 1) {
    const at = outside.indexOf(':');
    const port = pattern.slice(at + 1);
    if (!/^\d+$/.test(port)) throw new HostRangeError(`'${port}' after ':' is not a port number`, at + 1);
    const n = Number(port);
    if (n < 1 || n > 65535) throw new HostRangeError(`port ${port} is not from 1 to 65535`, at + 1);
    return { host: pattern.slice(0, at), port: n };
  }
  return { host: pattern };
}

/** Whether a name holds a [begin:end] range. */
export function hasRange(name: string): boolean {
  return /\[[^\]]*:[^\]]*\]/.test(name);
}

/** Every host a name with ranges stands for, in order; a name without ranges stands for itself. */
export function expandHostRange(name: string, offset = 0): string[] {
  const open = name.indexOf('[');
  if (open < 0 || !hasRange(name)) return [name];
  const close = name.indexOf(']', open);
  if (close < 0) throw new HostRangeError("'[' is not closed by ']'", offset + open);
  const head = name.slice(0, open);
  const tail = name.slice(close + 1);
  const bounds = name.slice(open + 1, close).split(':');
  const where = offset + open;
  if (bounds.length !== 2 && bounds.length !== 3) throw new HostRangeError('a host range is [begin:end] or [begin:end:step]', where);
  const [beginText, endText, stepText] = bounds;
  const begin = beginText === '' ? '0' : beginText;
  if (endText === '') throw new HostRangeError('a host range needs an end, as in pg[1:3]', where);
  const step = stepText === undefined ? 1 : Number(stepText);
  if (!Number.isInteger(step) || step < 1) throw new HostRangeError(`the step of a host range is a whole number from 1, not '${stepText}'`, where);
  let items: string[];
  if (LETTERS.includes(begin) && LETTERS.includes(endText) && begin.length === 1 && endText.length === 1) {
    const from = LETTERS.indexOf(begin);
    const to = LETTERS.indexOf(endText);
    if (from > to) throw new HostRangeError(`a host range goes up: '${begin}' comes after '${endText}'`, where);
    items = [];
    for (let i = from; i <= to; i += step) items.push(LETTERS[i]);
  } else {
    if (!/^\d+$/.test(begin) || !/^\d+$/.test(endText)) throw new HostRangeError(`a host range is numbers (pg[01:09]) or single letters (db[a:c]), not [${bounds.join(':')}]`, where);
    // A leading zero fixes the width: [01:10] gives 01 .. 10.
    const width = begin.length > 1 && begin.startsWith('0') ? begin.length : 0;
    if (width && width !== endText.length) throw new HostRangeError(`[${begin}:${endText}]: begin and end of a zero-padded range must have the same width`, where);
    const from = Number(begin);
    const to = Number(endText);
    if (from > to) throw new HostRangeError(`a host range goes up: ${begin} is more than ${endText}`, where);
    if ((to - from) / step > 100_000) throw new HostRangeError(`[${bounds.join(':')}] stands for more than 100000 hosts`, where);
    items = [];
    for (let i = from; i <= to; i += step) items.push(width ? String(i).padStart(width, '0') : String(i));
  }
  return items.flatMap((item) => expandHostRange(`${head}${item}${tail}`, offset));
}
