// What YAML and INI inventory files say, gathered in one place and checked as a whole: groups, their children and
// hosts, variables with where each is written. Several files (a directory) add to the same inventory, as in Ansible.
import type { Diagnostic } from '../errors';
import type { Inventory, InventoryGroup, Loaded, SourceRef, VarLayer, VarSource } from './types';
import { mergeHostVars } from './host-vars';

interface GroupDraft {
  name: string;
  hosts: string[];
  children: Array<{ name: string; source: SourceRef }>;
  layer: VarLayer;
  source: SourceRef;
}

export class InventoryBuilder {
  readonly errors: Diagnostic[] = [];
  #groups = new Map<string, GroupDraft>();
  #hosts = new Map<string, { layer: VarLayer; source: SourceRef }>();
  #first: SourceRef | null = null;

  constructor(readonly file: string) {}

  error(at: SourceRef, message: string): void {
    this.errors.push({ file: at.file, line: at.line, col: at.col, message });
  }

  group(name: string, source: SourceRef): void {
    this.#first ??= source;
    if (!this.#groups.has(name)) this.#groups.set(name, { name, hosts: [], children: [], layer: emptyLayer(), source });
  }

  child(parent: string, child: string, source: SourceRef): void {
    this.group(parent, source);
    this.group(child, source);
    const draft = this.#groups.get(parent) as GroupDraft;
    if (!draft.children.some((c) => c.name === child)) draft.children.push({ name: child, source });
  }

  host(group: string, name: string, source: SourceRef): void {
    this.group(group, source);
    const draft = this.#groups.get(group) as GroupDraft;
    if (!draft.hosts.includes(name)) draft.hosts.push(name);
    if (!this.#hosts.has(name)) this.#hosts.set(name, { layer: emptyLayer(), source });
  }

  groupVar(group: string, key: string, value: unknown, source: VarSource): void {
    setVar((this.#groups.get(group) as GroupDraft).layer, key, value, source);
  }

  hostVar(host: string, key: string, value: unknown, source: VarSource): void {
    setVar((this.#hosts.get(host) as { layer: VarLayer }).layer, key, value, source);
  }

  /** The inventory, or every error found: circles of groups, a name that is both host and group, no hosts. */
  finish(whole: SourceRef): Loaded<Inventory> {
    const errors = [...this.errors];
    this.group('all', whole);
    const drafts = this.#groups;
    // A group nobody names as a child is a child of all; ungrouped holds the hosts of no other group (Ansible).
    const named = new Set([...drafts.values()].flatMap((g) => g.children.map((c) => c.name)));
    const all = drafts.get('all') as GroupDraft;
    for (const g of drafts.values()) if (g.name !== 'all' && !named.has(g.name) && g.name !== 'ungrouped') all.children.push({ name: g.name, source: g.source });
    const circles = findCircles(drafts);
    for (const c of circles) errors.push({ ...c.source, message: `group ${c.name} is its own ancestor (${c.path.join(' > ')}): groups may not form a circle` });
    for (const name of drafts.keys()) {
      const host = this.#hosts.get(name);
      if (host) errors.push({ ...host.source, message: `${name} is the name of both a host and a group: rename one of them` });
    }
    if (errors.length > 0) return { value: null, errors };
    if (this.#hosts.size === 0) return { value: null, errors: [{ ...(this.#first ?? whole), message: 'the inventory has no hosts' }] };

    const order = [...this.#hosts.keys()];
    const hostsOf = (name: string, seen = new Set<string>()): string[] => {
      if (seen.has(name)) return [];
      seen.add(name);
      const draft = drafts.get(name);
      if (!draft) return [];
      return [...draft.hosts, ...draft.children.flatMap((c) => hostsOf(c.name, seen))];
    };
    const groups = new Map<string, InventoryGroup>();
    for (const d of drafts.values()) {
      const members = new Set(d.name === 'all' ? order : hostsOf(d.name));
      groups.set(d.name, { name: d.name, hosts: order.filter((h) => members.has(h)), children: d.children.map((c) => c.name), vars: d.layer.vars, varSources: d.layer.sources, source: d.source });
    }
    const grouped = new Set([...groups.values()].filter((g) => g.name !== 'all' && g.name !== 'ungrouped').flatMap((g) => g.hosts));
    const ungrouped = groups.get('ungrouped');
    const loose = order.filter((h) => !grouped.has(h));
    if (ungrouped) ungrouped.hosts = loose;
    else groups.set('ungrouped', { name: 'ungrouped', hosts: loose, children: [], vars: {}, varSources: {}, source: whole });
    // ungrouped is a child of all when it holds a host (ansible-inventory --graph shows it empty too; pgplay does not).
    if (loose.length > 0 && !groups.get('all')!.children.includes('ungrouped')) groups.get('all')!.children.push('ungrouped');

    const hostLayers = new Map([...this.#hosts].map(([name, h]) => [name, h.layer]));
    const inventory: Inventory = { file: this.file, hosts: new Map(), groups, hostLayers, varsDirs: [] };
    for (const [name, h] of this.#hosts) inventory.hosts.set(name, { name, vars: {}, varSources: {}, groups: [], source: h.source });
    mergeHostVars(inventory);
    return { value: inventory, errors: [] };
  }
}

export function emptyLayer(): VarLayer {
  return { vars: {}, sources: {} };
}

function setVar(layer: VarLayer, key: string, value: unknown, source: VarSource): void {
  layer.vars[key] = value;
  layer.sources[key] = source;
}

/** Each circle of child groups once, at the child entry that closes it. */
function findCircles(drafts: Map<string, GroupDraft>): Array<{ name: string; path: string[]; source: SourceRef }> {
  const out: Array<{ name: string; path: string[]; source: SourceRef }> = [];
  const done = new Set<string>();
  const visit = (name: string, stack: string[]) => {
    if (done.has(name)) return;
    const draft = drafts.get(name);
    for (const child of draft?.children ?? []) {
      if (stack.includes(child.name)) {
        out.push({ name: child.name, path: [...stack, name, child.name], source: child.source });
        continue;
      }
      visit(child.name, [...stack, name]);
    }
    done.add(name);
  };
  visit('all', []);
  for (const name of drafts.keys()) visit(name, []);
  return out;
}
