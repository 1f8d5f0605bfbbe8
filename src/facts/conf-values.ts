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

/** A value in a canonical form for comparison; `error` when it cannot be a value of this setting. */
export function canonicalValue(text: string, info: Pick<SettingInfo, 'vartype' | 'unit'>): { value: string; error?: string } {
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
    default:
      return { value: text.replace(/\s*,\s*/g, ',').trim() };
  }
}

/** Does the wanted text give the same value as the current one? */
export function sameValue(current: string, wanted: string, info: Pick<SettingInfo, 'vartype' | 'unit'>): boolean {
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

/** Settings the server reads as a list of quoted names: ALTER SYSTEM must get one literal per element. */
export const LIST_QUOTED = new Set(['shared_preload_libraries', 'session_preload_libraries', 'local_preload_libraries', 'search_path', 'temp_tablespaces', 'unix_socket_directories']);
