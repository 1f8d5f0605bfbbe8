// Inventories as Ansible reads them: the YAML layout, the INI layout, or a directory of such files; then
// group_vars/ and host_vars/ beside the inventory (and, with addPlaybookVars, beside the playbook).
import { readdirSync, statSync } from 'node:fs';
import { dirname, extname, join, resolve } from 'node:path';
import type { Diagnostic } from '../errors';
import { mergeHostVars } from './host-vars';
import { expandHostRange, HostRangeError, splitHostPort } from './host-ranges';
import { InventoryBuilder } from './inventory-builder';
import { readIniInventory } from './inventory-ini';
import { schemaDiagnostics } from './schema-check';
import { inventoryValidator } from './validators';
import type { Inventory, Loaded, SourceRef } from './types';
import { readTextFile } from './text-file';
import { readVarsDir } from './vars-files';
import { parseYamlFile, type YamlPath, type YamlSource } from './yaml';

type RawGroup = { hosts?: Record<string, Record<string, unknown> | null> | null; vars?: Record<string, unknown> | null; children?: Record<string, RawGroup | null> | null } | null;

/** An inventory file or directory, with the group_vars/ and host_vars/ beside it. */
export function loadInventory(path: string): Loaded<Inventory> {
  const directory = isDirectory(path);
  const b = new InventoryBuilder(path);
  const files = directory ? inventoryFiles(path) : [path];
  if (directory && files.length === 0) return { value: null, errors: [{ file: path, line: 1, col: 1, message: 'this inventory directory holds no inventory file' }] };
  for (const file of files) {
    const read = readTextFile(file, 'inventory');
    if (read.error) b.errors.push(read.error);
    else readInventorySource(file, read.text, b);
  }
  if (b.errors.length > 0) return { value: null, errors: sorted(b.errors) };
  const built = b.finish({ file: files[0], line: 1, col: 1 });
  if (!built.value) return built;
  return withVarsDir(built.value, directory ? path : dirname(path), 'inventory');
}

/** One inventory file's text, without group_vars/ (tests, and the unit of loadInventory). */
export function parseInventory(file: string, text: string): Loaded<Inventory> {
  const b = new InventoryBuilder(file);
  readInventorySource(file, text, b);
  if (b.errors.length > 0) return { value: null, errors: sorted(b.errors) };
  return b.finish({ file, line: 1, col: 1 });
}

/** The inventory with group_vars/ and host_vars/ beside the playbook too (between the inventory's and -e). */
export function addPlaybookVars(inventory: Inventory, playbookDir: string): Loaded<Inventory> {
  const dir = resolve(playbookDir);
  if (inventory.varsDirs.some((d) => resolve(d.dir) === dir)) return { value: inventory, errors: [] };
  const copy: Inventory = { ...inventory, hosts: new Map([...inventory.hosts].map(([n, h]) => [n, { ...h }])), varsDirs: [...inventory.varsDirs] };
  return withVarsDir(copy, playbookDir, 'playbook');
}

function withVarsDir(inventory: Inventory, dir: string, kind: 'inventory' | 'playbook'): Loaded<Inventory> {
  const read = readVarsDir(dir, kind, inventory);
  if (read.errors.length > 0) return { value: null, errors: sorted(read.errors) };
  if (read.value.groups.size === 0 && read.value.hosts.size === 0) return { value: inventory, errors: [] };
  inventory.varsDirs.push(read.value);
  mergeHostVars(inventory);
  return { value: inventory, errors: [] };
}

function sorted(errors: Diagnostic[]): Diagnostic[] {
  return [...errors].sort((a, b) => (a.file === b.file ? a.line - b.line || a.col - b.col : a.file.localeCompare(b.file)));
}

function isDirectory(path: string): boolean {
  try {
    return statSync(path).isDirectory();
  } catch {
    return false;
  }
}

// As Ansible's inventory manager: hidden entries, group_vars/ and host_vars/ are not inventories, nor are files
// with these endings (INVENTORY_IGNORE_EXTS: .ini is among them, a directory's .ini files are script configs).
const IGNORED_NAMES = /^(\..*|host_vars|group_vars|vars_plugins)$/;
const IGNORED_ENDINGS = ['~', '.orig', '.bak', '.ini', '.cfg', '.retry', '.pyc', '.pyo', '.swp', '.rpm', '.md', '.txt', '.rst'];

