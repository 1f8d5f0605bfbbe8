// The three ways of doing the job, each as a command on the same lab, and how a no-op run is recognised.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { changedInRecap } from './measure';
import { readLabHosts, writeShellHosts } from './lab';

export type ToolName = 'pgplay' | 'ansible' | 'shell';
export const TOOL_NAMES: ToolName[] = ['pgplay', 'ansible', 'shell'];

export interface Session {
  argv: string[];
  env: Record<string, string>;
  peakMemory: boolean;
  /** Why a re-run was not a no-op, or null when it was. */
  notNoop(output: string): string | null;
  close(): void;
}

export interface SessionContext {
  root: string;
  inventory: string;
  workDir: string;
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

function cpuProf(): string[] {
  const dir = process.env.PGPLAY_BENCH_CPU_PROF;
  return dir ? ['--cpu-prof', '--cpu-prof-dir', dir] : [];
}

export function openSession(tool: ToolName, ctx: SessionContext): Session {
  switch (tool) {
    case 'pgplay':
      return {
        // PGPLAY_BENCH_CPU_PROF=DIR writes a .cpuprofile of each pgplay run there (open it in Chrome DevTools).
        argv: [process.execPath, ...cpuProf(), join(ctx.root, 'bin', 'pgplay.js'), 'run', 'playbooks/site.yml', '-i', ctx.inventory, '--output', 'plain'],
        env: {},
        peakMemory: true,
        notNoop: recapNoop,
        close() {},
      };
    case 'ansible': {
      // A control directory per lab session: masters of torn-down hosts are never reused.
      const controlDir = mkdtempSync(join(tmpdir(), 'pgplay-bench-cp-'));
      return {
        argv: ['ansible-playbook', '-i', ctx.inventory, 'bench/ansible/site.yml'],
        env: { ANSIBLE_CONFIG: join(ctx.root, 'bench', 'ansible', 'ansible.cfg'), ANSIBLE_SSH_CONTROL_PATH_DIR: controlDir, ANSIBLE_NOCOLOR: '1' },
        peakMemory: false,
        notNoop: recapNoop,
        close() {
          endMasters(controlDir);
          rmSync(controlDir, { recursive: true, force: true });
        },
      };
    }
    case 'shell': {
      const hostsFile = join(ctx.workDir, 'shell-hosts.txt');
      const hosts = readLabHosts(ctx.inventory);
      const env = writeShellHosts(hosts, hostsFile);
      const replicas = hosts.filter((h) => h.role === 'replica').length;
      return {
        argv: ['bash', 'bench/shell/site.sh', hostsFile],
        env,
        peakMemory: false,
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
  return {
    node: process.version,
    ansible_core: /ansible \[core ([\d.]+)\]/.exec(run('ansible', ['--version']))?.[1] ?? 'missing',
    ansible_package: /^ii\s+ansible\s+(\S+)/m.exec(run('dpkg', ['-l', 'ansible']))?.[1] ?? 'missing',
    community_postgresql: /community\.postgresql\s+([\d.]+)/.exec(run('ansible-galaxy', ['collection', 'list', 'community.postgresql']))?.[1] ?? 'missing',
    postgresql: /\(PostgreSQL\) ([\d.]+)/.exec(run('/usr/lib/postgresql/15/bin/postgres', ['--version']))?.[1] ?? 'missing',
    openssh: /OpenSSH_[\w.]+/.exec(run('ssh', ['-V']))?.[0] ?? 'missing',
  };
}
