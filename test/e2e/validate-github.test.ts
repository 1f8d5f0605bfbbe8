// `pgplay validate --format github`: the lines GitHub Actions turns into pull-request annotations.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { copyFileSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fixture, runCli } from '../helpers/cli';

test('every problem is one ::error line on stdout, with file, line and col; exit 4', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'pgplay-github-'));
  try {
    copyFileSync(fixture('cli', 'invalid.yml'), join(dir, 'invalid.yml'));
    const r = await runCli(['validate', 'invalid.yml', '--format', 'github'], { cwd: dir });
    assert.equal(r.code, 4, r.stderr);
    assert.deepEqual(r.stdout.trimEnd().split('\n'), [
      "::error file=invalid.yml,line=5,col=7::unknown module 'ensure_rol' (did you mean 'ensure_role'?)",
      '::error file=invalid.yml,line=7,col=7::task \'Two modules in one task\' has more than one module (command, template): a task runs exactly one, split it in two',
    ]);
    assert.equal(r.stderr, 'pgplay: 2 errors found; nothing was run\n');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a file name with , and : and a message with % are escaped as GitHub requires; inventory errors too', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'pgplay-github-'));
  try {
    writeFileSync(join(dir, 'a,b:c.yml'), '- hosts: all\n  tasks:\n    - name: wrong\n      service%: {state: started}\n');
    const r = await runCli(['validate', 'a,b:c.yml', '--format', 'github'], { cwd: dir });
    assert.equal(r.code, 4, r.stderr);
    assert.equal(r.stdout, "::error file=a%2Cb%3Ac.yml,line=4,col=7::unknown module 'service%25' (did you mean 'service'?)\n");
    writeFileSync(join(dir, 'inventory.yml'), 'all:\n  hosts:\n    pg1: {pg_port: many}\n');
    const inv = await runCli(['validate', 'a,b:c.yml', '-i', 'inventory.yml', '--format', 'github'], { cwd: dir });
    assert.equal(inv.code, 4);
    assert.match(inv.stdout, /^::error file=inventory\.yml,line=3,col=20::pg_port of host pg1 must be/m);
    const text = await runCli(['validate', 'a,b:c.yml'], { cwd: dir });
    assert.equal(text.stdout, '');
    assert.match(text.stderr, /^a,b:c\.yml:4:7: unknown module 'service%'/m, 'the default format is unchanged');
    const bad = await runCli(['validate', 'a,b:c.yml', '--format', 'gitlab'], { cwd: dir });
    assert.equal(bad.code, 5);
    assert.match(bad.stderr, /--format must be text or github, got 'gitlab'/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
