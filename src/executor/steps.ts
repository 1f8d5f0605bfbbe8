// Applies a plan's steps in order; when one fails, or the run is interrupted, the completed steps' undos run in
// reverse, each reported, and the failure says whether the host is back as it was.
import { errorMessage, InterruptedError } from '../errors';
import type { Step, TaskContext } from '../modules/types';

export interface UndoReport {
  step: string;
  ok: boolean;
  message: string;
}

/** Undos get this long each, with their own signal: the run's may already be aborted. */
const UNDO_TIMEOUT_MS = 300_000;

export class StepsFailedError extends Error {
  constructor(
    message: string,
    readonly undos: UndoReport[],
    readonly result: Record<string, unknown>,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/** Run the steps; returns what they reported, or throws a StepsFailedError after the undos ran. */
export async function applySteps(steps: Step[], ctx: TaskContext, onUndo: (report: UndoReport) => void = () => undefined): Promise<Record<string, unknown>> {
  const result: Record<string, unknown> = {};
  const done: Step[] = [];
  try {
    for (const step of steps) {
      if (ctx.signal.aborted) throw new InterruptedError();
      const out = await step.apply(ctx);
      if (out) Object.assign(result, out);
      done.push(step);
    }
    return result;
  } catch (err) {
    const undos = await undoAll(done, ctx, onUndo);
    const message = ctx.signal.aborted && !(err instanceof InterruptedError) ? `interrupted: ${errorMessage(err)}` : errorMessage(err);
    // Whether the host is back as it was belongs beside the failure, before any lines that explain it.
    const [first, ...rest] = message.split('\n');
    throw new StepsFailedError([`${first}${summary(undos)}`, ...rest].join('\n'), undos, { ...result, ...((err as { result?: Record<string, unknown> }).result ?? {}) }, { cause: err });
  }
}

async function undoAll(done: Step[], ctx: TaskContext, onUndo: (report: UndoReport) => void): Promise<UndoReport[]> {
  const reports: UndoReport[] = [];
  for (const step of [...done].reverse()) {
    if (!step.undo) continue;
    const controller = new AbortController();
    const timer = setTimeout(() => controller.abort(), UNDO_TIMEOUT_MS);
    let report: UndoReport;
    try {
      const said = await step.undo({ ...ctx, signal: controller.signal, progress: ctx.progress });
      report = { step: step.description, ok: true, message: said || 'undone' };
    } catch (err) {
      report = { step: step.description, ok: false, message: errorMessage(err) };
    } finally {
      clearTimeout(timer);
    }
    reports.push(report);
    onUndo(report);
  }
  return reports;
}

function summary(undos: UndoReport[]): string {
  if (undos.length === 0) return '';
  const failed = undos.filter((u) => !u.ok);
  if (failed.length === 0) return `; undone: ${undos.map((u) => u.message).join('; ')}`;
  return `; NOT back as it was: ${failed.map((u) => `${u.step}: ${u.message}`).join('; ')}`;
}
