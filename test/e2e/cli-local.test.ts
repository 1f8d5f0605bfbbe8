// The CLI as a user runs it, on two hosts through the local connection (no SSH, no PostgreSQL).
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
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
  // Both hosts are this machine: whichever makes the shared directory first, the other finds it there.
  assert.match(first.stdout, /alpha\s+ok=[01] changed=[12] /);
  assert.match(first.stdout, /changed alpha \| Render the greeting/);
  assert.match(first.stdout, /changed beta \| Render the greeting/);
  assert.equal((first.stdout.match(/^changed (alpha|beta) \| Make the output directory/gm) ?? []).length >= 1, true);
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
  // The day-2 playbooks take their hosts at run time (-e new_primary=..., -e replica=...): validate takes them the same way.
  const all = await runCli(['validate', 'playbooks', '-i', 'inventory.example.yml', '-e', 'new_primary=pg2', '-e', 'replica=pg3']);
  assert.equal(all.code, 0, all.stderr);
  assert.match(all.stdout, /^6 playbooks valid against inventory\.example\.yml$/m);
  const without = await runCli(['validate', 'playbooks', '-i', 'inventory.example.yml']);
  assert.equal(without.code, 4);
  assert.match(without.stderr, /^playbooks\/switchover\.yml:\d+:\d+: undefined variable 'new_primary'$/m);
  assert.match(without.stderr, /^playbooks\/remove-replica\.yml:\d+:\d+: undefined variable 'replica'$/m);
  assert.doesNotMatch(without.stderr, /site\.yml/);
  const graph = await runCli(['inventory', '-i', 'inventory.example.yml', '--graph']);
  assert.equal(graph.stdout, '@all:\n  |--@primary:\n    |--pg1\n  |--@replicas:\n    |--pg2\n    |--pg3\n');
});

test('a variable that cannot be rendered (Jinja in the inventory, reached through hostvar) fails its task: recap, exit 2, no internal error', async () => {
  const r = await runCli(['run', fixture('cli', 'render-errors.yml'), '-i', fixture('cli', 'inventory-render-errors.yml')]);
  assert.equal(r.code, 2, r.stdout + r.stderr);
  assert.doesNotMatch(r.stderr, /internal error/);
  assert.match(r.stdout, /changed beta \| A loop that does not read it \(item=2\)/);
  assert.match(r.stdout, /failed  beta \| A condition that reads it \(\d+ ms\) - \S*inventory-render-errors\.yml:9:23: peer_token: \S*inventory-render-errors\.yml:7:30: token: the filter 'regex_replace' is Jinja/);
  assert.doesNotMatch(r.stdout, /Not reached on beta/);
  assert.match(r.stdout, /changed alpha \| A loop on the host whose own variable cannot be rendered \(item=beta\)/);
  assert.match(r.stdout, /failed  alpha \| An argument that reads it through hostvar \(\d+ ms\) - \S*inventory-render-errors\.yml:7:30: token: the filter 'regex_replace' is Jinja/);
  assert.match(r.stdout, /PLAY RECAP\n/);
  assert.match(r.stdout, /^alpha\s+ok=0 changed=1 unreachable=0 failed=1 skipped=0 ignored=0$/m);
  assert.match(r.stdout, /^beta\s+ok=0 changed=1 unreachable=0 failed=1 skipped=0 ignored=0$/m);
});

test('a play whose hosts cannot be rendered is bad input (exit 4) at validate and at run, before anything runs', async () => {
  const r = await runCli(['validate', fixture('cli', 'hosts-render-error.yml'), '-i', fixture('cli', 'inventory.yml')]);
  assert.equal(r.code, 4, r.stdout + r.stderr);
  assert.match(r.stderr, /hosts-render-error\.yml:1:10: hosts: first needs a list, got nothing \(undefined\)/);
  const run = await runCli(['run', fixture('cli', 'hosts-render-error.yml'), '-i', fixture('cli', 'inventory.yml')]);
  assert.equal(run.code, 4);
  assert.doesNotMatch(run.stderr, /internal error/);
});

test('a value read from env.* is masked in plain, JSON and JUnit output, diffs and errors; a new file holding it is 0600; no_log hides a task', async () => {
  const password = 'cli-env-pw-93be1f';
  rmSync(`${OUT}/conninfo-alpha.conf`, { force: true });
  const junit = `${OUT}-env-secrets.xml`;
  const env = { PGPLAY_CLI_TEST_PASSWORD: password };
  const plainRun = await runCli(['run', fixture('cli', 'env-secrets.yml'), '-i', inventory, '--diff', '--junit', junit], { env });
  assert.equal(plainRun.code, 0, plainRun.stdout + plainRun.stderr);
  assert.equal(readFileSync(`${OUT}/conninfo-alpha.conf`, 'utf8').includes(password), true, 'the file itself holds the password');
  assert.equal((statSync(`${OUT}/conninfo-alpha.conf`).mode & 0o777).toString(8), '600');
  assert.match(plainRun.stdout, /\+primary_conninfo = 'host=pg1 user=replicator password=\*{8}'/);
  assert.match(plainRun.stdout, /run echo token=\*{8}/);
  assert.match(plainRun.stdout, /cannot log in with \*{8}/);
  assert.match(plainRun.stdout, /changed alpha \| A task with no_log \(item=hidden by no_log\) \(\d+ ms\) - the output of this task is hidden: no_log is set/);
  assert.doesNotMatch(plainRun.stdout, /not-secret-but-hidden/);
  const report = readFileSync(junit, 'utf8');
  rmSync(junit, { force: true });
  rmSync(`${OUT}/conninfo-alpha.conf`, { force: true });
  const jsonRun = await runCli(['run', fixture('cli', 'env-secrets.yml'), '-i', inventory, '--diff', '--output', 'json'], { env });
  assert.equal(jsonRun.code, 0);
  assert.match(jsonRun.stdout, /password=\*{8}/);
  for (const out of [plainRun.stdout, plainRun.stderr, jsonRun.stdout, jsonRun.stderr, report]) assert.equal(out.includes(password), false);
  assert.match(report, /cannot log in with \*{8}/);
});

test('a run on more hosts than Node allows listeners by default (20 local hosts at once) prints no warning', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'pgplay-many-'));
  try {
    const hosts = Array.from({ length: 20 }, (_, i) => `h${i + 1}: {}`).join('\n        ');
    writeFileSync(join(dir, 'inventory.yml'), `all:\n  vars:\n    connection: local\n  children:\n    fleet:\n      hosts:\n        ${hosts}\n`);
    writeFileSync(join(dir, 'p.yml'), '- name: Every host at once\n  hosts: fleet\n  tasks:\n    - name: A command on each\n      command:\n        argv: [sleep, "0.3"]\n');
    const r = await runCli(['run', join(dir, 'p.yml'), '-i', join(dir, 'inventory.yml'), '--forks', '20']);
    assert.equal(r.code, 0, r.stdout + r.stderr);
    assert.equal((r.stdout.match(/^changed h\d+ \| A command on each/gm) ?? []).length, 20);
    assert.doesNotMatch(r.stderr, /Warning|warning/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
