// The variables a host sees, with Ansible's precedence: pgplay's defaults < inventory (with group_vars/ and
// host_vars/, merged in host-vars.ts) < play vars < registered < -e. This one scope is the source of every host
// setting (connection, become, PostgreSQL paths) and of every task argument. Values that hold {{ }} are rendered
// when first read, in the same scope, as Ansible does; inventory values are read as Jinja (see inventory-values.ts).
import { rememberSecret } from '../secrets';
import { ENV_MARK, renderValue, TemplateError } from '../templates/render';
import { JinjaUnsupportedError } from '../templates/jinja';
import { renderInventoryValue } from '../templates/inventory-values';
import type { Inventory, SourceRef, VarSource } from './types';

export type Scope = Record<string, unknown>;

export interface ScopeInput {
  inventory: Inventory;
  hostName: string;
  playVars?: Record<string, unknown>;
  playVarSources?: Record<string, SourceRef>;
  extraVars?: Record<string, unknown>;
  registered?: Record<string, unknown>;
}

/** Names pgplay gives meaning to in every scope. */
export const BUILTIN_VARIABLES = ['host', 'hosts', 'hostvars', 'groups', 'group_names', 'inventory_hostname', 'env'];

/**
 * pgplay's defaults, as variables of the lowest precedence: an inventory that sets none of them gets Debian's
 * PostgreSQL 15 layout, and anything may set them (group_vars, play vars, -e), templated or not.
 */
export const DEFAULT_VARIABLES: Readonly<Record<string, unknown>> = {
  pg_version: 15,
  pg_port: 5432,
  pg_bin_dir: '/usr/lib/postgresql/{{ pg_version }}/bin',
  pg_data_dir: '/var/lib/postgresql/{{ pg_version }}/main',
  pg_config_dir: '{{ pg_data_dir }}',
  pg_socket_dir: '/var/run/postgresql',
  pg_address: "{{ default ansible_host address '127.0.0.1' }}",
  pg_os_user: 'postgres',
  pg_service: 'pg_ctl',
  pg_log_file: '{{ pg_data_dir }}/pgplay-server.log',
  replication_user: 'replicator',
  // Slots, TLS and synchronous standbys of playbooks/site.yml (see the README).
  replication_slot: '{{ slot_name inventory_hostname }}',
  unowned_slots: 'report',
  max_slot_wal_keep_size: '8GB',
  replication_tls: false,
  tls_ca_dir: '',
  tls_ca_cert: '',
  tls_ca_key: '',
  tls_cert_days: 365,
  tls_rotate: false,
  pg_dns_name: '',
  synchronous_standbys: [],
  synchronous_method: 'FIRST',
  synchronous_count: 1,
  synchronous_commit: 'on',
  // site.yml's steps for fresh hosts, each turned off by a variable when something else does it.
  pg_manage_packages: true,
  pg_packages: { apt: ['postgresql-{{ pg_version }}'], dnf: ['postgresql{{ pg_version }}-server'] },
  pg_manage_firewall: true,
};

export type VarKind = 'default' | 'inventory' | 'play' | 'registered' | 'extra';

export interface VarOrigin {
  kind: VarKind;
  /** Where the value is written (inventory and play variables). */
  source?: VarSource;
}

/** A variable whose value could not be rendered, with the place of that value: `file:line:col: name: problem`. */
export class VariableError extends TemplateError {
  constructor(
    /** The problem, without the place. */
    readonly detail: string,
    readonly variable: string,
    readonly source: SourceRef | undefined,
    /** The value holds Jinja pgplay does not evaluate (reported when a task or a host setting reads it). */
    readonly unsupportedJinja: boolean,
  ) {
    super(`${source ? `${source.file}:${source.line}:${source.col}: ` : ''}${variable}: ${detail}`);
    this.name = 'VariableError';
  }
}

const origins = new WeakMap<Scope, Map<string, VarOrigin>>();

/** Where the value a scope gives for name comes from (undefined for pgplay's own views: groups, env, ...). */
export function variableOrigin(scope: Scope, name: string): VarOrigin | undefined {
  return origins.get(scope)?.get(name);
}

