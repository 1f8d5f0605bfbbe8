import type { InventoryOptions } from '../cli';
import { BadOptionsError, ExitCode } from '../errors';
import type { Inventory } from '../config/types';
import { redactValue } from '../secrets';
import { requireInventory } from './common';

export async function inventoryCommand(o: InventoryOptions): Promise<number> {
  const inventory = requireInventory(o.inventory);
  if (o.host) {
    const host = inventory.hosts.get(o.host);
    if (!host) throw new BadOptionsError(`host ${o.host} is not in the inventory`);
    process.stdout.write(`${JSON.stringify(redactValue(host.vars), null, 2)}\n`);
  } else if (o.graph) {
    process.stdout.write(graph(inventory, 'all', 0, new Set()));
  } else {
    const out = {
      hosts: Object.fromEntries([...inventory.hosts.values()].map((h) => [h.name, { groups: h.groups, vars: redactValue(h.vars) }])),
      groups: Object.fromEntries([...inventory.groups.values()].map((g) => [g.name, { hosts: g.hosts, children: g.children }])),
    };
    process.stdout.write(`${JSON.stringify(out, null, 2)}\n`);
  }
  return ExitCode.ok;
}

/** The group tree like `ansible-inventory --graph`. */
function graph(inventory: Inventory, name: string, depth: number, seen: Set<string>): string {
  const group = inventory.groups.get(name);
  const pad = '  '.repeat(depth);
  let out = `${pad}${depth === 0 ? '' : '|--'}@${name}:\n`;
  if (!group || seen.has(name)) return out;
  seen.add(name);
  for (const child of group.children) out += graph(inventory, child, depth + 1, seen);
  const viaChildren = new Set(group.children.flatMap((c) => inventory.groups.get(c)?.hosts ?? []));
  for (const h of group.hosts) if (!viaChildren.has(h)) out += `${'  '.repeat(depth + 1)}|--${h}\n`;
  return out;
}
