import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import type { RunResult } from '../../../../src/connection/types';
import { aptInstallArgv, aptLockHolder, aptProblems, aptRemoveArgv, dpkgQueryArgv, parseAptSimulation, parseDpkgQuery } from '../../../../src/modules/packages/apt';

const fixture = (name: string) => readFileSync(join(__dirname, '../../../../../test/fixtures/facts/packages', name), 'utf8');
const result = (stdout: string, exitCode = 100): RunResult => ({ command: 'apt-get', exitCode, signal: null, stdout, stderr: '', durationMs: 10, timedOut: false, failed: exitCode !== 0 });

describe('apt facts', () => {
  it('dpkg-query: installed packages with their versions; unknown or removed ones are not installed', () => {
    assert.deepEqual(parseDpkgQuery(fixture('dpkg-query.txt'), ['postgresql-15', 'sl', 'bash', 'cowsay', 'bash:amd64']), {
      'postgresql-15': '15.18-0+deb12u1',
      sl: null,
      bash: '5.2.15-2+b8',
      cowsay: null,
      'bash:amd64': '5.2.15-2+b8',
    });
    assert.deepEqual(parseDpkgQuery('sl\tconfig-files\t5.02-1+b1\nx\thalf-configured\t1\ny\ttriggers-pending\t2\n', ['sl', 'x', 'y']), { sl: null, x: null, y: '2' });
    assert.deepEqual(dpkgQueryArgv(['sl', 'bash:amd64']), ['dpkg-query', '-W', '-f', '${Package}\t${db:Status-Status}\t${Version}\n', 'sl', 'bash']);
  });

  it('apt-get -s: what would be installed (dependencies included), upgraded and removed', () => {
    const install = parseAptSimulation(result(fixture('apt-simulate-install.txt'), 0), ['sl', 'cowsay']);
    assert.deepEqual(install.install, [
      { name: 'libtext-charwidth-perl', version: '0.04-11' },
      { name: 'cowsay', version: '3.03+dfsg2-8' },
      { name: 'sl', version: '5.02-1+b1' },
    ]);
    assert.deepEqual(install.problems, []);
    const upgrade = parseAptSimulation(result(fixture('apt-simulate-upgrade.txt'), 0), ['appstream']);
    assert.deepEqual(upgrade.install[1], { name: 'appstream', version: '0.16.1-2+b1', from: '0.16.1-2' });
    const remove = parseAptSimulation(result(fixture('apt-simulate-remove.txt'), 0), ['postgresql-common']);
    assert.deepEqual(remove.remove.map((p) => p.name), ['postgresql', 'postgresql-contrib', 'postgresql-15', 'postgresql-common']);
  });

  it('names the package that failed and why, in apt and dpkg words', () => {
    assert.deepEqual(aptProblems(result(fixture('apt-unknown.txt')), ['sl', 'nosuch-pgplay-pkg']), ['nosuch-pgplay-pkg: not in the package lists (apt-get: Unable to locate package nosuch-pgplay-pkg)']);
    assert.deepEqual(aptProblems(result(fixture('apt-unmet.txt')), ['postgresql-16']), [
      'postgresql-16: Depends: postgresql-common (>= 252~) but 248+deb12u1 is to be installed',
      'postgresql-16: Depends: libicu72 (>= 72.1~rc-1~) but it is not installable',
    ]);
    assert.deepEqual(aptProblems(result(fixture('apt-dpkg-error.txt')), ['mypkg']), ['mypkg: dpkg --configure: installed mypkg package post-installation script subprocess returned error exit status 127']);
    assert.deepEqual(aptProblems(result(fixture('apt-fetch.txt')), ['sl']), ['sl: download failed: 404  Not Found [IP: 151.101.2.132 80]']);
    // Nothing it can tie to a package: the requested names and apt's E: lines.
    assert.deepEqual(aptProblems(result('E: Something odd happened\n'), ['a', 'b']), ['a, b: E: Something odd happened']);
    assert.deepEqual(aptProblems({ ...result(''), timedOut: true, durationMs: 30_000 }, ['a']), ['timed out after 30 s']);
  });

  it('reads who holds the lock from the refusal', () => {
    assert.equal(aptLockHolder(result(fixture('apt-lock.txt'))), '/var/lib/dpkg/lock-frontend is held by process 13236 (perl)');
    assert.equal(aptLockHolder(result('E: Could not get lock /var/lib/apt/lists/lock - open (11: Resource temporarily unavailable)\n')), '/var/lib/apt/lists/lock is held by another process');
    assert.equal(aptLockHolder(result('E: Unable to acquire the dpkg frontend lock (/var/lib/dpkg/lock-frontend), is another process using it?\n')), '/var/lib/dpkg/lock-frontend is held by another process');
    assert.equal(aptLockHolder(result(fixture('apt-unknown.txt'))), null);
  });

  it('runs apt-get without questions, keeping changed configuration files; recommends only when asked', () => {
    assert.deepEqual(aptInstallArgv(['sl'], { installRecommends: false }), ['apt-get', 'install', '-y', '-q', '-o', 'Dpkg::Options::=--force-confdef', '-o', 'Dpkg::Options::=--force-confold', '--no-install-recommends', 'sl']);
    assert.deepEqual(aptInstallArgv(['sl'], { installRecommends: true }, true).slice(0, 3), ['apt-get', 'install', '-s']);
    assert.deepEqual(aptRemoveArgv(['sl']), ['apt-get', 'remove', '-y', '-q', 'sl']);
  });
});
