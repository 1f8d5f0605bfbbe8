// Plays in order; within a play hosts run in parallel (bounded by forks), each host its tasks in order.
import type { Handler, Inventory, Play, Playbook, Task } from '../config/types';
import { playHostPattern, resolvePattern } from '../config/patterns';
import { buildScope } from '../config/vars';
import { ExitCode, InvalidInputError, TaskFailedError, UnreachableError, errorMessage } from '../errors';
import { HostOpError } from '../connection/types';
import type { HostRecap, RunEvent, TaskStatus } from '../reporters/events';
import type { HostPool } from './host-pool';
import { mapWithLimit } from './limit';
import { runTask, type TaskOutcome } from './task-runner';
import { findModule } from '../modules/registry';
import { redact } from '../secrets';
import { RecentWork } from './recent-work';

export interface RunSettings {
  playbook: Playbook;
  inventory: Inventory;
  pool: HostPool;
  extraVars: Record<string, unknown>;
  checkMode: boolean;
  showDiff: boolean;
  limit?: string;
  tags: string[];
  skipTags: string[];
  startAtTask?: string;
  forks: number;
  emit(event: RunEvent): void;
  signal: AbortSignal;
  /** Work the SQL sessions will need (loading the driver), done while the hosts' connections are opening. */
  prepareSql?: () => void;
  /**
   * The caller closes every connection right after the run, and each host's agent lets go of the run's lock as it
   * ends (before its close returns): no unlock round trip before the recap.
   */
  locksEndWithConnections?: boolean;
}

export interface RunOutcome {
  exitCode: number;
  recap: Record<string, HostRecap>;
}

const now = () => new Date().toISOString();

/** How long a read one host's task made serves the same task on other hosts (TaskContext.recent). */
const RECENT_MS = 1000;

export async function runPlaybook(s: RunSettings): Promise<RunOutcome> {
  const started = Date.now();
  const recap: Record<string, HostRecap> = {};
  // Failed or unreachable: out of later plays, as in Ansible; with why, for tasks that wait on another host.
  const dead = new Map<string, string>();
  const registered = new Map<string, Record<string, unknown>>();
  const limited = s.limit ? new Set(resolvePattern(s.limit, s.inventory)) : null;
  const allHosts = new Set<string>();
  const playHosts = s.playbook.plays.map((play) => {
    let pattern: string;
    try {
      pattern = playHostPattern(play.hosts, s.inventory, s.extraVars);
    } catch (err) {
      // Before anything runs: a play whose hosts cannot be rendered is bad input, like any other found by validate.
      throw new InvalidInputError([{ ...play.source, message: `hosts: ${errorMessage(err)}` }]);
    }
    const hosts = resolvePattern(pattern, s.inventory).filter((h) => !limited || limited.has(h));
    hosts.forEach((h) => allHosts.add(h));
    return hosts;
  });
  for (const h of allHosts) recap[h] = { ok: 0, changed: 0, failed: 0, skipped: 0, unreachable: 0, ignored: 0 };
  s.emit({ kind: 'run_start', time: now(), playbook: s.playbook.file, inventory: s.inventory.file, checkMode: s.checkMode, hosts: [...allHosts] });

  const startAt = { pending: s.startAtTask };
  // Each host's handle is first the one of the first play it is in: its lock and SQL session open there.
  const firstPlay = new Map<string, number>();
  playHosts.forEach((hosts, i) => hosts.forEach((h) => firstPlay.has(h) || firstPlay.set(h, i)));
  const state: RunState = { recap, dead, registered, locks: new Map(), firstPlay, shared: new Map(), recent: new WeakMap(), provisions: new Map() };
  // Connect to and lock every host of the run at once, so later plays find their hosts ready; open the SQL
  // sessions too when a task will read a server (a session that cannot open is tried again by that task).
  const readsServers = s.playbook.plays.some((p) => [...p.tasks, ...p.handlers].some((t) => findModule(t.module)?.readsServer));
  for (const host of allHosts) {
    lockFor(host, s, state);
    // The session only reads until the lock is held: opening it beside the lock saves a round trip.
    if (readsServers) s.pool.handle(host, firstPlay.get(host) ?? null).sql().catch(() => undefined);
  }
  // The connections above are under way (their handshakes wait on the hosts): the driver loads meanwhile.
  const prepared = readsServers && s.prepareSql ? setImmediate(s.prepareSql) : undefined;
  try {
    for (const [index, play] of s.playbook.plays.entries()) {
      if (s.signal.aborted) break;
      const hosts = playHosts[index].filter((h) => !dead.has(h));
      s.emit({ kind: 'play_start', time: now(), play: play.name, index, hosts });
      const tasks = selectTasks(play.tasks, s, startAt);
      await mapWithLimit(hosts, s.forks, (host) => runHost(play, index, tasks, host, s, state));
      s.emit({ kind: 'play_end', time: now(), play: play.name, index });
    }
  } finally {
    clearImmediate(prepared);
    if (!s.locksEndWithConnections) await Promise.all([...state.locks.values()].map((l) => l.then((lock) => lock.release(), () => undefined)));
  }

  const interrupted = s.signal.aborted;
  const totals = Object.values(recap);
  const exitCode = interrupted
    ? ExitCode.interrupted
    : totals.some((r) => r.failed > 0)
      ? ExitCode.hostFailed
      : totals.some((r) => r.unreachable > 0)
        ? ExitCode.hostUnreachable
        : ExitCode.ok;
  s.emit({ kind: 'recap', time: now(), hosts: recap, durationMs: Date.now() - started, exitCode, interrupted });
  return { exitCode, recap };
}

