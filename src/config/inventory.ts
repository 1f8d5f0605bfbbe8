// Inventories in Ansible's YAML layout: groups with hosts, vars and children; variables merged with Ansible's precedence.
import type { Diagnostic } from '../errors';
import { schemaDiagnostics } from './schema-check';
import { inventoryValidator } from './validators';
import type { Inventory, InventoryGroup, InventoryHost, Loaded, SourceRef } from './types';
import { readTextFile } from './text-file';
import { parseYamlFile, type YamlPath, type YamlSource } from './yaml';

type RawGroup = { hosts?: Record<string, Record<string, unknown> | null> | null; vars?: Record<string, unknown> | null; children?: Record<string, RawGroup | null> | null } | null;

export function loadInventory(file: string): Loaded<Inventory> {
  const read = readTextFile(file, 'inventory');
  return read.error ? { value: null, errors: [read.error] } : parseInventory(file, read.text);
}

export function parseInventory(file: string, text: string): Loaded<Inventory> {
  const ini = iniSection(text);
  if (ini) return { value: null, errors: [{ file, ...ini, message: INI_MESSAGE }] };
  const src = parseYamlFile(file, text);
  if (src.errors.length > 0) return { value: null, errors: src.errors };
  if (src.value === null || src.value === undefined) return { value: null, errors: [{ file, line: 1, col: 1, message: 'the inventory is empty: expected all: {hosts, vars, children}' }] };
  const errors = schemaDiagnostics(src, inventoryValidator(), { label: inventoryLabel, wrongType: inventoryWrongType });
  if (errors.length > 0) return { value: null, errors };
  return buildInventory(src);
}

const INI_MESSAGE = "this is an INI inventory: pgplay reads Ansible's YAML layout (all: {hosts, vars, children}); `ansible-inventory -i FILE --list --yaml` converts it";

