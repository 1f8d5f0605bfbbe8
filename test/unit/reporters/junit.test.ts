import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createJunitReporter } from '../../../src/reporters/junit';
import { PgplayError } from '../../../src/errors';
import { SECRET, playInto, scriptedRun } from './scripted-run';
import { findAll, parseXml } from './xml-check';

function tempDir(t: { after(fn: () => void): void }): string {
  const dir = mkdtempSync(join(tmpdir(), 'pgplay-junit-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

test('the JUnit report is well-formed XML with one suite per play, one case per result, and the counts', async (t) => {
  const dir = tempDir(t);
  const file = join(dir, 'report.xml');
  await playInto(createJunitReporter({ file }));
  const xml = readFileSync(file, 'utf8');
  assert.ok(!xml.includes(SECRET));
  assert.deepEqual(readdirSync(dir), ['report.xml']);
  const root = parseXml(xml);
  assert.equal(root.name, 'testsuites');
  assert.deepEqual(
    { ...root.attrs },
    { name: 'site.yml', tests: '10', failures: '1', errors: '1', skipped: '1', time: '8.460' },
  );
  const suites = findAll(root, 'testsuite');
  assert.deepEqual(suites.map((s) => [s.attrs.name, s.attrs.tests, s.attrs.failures, s.attrs.errors, s.attrs.skipped]), [
    ['configure primary', '3', '0', '0', '0'],
    ['make replicas', '7', '1', '1', '1'],
  ]);
  assert.equal(suites[0].attrs.timestamp, '2024-05-01T10:00:00.020Z');
  assert.equal(findAll(root, 'testcase').length, 10);
  assert.equal(findAll(root, 'failure').length, 1);
  assert.equal(findAll(root, 'error').length, 1);
  assert.equal(findAll(root, 'skipped').length, 1);

  const cases = findAll(root, 'testcase');
  const backup = cases.find((c) => c.attrs.classname === 'pg2' && c.attrs.name === 'take base backup');
  assert.ok(backup);
  assert.equal(backup.attrs.time, '7.100');
  const failure = findAll(backup, 'failure')[0];
  assert.equal(failure.attrs.message, 'pg_basebackup: error: connection to server failed');
  assert.match(failure.text, /FATAL: {2}password authentication failed for user "replicator" \(password \*{8}\)/);
  const unreachable = cases.find((c) => c.attrs.classname === 'pg4');
  assert.equal(findAll(unreachable!, 'error')[0].attrs.type, 'unreachable');
  const item = cases.find((c) => c.attrs.name.startsWith('write markers (item={'));
  assert.equal(item?.attrs.name, 'write markers (item={"name":"beta","password":"********"})');
  // An ignored failure passes, and says so.
  const lag = cases.find((c) => c.attrs.name === 'check lag');
  assert.equal(lag?.children.map((c) => c.name).join(), 'system-out');
  assert.match(lag!.children[0].text, /^failed \(ignored\)/);
  // The diff travels in system-out, escaped.
  const conf = cases.find((c) => c.attrs.name === 'set replication settings');
  assert.match(findAll(conf!, 'system-out')[0].text, /minimal -> replica[\s\S]*\+wal_level = replica/);
});

test('names and messages with markup, quotes and control characters are escaped', async (t) => {
  const file = join(tempDir(t), 'report.xml');
  const nasty = `a <b> & "c" 'd' \u0001 \u001b[31mred\u001b[39m`;
  const events = scriptedRun().map((e) => (e.kind === 'task_result' && e.host === 'pg2' && e.status === 'failed' ? { ...e, task: nasty, message: nasty } : e));
  await playInto(createJunitReporter({ file }), events);
  const root = parseXml(readFileSync(file, 'utf8'));
  const tc = findAll(root, 'testcase').find((c) => c.attrs.name.startsWith('a <b>'));
  assert.equal(tc?.attrs.name, `a <b> & "c" 'd' \uFFFD red`);
  assert.equal(findAll(tc!, 'failure')[0].text, `a <b> & "c" 'd' \uFFFD red`);
});

test('a report that cannot be written is an error for people, and leaves no temp file', async (t) => {
  const dir = tempDir(t);
  const reporter = createJunitReporter({ file: join(dir, 'missing', 'report.xml') });
  await assert.rejects(playInto(reporter), (err: unknown) => err instanceof PgplayError && /cannot write the JUnit report .*missing\/report\.xml/.test(err.message));
  assert.deepEqual(readdirSync(dir), []);
});
