// Replays the scripted run on this terminal with pauses, to see and capture the live tree:
//   node dist/test/unit/reporters/live-tree-demo.js [--diff]
import { createReporters } from '../../../src/reporters';
import { dispatch } from '../../../src/reporters/events';
import { scriptedRun } from './scripted-run';

async function replay(): Promise<void> {
  const reporters = createReporters({
    output: 'human',
    showDiff: process.argv.includes('--diff'),
    stream: process.stdout,
    errStream: process.stderr,
    isTTY: Boolean(process.stdout.isTTY),
    ci: false,
    color: Boolean(process.stdout.isTTY) && !process.env.NO_COLOR,
  });
  let last: number | undefined;
  for (const event of scriptedRun()) {
    const at = Date.parse(event.time);
    // Real gaps, capped so the replay takes seconds rather than minutes.
    const gap = last === undefined ? 0 : Math.min(at - last, 1500) + 150;
    last = at;
    await new Promise((r) => setTimeout(r, gap));
    for (const r of reporters) dispatch(r, event);
  }
  for (const r of reporters) await r.finish?.();
}

if (require.main === module) void replay();
