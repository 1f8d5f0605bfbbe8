// Events flow one way: the executor emits them, reporters only consume them.
import type { Diff } from '../modules/types';

export type TaskStatus = 'ok' | 'changed' | 'skipped' | 'failed' | 'unreachable';

export interface HostRecap {
  ok: number;
  changed: number;
  failed: number;
  skipped: number;
  unreachable: number;
  ignored: number;
}

export type RunEvent =
  | { kind: 'run_start'; time: string; playbook: string; inventory: string; checkMode: boolean; hosts: string[] }
  | { kind: 'play_start'; time: string; play: string; index: number; hosts: string[] }
  | { kind: 'task_start'; time: string; play: string; task: string; index: number; host: string }
  | { kind: 'task_progress'; time: string; task: string; host: string; message: string }
  | {
      kind: 'task_result';
      time: string;
      play: string;
      task: string;
      index: number;
      host: string;
      module: string;
      status: TaskStatus;
      changed: boolean;
      durationMs: number;
      message?: string; // reason for ok/skipped, summary for changed, error for failed
      item?: unknown; // loop item
      diffs?: Diff[];
      warnings?: string[];
      ignored?: boolean; // failed but ignore_errors
    }
  | { kind: 'handler_notified'; time: string; host: string; handler: string }
  /** A completed step put back after a later step failed or the run was interrupted. */
  | { kind: 'undo'; time: string; host: string; task: string; step: string; ok: boolean; message: string }
  | { kind: 'warning'; time: string; host?: string; message: string }
  | { kind: 'play_end'; time: string; play: string; index: number }
  | { kind: 'recap'; time: string; hosts: Record<string, HostRecap>; durationMs: number; exitCode: number; interrupted: boolean };

export type EventKind = RunEvent['kind'];
export type EventOf<K extends EventKind> = Extract<RunEvent, { kind: K }>;

/** A reporter maps every event kind to a handler, so the compiler makes each one handle every event. */
export type ReporterHandlers = { [K in EventKind]: (event: EventOf<K>) => void };

export interface Reporter {
  handlers: ReporterHandlers;
  /** Flush files and stop live output; called once after the recap. */
  finish?(): Promise<void>;
}

export function dispatch(reporter: Reporter, event: RunEvent): void {
  (reporter.handlers[event.kind] as (e: RunEvent) => void)(event);
}

export interface ReporterOptions {
  showDiff: boolean;
  stream: NodeJS.WritableStream;
  color: boolean;
}