interface RunState {
  recap: Record<string, HostRecap>;
  /** Hosts out of the run, and why (redacted: it reaches other hosts' results). */
  dead: Map<string, string>;
  registered: Map<string, Record<string, unknown>>;
  locks: Map<string, Promise<HostLock>>;
  firstPlay: Map<string, number>;
  /** Work done once per run for every host's task that asks (TaskContext.once). */
  shared: Map<string, Promise<unknown>>;
  /** Work shared by the hosts running one task at about the same time (TaskContext.recent), per task. */
  recent: WeakMap<Task, RecentWork>;
  /** --check: hosts where a task would install or create what later tasks need (TaskEnv.awaitingProvision). */
  provisions: Map<string, { task: string; what: string }>;
}

interface HostLock {
  release(): Promise<void>;
}

/** The host's lock: pgplay_lock_file when the inventory names one, else per inventory host in the agent's root-only directory. */
export function lockName(hostName: string, vars: Record<string, unknown>): string {
  const given = vars.pgplay_lock_file;
  return typeof given === 'string' && given ? given : `host-${hostName.replace(/[^A-Za-z0-9_.-]/g, '_')}.lock`;
}


/** Lock the host on its first task of the run; a host that cannot be locked or reached fails that task. */
function lockFor(host: string, s: RunSettings, state: RunState): Promise<HostLock> {
  let lock = state.locks.get(host);
  if (!lock) {
    const handle = s.pool.handle(host, state.firstPlay.get(host) ?? null);
    const { file, waitSeconds } = handle.settings?.lock ?? { file: lockName(host, {}), waitSeconds: 60 };
    lock = handle.conn.lock(file, waitSeconds).then(
      (path): HostLock => ({ release: () => handle.conn.unlock(path).catch(() => undefined) }),
      (err: unknown) => {
        if (err instanceof HostOpError && err.code === 'EBUSY') throw new TaskFailedError(`host ${host} is busy: ${err.message.replace(/^[^:]*: /, '')} (waited ${waitSeconds} s)`);
        throw err;
      },
    );
    lock.catch(() => undefined); // reported when the host's first play reaches it
    state.locks.set(host, lock);
  }
  return lock;
}

async function lockHost(host: string, s: RunSettings, state: RunState, firstTask: Task | undefined, play: Play): Promise<boolean> {
  try {
    await lockFor(host, s, state);
    return true;
  } catch (err) {
    const status: TaskStatus = err instanceof UnreachableError ? 'unreachable' : 'failed';
    const task = firstTask?.name ?? 'connect';
    s.emit({ kind: 'task_start', time: now(), play: play.name, task, index: 0, host });
    s.emit({ kind: 'task_result', time: now(), play: play.name, task, index: 0, host, module: firstTask?.module ?? 'connect', status, changed: false, durationMs: 0, message: errorMessage(err) });
    state.recap[host][status]++;
    state.dead.set(host, `${status === 'unreachable' ? 'was unreachable' : 'failed'} earlier in this run: ${redact(errorMessage(err))}`);
    return false;
  }
}