export function buildScope(input: ScopeInput): Scope {
  const host = input.inventory.hosts.get(input.hostName);
  if (!host) throw new Error(`host ${input.hostName} is not in the inventory`);
  const shared = sharedViews(input.inventory, input.extraVars ?? {});
  const scope: Scope = {};
  const where = new Map<string, VarOrigin>();
  origins.set(scope, where);
  const layers: Array<[Record<string, unknown>, VarKind, Record<string, VarSource>?]> = [
    [DEFAULT_VARIABLES, 'default'],
    [host.vars, 'inventory', host.varSources],
    [input.playVars ?? {}, 'play', input.playVarSources],
    [input.registered ?? {}, 'registered'],
    [input.extraVars ?? {}, 'extra'],
  ];
  for (const [vars, kind, sources] of layers) {
    for (const [name, value] of Object.entries(vars)) {
      const origin: VarOrigin = { kind, source: sources?.[name] };
      where.set(name, origin);
      defineVariable(scope, name, value, origin);
    }
  }
  Object.assign(scope, {
    host: { name: host.name, groups: host.groups },
    inventory_hostname: host.name,
    group_names: host.groups.filter((g) => g !== 'all' && g !== 'ungrouped'),
    groups: shared.groups,
    hosts: shared.hosts,
    hostvars: shared.hosts,
    env: environment(),
  });
  return scope;
}

function holdsTemplate(value: unknown): boolean {
  if (typeof value === 'string') return value.includes('{{') || value.includes('{%');
  if (Array.isArray(value)) return value.some(holdsTemplate);
  if (value && typeof value === 'object') return Object.values(value).some(holdsTemplate);
  return false;
}

const resolving = new WeakMap<Scope, Set<string>>();

/** A plain value, or a getter that renders the value once, on first read. */
function defineVariable(scope: Scope, name: string, raw: unknown, origin: VarOrigin): void {
  if (!holdsTemplate(raw)) {
    Object.defineProperty(scope, name, { value: raw, enumerable: true, configurable: true, writable: true });
    return;
  }
  let done = false;
  let value: unknown;
  Object.defineProperty(scope, name, {
    enumerable: true,
    configurable: true,
    get() {
      if (done) return value;
      const active = resolving.get(scope) ?? new Set<string>();
      resolving.set(scope, active);
      if (active.has(name)) {
        const chain = [...active].slice([...active].indexOf(name));
        throw new TemplateError(`variable '${name}' refers to itself${chain.length > 1 ? `: ${[...chain, name].join(' -> ')}` : ''}`);
      }
      active.add(name);
      try {
        value = origin.kind === 'inventory' ? renderInventoryValue(raw, scope) : renderValue(raw, scope);
        done = true;
      } catch (err) {
        throw located(err, name, origin);
      } finally {
        active.delete(name);
      }
      return value;
    },
  });
}

/** The error with the place of the value that could not be rendered, once (an error from a deeper variable keeps its own). */
function located(err: unknown, name: string, origin: VarOrigin): unknown {
  if (err instanceof VariableError || !(err instanceof TemplateError) || !origin.source) return err;
  if (/refers to itself/.test(err.message)) return err;
  const s = origin.source;
  const onLine = err.where && err.where.line === 1 && s.textCol !== undefined;
  const at: SourceRef = { file: s.file, line: s.line, col: onLine ? (s.textCol as number) + (err.where as { column: number }).column : s.col };
  return new VariableError(err.message, name, at, err instanceof JinjaUnsupportedError);
}

interface SharedViews {
  groups: Record<string, string[]>;
  hosts: Record<string, Scope>;
}

const views = new WeakMap<Inventory, WeakMap<object, SharedViews>>();

/** groups and hosts (hostvars) for one inventory and one set of -e values, built once per run. */
function sharedViews(inventory: Inventory, extraVars: Record<string, unknown>): SharedViews {
  let byExtra = views.get(inventory);
  if (!byExtra) views.set(inventory, (byExtra = new WeakMap()));
  const existing = byExtra.get(extraVars);
  if (existing) return existing;
  const groups: Record<string, string[]> = {};
  for (const g of inventory.groups.values()) groups[g.name] = [...g.hosts];
  const hosts: Record<string, Scope> = {};
  for (const name of inventory.hosts.keys()) {
    let scope: Scope | null = null;
    // Another host's variables, rendered in that host's own scope when first read.
    Object.defineProperty(hosts, name, {
      enumerable: true,
      get: () => (scope ??= buildScope({ inventory, hostName: name, extraVars })),
    });
  }
  const made = { groups, hosts };
  byExtra.set(extraVars, made);
  return made;
}

let envView: Record<string | symbol, unknown> | null = null;

/**
 * The environment, for secrets: `{{ env.PGPLAY_REPLICATION_PASSWORD }}`. Every value read from it is a secret from
 * then on, masked in every event, diff, report, error and command output, whatever argument it went into.
 */
export function environment(): Record<string | symbol, unknown> {
  if (!envView) {
    const view: Record<string | symbol, unknown> = {};
    for (const [name, value] of Object.entries(process.env)) {
      Object.defineProperty(view, name, {
        enumerable: true,
        get() {
          if (value !== undefined) rememberSecret(value);
          return value;
        },
      });
    }
    Object.defineProperty(view, ENV_MARK, { value: true, enumerable: false });
    envView = view;
  }
  return envView;
}
