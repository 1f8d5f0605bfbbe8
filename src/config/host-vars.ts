// Each host's variables with Ansible's precedence (VariableManager.get_vars, default VARIABLE_PRECEDENCE):
//   inventory group vars: all, then the host's groups by depth, priority, name
//   < group_vars/all beside the inventory < group_vars/all beside the playbook
//   < group_vars/GROUP beside the inventory < beside the playbook (groups in the same order)
//   < the host's inventory vars < host_vars/HOST beside the inventory < beside the playbook.
import type { Inventory, VarLayer, VarSource } from './types';

export function mergeHostVars(inventory: Inventory): void {
  const depth = groupDepths(inventory);
  const priority = (name: string) => {
    const p = Number(inventory.groups.get(name)?.vars.ansible_group_priority ?? 1);
    return Number.isFinite(p) ? p : 1;
  };
  const inventoryDirs = inventory.varsDirs.filter((d) => d.kind === 'inventory');
  const playbookDirs = inventory.varsDirs.filter((d) => d.kind === 'playbook');
  for (const host of inventory.hosts.values()) {
    const memberOf = [...inventory.groups.values()].filter((g) => g.hosts.includes(host.name)).map((g) => g.name);
    const groups = memberOf.sort((a, b) => (depth.get(a) ?? 0) - (depth.get(b) ?? 0) || priority(a) - priority(b) || (a === 'all' ? -1 : b === 'all' ? 1 : a.localeCompare(b)));
    const others = groups.filter((g) => g !== 'all');
    const layers: Array<VarLayer | undefined> = [
      ...groups.map((g) => {
        const group = inventory.groups.get(g);
        return group && { vars: group.vars, sources: group.varSources };
      }),
      ...inventoryDirs.map((d) => d.groups.get('all')),
      ...playbookDirs.map((d) => d.groups.get('all')),
      ...inventoryDirs.flatMap((d) => others.map((g) => d.groups.get(g))),
      ...playbookDirs.flatMap((d) => others.map((g) => d.groups.get(g))),
      inventory.hostLayers.get(host.name),
      ...inventoryDirs.map((d) => d.hosts.get(host.name)),
      ...playbookDirs.map((d) => d.hosts.get(host.name)),
    ];
    const vars: Record<string, unknown> = {};
    const sources: Record<string, VarSource> = {};
    for (const layer of layers) {
      if (!layer) continue;
      for (const [k, v] of Object.entries(layer.vars)) {
        vars[k] = v;
        if (layer.sources[k]) sources[k] = layer.sources[k];
      }
    }
    host.vars = vars;
    host.varSources = sources;
    host.groups = groups;
  }
}

/** The longest path from all to each group, as Ansible's group depth. */
function groupDepths(inventory: Inventory): Map<string, number> {
  const depth = new Map<string, number>();
  const set = (name: string, d: number, seen: Set<string>) => {
    if ((depth.get(name) ?? -1) >= d || seen.has(name)) return;
    depth.set(name, d);
    seen.add(name);
    for (const child of inventory.groups.get(name)?.children ?? []) set(child, d + 1, seen);
    seen.delete(name);
  };
  set('all', 0, new Set());
  return depth;
}
