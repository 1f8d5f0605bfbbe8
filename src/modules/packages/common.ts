// What the package module knows whichever manager runs it: names, states, the manager for an OS, and running a
// manager's command with its lock waited on for a bounded time.
import type { HostFacts, RunOptions, RunResult } from '../../connection/types';
import type { TaskContext } from '../types';

export type PackageState = 'present' | 'absent' | 'latest';
export type ManagerName = 'apt' | 'dnf';

/** A package name as apt and dnf write them (optionally with an architecture); never starts with '-', so never an option. */
export const PACKAGE_NAME = /^[A-Za-z0-9][A-Za-z0-9+._-]*(:[a-z0-9_]+)?$/;

/** The manager of a host's OS, from /etc/os-release as the host agent read it (ID and ID_LIKE). */
export function managerForOs(os: HostFacts['os']): ManagerName | null {
  const ids = [os.id, ...os.like].map((s) => s.toLowerCase());
  if (ids.some((id) => id === 'debian' || id === 'ubuntu')) return 'apt';
  if (ids.some((id) => ['rhel', 'fedora', 'centos', 'rocky', 'almalinux', 'ol', 'amzn'].includes(id))) return 'dnf';
  return null;
}

export function describeOs(os: HostFacts['os']): string {
  return [os.id || 'an unknown OS', os.version].filter(Boolean).join(' ');
}

/** The lines of a command's output that say what went wrong, with the program's own words. */
export function outputLines(r: RunResult): string[] {
  return `${r.stdout}\n${r.stderr}`.split(/\r?\n/).map((l) => l.trimEnd()).filter((l) => l.trim() !== '');
}

export interface LockWait {
  /** Seconds the manager's lock is waited on before pgplay gives up and says who holds it. */
  seconds: number;
  /** What holds the lock, from a failed run's output (apt fails at once when its lock is taken), or null. */
  heldBy(r: RunResult): string | null;
  /** A line the manager prints while it waits by itself (dnf waits for ever), or null when it does not. */
  waiting?(line: string): string | null;
}

export class PackageLockError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'PackageLockError';
  }
}

/**
 * Run a manager's command; while its lock is held by another process, wait (up to the bound) and run it again.
 * A manager that waits by itself is stopped once the bound has passed. Either way the error says who held it.
 */
export async function runWaitingForLock(ctx: TaskContext, argv: string[], options: RunOptions, lock: LockWait): Promise<RunResult> {
  const deadline = Date.now() + lock.seconds * 1000;
  const what = argv.slice(0, 2).join(' ');
  for (;;) {
    const stop = new AbortController();
    const onAbort = () => stop.abort();
    ctx.signal.addEventListener('abort', onAbort, { once: true });
    let waitingOn: string | null = null;
    let timer: NodeJS.Timeout | undefined;
    const onOutput = (chunk: string, stream: 'stdout' | 'stderr') => {
      options.onOutput?.(chunk, stream);
      for (const line of chunk.split(/\r?\n/)) {
        const holder = lock.waiting?.(line);
        if (!holder || waitingOn) continue;
        waitingOn = holder;
        ctx.progress(`${what}: waiting for the package manager's lock (${holder})`);
        timer = setTimeout(() => stop.abort(), Math.max(0, deadline - Date.now()));
      }
    };
    const r = await ctx.conn.run(argv, { ...options, signal: stop.signal, onOutput }).finally(() => {
      clearTimeout(timer);
      ctx.signal.removeEventListener('abort', onAbort);
    });
    if (stop.signal.aborted && !ctx.signal.aborted && waitingOn) {
      throw new PackageLockError(`${what}: the package manager is busy: ${waitingOn}, still after waiting ${lock.seconds} s (lock_timeout)`);
    }
    const holder = r.failed ? lock.heldBy(r) : null;
    if (!holder) return r;
    if (Date.now() >= deadline || ctx.signal.aborted) {
      throw new PackageLockError(`${what}: the package manager is busy: ${holder}, still after waiting ${lock.seconds} s (lock_timeout)`);
    }
    ctx.progress(`${what}: waiting for the package manager's lock (${holder})`);
    await new Promise((resolve) => setTimeout(resolve, Math.min(2000, Math.max(100, deadline - Date.now()))));
  }
}
