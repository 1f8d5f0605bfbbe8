import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createJsonReporter } from '../../../src/reporters/json';
import { redactValue } from '../../../src/secrets';
import { MemoryStream, SECRET, playInto, scriptedRun, secret } from './scripted-run';

test('--output json writes exactly one parseable line per event, with the event fields and secrets masked', async () => {
  const stream = new MemoryStream();
  const events = scriptedRun();
  await playInto(createJsonReporter({ stream }), events);
  assert.ok(stream.text.endsWith('\n'));
  assert.ok(!stream.text.includes(SECRET));
  const lines = stream.text.slice(0, -1).split('\n');
  assert.equal(lines.length, events.length);
  lines.forEach((line, i) => {
    const parsed = JSON.parse(line);
    assert.deepEqual(parsed, JSON.parse(JSON.stringify(redactValue(events[i]))));
    assert.equal(parsed.kind, events[i].kind);
    assert.match(parsed.time, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
  });
  const last = JSON.parse(lines[lines.length - 1]);
  assert.equal(last.kind, 'recap');
  assert.deepEqual(Object.keys(last).sort(), ['durationMs', 'exitCode', 'hosts', 'interrupted', 'kind', 'time']);
  assert.deepEqual(last.hosts.pg3, { ok: 0, changed: 1, failed: 0, skipped: 1, unreachable: 0, ignored: 1 });
  const result = JSON.parse(lines.find((l) => l.includes('"create replication role"') && l.includes('task_result'))!);
  assert.equal(result.message, 'role replicator created with password ********');
  assert.equal(result.diffs[0].after, 'LOGIN REPLICATION\npassword ********\n');
});

test('a Secret object inside an event is written as the mask', async () => {
  const stream = new MemoryStream();
  const reporter = createJsonReporter({ stream });
  reporter.handlers.task_result({
    kind: 'task_result', time: new Date().toISOString(), play: 'p', task: 't', index: 0, host: 'h', module: 'command',
    status: 'ok', changed: false, durationMs: 1, item: { password: secret, note: `pw=${SECRET}` },
  });
  assert.deepEqual(JSON.parse(stream.text).item, { password: '********', note: 'pw=********' });
});
