// The variables a task sees, with Ansible's precedence: inventory (all < groups < host) < play vars < registered < -e.
// Variables whose values hold {{ }} are rendered when first read, in the same scope, as Ansible does.
import { rememberSecret } from '../secrets';
import { ENV_MARK, renderValue, TemplateError } from '../templates/render';
import type { Inventory } from './types';

export type Scope = Record<string, unknown>;

export interface ScopeInput {
  inventory: Inventory;
  hostName: string;
  playVars?: Record<string, unknown>;
  extraVars?: Record<string, unknown>;
  registered?: Record<string, unknown>;
}

/** Names pgplay gives meaning to in every scope. */
export const BUILTIN_VARIABLES = ['host', 'hosts', 'hostvars', 'groups', 'group_names', 'inventory_hostname', 'env'];

export function buildScope(input: ScopeInput): Scope {
  const host = input.inventory.hosts.get(input.hostName);
  if (!host) throw new Error(`host ${input.hostName} is not in the inventory`);
  const shared = sharedViews(input.inventory, input.extraVars ?? {});
  const scope: Scope = {};
  const layers = [host.vars, input.playVars ?? {}, input.registered ?? {}, input.extraVars ?? {}];
  for (const layer of layers) for (const [name, value] of Object.entries(layer)) defineVariable(scope, name, value, host.name);
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
  if (typeof value === 'string') return value.includes('{{');
  if (Array.isArray(value)) return value.some(holdsTemplate);
  if (value && typeof value === 'object') return Object.values(value).some(holdsTemplate);
  return false;
}

const resolving = new WeakMap<Scope, Set<string>>();

/** A plain value, or a getter that renders the value once, on first read. */
function defineVariable(scope: Scope, name: string, raw: unknown, hostName: string): void {
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
        value = renderValue(raw, scope);
        done = true;
      } catch (err) {
        // Say which variable could not be rendered (the innermost one, when one refers to another).
        if (!(err instanceof TemplateError) || err.message.startsWith('variable ')) throw err;
        throw new TemplateError(`variable '${name}' of ${hostName}: ${err.message}`);
      } finally {
        active.delete(name);
      }
      return value;
    },
  });
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
