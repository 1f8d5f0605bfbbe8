// The ways of doing the job, each as a command on the same lab, and how a no-op run is recognised.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse, stringify } from 'yaml';
import { changedInRecap } from './measure';
import { readLabHosts, readLabHostsVars, writeShellHosts } from './lab';
import { statusBytes } from './memory';

/**
 * pgplay runs the shipped playbooks/site.yml (which has grown past the others' job: preflight, package, firewall,
 * TLS, slots, rejoin ...); pgplay-same runs bench/pgplay/site.yml, the job bench/ansible/site.yml and
 * bench/shell/site.sh do, so one row compares like with like.
 */
export type ToolName = 'pgplay' | 'pgplay-same' | 'ansible' | 'mitogen' | 'shell';
export const TOOL_NAMES: ToolName[] = ['pgplay', 'pgplay-same', 'ansible', 'mitogen', 'shell'];
export const TOOL_TITLES: Record<ToolName, string> = {
  pgplay: 'pgplay (site.yml)',
  'pgplay-same': 'pgplay (same job)',
  ansible: 'Ansible',
  mitogen: 'Ansible + Mitogen',
  shell: 'shell (ssh)',
};

/** Debian's ansible-mitogen puts its strategy plugins here. */
export const MITOGEN_STRATEGIES = '/usr/lib/python3/dist-packages/ansible_mitogen/plugins/strategy';

export interface Session {
  argv: string[];
  env: Record<string, string>;
  /** pgplay: the inventory its runs (and `pgplay status`) read. */
  inventory?: string;
  /** pgplay: the peak resident memory of its keeper of kept connections so far, in MB (null when none runs). */
  keeperPeakMb?(): number | null;
  /** pgplay: the process ids of its keepers of kept connections. */
  keeperPids?(): number[];
  /** pgplay: the same run without kept connections (each run logs in), measured beside the kept one's no-op. */
  direct?: { argv: string[]; env: Record<string, string> };
  /** Why a re-run was not a no-op, or null when it was. */
  notNoop(output: string): string | null;
  close(): void;
}

export interface Job {
  /** pgplay's playbook and its extra arguments. */
  pgplay: { playbook: string; args: string[] };
  /** The playbook doing the same job as the Ansible playbook and the shell script; null when the job has none. */
  pgplaySame: string | null;
  /** The Ansible playbook (Ansible and Ansible with Mitogen) and its extra arguments. */
  ansible: { playbook: string; args: string[] };
  /** The shell script; null when the job has none. */
  shell: string | null;
}

export interface SessionContext {
  root: string;
  inventory: string;
  workDir: string;
  job: Job;
}

function recapNoop(output: string): string | null {
  const changed = changedInRecap(output);
  if (changed === null) return 'no PLAY RECAP in the output';
  return changed === 0 ? null : `${changed} task(s) changed`;
}

/** ssh masters Ansible left behind for one lab session, ended by their process id. */
function endMasters(controlDir: string): void {
  for (const pid of readdirSync('/proc').filter((p) => /^\d+$/.test(p))) {
    try {
      const cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8');
      if (cmdline.startsWith('ssh\0') && cmdline.includes(controlDir)) process.kill(Number(pid), 'SIGTERM');
    } catch {
      // gone already, or not ours to read
    }
  }
}

/**
 * pgplay keeps each host's connection between runs as Ansible does here (ControlMaster=auto, ControlPersist=60s in
 * bench/ansible/ansible.cfg): the same setting, as pgplay's own inventory variable, in a copy of the lab's inventory
 * (`pgplay status` reads it too). Each lab session has its own runtime directory, so its keeper never serves a
 * torn-down lab's hosts; the keeper is ended with the session.
 */
export const KEPT_FOR = '60s';

/** The lab's inventory with ssh_control_persist for all hosts, written in dir. */
function keptInventory(inventory: string, dir: string): string {
  const doc = parse(readFileSync(inventory, 'utf8')) as { all: { vars?: Record<string, unknown> } };
  doc.all.vars = { ...doc.all.vars, ssh_control_persist: KEPT_FOR };
  const path = join(dir, 'inventory.yml');
  writeFileSync(path, stringify(doc));
  return path;
}

/** The keepers of kept connections whose socket is in runtimeDir (process ids). */
function keepers(runtimeDir: string): number[] {
  return readdirSync('/proc')
    .filter((p) => /^\d+$/.test(p))
    .filter((pid) => {
      try {
        const cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8');
        return cmdline.includes('\0__keep-connections\0') && cmdline.includes(`${runtimeDir}/`);
      } catch {
        return false; // gone already, or not ours to read
      }
    })
    .map(Number);
}

/** The largest peak resident memory (VmHWM) of those keepers, in MB. */
function keepersPeakMb(runtimeDir: string): number | null {
  let peak: number | null = null;
  for (const pid of keepers(runtimeDir)) {
    try {
      const bytes = statusBytes(readFileSync(`/proc/${pid}/status`, 'utf8'), 'VmHWM');
      if (bytes) peak = Math.max(peak ?? 0, bytes / 1048576);
    } catch {
      // gone
    }
  }
  return peak === null ? null : Math.round(peak * 10) / 10;
}

function cpuProf(): string[] {
  const dir = process.env.PGPLAY_BENCH_CPU_PROF;
  return dir ? ['--cpu-prof', '--cpu-prof-dir', dir] : [];
}

