// One line per task result: stable, greppable, no spinners; for pipes, CI logs and `grep ^failed`.
import { redact } from '../secrets';
import type { EventOf, Reporter, TaskStatus } from './events';
import { formatDiff } from './diff';
import { formatDuration, splitMessage, taskLabel } from './format';
import { createPaint, paintStatus, type Paint } from './paint';
import { recapLines } from './recap';

export interface PlainOptions {
  stream: NodeJS.WritableStream;
  showDiff: boolean;
  color: boolean;
  /** Least time between two progress lines of one task, so a long copy does not flood the log. */
  progressEveryMs?: number;
}

const STATUS_WIDTH = 7;

function statusColumn(paint: Paint, status: TaskStatus | 'running' | 'notify'): string {
  const text = status.padEnd(STATUS_WIDTH);
  return status === 'running' || status === 'notify' ? paint.dim(text) : paintStatus(paint, status, text);
}

/** The lines for one task result: the result line, the rest of a multi-line message, warnings, diffs. */
export function resultLines(e: EventOf<'task_result'>, paint: Paint, showDiff: boolean): string[] {
  const { first, rest } = splitMessage(e.message);
  const head = `${statusColumn(paint, e.status)} ${e.host} | ${taskLabel(e.task, e.item)} (${formatDuration(e.durationMs)})`;
  const lines = [`${head}${first ? ` - ${first}` : ''}${e.ignored ? paint.dim(' [ignored]') : ''}`];
  lines.push(...rest.map((line) => `    ${line}`));
  for (const w of e.warnings ?? []) lines.push(warningLine(paint, e.host, w));
  if (showDiff) for (const d of e.diffs ?? []) lines.push(...formatDiff(d).map((l) => paintDiffLine(paint, l)));
  return lines;
}

/** A step put back (or not) after a failure: what it says about the host's state matters as much as the failure. */
export function undoLine(paint: Paint, e: EventOf<'undo'>): string {
  return `${paint[e.ok ? 'yellow' : 'red']('undo'.padEnd(STATUS_WIDTH))} ${e.host} | ${e.task} | ${e.step} - ${e.ok ? '' : 'NOT UNDONE: '}${e.message}`;
}

export function warningLine(paint: Paint, host: string | undefined, message: string): string {
  return `${paint.magenta('[WARNING]')} ${host ? `${host}: ` : ''}${message}`;
}

export function paintDiffLine(paint: Paint, line: string): string {
  if (line.startsWith('@@')) return paint.cyan(line);
  if (line.startsWith('---') || line.startsWith('+++')) return paint.bold(line);
  if (line.startsWith('-')) return paint.red(line);
  if (line.startsWith('+')) return paint.green(line);
  return line;
}

export function createPlainReporter(o: PlainOptions): Reporter {
  const paint = createPaint(o.color);
  const every = o.progressEveryMs ?? 5000;
  const lastProgress = new Map<string, number>();
  const write = (...lines: string[]) => {
    for (const line of lines) o.stream.write(`${redact(line)}\n`);
  };
  return {
    handlers: {
      run_start: (e) => write(`${paint.bold('PLAYBOOK')} ${e.playbook} -i ${e.inventory}${e.checkMode ? ' (check mode)' : ''}`),
      play_start: (e) => write('', `${paint.bold(`PLAY [${e.play}]`)} hosts=${e.hosts.length > 0 ? e.hosts.join(',') : '(none)'}`),
      task_start: () => undefined,
      task_progress: (e) => {
        const key = `${e.host}\u0000${e.task}`;
        const at = Date.parse(e.time);
        const last = lastProgress.get(key);
        if (last !== undefined && at - last < every) return;
        lastProgress.set(key, at);
        write(`${statusColumn(paint, 'running')} ${e.host} | ${e.task} - ${splitMessage(e.message).first}`);
      },
      task_result: (e) => {
        lastProgress.delete(`${e.host}\u0000${e.task}`);
        write(...resultLines(e, paint, o.showDiff));
      },
      handler_notified: (e) => write(`${statusColumn(paint, 'notify')} ${e.host} | ${e.handler}`),
      warning: (e) => write(warningLine(paint, e.host, e.message)),
      undo: (e) => write(undoLine(paint, e)),
      play_end: () => undefined,
      recap: (e) => write('', ...recapLines(e, paint)),
    },
  };
}
