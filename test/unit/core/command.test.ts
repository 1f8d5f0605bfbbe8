import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { agentArgv, agentCommandLine, describeArgv, shellQuote } from '../../../src/connection/command';
import { Secret } from '../../../src/secrets';

test('shellQuote leaves safe words alone and quotes the rest for sh, = included', () => {
  assert.equal(shellQuote('pg_ctl'), 'pg_ctl');
  assert.equal(shellQuote('/var/lib/postgresql/15/main'), '/var/lib/postgresql/15/main');
  assert.equal(shellQuote(''), "''");
  assert.equal(shellQuote("it's"), `'it'\\''s'`);
  assert.equal(shellQuote('a b;rm -rf /'), "'a b;rm -rf /'");
  // env(1) would read a bare word with = as a variable to set.
  assert.equal(shellQuote('PGPASSFILE=/x'), "'PGPASSFILE=/x'");
});

test('a quoted line survives a real sh unchanged', () => {
  const words = ["it's", 'two words', '$HOME', '`id`', 'a"b', '\\n', '', 'k=v'];
  const out = execFileSync('sh', ['-c', `printf '%s\\n' ${words.map(shellQuote).join(' ')}`], { encoding: 'utf8' });
  assert.deepEqual(out.split('\n').slice(0, -1), words);
});

test('the agent starts with one become: sudo -n, sudo -S with a password, or su; root needs none', () => {
  assert.deepEqual(agentArgv().slice(0, 2), ['perl', '-e']);
  assert.deepEqual(agentArgv({ user: 'root', method: 'sudo' }).slice(0, 6), ['sudo', '-n', '-H', '-u', 'root', '--']);
  const withPassword = agentArgv({ user: 'root', method: 'sudo', password: new Secret('sudo-pass-123') });
  assert.deepEqual([withPassword[0], withPassword[1], withPassword[3], withPassword[4]], ['sh', '-c', 'root', 'perl']);
  assert.match(withPassword[2], /^IFS= read -r PGPLAY_BECOME_PASSWORD .* SUDO_ASKPASS=\/usr\/bin\/printenv exec sudo -A -p PGPLAY_BECOME_PASSWORD -H -u "\$0" -- env -u PGPLAY_BECOME_PASSWORD "\$@"$/);
  assert.equal(withPassword.join(' ').includes('sudo-pass-123'), false, 'the password goes on stdin, never in argv');
  assert.deepEqual(agentArgv({ user: 'root', method: 'su' }).slice(0, 5), ['su', '-s', '/bin/sh', 'root', '-c']);
  assert.match(agentCommandLine(), /^exec perl -e '/);
});

test('describeArgv says who runs what, and stays short', () => {
  assert.equal(describeArgv(['pg_ctl', 'status', '-D', '/d'], 'postgres'), '[as postgres] pg_ctl status -D /d');
  assert.equal(describeArgv(['echo', 'x'.repeat(500)]).length, 200);
});
