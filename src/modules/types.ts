// A module is a schema, a check and a plan: check reads the host, plan is pure, only the executor applies steps.
import type { InventoryHost } from '../config/types';
import type { Connection } from '../connection/types';
import type { HostSettings } from '../executor/host-settings';
import type { PgSettings } from '../facts/pg-settings';
import type { SqlSession } from '../facts/sql';

export type JsonSchema = Record<string, unknown>;

/** Before/after text of what a change touches; secrets masked by whoever builds it. */
export interface Diff {
  path: string; // a file, or a label such as "role replicator"
  before: string;
  after: string;
}

/** One host's view for modules: its connection, PostgreSQL paths and one SQL session reused across tasks. */
export interface HostHandle {
  name: string;
  host: InventoryHost;
  conn: Connection;
  pg: PgSettings;
  /** Every setting of the host, as its rendered scope gives them (connection, become, lock). */
  settings?: HostSettings;
  /** The SQL session of this host's server, opened on first use and reopened after a restart. */
  sql(): Promise<SqlSession>;
  /** Forget the SQL session (the server was stopped or restarted). */
  dropSql(options?: { wait?: boolean }): Promise<void>;
}

export interface TaskContext extends HostHandle {
  checkMode: boolean;
  /** Where the playbook lives: templates are looked up relative to it. */
  playbookDir: string;
  /** Variables in scope for this host (for templates). */
  vars: Record<string, unknown>;
  /** Another inventory host, through the same per-run connection pool. */
  otherHost(name: string): Promise<HostHandle>;
  /** Why the host dropped out of this run (it failed or was unreachable earlier), or null while it is in. */
  outOfRun(name: string): string | null;
  /** Progress of long steps, shown live. */
  progress(message: string): void;
  signal: AbortSignal;
  /**
   * Work done once per run and shared by every host's task that asks with the same key (a failover's election
   * reads the cluster once, so every candidate sees the same answer). Absent: each call does the work.
   */
  once?<T>(key: string, work: () => Promise<T>): Promise<T>;
  /**
   * Work shared by the hosts that run this same task at about the same time (each replica's rejoin reads the other
   * members): a result still coming, or come within the last second, is given to the next host that asks with the
   * same key; an older one, or a failure, is done again. Absent: each call does the work.
   */
  recent?<T>(key: string, work: () => Promise<T>): Promise<T>;
}

/** ctx.once when the run offers it, else the work itself. */
export function onceInRun<T>(ctx: TaskContext, key: string, work: () => Promise<T>): Promise<T> {
  return ctx.once ? ctx.once(key, work) : work();
}

/** ctx.recent when the run offers it, else the work itself. */
export function recentInTask<T>(ctx: TaskContext, key: string, work: () => Promise<T>): Promise<T> {
  return ctx.recent ? ctx.recent(key, work) : work();
}

export interface Step {
  description: string;
  apply(ctx: TaskContext): Promise<Record<string, unknown> | void>;
  /**
   * Puts back what apply changed. The executor runs the undos of the steps begun, in reverse, when a step fails or
   * the run is interrupted: the failed step's own undo too, so it must check what its apply got to do. It says what
   * it restored (checked), and throws when it could not.
   */
  undo?(ctx: TaskContext): Promise<string | void>;
  /** What the host's agent puts back by itself should pgplay lose the host after this step (a guard), for messages. */
  guarded?(): string | null;
}

export type Plan =
  | { kind: 'noop'; reason: string; result?: Record<string, unknown>; warnings?: string[] }
  | {
      kind: 'change';
      summary: string;
      steps: Step[];
      diffs?: Diff[];
      /** What the change needs from the server afterwards; picks the handler of a `notify` map. */
      needs?: 'restart' | 'reload';
      warnings?: string[];
      result?: Record<string, unknown>;
    }
  | { kind: 'fail'; message: string; result?: Record<string, unknown> };

export interface ModuleDefinition<Args = any, Facts = any> {
  name: string;
  /** One line for --help, docs and the schema description. */
  summary: string;
  /** JSON Schema of the arguments; the playbook schema is built from these. */
  schema: JsonSchema;
  /** Argument names whose values are secrets (masked everywhere). */
  secretArgs?: string[];
  /** The module talks to the host's PostgreSQL server: the run opens its SQL session early. */
  readsServer?: boolean;
  /**
   * check() reads the host only, never its arguments: the items of a loop share one read until an item changes
   * something (eight pg_hba.conf rules, one read of the file instead of eight).
   */
  checkIgnoresArguments?: boolean;
  /** 'skip': the module cannot say what it would do without doing it, so --check skips it. */
  checkMode?: 'plan' | 'skip';
  /**
   * What the module's change makes exist for the tasks after it (the server's programs, a cluster). Under --check
   * nothing is made, so a later task that cannot be checked without it is reported as not checked, not failed.
   */
  provides?: string;
  /** Checks that need no host (run by validate). Return messages keyed by argument name ('' for the task; a list for a path inside it). */
  validate?(args: Args): Array<{ arg: string | string[]; message: string }>;
  check(ctx: TaskContext, args: Args): Promise<Facts>;
  plan(args: Args, facts: Facts): Plan;
}

export function noop(reason: string, result?: Record<string, unknown>): Plan {
  return { kind: 'noop', reason, result };
}

export function fail(message: string, result?: Record<string, unknown>): Plan {
  return { kind: 'fail', message, result };
}
