// Host patterns as Ansible reads them: all, group, host, a,b (or a:b), wildcards, a:&b (and), a:!b (but not).
import { renderValue, toText } from '../templates/render';
import { didYouMean } from './suggest';
import type { Inventory } from './types';

export class PatternError extends Error {}

/** The hosts a pattern selects, in inventory order; a name that matches nothing is an error, not an empty list. */
export function resolvePattern(pattern: string, inventory: Inventory): string[] {
  const terms = pattern
    .split(/[,:]/)
    .map((t) => t.trim())
    .filter(Boolean);
  if (terms.length === 0) throw new PatternError('nothing to match: name a group, a host, or all');
  const include = new Set<string>();
  const intersect: Array<Set<string>> = [];
  const exclude = new Set<string>();
  let positive = false;
  for (const term of terms) {
    if (term.startsWith('!')) for (const h of matchTerm(term.slice(1), inventory)) exclude.add(h);
    else if (term.startsWith('&')) intersect.push(new Set(matchTerm(term.slice(1), inventory)));
    else {
      positive = true;
      for (const h of matchTerm(term, inventory)) include.add(h);
    }
  }
  // Only exclusions ("!pg3"): everything but those, as --limit users expect.
  const base = positive ? include : new Set(inventory.hosts.keys());
  return [...inventory.hosts.keys()].filter((h) => base.has(h) && intersect.every((s) => s.has(h)) && !exclude.has(h));
}

function matchTerm(term: string, inventory: Inventory): string[] {
  if (term === 'all' || term === '*') return [...inventory.hosts.keys()];
  const group = inventory.groups.get(term);
  if (group) return group.hosts;
  if (inventory.hosts.has(term)) return [term];
  if (term.includes('*') || term.includes('?') || term.startsWith('~')) {
    const re = term.startsWith('~') ? new RegExp(term.slice(1)) : new RegExp(`^${term.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*').replace(/\?/g, '.')}$`);
    const hosts = new Set<string>();
    for (const g of inventory.groups.values()) if (re.test(g.name)) g.hosts.forEach((h) => hosts.add(h));
    for (const h of inventory.hosts.keys()) if (re.test(h)) hosts.add(h);
    if (hosts.size === 0) throw new PatternError(`'${term}' matches no host or group`);
    return [...hosts];
  }
  throw new PatternError(`no host or group named '${term}'${didYouMean(term, [...inventory.groups.keys(), ...inventory.hosts.keys()])}`);
}

/** A play's `hosts` as the run reads it: `hosts: "{{ target }}"` takes its value from -e (and groups), as in Ansible. */
export function playHostPattern(pattern: string, inventory: Inventory, extraVars: Record<string, unknown>): string {
  if (!pattern.includes('{{')) return pattern;
  const groups = Object.fromEntries([...inventory.groups.values()].map((g) => [g.name, g.hosts]));
  return toText(renderValue(pattern, { groups, ...extraVars }));
}
