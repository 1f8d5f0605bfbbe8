// Runs one task on one host: loop, when, arguments, check, plan, apply, retries.
import type { Task } from '../config/types';
import { errorMessage, InterruptedError, UnreachableError } from '../errors';
import { findModule } from '../modules/registry';
import type { Diff, HostHandle, Plan, TaskContext } from '../modules/types';
import type { RunEvent, TaskStatus } from '../reporters/events';
import { redact, redactValue, rememberSecret } from '../secrets';
import { evaluateCondition, renderValue } from '../templates/render';
import { valueProblems } from '../config/schema-check';
import { argumentsValidator } from '../config/validators';
import { applySteps, type UndoReport } from './steps';

export interface TaskEnv {
  play: string;
  taskIndex: number;
  handle: HostHandle;
  otherHost(name: string): Promise<HostHandle>;
  outOfRun(name: string): string | null;
  /** Work shared by every host's task of the run (see TaskContext.once). */
  once?<T>(key: string, work: () => Promise<T>): Promise<T>;
  /** Work shared by the hosts running this task at about the same time (see TaskContext.recent). */
  recent?<T>(key: string, work: () => Promise<T>): Promise<T>;
  scope: Record<string, unknown>;
  checkMode: boolean;
  showDiff: boolean;
  playbookDir: string;
  emit(event: RunEvent): void;
  signal: AbortSignal;
  /** --check only: a task of the run that would make what later tasks need (a package, a cluster), when one would. */
  awaitingProvision?(): { host: string; task: string; what: string } | null;
}

export interface TaskOutcome {
  status: TaskStatus;
  changed: boolean;
  needs: Set<'restart' | 'reload'>;
  /** What `register` stores: changed, failed, skipped, msg and the module's result. */
  registered: Record<string, unknown>;
  /** The message of the outcome that set the status (hidden under no_log). */
  message: string;
}

interface ItemOutcome {
  status: TaskStatus;
  message: string;
  result: Record<string, unknown>;
  needs?: 'restart' | 'reload';
  diffs?: Diff[];
  warnings?: string[];
}

const now = () => new Date().toISOString();

/** What a task with no_log shows instead of its message, diff, item, progress, errors and registered output. */
export const NO_LOG_NOTE = 'the output of this task is hidden: no_log is set';
const NO_LOG_ITEM = 'hidden by no_log';

export async function runTask(task: Task, env: TaskEnv): Promise<TaskOutcome> {
  env.emit({ kind: 'task_start', time: now(), play: env.play, task: task.name, index: env.taskIndex, host: env.handle.name });
  try {
    return await runItems(task, env);
  } catch (err) {
    // Whatever a task throws (a variable that cannot be rendered, anywhere) is that task's failure, never the run's.
    if (err instanceof InterruptedError) throw err;
    const outcome: ItemOutcome = { status: 'failed', message: errorMessage(err), result: {} };
    emitResult(task, env, outcome, 0);
    return aggregate([outcome], task);
  }
}

/** The scope of one loop item: the task's scope with `item`, its variables still rendered only when read. */
function withItem(scope: Record<string, unknown>, item: unknown): Record<string, unknown> {
  const out = Object.defineProperties({}, Object.getOwnPropertyDescriptors(scope)) as Record<string, unknown>;
  Object.defineProperty(out, 'item', { value: item, enumerable: true, configurable: true, writable: true });
  return out;
}

async function runItems(task: Task, env: TaskEnv): Promise<TaskOutcome> {
  let items: unknown[] | null = null;
  if (task.loop !== undefined) {
    try {
      const value = renderValue(task.loop, env.scope);
      if (!Array.isArray(value)) throw new Error(`loop must be a list, got ${describeType(value)}`);
      items = value;
    } catch (err) {
      const outcome: ItemOutcome = { status: 'failed', message: errorMessage(err), result: {} };
      emitResult(task, env, outcome, 0);
      return aggregate([outcome], task);
    }
  }
  const outcomes: ItemOutcome[] = [];
  // What the last item's check read, for the next one when the module's check ignores its arguments.
  const shared: SharedFacts = {};
  for (const item of items ?? [undefined]) {
    const started = Date.now();
    const scope = items ? withItem(env.scope, item) : env.scope;
    const outcome = await runItem(task, env, scope, shared);
    emitResult(task, env, outcome, Date.now() - started, items ? item : undefined);
    outcomes.push(outcome);
    if (outcome.status === 'unreachable' || env.signal.aborted) break;
  }
  return aggregate(outcomes, task);
}

/** Facts one loop item read, kept for the next item while nothing was changed. */
interface SharedFacts {
  facts?: unknown;
}

