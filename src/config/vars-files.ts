// group_vars/ and host_vars/ as Ansible's host_group_vars plugin finds them in a directory: for a group or host
// NAME, the first of NAME (a file, or a directory of files read in sorted order, recursively), NAME.yml,
// NAME.yaml, NAME.json. Only the inventory's own groups and hosts are looked up, as in Ansible.
import { existsSync, readdirSync, statSync } from 'node:fs';
import { extname, join } from 'node:path';
import type { Diagnostic } from '../errors';
import { emptyLayer } from './inventory-builder';
import { readTextFile } from './text-file';
import type { Inventory, VarLayer, VarsDir } from './types';
import { parseYamlFile } from './yaml';

const EXTENSIONS = ['', '.yml', '.yaml', '.json'];

/** Read group_vars/ and host_vars/ of dir for the inventory's groups and hosts. */
export function readVarsDir(dir: string, kind: VarsDir['kind'], inventory: Inventory): { value: VarsDir; errors: Diagnostic[] } {
  const errors: Diagnostic[] = [];
  const read = (sub: string, names: Iterable<string>) => {
    const out = new Map<string, VarLayer>();
    const base = join(dir, sub);
    if (!isDirectory(base)) return out;
    for (const name of names) {
      const files = varsFiles(base, name);
      if (files.length === 0) continue;
      const layer = emptyLayer();
      for (const file of files) errors.push(...readVarsFile(file, layer));
      out.set(name, layer);
    }
    return out;
  };
  return { value: { dir, kind, groups: read('group_vars', inventory.groups.keys()), hosts: read('host_vars', inventory.hosts.keys()) }, errors };
}

function isDirectory(path: string): boolean {
  try {
    return statSync(path).isDirectory();
  } catch {
    return false;
  }
}

/** DataLoader.find_vars_files: the first of NAME, NAME.yml, NAME.yaml, NAME.json that exists. */
function varsFiles(base: string, name: string): string[] {
  for (const ext of EXTENSIONS) {
    const path = join(base, name + ext);
    if (!existsSync(path)) continue;
    return isDirectory(path) ? dirFiles(path) : [path];
  }
  return [];
}

/** Files of a vars directory, sorted, recursively; hidden files, backups (~) and other extensions are skipped. */
function dirFiles(dir: string): string[] {
  const out: string[] = [];
  for (const entry of readdirSync(dir).sort()) {
    if (entry.startsWith('.') || entry.endsWith('~')) continue;
    const path = join(dir, entry);
    const ext = extname(entry);
    if (isDirectory(path)) {
      if (!ext) out.push(...dirFiles(path));
    } else if (!ext || EXTENSIONS.includes(ext)) out.push(path);
  }
  return out;
}

/** One vars file (YAML; JSON is YAML) into the layer: a mapping of names to values, or nothing. */
function readVarsFile(file: string, layer: VarLayer): Diagnostic[] {
  const read = readTextFile(file, 'variables');
  if (read.error) return [{ ...read.error, file }];
  const vault = /!vault\b/.exec(read.text);
  if (vault) {
    const before = read.text.slice(0, vault.index);
    const line = before.split('\n').length;
    return [{ file, line, col: vault.index - before.lastIndexOf('\n'), message: 'Ansible Vault values are not read by pgplay: give secrets from the environment, as in "{{ lookup(\'env\', \'NAME\') }}"' }];
  }
  const src = parseYamlFile(file, read.text);
  if (src.errors.length > 0) return src.errors;
  const value = src.value;
  if (value === null || value === undefined) return [];
  if (typeof value !== 'object' || Array.isArray(value)) {
    return [{ ...src.at([]), message: `a variables file holds a mapping of names to values, got ${Array.isArray(value) ? 'a list' : `the ${typeof value} ${JSON.stringify(value)}`}` }];
  }
  for (const [key, v] of Object.entries(value as Record<string, unknown>)) {
    layer.vars[key] = v;
    const text = src.textAt([key]);
    layer.sources[key] = { ...src.at([key]), ...(text ? { textCol: text.col } : {}) };
  }
  return [];
}
