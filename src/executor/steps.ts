// Applies a plan's steps in order; when one fails, or the run is interrupted, the undos of the steps begun run in
// reverse (the failed one's first: it may have done part of its work), each reported, and the failure says whether
// the host is back as it was.
import { errorMessage, InterruptedError, UnreachableError } from '../errors';
import type { Step, TaskContext } from '../modules/types';

export interface UndoReport {
  step: string;
  ok: boolean;
  message: string;
  /** It failed because the host could not be reached: nothing is known of the host's state. */
  unreachable?: boolean;
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
      // A step that fails may have done part of its work: its own undo runs too, first.
      done.push(step);
      const out = await step.apply(ctx);
      if (out) Object.assign(result, out);
    }
    return result;
  } catch (err) {
    const undos = await undoAll(done, ctx, onUndo);
    const message = ctx.signal.aborted && !(err instanceof InterruptedError) ? `interrupted: ${errorMessage(err)}` : errorMessage(err);
    // Whether the host is back as it was belongs beside the failure, before any lines that explain it.
    const [first, ...rest] = message.split('\n');
    throw new StepsFailedError([`${first}${summary(undos, done)}`, ...rest].join('\n'), undos, { ...result, ...((err as { result?: Record<string, unknown> }).result ?? {}) }, { cause: err });
  }
}

async function undoAll(done: Step[], ctx: TaskContext, onUndo: (report: UndoReport) => void): Promise<UndoReport[]> {
  const reports: UndoReport[] = [];
  let unreachable: string | null = null;
  for (const step of [...done].reverse()) {
    if (!step.undo) continue;
    if (unreachable) {
      // Each attempt would wait for the host again: the rest is said, not tried.
      const report = { step: step.description, ok: false, unreachable: true, message: `not tried: ${unreachable}` };
      reports.push(report);
      onUndo(report);
      continue;
    }
    const controller = new AbortController();
    const timer = setTimeout(() => controller.abort(), UNDO_TIMEOUT_MS);
    let report: UndoReport;
    try {
      const said = await step.undo({ ...ctx, signal: controller.signal, progress: ctx.progress });
      report = { step: step.description, ok: true, message: said || 'undone' };
    } catch (err) {
      const lost = isUnreachable(err);
      if (lost) unreachable = errorMessage(err);
      report = { step: step.description, ok: false, message: errorMessage(err), ...(lost ? { unreachable: true } : {}) };
    } finally {
      clearTimeout(timer);
    }
    reports.push(report);
    onUndo(report);
  }
  return reports;
}

function summary(undos: UndoReport[], done: Step[]): string {
  if (undos.length === 0) return '';
  const failed = undos.filter((u) => !u.ok);
  if (failed.length === 0) return `; undone: ${undos.map((u) => u.message).join('; ')}`;
  const undone = undos.filter((u) => u.ok).map((u) => u.message);
  const lost = failed.filter((u) => u.unreachable);
  const broken = failed.filter((u) => !u.unreachable);
  const parts = [
    ...(undone.length > 0 ? [`undone: ${undone.join('; ')}`] : []),
    ...(broken.length > 0 ? [`NOT back as it was: ${broken.map((u) => `${u.step}: ${u.message}`).join('; ')}`] : []),
  ];
  if (lost.length > 0) {
    // Whether the host is back cannot be said from here; what the host's agent guards, it puts back by itself.
    const guarded = done.map((s) => s.guarded?.()).filter((g): g is string => Boolean(g));
    parts.push(
      `NOT undone and NOT checked (the host cannot be reached: ${lost[0].message.replace(/^not tried: /, '')}): ${lost.map((u) => u.step).join(', ')}` +
        (guarded.length > 0 ? `; the host's agent puts back by itself, once it hears nothing more from pgplay: ${guarded.join('; ')}` : ''),
    );
  }
  return `; ${parts.join('; ')}`;
}

function isUnreachable(err: unknown): boolean {
  for (let e: unknown = err, depth = 0; e && depth < 5; e = (e as { cause?: unknown }).cause, depth++) if (e instanceof UnreachableError) return true;
  return false;
}
