// What one timed run cost each lab host, counted on the host's side: ssh logins and exec channels (its sshd's log
// at LogLevel VERBOSE), login shells (each appends its pid to a file from ~/.bashrc), and become invocations
// (sudo, su, runuser) with every process started, from the kernel's process accounting: each exited process is
// traced by its parent ids up to the sshd that listens for that host.
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { shellStartsFile, type BenchHost } from './lab';

export interface HostCounts {
  logins: number;
  channels: number;
  shells: number;
  /** sudo, su and runuser processes; null when process accounting could not be switched on. */
  become: number | null;
  /** Every process that ran on the host for this run, the host's sshd processes left out. */
  processes: number | null;
}

/** The most any one host saw in a run, and the sums over all hosts. */
export interface RunCounts {
  max: HostCounts;
  total: HostCounts;
  perHost: Record<string, HostCounts>;
}

const BECOME_PROGRAMS = new Set(['sudo', 'su', 'runuser']);
// acct(2): the kernel appends one record per exiting process to the named file; a null path switches it off.
const SYS_ACCT: Record<string, number> = { x64: 163, arm64: 89 };

function lineCount(file: string, needle?: string): number {
  if (!existsSync(file)) return 0;
  const lines = readFileSync(file, 'utf8').split('\n');
  return needle === undefined ? lines.filter((l) => l.trim() !== '').length : lines.filter((l) => l.includes(needle)).length;
}

interface Snapshot {
  logins: number;
  channels: number;
  shells: number;
}

function snapshot(h: BenchHost): Snapshot {
  return { logins: lineCount(h.sshdLog, 'Accepted publickey'), channels: lineCount(h.sshdLog, 'Starting session:'), shells: lineCount(shellStartsFile(h)) };
}

function setAccounting(file: string | null): string | null {
  const nr = SYS_ACCT[process.arch];
  if (nr === undefined) return `no acct system call number for ${process.arch}`;
  // perl passes a number as itself and a string as a pointer to it: 0 switches accounting off.
  const script = 'my ($nr, $file) = @ARGV; my $arg = defined $file ? "$file" : 0; syscall($nr + 0, $arg) == 0 and exit 0; print STDERR "$!\\n"; exit 1';
  try {
    execFileSync('perl', ['-e', script, String(nr), ...(file ? [file] : [])], { stdio: ['ignore', 'ignore', 'pipe'] });
    return null;
  } catch (err) {
    return String((err as { stderr?: Buffer }).stderr ?? err).trim();
  }
}

interface AcctRecord {
  pid: number;
  ppid: number;
  btime: number;
  comm: string;
}

/** struct acct_v3 (linux/acct.h): 64 bytes, little-endian on the machines the bench runs on. */
function readAccounting(file: string): AcctRecord[] {
  const data = readFileSync(file);
  const out: AcctRecord[] = [];
  for (let at = 0; at + 64 <= data.length; at += 64) {
    if (data[at + 1] !== 3) continue;
    const comm = data.subarray(at + 48, at + 64);
    const end = comm.indexOf(0);
    out.push({ pid: data.readUInt32LE(at + 16), ppid: data.readUInt32LE(at + 20), btime: data.readUInt32LE(at + 24), comm: comm.subarray(0, end < 0 ? 16 : end).toString('latin1') });
  }
  return out;
}

function liveParent(pid: number): number | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
  } catch {
    return null;
  }
}

/** Counts for the runs of one lab session: start() before a timed run, stop() after it (neither is timed). */
export class HostCounters {
  #before = new Map<string, Snapshot>();
  #acctFile: string;
  #acctProblem: string | null = null;

  constructor(
    private readonly hosts: BenchHost[],
    workDir: string,
  ) {
    this.#acctFile = join(workDir, 'pacct');
  }

  start(): void {
    for (const h of this.hosts) this.#before.set(h.name, snapshot(h));
    writeFileSync(this.#acctFile, '');
    this.#acctProblem = setAccounting(this.#acctFile);
  }

  /** After the run: processes still ending on the hosts (an ssh session closing) get a moment to be recorded. */
  async stop(): Promise<RunCounts> {
    await new Promise((r) => setTimeout(r, 300));
    const acctOn = this.#acctProblem === null;
    if (acctOn) setAccounting(null);
    const perHost: Record<string, HostCounts> = {};
    for (const h of this.hosts) {
      const now = snapshot(h);
      const was = this.#before.get(h.name) ?? { logins: 0, channels: 0, shells: 0 };
      perHost[h.name] = { logins: now.logins - was.logins, channels: now.channels - was.channels, shells: now.shells - was.shells, become: acctOn ? 0 : null, processes: acctOn ? 0 : null };
    }
    if (acctOn) this.#attribute(readAccounting(this.#acctFile), perHost);
    rmSync(this.#acctFile, { force: true });
    const keys: Array<keyof HostCounts> = ['logins', 'channels', 'shells', 'become', 'processes'];
    const fold = (f: (values: number[]) => number): HostCounts =>
      Object.fromEntries(keys.map((k) => [k, acctOn || (k !== 'become' && k !== 'processes') ? f(Object.values(perHost).map((c) => c[k] ?? 0)) : null])) as unknown as HostCounts;
    return { max: fold((v) => Math.max(0, ...v)), total: fold((v) => v.reduce((a, b) => a + b, 0)), perHost };
  }

  /** Why become and processes were not counted, when they were not. */
  get accountingProblem(): string | null {
    return this.#acctProblem;
  }

  #attribute(records: AcctRecord[], perHost: Record<string, HostCounts>): void {
    const listeners = new Map<number, string>();
    for (const h of this.hosts) {
      const pid = existsSync(h.sshdPidFile) ? Number(readFileSync(h.sshdPidFile, 'utf8').trim()) : NaN;
      if (Number.isInteger(pid)) listeners.set(pid, h.name);
    }
    // A pid the kernel gave out twice in the run: the parent is the one started before its child.
    const byPid = new Map<number, AcctRecord[]>();
    for (const r of records) byPid.set(r.pid, [...(byPid.get(r.pid) ?? []), r]);
    const parentOf = (pid: number, bornBy: number): number | null => {
      const candidates = (byPid.get(pid) ?? []).filter((r) => r.btime <= bornBy);
      if (candidates.length > 0) return candidates[candidates.length - 1].ppid;
      return liveParent(pid);
    };
    const hostOf = (r: AcctRecord): string | null => {
      let pid = r.ppid;
      for (let depth = 0; depth < 64 && pid > 1; depth++) {
        const host = listeners.get(pid);
        if (host) return host;
        const next = parentOf(pid, r.btime);
        if (next === null) return null;
        pid = next;
      }
      return null;
    };
    for (const r of records) {
      if (r.comm === 'sshd') continue;
      const host = hostOf(r);
      if (!host) continue;
      const c = perHost[host];
      c.processes = (c.processes ?? 0) + 1;
      if (BECOME_PROGRAMS.has(r.comm)) c.become = (c.become ?? 0) + 1;
    }
  }
}