async function runItem(task: Task, env: TaskEnv, scope: Record<string, unknown>, shared: SharedFacts): Promise<ItemOutcome> {
  const module = findModule(task.module);
  if (!module) return { status: 'failed', message: `unknown module ${task.module}`, result: {} };
  try {
    if (task.when !== undefined) {
      const conditions = Array.isArray(task.when) ? task.when : [task.when];
      const unmet = conditions.find((c) => !evaluateCondition(c, scope));
      if (unmet !== undefined) return { status: 'skipped', message: `condition is false: ${unmet}`, result: {} };
    }
    const args = renderValue(task.args, scope) as Record<string, unknown>;
    for (const name of module.secretArgs ?? []) {
      const value = args?.[name];
      if (typeof value === 'string') rememberSecret(value);
    }
    // Templated arguments were let through the playbook schema; their rendered values are checked now.
    const problems = valueProblems(argumentsValidator(module), args, { label: (path) => [module.name, ...path].join('.'), isSecret: (path) => (module.secretArgs ?? []).includes(String(path[0])) });
    if (problems.length > 0) return { status: 'failed', message: problems.join('; '), result: {} };
    if (env.checkMode && module.checkMode === 'skip') {
      return { status: 'skipped', message: 'not run in check mode', result: {} };
    }
    const ctx: TaskContext = {
      ...env.handle,
      checkMode: env.checkMode,
      playbookDir: env.playbookDir,
      vars: scope,
      otherHost: env.otherHost,
      outOfRun: env.outOfRun,
      progress: (message) => env.emit({ kind: 'task_progress', time: now(), task: task.name, host: env.handle.name, message: task.noLog ? NO_LOG_NOTE : redact(message) }),
      signal: env.signal,
      once: env.once,
      recent: env.recent,
    };
    const attempts = Math.max(1, (task.retries ?? 0) + 1);
    let last: ItemOutcome = { status: 'failed', message: 'not run', result: {} };
    for (let attempt = 1; attempt <= attempts; attempt++) {
      if (env.signal.aborted) throw new InterruptedError();
      const onUndo = (u: UndoReport) => env.emit({ kind: 'undo', time: now(), host: env.handle.name, task: task.name, step: u.step, ok: u.ok, message: redact(u.message) });
      // A retry reads again: what it waits for is a change of the host.
      const reuse = module.checkIgnoresArguments && attempt === 1 ? shared : undefined;
      if (!reuse) delete shared.facts;
      last = await checkPlanApply(module.check.bind(module), module.plan.bind(module), args, ctx, env.checkMode, onUndo, reuse);
      if (last.status === 'failed' && env.checkMode) last = notCheckable(last, env) ?? last;
      if (last.status !== 'failed' || attempt === attempts) break;
      await sleep((task.delay ?? 5) * 1000, env.signal);
    }
    return last;
  } catch (err) {
    // What the interrupt broke is not the task's fault: say so rather than how the command died.
    const lost = err instanceof UnreachableError || (err as { cause?: unknown }).cause instanceof UnreachableError;
    if (env.checkMode && !env.signal.aborted && !lost) {
      const soft = notCheckable({ status: 'failed', message: errorMessage(err), result: {} }, env);
      if (soft) return soft;
    }
    if (env.signal.aborted) return { status: 'failed', message: /^interrupted/.test(errorMessage(err)) ? errorMessage(err) : `interrupted: ${errorMessage(err)}`, result: {} };
    if (lost) return { status: 'unreachable', message: errorMessage(err), result: {} };
    const result = (err as { result?: Record<string, unknown> })?.result ?? {};
    return { status: 'failed', message: errorMessage(err), result };
  }
}

/**
 * Under --check, a task that fails because something an earlier task would install or create is not there yet (no
 * server programs, no cluster, a server that cannot start) is not checked, and says so with what it found: --check
 * on bare hosts then shows the whole plan instead of stopping at the first task that needs the cluster.
 */
function notCheckable(outcome: ItemOutcome, env: TaskEnv): ItemOutcome | null {
  const pending = env.awaitingProvision?.();
  if (!pending) return null;
  const by = pending.host === env.handle.name ? `'${pending.task}'` : `'${pending.task}' on ${pending.host}`;
  return { status: 'skipped', message: `not checked: it needs ${pending.what} that ${by} would make first (--check makes nothing); now: ${outcome.message}`, result: outcome.result };
}

