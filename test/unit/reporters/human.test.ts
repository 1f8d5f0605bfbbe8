import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHumanReporter } from '../../../src/reporters/human';
import { stripAnsi } from '../../../src/reporters/paint';
import { dispatch } from '../../../src/reporters/events';
import { MemoryStream, SECRET, playInto, scriptedRun } from './scripted-run';

async function human(showDiff: boolean): Promise<{ lines: string[]; raw: string; err: string }> {
  const stream = new MemoryStream();
  const errStream = new MemoryStream();
  await playInto(createHumanReporter({ stream, errStream, showDiff, color: false }));
  return { lines: stripAnsi(stream.text).split('\n'), raw: stream.text, err: errStream.text };
}

/** The text listr2 printed last for a play: its final tree, drawn once more after the live frames. */
function finalTree(lines: string[], play: string): string[] {
  const start = lines.map((l, i) => (l.endsWith(`PLAY [${play}]`) ? i : -1)).filter((i) => i >= 0).pop()!;
  let end = start + 1;
  while (end < lines.length && lines[end].startsWith('  ')) end++;
  return lines.slice(start, end);
}

test('the live tree ends showing plays > hosts > tasks with their states, durations and failures', async () => {
  const { lines } = await human(false);
  const first = finalTree(lines, 'configure primary');
  assert.deepEqual(first, [
    '✔ PLAY [configure primary]',
    '  ✔ pg1  - 3 changed',
    '    ✔ set replication settings  changed (35 ms) - wal_level: minimal ->',
    '      replica (needs restart)',
    '      notify: restart postgresql',
    '    ✔ create replication role  changed (12 ms) - role replicator created with',
    '       password ********',
    '    ✔ restart postgresql  changed (900 ms) - restarted',
  ]);
  const second = finalTree(lines, 'make replicas');
  // A play with a failed host ends with the warning sign; a failed host shows its failed task and why.
  assert.equal(second[0], '⚠ PLAY [make replicas]');
  assert.ok(second.includes('  ✖ pg2  - 1 ok, 1 failed'));
  assert.ok(second.includes('    ✔ stop replica  ok (40 ms) - stopped'));
  assert.ok(second.includes('    ✖ take base backup  failed (7.1 s)'));
  assert.ok(second.includes('      › pg_basebackup: error: connection to server failed'));
  assert.ok(second.includes('  ⚠ pg3  - 1 changed, 1 skipped, 1 ignored'));
  assert.ok(second.includes('    ↓ stop replica  skipped (5 ms) - already stopped'));
  assert.ok(second.includes('      ✔ alpha  changed (3 ms) - wrote alpha'));
  assert.ok(second.includes('    ✖ check lag  failed (ignored) (7 ms)'));
  assert.ok(second.includes('  ✖ pg4  - 1 unreachable'));
  assert.ok(second.includes('    ✖ stop replica  unreachable (0 ms)'));
  assert.ok(second.includes('      › ssh: connect to host 127.0.0.9 port 22: Connection refused'));
  // Hosts stay in play order even though their results interleave.
  assert.deepEqual(second.filter((l) => /^ {2}\S+ pg\d/.test(l)).map((l) => l.split(' ')[3]), ['pg2', 'pg3', 'pg4']);
});

test('warnings print under the play tree and the recap comes last', async () => {
  const { lines } = await human(false);
  const tree = lines.lastIndexOf('⚠ PLAY [make replicas]');
  const warning = lines.indexOf('[WARNING] pg3: lag measured while the primary was busy');
  const recap = lines.indexOf('PLAY RECAP');
  assert.ok(tree > 0 && warning > tree && recap > warning, `${tree} ${warning} ${recap}`);
  assert.ok(lines.includes('[WARNING] no replica is streaming yet'));
  assert.match(lines[recap + 2], /^pg2 {2}ok=1 changed=0 unreachable=0 failed=1 skipped=0 ignored=0$/);
  assert.equal(lines[recap + 5], 'wall time 8.5 s');
  assert.equal(lines[0], 'site.yml · inventory.yml');
});

test('with --diff the tree shows the diff under the changed task; the secret is nowhere', async () => {
  const { lines, raw, err } = await human(true);
  const tree = finalTree(lines, 'configure primary');
  const at = tree.findIndex((l) => l.includes('set replication settings'));
  assert.deepEqual(tree.slice(at + 2, at + 5), [
    '      --- /etc/postgresql/15/main/conf.d/pgplay.conf (before)',
    '      +++ /etc/postgresql/15/main/conf.d/pgplay.conf (after)',
    '      @@ -1,5 +1,5 @@',
  ]);
  assert.ok(tree.includes('      -wal_level = minimal'));
  assert.ok(tree.includes('      +password ********'));
  assert.ok(!raw.includes(SECRET));
  assert.ok(!err.includes(SECRET));
});

test('progress shows on the running task and a task left running by an interrupted run is marked', async () => {
  const stream = new MemoryStream();
  const reporter = createHumanReporter({ stream, errStream: new MemoryStream(), showDiff: false, color: false });
  const time = new Date().toISOString();
  reporter.handlers.play_start({ kind: 'play_start', time, play: 'p', index: 0, hosts: ['pg1', 'pg2'] });
  reporter.handlers.task_start({ kind: 'task_start', time, play: 'p', task: 'take base backup', index: 0, host: 'pg1' });
  reporter.handlers.task_progress({ kind: 'task_progress', time, task: 'take base backup', host: 'pg1', message: `42% ${SECRET}` });
  await new Promise((r) => setTimeout(r, 250));
  const live = stripAnsi(stream.text);
  assert.match(live, /take base backup - 42% \*{8}/);
  reporter.handlers.play_end({ kind: 'play_end', time, play: 'p', index: 0 });
  await reporter.finish?.();
  const lines = finalTree(stripAnsi(stream.text).split('\n'), 'p');
  assert.ok(lines.includes('    ✖ take base backup  no result'), lines.join('\n'));
  assert.ok(lines.includes('  ↓ pg2  - no task ran'), lines.join('\n'));
  assert.ok(!stream.text.includes(SECRET));
});

test('a play that starts while the last one is still drawing is drawn, and so is the recap', async () => {
  const stream = new MemoryStream();
  const reporter = createHumanReporter({ stream, errStream: new MemoryStream(), showDiff: false, color: false });
  const events = scriptedRun();
  const firstPlayEnd = events.findIndex((e) => e.kind === 'play_end');
  for (const [i, e] of events.entries()) {
    // listr2 draws the first play (and holds the stream) while its last task runs; the next play starts at once.
    if (i === firstPlayEnd) await new Promise((r) => setTimeout(r, 300));
    dispatch(reporter, e);
  }
  await reporter.finish?.();
  const text = stripAnsi(stream.text);
  assert.match(text, /PLAY \[make replicas\]/);
  assert.match(text, /PLAY RECAP\n/);
});
