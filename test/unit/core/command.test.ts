import { test } from 'node:test';
import assert from 'node:assert/strict';
import { describeCommand, shellQuote, toArgv, toShellLine } from '../../../src/connection/command';
import { LocalConnection } from '../../../src/connection/local';
import { Secret } from '../../../src/secrets';

test('shellQuote leaves safe words alone and quotes the rest for sh', () => {
  assert.equal(shellQuote('pg_ctl'), 'pg_ctl');
  assert.equal(shellQuote('/var/lib/postgresql/15/main'), '/var/lib/postgresql/15/main');
  assert.equal(shellQuote(''), "''");
  assert.equal(shellQuote("it's"), `'it'\\''s'`);
  assert.equal(shellQuote('a b;rm -rf /'), "'a b;rm -rf /'");
});

test('a quoted line survives a real sh unchanged', async () => {
  const conn = new LocalConnection('local');
  const words = ["it's", 'two words', '$HOME', '`id`', 'a"b', '\\n', ''];
  const r = await conn.run({ argv: ['sh', '-c', `printf '%s\\n' ${words.map(shellQuote).join(' ')}`] });
  assert.equal(r.exitCode, 0);
  assert.deepEqual(r.stdout.split('\n').slice(0, -1), words);
});

test('become wraps the command with sudo -n or su, and env goes through env(1)', () => {
  const c = { argv: ['psql', '-c', 'select 1'], env: { PGPASSFILE: '/tmp/p' }, become: { user: 'postgres', method: 'sudo' as const } };
  assert.deepEqual(toArgv(c), ['sudo', '-n', '-H', '-u', 'postgres', '--', 'env', 'PGPASSFILE=/tmp/p', 'psql', '-c', 'select 1']);
  assert.equal(toShellLine({ ...c, become: { user: 'postgres', method: 'su' } }), "su -s /bin/sh postgres -c 'env PGPASSFILE=/tmp/p psql -c '\\''select 1'\\'''");
});

test('stdin carries a secret to the command without it reaching argv or the description', async () => {
  const conn = new LocalConnection('local');
  const secret = new Secret('hunter2-correct-horse');
  const command = { argv: ['cat'], stdin: secret };
  assert.ok(!describeCommand(command).includes('hunter2'));
  const r = await conn.run(command);
  assert.equal(r.stdout, 'hunter2-correct-horse');
  assert.equal(`${secret}`, '********');
  assert.equal(JSON.stringify({ secret }), '{"secret":"********"}');
});

test('a non-zero exit is data, and a timeout is reported as such', async () => {
  const conn = new LocalConnection('local');
  const r = await conn.run({ argv: ['sh', '-c', 'echo out; echo err >&2; exit 3'] });
  assert.deepEqual([r.exitCode, r.stdout, r.stderr, r.failed, r.timedOut], [3, 'out\n', 'err\n', true, false]);
  const slow = await conn.run({ argv: ['sleep', '5'] }, { timeoutMs: 200 });
  assert.equal(slow.timedOut, true);
  assert.equal(slow.failed, true);
  assert.ok(slow.durationMs < 3000);
});
