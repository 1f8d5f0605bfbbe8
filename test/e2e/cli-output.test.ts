// The run as CI sees it: JSON events, JUnit, plain lines, host and tag selection, and Ctrl-C.
import assert from 'node:assert/strict';
import { spawn, execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { fixture, PGPLAY, runCli } from '../helpers/cli';
import { parseXml, type XmlElement } from '../unit/reporters/xml-check';

const inventory = fixture('cli', 'inventory.yml');

function events(stdout: string): Array<Record<string, unknown>> {
  return stdout
    .split('\n')
    .filter((l) => l !== '')
    .map((l) => JSON.parse(l) as Record<string, unknown>);
}

function pairs(stdout: string): string[] {
  return events(stdout)
    .filter((e) => e.kind === 'task_result')
    .map((e) => `${e.host}/${e.task}`)
    .sort();
}

test('--output json: every line is one JSON event, from run_start to the recap', async () => {
  const r = await runCli(['run', fixture('cli', 'tagged.yml'), '-i', inventory, '--output', 'json']);
  assert.equal(r.code, 0, r.stderr);
  const all = events(r.stdout);
  assert.equal(all[0].kind, 'run_start');
  assert.equal(all[all.length - 1].kind, 'recap');
  const results = all.filter((e) => e.kind === 'task_result');
  assert.equal(results.length, 8);
  for (const e of results) {
    assert.equal(typeof e.time, 'string');
    assert.equal(typeof e.durationMs, 'number');
    assert.equal(e.status, 'changed');
    assert.equal(e.module, 'command');
  }
  const recap = all[all.length - 1] as { hosts: Record<string, { changed: number }>; exitCode: number };
  assert.deepEqual(Object.keys(recap.hosts), ['alpha', 'beta']);
  assert.equal(recap.hosts.alpha.changed, 4);
  assert.equal(recap.exitCode, 0);
});

test('--limit, --tags and --skip-tags select exactly the expected host x task pairs', async () => {
  const limited = await runCli(['run', fixture('cli', 'tagged.yml'), '-i', inventory, '--output', 'json', '--limit', 'replicas', '--tags', 'conf']);
  assert.equal(limited.code, 0, limited.stderr);
  assert.deepEqual(pairs(limited.stdout), ['beta/always task', 'beta/conf task']);
  const skipped = await runCli(['run', fixture('cli', 'tagged.yml'), '-i', inventory, '--output', 'json', '--skip-tags', 'role,always', '-l', 'alpha']);
  assert.deepEqual(pairs(skipped.stdout), ['alpha/conf task', 'alpha/untagged task']);
  const start = await runCli(['run', fixture('cli', 'tagged.yml'), '-i', inventory, '--output', 'json', '--start-at-task', 'always task', '-l', 'beta']);
  assert.deepEqual(pairs(start.stdout), ['beta/always task', 'beta/untagged task']);
  const nothing = await runCli(['run', fixture('cli', 'tagged.yml'), '-i', inventory, '--limit', 'gamma']);
  assert.equal(nothing.code, 5);
  assert.match(nothing.stderr, /--limit 'gamma': no host or group named 'gamma'/);
});

test('--junit writes XML with one testcase per host x task and the failure counted', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'pgplay-junit-'));
  const file = join(dir, 'report.xml');
  const r = await runCli(['run', fixture('cli', 'fail.yml'), '-i', inventory, '--junit', file]);
  assert.equal(r.code, 2);
  const root = parseXml(readFileSync(file, 'utf8'));
  assert.equal(root.name, 'testsuites');
  assert.equal(root.attrs.tests, '3');
  assert.equal(root.attrs.failures, '1');
  const cases = root.children.flatMap((s: XmlElement) => s.children.filter((c) => c.name === 'testcase'));
  assert.deepEqual(cases.map((c) => `${c.attrs.classname}/${c.attrs.name}`).sort(), ['alpha/Fail on beta only', 'alpha/Runs on alpha after the failure on beta', 'beta/Fail on beta only']);
  const failed = cases.find((c) => c.attrs.classname === 'beta');
  assert.equal(failed?.children[0].name, 'failure');
  rmSync(dir, { recursive: true, force: true });
});

test('under CI the output is plain lines: no colours, no cursor moves, one line per result', async () => {
  const r = await runCli(['run', fixture('cli', 'tagged.yml'), '-i', inventory, '-l', 'alpha']);
  assert.equal(r.code, 0);
  assert.doesNotMatch(r.stdout, /\x1b/);
  const results = r.stdout.split('\n').filter((l) => /^(ok|changed|failed|skipped) /.test(l));
  assert.equal(results.length, 4);
  assert.match(results[0], /^changed alpha \| conf task \(\d+ ms\) - run true$/);
  assert.match(r.stdout, /PLAY RECAP\nalpha {2}ok=0 changed=4 unreachable=0 failed=0 skipped=0 ignored=0\nwall time /);
});

test('SIGINT during a long task exits 99, kills the task, runs nothing more and leaves no temp file', async () => {
  const out = mkdtempSync(join(tmpdir(), 'pgplay-sigint-'));
  const child = spawn(process.execPath, [PGPLAY, 'run', fixture('cli', 'slow.yml'), '-i', inventory, '-e', `out_dir=${out}`], {
    env: { ...process.env, CI: 'true' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  child.stdout.setEncoding('utf8').on('data', (c: string) => (stdout += c));
  const exited = new Promise<number | null>((resolve) => child.on('close', (code) => resolve(code)));
  const deadline = Date.now() + 20_000;
  while (!/Render the greeting/.test(stdout) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
  await new Promise((r) => setTimeout(r, 500));
  assert.match(execFileSync('ps', ['-eo', 'args'], { encoding: 'utf8' }), /^sleep 37$/m, 'the long task is running');
  child.kill('SIGINT');
  const code = await exited;
  assert.equal(code, 99, stdout);
  assert.match(stdout, /interrupted/);
  assert.doesNotMatch(execFileSync('ps', ['-eo', 'args'], { encoding: 'utf8' }), /^sleep 37$/m, 'the long task was stopped');
  assert.deepEqual(readdirSync(join(out, 'slow')), ['motd.conf']);
  assert.equal(existsSync(join(out, 'slow', 'never')), false);
  rmSync(out, { recursive: true, force: true });
});
