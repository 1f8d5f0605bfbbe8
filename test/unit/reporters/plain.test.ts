import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createPlainReporter } from '../../../src/reporters/plain';
import { stripAnsi } from '../../../src/reporters/paint';
import { MemoryStream, SECRET, playInto } from './scripted-run';

async function plain(showDiff: boolean, color = false): Promise<string> {
  const stream = new MemoryStream();
  await playInto(createPlainReporter({ stream, showDiff, color }));
  return stream.text;
}

test('plain output has one greppable line per result, in event order, and the recap', async () => {
  const out = await plain(false);
  const lines = out.split('\n');
  assert.equal(lines[0], 'PLAYBOOK site.yml -i inventory.yml');
  assert.ok(lines.includes('PLAY [configure primary] hosts=pg1'));
  assert.ok(lines.includes('PLAY [make replicas] hosts=pg2,pg3,pg4'));
  assert.ok(lines.includes('changed pg1 | set replication settings (35 ms) - wal_level: minimal -> replica (needs restart)'));
  assert.ok(lines.includes('notify  pg1 | restart postgresql'));
  assert.ok(lines.includes('unreachable pg4 | stop replica (0 ms) - ssh: connect to host 127.0.0.9 port 22: Connection refused'));
  assert.ok(lines.includes('skipped pg3 | stop replica (5 ms) - already stopped'));
  assert.ok(lines.includes('ok      pg2 | stop replica (40 ms) - stopped'));
  assert.ok(lines.includes('changed pg3 | write markers (item=alpha) (3 ms) - wrote alpha'));
  assert.ok(lines.includes('failed  pg2 | take base backup (7.1 s) - pg_basebackup: error: connection to server failed'));
  assert.ok(lines.includes('failed  pg3 | check lag (7 ms) - lag 9 MB is over 1 MB [ignored]'));
  assert.ok(lines.includes('[WARNING] pg3: lag measured while the primary was busy'));
  assert.ok(lines.includes('[WARNING] no replica is streaming yet'));
  // The failure's second line stays under its result, indented.
  const failed = lines.indexOf('failed  pg2 | take base backup (7.1 s) - pg_basebackup: error: connection to server failed');
  assert.match(lines[failed + 1], /^ {4}FATAL: {2}password authentication failed/);
  // Interleaved hosts keep event order.
  assert.ok(lines.findIndex((l) => l.startsWith('unreachable pg4')) < lines.findIndex((l) => l.startsWith('skipped pg3')));
  assert.equal(lines.filter((l) => /^(ok|changed|failed|skipped|unreachable) +pg\d \| /.test(l)).length, 10);
  const recap = lines.indexOf('PLAY RECAP');
  assert.ok(recap > 0);
  assert.equal(lines[recap - 1], '');
  assert.match(lines[recap + 1], /^pg1 {2}ok=0 changed=3 unreachable=0 failed=0 skipped=0 ignored=0$/);
  assert.match(lines[recap + 2], /^pg2 {2}ok=1 changed=0 unreachable=0 failed=1 skipped=0 ignored=0$/);
  assert.match(lines[recap + 3], /^pg3 {2}ok=0 changed=1 unreachable=0 failed=0 skipped=1 ignored=1$/);
  assert.match(lines[recap + 4], /^pg4 {2}ok=0 changed=0 unreachable=1 failed=0 skipped=0 ignored=0$/);
  assert.equal(lines[recap + 5], 'wall time 8.5 s');
});

test('plain output shows no diff without --diff, and a unified diff under the result with it', async () => {
  assert.ok(!(await plain(false)).includes('+++'));
  const lines = (await plain(true)).split('\n');
  const at = lines.findIndex((l) => l.startsWith('changed pg1 | set replication settings'));
  assert.deepEqual(lines.slice(at + 1, at + 9), [
    '--- /etc/postgresql/15/main/conf.d/pgplay.conf (before)',
    '+++ /etc/postgresql/15/main/conf.d/pgplay.conf (after)',
    '@@ -1,5 +1,5 @@',
    ' # pgplay',
    " listen_addresses = '*'",
    ' max_wal_senders = 10',
    '-wal_level = minimal',
    '+wal_level = replica',
  ]);
});

test('plain output throttles progress lines of one task', async () => {
  const lines = (await plain(false)).split('\n').filter((l) => l.startsWith('running'));
  // 10% printed, 55% one second later dropped, 90% six seconds after 10% printed.
  assert.deepEqual(lines, ['running pg2 | take base backup - 10% (3 MB of 30 MB)', 'running pg2 | take base backup - 90% (27 MB of 30 MB)']);
});

test('plain output masks the secret everywhere, diffs and items included', async () => {
  const out = await plain(true);
  assert.ok(!out.includes(SECRET));
  assert.ok(out.includes('role replicator created with password ********'));
  assert.ok(out.includes('+password ********'));
  assert.ok(out.includes('(item={"name":"beta","password":"********"})'));
});

test('plain output has colours only when asked, and the same text under them', async () => {
  assert.ok(!(await plain(true)).includes('\u001b['));
  const colored = await plain(true, true);
  assert.ok(colored.includes('\u001b[31mfailed '));
  assert.equal(stripAnsi(colored), await plain(true));
});