async function checkPlanApply(
  check: (ctx: TaskContext, args: never) => Promise<unknown>,
  plan: (args: never, facts: never) => Plan,
  args: Record<string, unknown>,
  ctx: TaskContext,
  checkMode: boolean,
  onUndo: (report: UndoReport) => void,
  shared?: SharedFacts,
): Promise<ItemOutcome> {
  const facts = shared && 'facts' in shared ? shared.facts : await check(ctx, args as never);
  if (shared) shared.facts = facts;
  const p = plan(args as never, facts as never);
  if (p.kind === 'noop') return { status: 'ok', message: p.reason, result: p.result ?? {}, warnings: p.warnings };
  if (p.kind === 'fail') return { status: 'failed', message: p.message, result: p.result ?? {} };
  const outcome: ItemOutcome = { status: 'changed', message: p.summary, result: { ...(p.result ?? {}) }, needs: p.needs, diffs: p.diffs, warnings: p.warnings };
  if (checkMode) return outcome;
  // The host is changing: the next item reads it again (also when a step fails and its undo runs).
  if (shared) delete shared.facts;
  Object.assign(outcome.result, await applySteps(p.steps, ctx, onUndo));
  return outcome;
}

function emitResult(task: Task, env: TaskEnv, outcome: ItemOutcome, durationMs: number, item?: unknown): void {
  const ignored = outcome.status === 'failed' && task.ignoreErrors;
  const base = {
    kind: 'task_result' as const,
    time: now(),
    play: env.play,
    task: task.name,
    index: env.taskIndex,
    host: env.handle.name,
    module: task.module,
    status: outcome.status,
    changed: outcome.status === 'changed',
    durationMs,
    ...(ignored ? { ignored: true } : {}),
  };
  if (task.noLog) {
    const warned = outcome.warnings?.length ?? 0;
    env.emit({
      ...base,
      message: NO_LOG_NOTE,
      ...(item !== undefined ? { item: NO_LOG_ITEM } : {}),
      ...(warned > 0 ? { warnings: [`${warned} warning(s) hidden: no_log is set`] } : {}),
    });
    return;
  }
  env.emit({
    ...base,
    message: redact(outcome.message),
    ...(item !== undefined ? { item: shownItem(item) } : {}),
    ...(env.showDiff && outcome.diffs?.length ? { diffs: redactValue(outcome.diffs) } : {}),
    ...(outcome.warnings?.length ? { warnings: outcome.warnings.map(redact) } : {}),
  });
}

/** A loop item as events carry it: secrets masked; an item that cannot be read (a variable that fails to render) says so. */
function shownItem(item: unknown): unknown {
  try {
    return redactValue(item);
  } catch (err) {
    return `(item cannot be shown: ${redact(errorMessage(err))})`;
  }
}

const rank: Record<TaskStatus, number> = { skipped: 0, ok: 1, changed: 2, failed: 3, unreachable: 4 };

function aggregate(outcomes: ItemOutcome[], task: Task): TaskOutcome {
  let status: TaskStatus = outcomes.length === 0 ? 'skipped' : outcomes[0].status;
  for (const o of outcomes) if (rank[o.status] > rank[status]) status = o.status;
  // A loop where some items ran and others were skipped is ok/changed, not skipped.
  if (status === 'skipped' && outcomes.some((o) => o.status !== 'skipped')) status = 'ok';
  const needs = new Set<'restart' | 'reload'>();
  for (const o of outcomes) if (o.needs && o.status === 'changed') needs.add(o.needs);
  const single = outcomes.length === 1 && task.loop === undefined ? outcomes[0] : null;
  const message = task.noLog ? NO_LOG_NOTE : (outcomes.find((o) => o.status === status)?.message ?? '');
  if (task.noLog) {
    const registered: Record<string, unknown> = { changed: status === 'changed', failed: status === 'failed' || status === 'unreachable', skipped: status === 'skipped', msg: NO_LOG_NOTE, censored: NO_LOG_NOTE };
    if (!single) registered.results = outcomes.map((o) => ({ status: o.status, msg: NO_LOG_NOTE }));
    return { status, changed: status === 'changed', needs, registered, message };
  }
  const registered: Record<string, unknown> = {
    ...(single?.result ?? {}),
    changed: status === 'changed',
    failed: status === 'failed' || status === 'unreachable',
    skipped: status === 'skipped',
    msg: single?.message ?? '',
  };
  if (!single) registered.results = outcomes.map((o) => ({ ...o.result, status: o.status, msg: o.message }));
  return { status, changed: status === 'changed', needs, registered, message };
}

function describeType(value: unknown): string {
  if (value === null) return 'null';
  return typeof value === 'string' ? `a string (${JSON.stringify(value).slice(0, 40)})` : typeof value;
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const t = setTimeout(resolve, ms);
    signal.addEventListener('abort', () => { clearTimeout(t); resolve(); }, { once: true });
  });
}
