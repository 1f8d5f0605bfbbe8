// --output json: every event as one JSON line (NDJSON), secrets masked, nothing else on stdout.
import { redactValue } from '../secrets';
import type { Reporter, RunEvent } from './events';

export interface JsonOptions {
  stream: NodeJS.WritableStream;
}

export function createJsonReporter(o: JsonOptions): Reporter {
  const write = (event: RunEvent) => {
    o.stream.write(`${JSON.stringify(redactValue(event))}\n`);
  };
  return {
    handlers: {
      run_start: write,
      play_start: write,
      task_start: write,
      task_progress: write,
      task_result: write,
      handler_notified: write,
      undo: write,
      warning: write,
      play_end: write,
      recap: write,
    },
  };
}