async function runHost(play: Play, playIndex: number, tasks: Task[], host: string, s: RunSettings, state: RunState): Promise<void> {
  if (!(await lockHost(host, s, state, tasks[0] ?? play.handlers[0], play))) return;
  const handle = s.pool.handle(host, playIndex);
  const registered = state.registered.get(host) ?? {};
  state.registered.set(host, registered);
  const notified = new Set<string>();
  const run = async (task: Task, taskIndex: number): Promise<boolean> => {
    /** The other hosts this task reaches (for --check: what they would provide first). */
    const reached = new Set<string>();
    const scope = buildScope({ inventory: s.inventory, hostName: host, playVars: play.vars, playVarSources: play.varSources, extraVars: s.extraVars, registered });
    const outcome = await runTask(task, {
      play: play.name,
      taskIndex,
      handle,
      // A host reached through another (the primary a replica clones from) is locked too, even when --limit leaves it out.
      otherHost: async (name) => {
        reached.add(name);
        await lockFor(name, s, state);
        return s.pool.handle(name);
      },
      outOfRun: (name) => state.dead.get(name) ?? null,
      once: <T>(key: string, work: () => Promise<T>): Promise<T> => {
        if (!state.shared.has(key)) state.shared.set(key, work());
        return state.shared.get(key) as Promise<T>;
      },
      recent: <T>(key: string, work: () => Promise<T>): Promise<T> => {
        let recent = state.recent.get(task);
        if (!recent) state.recent.set(task, (recent = new RecentWork(RECENT_MS)));
        return recent.get(key, work);
      },
      scope,
      checkMode: s.checkMode,
      showDiff: s.showDiff,
      playbookDir: s.playbook.dir,
      emit: s.emit,
      signal: s.signal,
      awaitingProvision: () => {
        // This host's own first, else one of the hosts this task read (a replica's base backup reads the primary);
        // a provision on a host the task never reached excuses nothing.
        for (const name of [host, ...reached]) {
          const pending = state.provisions.get(name);
          if (pending) return { host: name, ...pending };
        }
        return null;
      },
    });
    if (task.register) registered[task.register] = outcome.registered;
    const provides = findModule(task.module)?.provides;
    if (s.checkMode && provides && outcome.changed && !state.provisions.has(host)) state.provisions.set(host, { task: task.name, what: provides });
    count(state.recap[host], outcome, task.ignoreErrors);
    if (outcome.changed) for (const name of handlersToNotify(task, outcome)) {
      if (!notified.has(name)) s.emit({ kind: 'handler_notified', time: now(), host, handler: name });
      notified.add(name);
    }
    const stop = outcome.status === 'unreachable' || (outcome.status === 'failed' && !task.ignoreErrors);
    if (stop) state.dead.set(host, `${outcome.status === 'unreachable' ? 'was unreachable' : 'failed'} earlier in this run (task '${task.name}'): ${redact(outcome.message)}`);
    return !stop && !s.signal.aborted;
  };
  for (const [i, task] of tasks.entries()) if (!(await run(task, i))) return;
  // Handlers run once, at the end of the play, in the order they are defined.
  for (const [i, handler] of play.handlers.entries()) {
    if (!isNotified(handler, notified)) continue;
    if (!(await run(handler, tasks.length + i))) return;
  }
}

function handlersToNotify(task: Task, outcome: TaskOutcome): string[] {
  if (!task.notify) return [];
  if (Array.isArray(task.notify)) return task.notify;
  // A map picks the handler by what the module reported: restart wins over reload.
  const map = task.notify;
  if (outcome.needs.has('restart') && map.restart) return [map.restart];
  if (outcome.needs.has('reload') && map.reload) return [map.reload];
  return map.changed ? [map.changed] : [];
}

function isNotified(handler: Handler, notified: Set<string>): boolean {
  return notified.has(handler.name) || handler.listen.some((topic) => notified.has(topic));
}

function count(r: HostRecap, outcome: TaskOutcome, ignoreErrors: boolean): void {
  const key: Record<TaskStatus, keyof HostRecap> = { ok: 'ok', changed: 'changed', skipped: 'skipped', failed: 'failed', unreachable: 'unreachable' };
  if (outcome.status === 'failed' && ignoreErrors) r.ignored++;
  else r[key[outcome.status]]++;
  // Ansible counts a changed task in ok too; we keep the columns apart so changed=0 means nothing changed.
}

function selectTasks(tasks: Task[], s: RunSettings, startAt: { pending?: string }): Task[] {
  return tasks.filter((task) => {
    if (startAt.pending) {
      if (task.name !== startAt.pending) return false;
      startAt.pending = undefined;
    }
    const tags = task.tags;
    if (tags.includes('never') && !s.tags.some((t) => tags.includes(t))) return false;
    if (s.tags.length > 0 && !tags.includes('always') && !s.tags.some((t) => tags.includes(t) || t === 'all')) return false;
    if (s.skipTags.some((t) => tags.includes(t))) return false;
    return true;
  });
}
