// What the commands share: finding the inventory, reading -e values.
import { existsSync, statSync } from 'node:fs';
import { dirname } from 'node:path';
import { BadOptionsError, InvalidInputError, type Diagnostic } from '../errors';
import { addPlaybookVars, loadInventory } from '../config/inventory';
import { playHostPattern, resolvePattern } from '../config/patterns';
import type { Inventory, Play, Playbook } from '../config/types';
import { readTextFile } from '../config/text-file';
import { parseYamlFile } from '../config/yaml';
import { dialEarly } from '../connection/early-dial';
import type { SettingsPlan } from '../executor/host-settings';

export function inventoryPath(given: string | undefined): string {
  const path = given ?? process.env.PGPLAY_INVENTORY ?? 'inventory.yml';
  if (!existsSync(path)) {
    throw new BadOptionsError(
      given || process.env.PGPLAY_INVENTORY ? `inventory ${path} not found` : 'no inventory: pass -i FILE (or create ./inventory.yml; see inventory.example.yml)',
    );
  }
  return path;
}

/** Load the inventory (with group_vars/ and host_vars/ beside it, and beside the playbook when given) or throw every error in it. */
export function requireInventory(given: string | undefined, playbook?: string): Inventory {
  const loaded = loadInventory(inventoryPath(given));
  if (loaded.errors.length > 0 || !loaded.value) throw new InvalidInputError(loaded.errors);
  if (!playbook || !existsSync(playbook) || !statSync(playbook).isFile()) return loaded.value;
  const withPlaybook = addPlaybookVars(loaded.value, dirname(playbook));
  if (withPlaybook.errors.length > 0 || !withPlaybook.value) throw new InvalidInputError(withPlaybook.errors);
  return withPlaybook.value;
}

/** Each play with the hosts it runs on (after --limit), for reading host settings before the run. */
export function playHostsOf(playbook: Playbook, inventory: Inventory, extraVars: Record<string, unknown>, limit?: string): Array<{ play: Play; hosts: string[] }> {
  const limited = limit ? new Set(resolvePattern(limit, inventory)) : null;
  return playbook.plays.map((play) => ({ play, hosts: resolvePattern(playHostPattern(play.hosts, inventory, extraVars), inventory).filter((h) => !limited || limited.has(h)) }));
}

/**
 * Open the TCP connection to every host the plays reach over ssh, with the settings of the first play it is in (the
 * ones its connection opens with), before ssh2 loads: the hosts' sshd start their side meanwhile.
 */
export function dialHostsEarly(plays: Array<{ hosts: string[] }>, settings: Pick<SettingsPlan, 'get'>): void {
  const seen = new Set<string>();
  plays.forEach(({ hosts }, play) => {
    for (const host of hosts) {
      if (seen.has(host)) continue;
      seen.add(host);
      const s = settings.get(host, play);
      if (s.connection !== 'local' && s.ssh) dialEarly(s.ssh);
    }
  });
}

/** -e key=value (value parsed as YAML scalar: numbers, booleans) and -e @file.yml. */
export function loadExtraVars(specs: string[]): { vars: Record<string, unknown>; errors: Diagnostic[] } {
  const vars: Record<string, unknown> = {};
  const errors: Diagnostic[] = [];
  for (const spec of new Set(specs)) {
    if (spec.startsWith('@')) {
      const file = spec.slice(1);
      if (!existsSync(file)) throw new BadOptionsError(`extra vars file ${file} not found`);
      const read = readTextFile(file, 'extra vars');
      if (read.error) {
        errors.push(read.error);
        continue;
      }
      const parsed = parseYamlFile(file, read.text);
      errors.push(...parsed.errors);
      const value = parsed.value;
      if (parsed.errors.length === 0) {
        if (value === null || typeof value !== 'object' || Array.isArray(value)) {
          errors.push({ ...parsed.at([]), message: `an extra vars file holds a mapping of names to values, got ${value === null ? 'nothing' : Array.isArray(value) ? 'a list' : `the ${typeof value} ${JSON.stringify(value)}`}` });
        } else Object.assign(vars, value);
      }
      continue;
    }
    const eq = spec.indexOf('=');
    if (eq <= 0) throw new BadOptionsError(`-e expects key=value or @file.yml, got '${spec}'`);
    const key = spec.slice(0, eq);
    const raw = spec.slice(eq + 1);
    vars[key] = scalar(raw);
  }
  return { vars, errors };
}

function scalar(raw: string): unknown {
  if (/^-?\d+(\.\d+)?$/.test(raw)) return Number(raw);
  if (raw === 'true' || raw === 'false') return raw === 'true';
  return raw;
}
