// GUC values compared as PostgreSQL reads them: '64MB' equals 65536 kB, 'on' equals true, enums ignore case.
export interface SettingInfo {
  name: string;
  /** pg_settings.setting: the active value in the setting's unit, no suffix. */
  setting: string;
  /** pg_settings.unit: '8kB', 'kB', 'MB', 'ms', 's', 'min', or null. */
  unit: string | null;
  vartype: 'bool' | 'integer' | 'real' | 'string' | 'enum';
  /** postmaster settings need a restart, the others a reload. */
  context: string;
  pendingRestart?: boolean;
}

const MEMORY: Record<string, number> = { B: 1, kB: 1024, MB: 1024 ** 2, GB: 1024 ** 3, TB: 1024 ** 4 };
const TIME: Record<string, number> = { us: 0.001, ms: 1, s: 1000, min: 60_000, h: 3_600_000, d: 86_400_000 };

/** A playbook value as configuration text: YAML true/false become on/off, numbers their decimal text. */
export function toConfText(value: unknown): string {
  if (value === true) return 'on';
  if (value === false) return 'off';
  if (Array.isArray(value)) return value.map(toConfText).join(', ');
  return String(value);
}

export function parseBool(text: string): boolean | null {
  const t = text.trim().toLowerCase();
  if (t.length === 0) return null;
  if (['on', 'true', 'yes', '1'].includes(t) || ('true'.startsWith(t) && t.length > 0) || ('yes'.startsWith(t) && t.length > 0)) return true;
  if (['off', 'false', 'no', '0'].includes(t) || 'false'.startsWith(t) || 'no'.startsWith(t) || (t.length >= 2 && 'off'.startsWith(t))) return false;
  return null;
}

interface Quantity {
  value: number;
  kind: 'memory' | 'time' | 'none';
  /** value expressed in bytes (memory) or milliseconds (time) */
  base: number;
}

function unitFactor(unit: string): { kind: 'memory' | 'time'; factor: number } | null {
  const m = /^(\d+)?\s*([A-Za-z]+)$/.exec(unit.trim());
  if (!m) return null;
  const scale = m[1] ? Number(m[1]) : 1;
  if (m[2] in MEMORY) return { kind: 'memory', factor: scale * MEMORY[m[2]] };
  if (m[2] in TIME) return { kind: 'time', factor: scale * TIME[m[2]] };
  return null;
}

function parseQuantity(text: string): Quantity | null {
  const m = /^\s*(-?\d+(?:\.\d+)?)\s*([A-Za-z]+)?\s*$/.exec(text);
  if (!m) return null;
  const value = Number(m[1]);
  if (!m[2]) return { value, kind: 'none', base: value };
  const u = unitFactor(m[2]);
  return u ? { value, kind: u.kind, base: value * u.factor } : null;
}

/** What a comparison needs of a setting: its type and unit, and its name for the settings that hold quoted lists. */
export type ValueInfo = Pick<SettingInfo, 'vartype' | 'unit'> & { name?: string };

/** A value in a canonical form for comparison; `error` when it cannot be a value of this setting. */
export function canonicalValue(text: string, info: ValueInfo): { value: string; error?: string } {
  switch (info.vartype) {
    case 'bool': {
      const b = parseBool(text);
      return b === null ? { value: text, error: `'${text}' is not a boolean (on/off)` } : { value: b ? 'on' : 'off' };
    }
    case 'integer':
    case 'real': {
      const q = parseQuantity(text);
      if (!q) return { value: text, error: `'${text}' is not a number${info.unit ? ` with a unit like ${info.unit}` : ''}` };
      if (q.kind === 'none' || q.value === -1) return { value: String(q.value) };
      const target = info.unit ? unitFactor(info.unit) : null;
      if (!target) return { value: `${q.base}${q.kind === 'memory' ? 'B' : 'ms'}` };
      if (target.kind !== q.kind) return { value: text, error: `'${text}' has a ${q.kind} unit but this setting takes ${info.unit}` };
      return { value: String(Math.round((q.base / target.factor) * 1e6) / 1e6) };
    }
    case 'enum':
      return { value: text.trim().toLowerCase() };
    default: {
      const kind = info.name ? LIST_QUOTED[info.name] : undefined;
      if (!kind) return { value: text.replace(/\s*,\s*/g, ',').trim() };
      const items = listItems(text, kind);
      return items ? { value: JSON.stringify(items) } : { value: text, error: `'${text}' is not a list PostgreSQL can read (items separated by commas, each a name or a "double-quoted" name)` };
    }
  }
}

