import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createReporters, type ReporterChoice } from '../../../src/reporters';
import { MemoryStream, playInto, scriptedRun } from './scripted-run';
import { dispatch } from '../../../src/reporters/events';

async function firstLine(choice: Partial<ReporterChoice>): Promise<string> {
  const stream = new MemoryStream();
  const reporters = createReporters({ output: 'human', showDiff: false, stream, errStream: new MemoryStream(), isTTY: false, ci: false, color: false, forceColor: false, ...choice });
  const events = scriptedRun();
  for (const e of events) for (const r of reporters) dispatch(r, e);
  for (const r of reporters) await r.finish?.();
  return stream.text.split('\n')[0];
}

test('the screen reporter follows --output, the terminal and CI', async () => {
  assert.equal(await firstLine({ output: 'json' }), JSON.stringify(scriptedRun()[0]));
  assert.equal(await firstLine({ output: 'plain', isTTY: true }), 'PLAYBOOK site.yml -i inventory.yml');
  // A live tree needs a terminal, and CI logs are read later: both fall back to plain lines.
  assert.equal(await firstLine({ output: 'human', isTTY: false }), 'PLAYBOOK site.yml -i inventory.yml');
  assert.equal(await firstLine({ output: 'human', isTTY: true, ci: true }), 'PLAYBOOK site.yml -i inventory.yml');
  assert.equal(await firstLine({ output: 'human', isTTY: true }), 'site.yml · inventory.yml');
});

test('--junit adds a JUnit reporter beside the screen one', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'pgplay-reporters-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const file = join(dir, 'junit.xml');
  const stream = new MemoryStream();
  const reporters = createReporters({ output: 'json', junitFile: file, showDiff: false, stream, errStream: new MemoryStream(), isTTY: false, ci: true, color: false });
  assert.equal(reporters.length, 2);
  for (const r of reporters) await playInto(r);
  assert.match(readFileSync(file, 'utf8'), /<testsuites name="site.yml" tests="10"/);
  assert.ok(stream.text.split('\n').filter(Boolean).every((l) => JSON.parse(l).kind));
});

test('loading the reporters does not load listr2 (pgplay --version stays fast)', () => {
  const code = `require(${JSON.stringify(join(__dirname, '../../../src/reporters/index.js'))}); process.stdout.write(String(Object.keys(require.cache).some((k) => k.includes('listr2'))))`;
  assert.equal(execFileSync(process.execPath, ['-e', code], { encoding: 'utf8' }), 'false');
});