/** Inventory files of a directory, sorted, recursively. */
function inventoryFiles(dir: string): string[] {
  const out: string[] = [];
  for (const entry of readdirSync(dir).sort()) {
    if (IGNORED_NAMES.test(entry) || IGNORED_ENDINGS.some((e) => entry.endsWith(e))) continue;
    const path = join(dir, entry);
    if (isDirectory(path)) out.push(...inventoryFiles(path));
    else out.push(path);
  }
  return out;
}

/** YAML when the text is a YAML mapping (or a .yml file that is not INI-shaped); INI otherwise, as Ansible tries both. */
function readInventorySource(file: string, text: string, b: InventoryBuilder): void {
  if (extname(file).toLowerCase() === '.ini') {
    readIniInventory(file, text, b);
    return;
  }
  const src = parseYamlFile(file, text);
  const mapping = src.errors.length === 0 && src.value !== null && typeof src.value === 'object' && !Array.isArray(src.value);
  if (!mapping && looksLikeIni(text)) {
    readIniInventory(file, text, b);
    return;
  }
  if (src.errors.length > 0) {
    b.errors.push(...src.errors);
    return;
  }
  if (src.value === null || src.value === undefined) {
    b.errors.push({ file, line: 1, col: 1, message: 'the inventory is empty: expected all: {hosts, vars, children}' });
    return;
  }
  const errors = schemaDiagnostics(src, inventoryValidator(), { label: inventoryLabel, wrongType: inventoryWrongType });
  if (errors.length > 0) {
    b.errors.push(...errors);
    return;
  }
  readYamlInventory(src, b);
}

/** The first line that says something is a [section], or a host name alone or with key=value words. */
function looksLikeIni(text: string): boolean {
  const first = text.split('\n').map((l) => l.trim()).find((l) => l !== '' && !l.startsWith('#') && !l.startsWith(';'));
  if (!first) return false;
  return /^\[[^\]]+\]/.test(first) || /^[A-Za-z0-9_.\[\]-]+(:\d+)?(\s+[^\s=]+=.*)?$/.test(first);
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

/** The YAML layout into the builder: every group, its vars, hosts (ranges and :port expanded) and children. */
function readYamlInventory(src: YamlSource, b: InventoryBuilder): void {
  const root = src.value as Record<string, RawGroup>;
  const visiting: string[] = [];
  const varSource = (path: YamlPath) => {
    const text = src.textAt(path);
    return { ...src.at(path), ...(text ? { textCol: text.col } : {}) };
  };
  const visit = (name: string, raw: RawGroup, path: YamlPath) => {
    b.group(name, src.at(path, 'key'));
    if (!raw || visiting.includes(name)) return;
    visiting.push(name);
    for (const [key, value] of Object.entries(raw.vars ?? {})) b.groupVar(name, key, value, varSource([...path, 'vars', key]));
    for (const [pattern, vars] of Object.entries(raw.hosts ?? {})) {
      const at: SourceRef = src.at([...path, 'hosts', pattern], 'key');
      let hosts: string[];
      let port: number | undefined;
      try {
        const split = splitHostPort(pattern);
        port = split.port;
        hosts = expandHostRange(split.host);
      } catch (err) {
        if (!(err instanceof HostRangeError)) throw err;
        b.error({ ...at, col: at.col + err.offset }, `host ${pattern}: ${err.message}`);
        continue;
      }
      for (const host of hosts) {
        b.host(name, host, at);
        if (port !== undefined) b.hostVar(host, 'ansible_port', port, at);
        for (const [key, value] of Object.entries(vars ?? {})) b.hostVar(host, key, value, varSource([...path, 'hosts', pattern, key]));
      }
    }
    for (const [child, rawChild] of Object.entries(raw.children ?? {})) {
      b.child(name, child, src.at([...path, 'children', child], 'key'));
      visit(child, rawChild, [...path, 'children', child]);
    }
    visiting.pop();
  };
  visit('all', root.all ?? null, ['all']);
  for (const [name, raw] of Object.entries(root)) if (name !== 'all') visit(name, raw, [name]);
}
