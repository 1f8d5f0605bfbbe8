// On a terminal: a live tree of plays > hosts > tasks drawn by listr2, then the same recap as plain output.
import { redact } from '../secrets';
import type { EventOf, Reporter } from './events';
import type { LiveTree as LiveTreeClass } from './live-tree';
import { createPaint } from './paint';
import { warningLine, undoLine } from './plain';
import { recapLines } from './recap';

export interface HumanOptions {
  stream: NodeJS.WritableStream;
  errStream: NodeJS.WritableStream;
  showDiff: boolean;
  color: boolean;
}

export function createHumanReporter(o: HumanOptions): Reporter {
  // listr2 and the tree load only when a live tree is wanted, so `pgplay --version` stays fast.
  const { LiveTree } = require('./live-tree') as { LiveTree: typeof LiveTreeClass };
  const paint = createPaint(o.color);
  const tree = new LiveTree(require('listr2'), { stream: o.stream, errStream: o.errStream, paint, showDiff: o.showDiff });
  const print = (...lines: string[]) => tree.print(lines);
  let recap: EventOf<'recap'> | undefined;
  return {
    handlers: {
      run_start: (e) => print(paint.dim(`${e.playbook} · ${e.inventory}${e.checkMode ? ' · check mode' : ''}`)),
      play_start: (e) => tree.startPlay(e.play, e.hosts),
      task_start: (e) => tree.startTask(e.host, e.task, e.time),
      task_progress: (e) => tree.progress(e.host, e.task, e.message),
      task_result: (e) => {
        tree.result(e);
        for (const w of e.warnings ?? []) print(warningLine(paint, e.host, w));
      },
      handler_notified: (e) => tree.notified(e.host, e.handler),
      warning: (e) => print(warningLine(paint, e.host, e.message)),
      undo: (e) => print(undoLine(paint, e)),
      play_end: () => tree.endPlay(),
      recap: (e) => {
        recap = e;
      },
    },
    async finish() {
      await tree.close();
      // The last tree is printed and listr2 has let go of the stream.
      if (recap) for (const line of ['', ...recapLines(recap, paint)]) o.stream.write(`${redact(line)}\n`);
    },
  };
}
