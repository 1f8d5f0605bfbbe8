// The helpers of {{ expr }} in playbooks and of template files: comparisons, logic, lists and host variables.
// Each takes Handlebars' options object last, so the same functions serve both engines.

export interface HelperOptions {
  hash?: Record<string, unknown>;
  data?: { root?: Record<string, unknown> };
}

import { slotName } from '../modules/pg/slots';

type Helper = (...args: unknown[]) => unknown;

/** Handlebars passes its options object as the last argument; drop it. */
function values(args: unknown[]): unknown[] {
  const last = args[args.length - 1];
  return last && typeof last === 'object' && 'hash' in (last as object) && 'data' in (last as object) ? args.slice(0, -1) : args;
}

function rootOf(args: unknown[]): Record<string, unknown> {
  const last = args[args.length - 1] as HelperOptions | undefined;
  return (last?.data?.root as Record<string, unknown> | undefined) ?? {};
}

/** Words that read as false in a condition, as Ansible's conditionals and `bool` read them (an INI inventory's `false` is a string). */
const FALSE_WORDS = new Set(['', 'false', 'no', 'off', '0']);

/** A condition's truth: `when`, `assert`, `{{#if}}`, `and`, `or`, `not` all read a value the same way. */
export function truthy(value: unknown): boolean {
  if (typeof value === 'string') return !FALSE_WORDS.has(value.trim().toLowerCase());
  if (Array.isArray(value)) return value.length > 0;
  return Boolean(value);
}

function describe(value: unknown): string {
  if (value === undefined) return 'nothing (undefined)';
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'a list';
  return `a ${typeof value}`;
}

const compare = (test: (a: number | string, b: number | string) => boolean, name: string): Helper => (...args) => {
  const [a, b] = values(args);
  const ok = (v: unknown) => typeof v === 'number' || typeof v === 'string';
  if (!ok(a) || !ok(b)) throw new Error(`${name} compares numbers or strings, got ${describe(a)} and ${describe(b)}`);
  return test(a as number | string, b as number | string);
};

