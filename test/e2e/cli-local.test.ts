// The CLI as a user runs it, on two hosts through the local connection (no SSH, no PostgreSQL).
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync, rmSync, statSync } from 'node:fs';
import { fixture, runCli } from '../helpers/cli';

const OUT = '/tmp/pgplay-cli-test';
const inventory = fixture('cli', 'inventory.yml');

before(() => rmSync(OUT, { recursive: true, force: true }));

test('--check on a template playbook changes nothing on disk and says what would change', async () => {
  const r = await runCli(['run', fixture('cli', 'template.yml'), '-i', inventory, '--check']);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(existsSync(OUT), false);
  assert.match(r.stdout, /PLAY RECAP/);
  assert.match(r.stdout, /alpha\s+ok=\d+ changed=1 /);
});

test('a template playbook converges, and the second run reports changed=0', async () => {
  const first = await runCli(['run', fixture('cli', 'template.yml'), '-i', inventory]);
  assert.equal(first.code, 0, first.stdout + first.stderr);
  assert.match(first.stdout, /alpha\s+ok=0 changed=2 /);
  const beta = readFileSync(`${OUT}/beta.conf`, 'utf8');
  assert.equal(beta, "# written by pgplay for beta\ngreeting = 'bonjour'\nport = 5434\nreplicas = beta\n");
  assert.equal((statSync(`${OUT}/alpha.conf`).mode & 0o777).toString(8), '640');
  const second = await runCli(['run', fixture('cli', 'template.yml'), '-i', inventory]);
  assert.equal(second.code, 0);
  assert.match(second.stdout, /alpha\s+ok=2 changed=0 unreachable=0 failed=0/);
  assert.match(second.stdout, /beta\s+ok=2 changed=0 unreachable=0 failed=0/);
});

test('--diff shows the before and after of a changed file', async () => {
  const r = await runCli(['run', fixture('cli', 'template.yml'), '-i', inventory, '--check', '--diff', '-e', 'greeting=hej']);
  assert.equal(r.code, 0);
  assert.match(r.stdout, /-greeting = 'hello'/);
  assert.match(r.stdout, /\+greeting = 'hej'/);
  assert.equal(readFileSync(`${OUT}/alpha.conf`, 'utf8').includes('hej'), false, '--check wrote nothing');
});

test('a failing host exits 2 and does not stop the other host', async () => {
  const r = await runCli(['run', fixture('cli', 'fail.yml'), '-i', inventory]);
  assert.equal(r.code, 2);
  assert.match(r.stdout, /alpha\s+ok=0 changed=2 unreachable=0 failed=0/);
  assert.match(r.stdout, /beta\s+ok=0 changed=0 unreachable=0 failed=1/);
});

test('invalid playbooks exit 4 with file:line:col for every error and no stack trace', async () => {
  const r = await runCli(['run', fixture('cli', 'invalid.yml'), '-i', inventory]);
  assert.equal(r.code, 4);
  assert.match(r.stderr, /invalid\.yml:5:7: .*ensure_rol.*did you mean 'ensure_role'/);
  assert.match(r.stderr, /invalid\.yml:\d+:\d+: .*(two|more than one) module/i);
  assert.doesNotMatch(r.stderr, /\n\s+at /);
});

test('bad options exit 5', async () => {
  const r = await runCli(['run', fixture('cli', 'template.yml'), '-i', inventory, '--forks', 'many']);
  assert.equal(r.code, 5);
  assert.match(r.stderr, /--forks must be a whole number/);
  const unknown = await runCli(['run', fixture('cli', 'template.yml'), '--frobnicate']);
  assert.equal(unknown.code, 5);
});

test('--version answers', async () => {
  const r = await runCli(['--version']);
  assert.equal(r.code, 0);
  assert.match(r.stdout, /^pgplay \d+\.\d+\.\d+\n$/);
});

test('--help for each command, and validate of a whole directory for a pre-commit hook', async () => {
  for (const command of ['run', 'validate', 'inventory']) {
    const r = await runCli([command, '--help']);
    assert.equal(r.code, 0);
    assert.match(r.stdout, new RegExp(`^pgplay ${command} `));
  }
  const all = await runCli(['validate', 'playbooks', '-i', 'inventory.example.yml']);
  assert.equal(all.code, 0, all.stderr);
  assert.match(all.stdout, /^2 playbooks valid against inventory\.example\.yml$/m);
  const graph = await runCli(['inventory', '-i', 'inventory.example.yml', '--graph']);
  assert.equal(graph.stdout, '@all:\n  |--@primary:\n    |--pg1\n  |--@replicas:\n    |--pg2\n    |--pg3\n');
});