/**
 * Mitogen 0.3.3 passes ansible_ssh_common_args to ssh without rendering it ("ssh: Could not resolve hostname
 * ssh_known_hosts_file"): it gets the same arguments with the lab's known_hosts file written out.
 */
function mitogenSshArgs(inventory: string): string[] {
  const known = readLabHostsVars(inventory).ssh_known_hosts_file;
  return ['-e', `ansible_ssh_common_args='-o UserKnownHostsFile=${String(known)} -o StrictHostKeyChecking=yes'`];
}

function ansibleSession(ctx: SessionContext, mitogen: boolean): Session {
  // A control directory per lab session: masters of torn-down hosts are never reused.
  const controlDir = mkdtempSync(join(tmpdir(), 'pgplay-bench-cp-'));
  const env: Record<string, string> = { ANSIBLE_CONFIG: join(ctx.root, 'bench', 'ansible', 'ansible.cfg'), ANSIBLE_SSH_CONTROL_PATH_DIR: controlDir, ANSIBLE_NOCOLOR: '1' };
  if (mitogen) Object.assign(env, { ANSIBLE_STRATEGY_PLUGINS: MITOGEN_STRATEGIES, ANSIBLE_STRATEGY: 'mitogen_linear' });
  return {
    argv: ['ansible-playbook', '-i', ctx.inventory, ctx.job.ansible.playbook, ...ctx.job.ansible.args, ...(mitogen ? mitogenSshArgs(ctx.inventory) : [])],
    env,
    notNoop: recapNoop,
    close() {
      endMasters(controlDir);
      rmSync(controlDir, { recursive: true, force: true });
    },
  };
}

export function openSession(tool: ToolName, ctx: SessionContext): Session {
  switch (tool) {
    case 'pgplay':
    case 'pgplay-same': {
      const playbook = tool === 'pgplay' ? ctx.job.pgplay.playbook : ctx.job.pgplaySame;
      if (!playbook) throw new Error('this job has no same-job pgplay playbook');
      // PGPLAY_BENCH_CPU_PROF=DIR writes a .cpuprofile of each pgplay run there (open it in Chrome DevTools).
      const argv = (inventory: string) => [process.execPath, ...cpuProf(), join(ctx.root, 'bin', 'pgplay.js'), 'run', playbook, '-i', inventory, '--output', 'plain', ...ctx.job.pgplay.args];
      const runtime = mkdtempSync(join(tmpdir(), 'pgplay-bench-run-'));
      const inventory = keptInventory(ctx.inventory, runtime);
      return {
        argv: argv(inventory),
        env: { XDG_RUNTIME_DIR: runtime },
        inventory,
        direct: { argv: argv(ctx.inventory), env: {} },
        notNoop: recapNoop,
        keeperPeakMb: () => keepersPeakMb(runtime),
        keeperPids: () => keepers(runtime),
        close() {
          for (const pid of keepers(runtime)) process.kill(pid, 'SIGTERM');
          rmSync(runtime, { recursive: true, force: true });
        },
      };
    }
    case 'ansible':
      return ansibleSession(ctx, false);
    case 'mitogen':
      return ansibleSession(ctx, true);
    case 'shell': {
      if (!ctx.job.shell) throw new Error('this job has no shell script');
      const hostsFile = join(ctx.workDir, 'shell-hosts.txt');
      const hosts = readLabHosts(ctx.inventory);
      const env = writeShellHosts(hosts, hostsFile);
      const replicas = hosts.filter((h) => h.role === 'replica').length;
      return {
        argv: ['bash', ctx.job.shell, hostsFile],
        env,
        notNoop(output) {
          const left = (output.match(/: already a standby of /g) ?? []).length;
          return left === replicas ? null : `${replicas - left} replica(s) cloned again`;
        },
        close() {},
      };
    }
  }
}

export function versions(): Record<string, string> {
  const run = (cmd: string, args: string[]) => {
    const r = spawnSync(cmd, args, { encoding: 'utf8' });
    return `${r.stdout ?? ''}${r.stderr ?? ''}`;
  };
  const dpkg = (name: string) => new RegExp(`^ii\\s+${name}\\s+(\\S+)`, 'm').exec(run('dpkg', ['-l', name]))?.[1] ?? 'missing';
  return {
    node: process.version,
    ansible_core: /ansible \[core ([\d.]+)\]/.exec(run('ansible', ['--version']))?.[1] ?? 'missing',
    ansible_package: dpkg('ansible'),
    ansible_mitogen: existsSync(MITOGEN_STRATEGIES) ? dpkg('ansible-mitogen') : 'missing',
    community_postgresql: /community\.postgresql\s+([\d.]+)/.exec(run('ansible-galaxy', ['collection', 'list', 'community.postgresql']))?.[1] ?? 'missing',
    postgresql: /\(PostgreSQL\) ([\d.]+)/.exec(run('/usr/lib/postgresql/15/bin/postgres', ['--version']))?.[1] ?? 'missing',
    openssh: /OpenSSH_[\w.]+/.exec(run('ssh', ['-V']))?.[0] ?? 'missing',
    perl: /v(5\.[\d.]+)/.exec(run('perl', ['-v']))?.[1] ?? 'missing',
  };
}
