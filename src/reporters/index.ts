// Picks the reporters for a run from the command line: one for the screen, plus JUnit when asked.
import type { Reporter } from './events';
import { createHumanReporter } from './human';
import { createJsonReporter } from './json';
import { createJunitReporter } from './junit';
import { colorForced } from './paint';
import { createPlainReporter } from './plain';

export interface ReporterChoice {
  output: 'human' | 'plain' | 'json';
  junitFile?: string;
  showDiff: boolean;
  stream: NodeJS.WritableStream;
  errStream: NodeJS.WritableStream;
  isTTY: boolean;
  /** process.env.CI is set: logs are read later, so no live tree. */
  ci: boolean;
  color: boolean;
  /** Colours in plain output; defaults to FORCE_COLOR. */
  forceColor?: boolean;
}

export function createReporters(o: ReporterChoice): Reporter[] {
  const reporters: Reporter[] = [];
  if (o.output === 'json') reporters.push(createJsonReporter({ stream: o.stream }));
  else if (o.output === 'human' && o.isTTY && !o.ci) reporters.push(createHumanReporter({ stream: o.stream, errStream: o.errStream, showDiff: o.showDiff, color: o.color }));
  else reporters.push(createPlainReporter({ stream: o.stream, showDiff: o.showDiff, color: o.forceColor ?? colorForced(process.env) }));
  if (o.junitFile) reporters.push(createJunitReporter({ file: o.junitFile }));
  return reporters;
}

export type { Reporter } from './events';