/** Does the wanted text give the same value as the current one? */
export function sameValue(current: string, wanted: string, info: ValueInfo): boolean {
  const a = canonicalValue(current, info);
  const b = canonicalValue(wanted, info);
  return !a.error && !b.error && a.value === b.value;
}

/** The active value as people write it: 65536 with unit 8kB reads '65536 (8kB)'. */
export function displaySetting(info: SettingInfo): string {
  if (!info.unit) return info.setting;
  const u = unitFactor(info.unit);
  const n = Number(info.setting);
  if (!u || !Number.isFinite(n) || n === -1) return info.setting;
  const base = n * u.factor;
  if (base === 0) return '0';
  const units = u.kind === 'memory' ? (['TB', 'GB', 'MB', 'kB', 'B'] as const) : (['d', 'h', 'min', 's', 'ms'] as const);
  const table: Record<string, number> = u.kind === 'memory' ? MEMORY : TIME;
  for (const name of units) if (base !== 0 && base % table[name] === 0) return `${base / table[name]}${name}`;
  return `${info.setting}${info.unit}`;
}

/**
 * Settings the server reads as a list of names that may be double-quoted (GUC_LIST_QUOTE): ALTER SYSTEM must get one
 * literal per item, unquoted, and quotes each itself. Names of schemas and tablespaces fold to lower case when
 * unquoted (SplitIdentifierString); libraries and directories keep their case (SplitDirectoriesString).
 */
export const LIST_QUOTED: Record<string, 'names' | 'paths'> = {
  search_path: 'names',
  temp_tablespaces: 'names',
  shared_preload_libraries: 'paths',
  session_preload_libraries: 'paths',
  local_preload_libraries: 'paths',
  unix_socket_directories: 'paths',
};

const NAMEDATALEN = 64;
const isSpace = (c: string | undefined) => c !== undefined && ' \t\n\r\f\v'.includes(c);

/** The items of a quoted-list setting as PostgreSQL reads them; null when the server would refuse the text. */
export function listItems(text: string, kind: 'names' | 'paths'): string[] | null {
  const items: string[] = [];
  let i = 0;
  while (isSpace(text[i])) i++;
  if (i === text.length) return items;
  for (;;) {
    let item: string;
    if (text[i] === '"') {
      // Quoted: "" is one quote, nothing is folded.
      item = '';
      i++;
      for (;;) {
        const end = text.indexOf('"', i);
        if (end < 0) return null;
        item += text.slice(i, end);
        i = end + 1;
        if (text[i] !== '"') break;
        item += '"';
        i++;
      }
      if (kind === 'paths' && item === '') return null;
    } else if (kind === 'names') {
      const start = i;
      while (i < text.length && text[i] !== ',' && !isSpace(text[i])) i++;
      if (i === start) return null;
      item = text.slice(start, i).toLowerCase();
    } else {
      const start = i;
      while (i < text.length && text[i] !== ',') i++;
      item = text.slice(start, i).replace(/[ \t\n\r\f\v]+$/, '');
      if (item === '') return null;
    }
    if (kind === 'names') item = truncateName(item);
    else item = item.replace(/\/{2,}/g, '/').replace(/(.)\/$/, '$1');
    items.push(item);
    while (isSpace(text[i])) i++;
    if (i === text.length) return items;
    if (text[i] !== ',') return null;
    i++;
    while (isSpace(text[i])) i++;
  }
}

/** Identifiers are cut to NAMEDATALEN - 1 bytes, as the server cuts them, never inside a character. */
function truncateName(name: string): string {
  let out = '';
  for (const ch of name) {
    if (Buffer.byteLength(out + ch, 'utf8') > NAMEDATALEN - 1) break;
    out += ch;
  }
  return out;
}
