// The lab as the benchmark uses it: its CLI (not timed), its hosts' sshd files, their login shell's profile, the
// inventory, and the shell script's host list. The network-namespace lab by default, the loopback lab on request.
import { execFileSync, spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'yaml';

export type LabKind = 'netns' | 'loopback';
export type Variant = 'clean' | 'profile';

/** What the bench needs of a lab host: its sshd (pid file, log) and the login user's HOME there. */
export interface BenchHost {
  name: string;
  address: string;
  sshdPidFile: string;
  sshdLog: string;
  home: string;
}

export interface BenchLab {
  kind: LabKind;
  root: string;
  inventory: string;
  hosts: BenchHost[];
}

/** The lab's own id: namespaces pgplay-bench-*, Debian clusters pgplay_bench_pgN, nothing shared with the tests' labs. */
export const BENCH_LAB_ID = 'bench';

function labCli(root: string): string[] {
  return [process.execPath, join(root, 'dist', 'test', 'lab', 'cli.js')];
}

function labArgs(kind: LabKind, labRoot: string): string[] {
  return kind === 'netns' ? ['--netns', '--id', BENCH_LAB_ID, '--root', labRoot] : ['--root', labRoot];
}

export function labDown(root: string, kind: LabKind, labRoot: string): void {
  const [cmd, ...args] = labCli(root);
  execFileSync(cmd, [...args, 'down', ...labArgs(kind, labRoot)], { cwd: root, stdio: ['ignore', 'ignore', 'inherit'], timeout: 180_000 });
}

/**
 * Fresh hosts: whatever ran before is torn down first. Another session's namespace lab may hold every free
 * documentation range for a while: then wait for it (up to 5 minutes).
 */
export function labUp(root: string, kind: LabKind, labRoot: string, hosts: number, options: { sshdOnly?: boolean } = {}): BenchLab {
  const [cmd, ...args] = labCli(root);
  const extra = options.sshdOnly ? ['--sshd-only'] : [];
  const deadline = Date.now() + 300_000;
  for (;;) {
    const r = spawnSync(cmd, [...args, 'up', String(hosts), ...labArgs(kind, labRoot), ...extra], { cwd: root, encoding: 'utf8', stdio: ['ignore', 'ignore', 'pipe'], timeout: 600_000 });
    if (r.status === 0) return readBenchLab(kind, labRoot);
    if (!/every documentation range is in use/.test(r.stderr) || Date.now() > deadline) throw new Error(`lab up ${hosts} failed: ${r.stderr.trim()}`);
    process.stderr.write('bench: another lab holds every free address range; waiting for it\n');
    spawnSync('sleep', ['10']);
  }
}

interface LabJsonHost {
  name: string;
  address: string;
  sshd: { pidFile: string; log: string; home: string };
}

export function readBenchLab(kind: LabKind, labRoot: string): BenchLab {
  const lab = JSON.parse(readFileSync(join(labRoot, 'lab.json'), 'utf8')) as { root: string; inventory: string; hosts: LabJsonHost[] };
  return {
    kind,
    root: lab.root,
    inventory: lab.inventory,
    hosts: lab.hosts.map((h) => ({ name: h.name, address: h.address, sshdPidFile: h.sshd.pidFile, sshdLog: h.sshd.log, home: h.sshd.home })),
  };
}

/** The file each login shell on the host appends its pid to (see writeProfile). */
export function shellStartsFile(host: BenchHost): string {
  return join(host.home, '.pgplay-bench-shells');
}

/**
 * The login user's ~/.bashrc on every host (bash reads it for every ssh command, as Debian builds it). Both variants
 * count the shell; the profile variant then spends `loops` turns of a bash loop: real CPU, as a profile that runs
 * `pyenv init` or `nvm` does, not a sleep.
 */
export function writeProfile(lab: BenchLab, variant: Variant, loops: number): void {
  for (const h of lab.hosts) {
    const lines = [
      `# pgplay bench, ${variant} variant: count this shell${variant === 'profile' ? ', then spend about 100 ms of CPU' : ''}.`,
      `printf '%s\\n' "$$" >> '${shellStartsFile(h)}'`,
    ];
    if (variant === 'profile') lines.push(`__i=0; while [ "$__i" -lt ${loops} ]; do __i=$((__i + 1)); done; unset __i`);
    writeFileSync(join(h.home, '.bashrc'), `${lines.join('\n')}\n`);
  }
}

/**
 * Turns of the profile's loop that cost about `ms` of CPU in bash on this machine as it is now: the median of five
 * tries. This machine's speed drifts by a fifth and more within an hour (100 ms took 25,510 turns in one run and
 * 37,879 in another), so the bench calibrates again right before each tool's runs: every tool's profile costs about
 * `ms` when that tool runs.
 */
export function calibrateProfile(ms = 100): number {
  const trial = 100_000;
  // bash's `time` reports on the shell's own stderr: user+system CPU seconds of the loop.
  const script = `TIMEFORMAT=%3U+%3S; time { __i=0; while [ "$__i" -lt ${trial} ]; do __i=$((__i + 1)); done; }`;
  const tries: number[] = [];
  for (let i = 0; i < 5; i++) {
    const r = spawnSync('bash', ['--norc', '--noprofile', '-c', script], { encoding: 'utf8' });
    const [user, sys] = r.stderr.trim().split('+').map(Number);
    if (Number.isFinite(user + sys) && user + sys > 0) tries.push(user + sys);
  }
  if (tries.length === 0) throw new Error('could not time a bash loop');
  tries.sort((a, b) => a - b);
  return Math.max(1000, Math.round((trial * ms) / 1000 / tries[Math.floor((tries.length - 1) / 2)]));
}

export interface LabHost {
  name: string;
  role: 'primary' | 'replica';
  vars: Record<string, unknown>;
}

/** The variables the inventory sets for all hosts. */
export function readLabHostsVars(path: string): Record<string, unknown> {
  const doc = parse(readFileSync(path, 'utf8')) as { all?: { vars?: Record<string, unknown> } };
  return doc.all?.vars ?? {};
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
    [
      h.name,
      h.role,
      v(h, 'ansible_host'),
      v(h, 'pg_address'),
      v(h, 'pg_port'),
      v(h, 'pg_bin_dir'),
      v(h, 'pg_data_dir'),
      v(h, 'pg_config_dir'),
      v(h, 'pg_socket_dir'),
      v(h, 'pg_log_file'),
      String(h.vars.pg_client_address ?? v(h, 'pg_address')),
      String(h.vars.pg_listen_addresses ?? v(h, 'pg_address')),
    ].join(' '),
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
