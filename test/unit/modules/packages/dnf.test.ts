import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import type { RunResult } from '../../../../src/connection/types';
import { managerForOs } from '../../../../src/modules/packages/common';
import { dnfArgv, dnfProblems, dnfWaiting, nameOfNevra, parseCheckUpdate, parseRpmQuery } from '../../../../src/modules/packages/dnf';

const fixture = (name: string) => readFileSync(join(__dirname, '../../../../../test/fixtures/facts/packages', name), 'utf8');
const result = (stdout: string, exitCode = 1): RunResult => ({ command: 'dnf', exitCode, signal: null, stdout, stderr: '', durationMs: 10, timedOut: false, failed: exitCode !== 0 });

describe('dnf facts', () => {
  it('rpm -q: installed packages with version-release.arch; "is not installed" for the others', () => {
    assert.deepEqual(parseRpmQuery(fixture('rpm-query.txt'), ['postgresql15-server', 'sl', 'postgresql15-server.x86_64']), {
      'postgresql15-server': '15.6-1PGDG.rhel9.x86_64',
      sl: null,
      'postgresql15-server.x86_64': '15.6-1PGDG.rhel9.x86_64',
    });
  });

  it('dnf check-update: exit 100 lists the packages with a newer version; exit 0 none', () => {
    assert.deepEqual(parseCheckUpdate(result(fixture('dnf-check-update.txt'), 100), ['postgresql15-server', 'sl']), ['postgresql15-server']);
    assert.deepEqual(parseCheckUpdate(result('', 0), ['postgresql15-server']), []);
    assert.throws(() => parseCheckUpdate(result(fixture('dnf-nomatch.txt'), 1), ['x']), /dnf check-update failed: nosuch-pgplay-pkg: no package of that name/);
  });

  it('names the package that failed and why, in dnf words', () => {
    assert.deepEqual(dnfProblems(result(fixture('dnf-nomatch.txt')), ['nosuch-pgplay-pkg']), ['nosuch-pgplay-pkg: no package of that name in the enabled repositories']);
    assert.deepEqual(dnfProblems(result(fixture('dnf-deps.txt')), ['postgresql15-server']), ['postgresql15-server: nothing provides libicu.so.67()(64bit)']);
    assert.deepEqual(dnfProblems(result('Error in POSTIN scriptlet in rpm package mypkg\n'), ['mypkg']), ['mypkg: its POSTIN scriptlet failed']);
    assert.equal(nameOfNevra('postgresql15-server-15.6-1PGDG.rhel9.x86_64'), 'postgresql15-server');
  });

  it('sees dnf waiting for another one', () => {
    assert.equal(dnfWaiting('Waiting for process with pid 4242 to finish.'), "process 4242 holds dnf's lock");
    assert.equal(dnfWaiting('Installing: sl'), null);
  });

  it('bounds the metadata age with metadata_expire', () => {
    assert.deepEqual(dnfArgv('install', ['sl'], 3600), ['dnf', 'install', '-y', '--setopt=metadata_expire=3600', 'sl']);
  });

  it('picks the manager from /etc/os-release', () => {
    assert.equal(managerForOs({ id: 'debian', like: [], version: '12' }), 'apt');
    assert.equal(managerForOs({ id: 'ubuntu', like: ['debian'], version: '24.04' }), 'apt');
    assert.equal(managerForOs({ id: 'rocky', like: ['rhel', 'centos', 'fedora'], version: '9.4' }), 'dnf');
    assert.equal(managerForOs({ id: 'almalinux', like: ['rhel'], version: '9' }), 'dnf');
    assert.equal(managerForOs({ id: 'alpine', like: [], version: '3.20' }), null);
  });
});
