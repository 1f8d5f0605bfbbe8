// --junit FILE: a JUnit XML report for CI, one testsuite per play and one testcase per host x task.
import { renameSync, unlinkSync, writeFileSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { ExitCode, PgplayError, errorMessage } from '../errors';
import { redact } from '../secrets';
import type { EventOf, Reporter, RunEvent } from './events';
import { formatDiff } from './diff';
import { splitMessage, taskLabel } from './format';
import { attrs, xmlText } from './xml';

export interface JunitOptions {
  file: string;
}

interface Suite {
  name: string;
  timestamp: string;
  startMs: number;
  endMs?: number;
  cases: Array<EventOf<'task_result'>>;
}

const seconds = (ms: number) => (Math.max(0, ms) / 1000).toFixed(3);

function counts(cases: Suite['cases']) {
  return {
    tests: cases.length,
    failures: cases.filter((c) => c.status === 'failed' && !c.ignored).length,
    errors: cases.filter((c) => c.status === 'unreachable').length,
    skipped: cases.filter((c) => c.status === 'skipped').length,
  };
}

function testcase(c: EventOf<'task_result'>): string[] {
  const open = `    <testcase${attrs({ classname: c.host, name: taskLabel(c.task, c.item), time: seconds(c.durationMs) })}`;
  const message = c.message ?? '';
  const summary = splitMessage(message).first || c.status;
  const out: string[] = [];
  if (c.status === 'failed' && !c.ignored) out.push(`      <failure${attrs({ message: summary, type: 'failed' })}>${xmlText(message)}</failure>`);
  else if (c.status === 'unreachable') out.push(`      <error${attrs({ message: summary, type: 'unreachable' })}>${xmlText(message)}</error>`);
  else if (c.status === 'skipped') out.push(`      <skipped${attrs({ message: message || undefined })}/>`);
  const notes = [
    `${c.ignored ? 'failed (ignored)' : c.status} [${c.module}]${message && c.status !== 'failed' && c.status !== 'unreachable' ? `: ${message}` : ''}`,
    ...(c.ignored && message ? [message] : []),
    ...(c.warnings ?? []).map((w) => `[WARNING] ${w}`),
    ...(c.diffs ?? []).flatMap((d) => formatDiff(d)),
  ];
  out.push(`      <system-out>${xmlText(notes.join('\n'))}</system-out>`);
  return [`${open}>`, ...out, '    </testcase>'];
}

/** The whole report as XML text; secrets masked. */
export function junitXml(suites: Suite[], runName: string, totalMs: number | undefined): string {
  const all = suites.flatMap((s) => s.cases);
  const total = counts(all);
  const lines = ['<?xml version="1.0" encoding="UTF-8"?>'];
  const wall = totalMs ?? suites.reduce((sum, s) => sum + ((s.endMs ?? s.startMs) - s.startMs), 0);
  lines.push(`<testsuites${attrs({ name: runName, ...total, time: seconds(wall) })}>`);
  for (const s of suites) {
    const c = counts(s.cases);
    const time = s.endMs !== undefined ? s.endMs - s.startMs : s.cases.reduce((sum, x) => sum + x.durationMs, 0);
    lines.push(`  <testsuite${attrs({ name: s.name, ...c, time: seconds(time), timestamp: s.timestamp })}>`);
    for (const tc of s.cases) lines.push(...testcase(tc));
    lines.push('  </testsuite>');
  }
  lines.push('</testsuites>');
  return redact(`${lines.join('\n')}\n`);
}

/** Write beside the target and rename, so a reader never sees half a report. */
export function writeFileAtomically(file: string, text: string): void {
  const tmp = join(dirname(file), `.${basename(file)}.${process.pid}.tmp`);
  try {
    writeFileSync(tmp, text, { mode: 0o644 });
    renameSync(tmp, file);
  } catch (err) {
    try {
      unlinkSync(tmp);
    } catch {
      // nothing was written
    }
    throw new PgplayError(`cannot write the JUnit report ${file}: ${errorMessage(err)}`, ExitCode.error, { cause: err });
  }
}

export function createJunitReporter(o: JunitOptions): Reporter {
  const suites: Suite[] = [];
  let runName = 'pgplay';
  let totalMs: number | undefined;
  const current = (e: RunEvent & { play: string }): Suite => {
    const last = suites[suites.length - 1];
    if (last && last.name === e.play && last.endMs === undefined) return last;
    // A result outside any play still lands in the report rather than vanish.
    const suite: Suite = { name: e.play, timestamp: e.time, startMs: Date.parse(e.time), cases: [] };
    suites.push(suite);
    return suite;
  };
  return {
    handlers: {
      run_start: (e) => {
        runName = e.playbook;
      },
      play_start: (e) => {
        suites.push({ name: e.play, timestamp: e.time, startMs: Date.parse(e.time), cases: [] });
      },
      task_start: () => undefined,
      task_progress: () => undefined,
      task_result: (e) => {
        current(e).cases.push(e);
      },
      handler_notified: () => undefined,
      undo: () => undefined,
      warning: () => undefined,
      play_end: (e) => {
        current(e).endMs = Date.parse(e.time);
      },
      recap: (e) => {
        totalMs = e.durationMs;
      },
    },
    async finish() {
      writeFileAtomically(o.file, junitXml(suites, runName, totalMs));
    },
  };
}
