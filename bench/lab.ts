// The loopback lab as the benchmark uses it: its CLI (not timed), its inventory, the shell script's host list.
import { execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'yaml';

export interface LabHost {
  name: string;
  role: 'primary' | 'replica';
  vars: Record<string, unknown>;
}

/** `PGPLAY_BENCH_LAB` overrides the lab command (a stand-in lab while the real one is built). */
function labCommand(root: string): string[] {
  const custom = process.env.PGPLAY_BENCH_LAB;
  return custom ? custom.split(' ') : [process.execPath, join(root, 'dist', 'test', 'lab', 'cli.js')];
}

export function inventoryPath(root: string): string {
  return process.env.PGPLAY_BENCH_INVENTORY ?? join(root, '.lab', 'inventory.yml');
}

export function labDown(root: string): void {
  const [cmd, ...args] = labCommand(root);
  execFileSync(cmd, [...args, 'down'], { cwd: root, stdio: ['ignore', 'ignore', 'inherit'], timeout: 120_000 });
}

/** Fresh hosts: whatever ran before is torn down first. */
export function labUp(root: string, hosts: number): void {
  labDown(root);
  const [cmd, ...args] = labCommand(root);
  execFileSync(cmd, [...args, 'up', String(hosts)], { cwd: root, stdio: ['ignore', 'ignore', 'inherit'], timeout: 300_000 });
}

type Group = { vars?: Record<string, unknown>; hosts?: Record<string, Record<string, unknown> | null> };

/** The hosts of groups primary and replicas with their merged variables (all < group < host). */
export function readLabHosts(path: string): LabHost[] {
  const doc = parse(readFileSync(path, 'utf8')) as { all: { vars?: Record<string, unknown>; children?: Record<string, Group> } };
  const allVars = doc.all.vars ?? {};
  const out: LabHost[] = [];
  for (const [group, role] of [['primary', 'primary'], ['replicas', 'replica']] as const) {
    const g = doc.all.children?.[group];
    for (const [name, hostVars] of Object.entries(g?.hosts ?? {})) {
      out.push({ name, role, vars: { ...allVars, ...(g?.vars ?? {}), ...(hostVars ?? {}) } });
    }
  }
  if (out.filter((h) => h.role === 'primary').length !== 1) throw new Error(`${path}: expected exactly one host in group primary`);
  return out;
}

/** What bench/shell/site.sh reads: one host a line, the primary first, plus its ssh settings. */
export function writeShellHosts(hosts: LabHost[], file: string): Record<string, string> {
  const v = (h: LabHost, key: string) => {
    const value = h.vars[key];
    if (value === undefined || value === null || value === '') throw new Error(`lab inventory: ${h.name} has no ${key}`);
    return String(value);
  };
  const lines = hosts.map((h) =>
    [h.name, h.role, v(h, 'ansible_host'), v(h, 'pg_address'), v(h, 'pg_port'), v(h, 'pg_bin_dir'), v(h, 'pg_data_dir'), v(h, 'pg_config_dir'), v(h, 'pg_socket_dir'), v(h, 'pg_log_file'), String(h.vars.pg_client_address ?? v(h, 'pg_address'))].join(' '),
  );
  writeFileSync(file, `${lines.join('\n')}\n`);
  const first = hosts[0];
  return {
    SSH_KEY: v(first, 'ansible_ssh_private_key_file'),
    KNOWN_HOSTS: v(first, 'ssh_known_hosts_file'),
    SSH_USER: String(first.vars.ansible_user ?? 'root'),
    REPLICATION_USER: String(first.vars.replication_user ?? 'replicator'),
  };
}