export const HELPERS: Record<string, Helper> = {
  eq: (...args) => {
    const [a, b] = values(args);
    return a === b;
  },
  ne: (...args) => {
    const [a, b] = values(args);
    return a !== b;
  },
  lt: compare((a, b) => a < b, 'lt'),
  lte: compare((a, b) => a <= b, 'lte'),
  gt: compare((a, b) => a > b, 'gt'),
  gte: compare((a, b) => a >= b, 'gte'),
  and: (...args) => values(args).every(truthy),
  or: (...args) => values(args).some(truthy),
  not: (...args) => !truthy(values(args)[0]),
  /** The first value that is set (not undefined, null or ''). */
  default: (...args) => values(args).find((v) => v !== undefined && v !== null && v !== ''),
  length: (...args) => {
    const [v] = values(args);
    if (typeof v === 'string' || Array.isArray(v)) return v.length;
    if (v && typeof v === 'object') return Object.keys(v).length;
    throw new Error(`length needs a list, a string or a mapping, got ${describe(v)}`);
  },
  join: (...args) => {
    const [list, sep] = values(args);
    if (!Array.isArray(list)) throw new Error(`join needs a list, got ${describe(list)}`);
    return list.join(typeof sep === 'string' ? sep : ',');
  },
  first: (...args) => {
    const [list] = values(args);
    if (!Array.isArray(list)) throw new Error(`first needs a list, got ${describe(list)}`);
    return list[0];
  },
  last: (...args) => {
    const [list] = values(args);
    if (!Array.isArray(list)) throw new Error(`last needs a list, got ${describe(list)}`);
    return list[list.length - 1];
  },
  /** includes LIST_OR_STRING VALUE: Jinja's `value in list`. */
  includes: (...args) => {
    const [container, item] = values(args);
    if (Array.isArray(container)) return container.includes(item);
    if (typeof container === 'string') return container.includes(String(item));
    if (container && typeof container === 'object') return Object.prototype.hasOwnProperty.call(container, String(item));
    return false;
  },
  /** union LIST LIST ...: the items of every list, each once, in order (Ansible's union filter). */
  union: (...args) => {
    const lists = values(args);
    for (const l of lists) if (!Array.isArray(l)) throw new Error(`union needs lists, got ${describe(l)}`);
    return [...new Set((lists as unknown[][]).flat())];
  },
  /** difference LIST ITEM_OR_LIST ...: the list without those items (Ansible's difference filter). */
  difference: (...args) => {
    const [list, ...rest] = values(args);
    if (!Array.isArray(list)) throw new Error(`difference needs a list first, got ${describe(list)}`);
    const drop = new Set(rest.flatMap((r) => (Array.isArray(r) ? r : [r])));
    return list.filter((item) => !drop.has(item));
  },
  /** list A B C: a list from its arguments. */
  list: (...args) => values(args),
  split: (...args) => {
    const [text, sep] = values(args);
    if (typeof text !== 'string') throw new Error(`split needs a string, got ${describe(text)}`);
    return text.split(typeof sep === 'string' ? sep : ',').map((s) => s.trim()).filter((s) => s !== '');
  },
  concat: (...args) => values(args).map((v) => (v === undefined || v === null ? '' : String(v))).join(''),
  upper: (...args) => String(values(args)[0] ?? '').toUpperCase(),
  lower: (...args) => String(values(args)[0] ?? '').toLowerCase(),
  json: (...args) => JSON.stringify(values(args)[0]),
  /** hostvar HOST NAME [DEFAULT]: a variable of another inventory host (Ansible's hostvars[HOST][NAME]). */
  hostvar: (...args) => {
    const given = values(args);
    const [host, name, fallback] = given;
    const hosts = rootOf(args).hosts as Record<string, Record<string, unknown>> | undefined;
    const vars = hosts?.[String(host)];
    if (!vars) throw new Error(`hostvar: no host named '${String(host)}' in the inventory`);
    if (!(String(name) in vars)) {
      if (given.length > 2) return fallback;
      throw new Error(`hostvar: host ${String(host)} has no variable '${String(name)}'`);
    }
    return vars[String(name)];
  },
  /** extract HOSTS NAME: that variable of each host, in order (Ansible's map('extract', hostvars, NAME)). */
  extract: (...args) => {
    const [list, name] = values(args);
    if (!Array.isArray(list)) throw new Error(`extract needs a list of hosts, got ${describe(list)}`);
    return list.map((host) => HELPERS.hostvar(host, name, ...args.slice(2)));
  },
  /** slot_name NAME: the replication slot pgplay names after an inventory host (lower case, [a-z0-9_], at most 63). */
  slot_name: (...args) => slotName(String(values(args)[0] ?? '')),
  /**
   * each_hostvar HOSTS NAME [NAME...]: for each host of the list, the first of these variables it sets (Ansible's
   * `hosts | map('extract', hostvars, NAME)`): `each_hostvar groups.replicas 'pg_client_address' 'pg_address'`.
   */
  each_hostvar: (...args) => {
    const [list, ...names] = values(args);
    if (!Array.isArray(list)) throw new Error(`each_hostvar needs a list of hosts, got ${describe(list)}`);
    if (names.length === 0) throw new Error('each_hostvar needs the name of a variable after the list of hosts');
    const hosts = rootOf(args).hosts as Record<string, Record<string, unknown>> | undefined;
    return list.map((host) => {
      const vars = hosts?.[String(host)];
      if (!vars) throw new Error(`each_hostvar: no host named '${String(host)}' in the inventory`);
      const name = names.find((n) => String(n) in vars && vars[String(n)] !== undefined && vars[String(n)] !== null && vars[String(n)] !== '');
      if (name === undefined) throw new Error(`each_hostvar: host ${String(host)} sets none of ${names.map(String).join(', ')}`);
      return vars[String(name)];
    });
  },
  /** lookup OBJECT KEY: Handlebars' own lookup, for keys held in variables. */
  lookup: (...args) => {
    const [obj, key] = values(args);
    if (obj === undefined || obj === null) return undefined;
    return (obj as Record<string, unknown>)[String(key)];
  },
};

export const HELPER_NAMES = Object.keys(HELPERS);
/** Names Handlebars itself gives meaning to in template files. */
export const BLOCK_HELPERS = ['if', 'unless', 'each', 'with', 'log'];