/** Where an INI inventory shows itself: its first line that is a [section] header (YAML would read a list). */
function iniSection(text: string): { line: number; col: number } | null {
  const lines = text.split('\n');
  const first = lines.findIndex((l) => l.trim() !== '' && !/^\s*[#;]/.test(l));
  return first >= 0 && /^\[[A-Za-z0-9_.:-]+\]\s*$/.test(lines[first]) ? { line: first + 1, col: 1 } : null;
}

function inventoryLabel(path: YamlPath): string {
  if (path.length === 0) return 'the inventory';
  const last = path[path.length - 1];
  const parent = path[path.length - 2];
  if (parent === 'hosts') return `host ${String(last)}`;
  if (parent === 'children') return `group ${String(last)}`;
  if (path.length === 1) return `group ${String(last)}`;
  if (parent !== undefined && path[path.length - 3] === 'hosts') return `${String(last)} of host ${String(parent)}`;
  if (parent !== undefined && (last === 'hosts' || last === 'vars' || last === 'children')) return `${last} of group ${String(parent)}`;
  if (parent === 'vars' && path.length >= 3) return `${String(last)} of group ${String(path[path.length - 3])}`;
  return String(last);
}

function inventoryWrongType(path: YamlPath, data: unknown, _expected: string, got: string): string | null {
  if (path.length === 0) return `the inventory must be a mapping of groups, as in all: {hosts, vars, children}; got ${got}`;
  if (path[path.length - 1] !== 'hosts' || !Array.isArray(data)) return null;
  return `${inventoryLabel(path)} must be a mapping, got ${got}: write each host as a key ('pg1:'), with its variables under it`;
}

interface GroupDraft {
  name: string;
  directHosts: string[];
  children: string[];
  vars: Record<string, unknown>;
  source: SourceRef;
}

function buildInventory(src: YamlSource): Loaded<Inventory> {
  const errors: Diagnostic[] = [];
  const root = src.value as Record<string, RawGroup>;
  const drafts = new Map<string, GroupDraft>();
  const hostVars = new Map<string, Record<string, unknown>>();
  const hostSource = new Map<string, SourceRef>();

  const visit = (name: string, raw: RawGroup, path: YamlPath, stack: string[]) => {
    if (stack.includes(name)) {
      errors.push({ ...src.at(path, 'key'), message: `group ${name} is its own ancestor (${[...stack, name].join(' > ')}): groups may not form a circle` });
      return;
    }
    let draft = drafts.get(name);
    if (!draft) drafts.set(name, (draft = { name, directHosts: [], children: [], vars: {}, source: src.at(path, 'key') }));
    if (!raw) return;
    Object.assign(draft.vars, raw.vars ?? {});
    for (const [host, vars] of Object.entries(raw.hosts ?? {})) {
      if (!draft.directHosts.includes(host)) draft.directHosts.push(host);
      if (!hostSource.has(host)) hostSource.set(host, src.at([...path, 'hosts', host], 'key'));
      hostVars.set(host, { ...(hostVars.get(host) ?? {}), ...(vars ?? {}) });
    }
    for (const [child, rawChild] of Object.entries(raw.children ?? {})) {
      if (!draft.children.includes(child)) draft.children.push(child);
      visit(child, rawChild, [...path, 'children', child], [...stack, name]);
    }
  };

  const all = root.all ?? null;
  visit('all', all, ['all'], []);
  // Top-level groups besides `all` are its children, as in Ansible.
  for (const [name, raw] of Object.entries(root)) {
    if (name === 'all') continue;
    const allDraft = drafts.get('all') as GroupDraft;
    if (!allDraft.children.includes(name)) allDraft.children.push(name);
    visit(name, raw, [name], ['all']);
  }
  for (const name of drafts.keys()) {
    if (hostVars.has(name)) errors.push({ ...(hostSource.get(name) as SourceRef), message: `${name} is the name of both a host and a group: rename one of them` });
  }
  if (errors.length > 0) return { value: null, errors };
  if (hostVars.size === 0) return { value: null, errors: [{ ...src.at([]), message: 'the inventory has no hosts' }] };

  // Depth: the longest path from all; group variables apply shallow to deep, then by name, as in Ansible.
  const depth = new Map<string, number>();
  const setDepth = (name: string, d: number) => {
    if ((depth.get(name) ?? -1) >= d) return;
    depth.set(name, d);
    for (const child of drafts.get(name)?.children ?? []) setDepth(child, d + 1);
  };
  setDepth('all', 0);

  const hostsOf = (name: string, seen = new Set<string>()): string[] => {
    if (seen.has(name)) return [];
    seen.add(name);
    const draft = drafts.get(name);
    if (!draft) return [];
    return [...draft.directHosts, ...draft.children.flatMap((c) => hostsOf(c, seen))];
  };
  const order = [...hostVars.keys()];
  const groups = new Map<string, InventoryGroup>();
  for (const draft of drafts.values()) {
    const members = new Set(hostsOf(draft.name));
    groups.set(draft.name, { name: draft.name, hosts: order.filter((h) => members.has(h)), children: draft.children, vars: draft.vars, source: draft.source });
  }
  const grouped = new Set([...groups.values()].filter((g) => g.name !== 'all').flatMap((g) => g.hosts));
  const ungrouped = order.filter((h) => !grouped.has(h));
  if (!groups.has('ungrouped')) groups.set('ungrouped', { name: 'ungrouped', hosts: ungrouped, children: [], vars: {}, source: src.at(['all']) });

  const hosts = new Map<string, InventoryHost>();
  for (const name of order) {
    const memberOf = [...groups.values()].filter((g) => g.hosts.includes(name)).map((g) => g.name);
    const ordered = [...memberOf].sort((a, b) => (depth.get(a) ?? 0) - (depth.get(b) ?? 0) || (a === 'all' ? -1 : b === 'all' ? 1 : a.localeCompare(b)));
    const vars: Record<string, unknown> = {};
    for (const g of ordered) Object.assign(vars, groups.get(g)?.vars ?? {});
    Object.assign(vars, hostVars.get(name));
    hosts.set(name, { name, vars, groups: ordered, source: hostSource.get(name) as SourceRef });
  }
  return { value: { file: src.file, hosts, groups }, errors: [] };
}
