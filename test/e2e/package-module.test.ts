// The package module on this machine, through the local connection and apt: sl installed, a re-run that changes
// nothing, sl removed while another process holds dpkg's lock for a while, an install refused after lock_timeout,
// and an unknown package named in the failure. The machine ends as it began (sl not installed).
// Slow-ish (about 20 s): apt-get reaches Debian's mirrors to fetch sl, and refreshes the package lists when they
// are older than an hour.
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { runCli } from '../helpers/cli';

const PACKAGE = 'sl';
const STAMP = '/var/lib/apt/periodic/update-success-stamp';
const DPKG_LOCK = '/var/lib/dpkg/lock-frontend';

function installedVersion(name: string): string | null {
  const r = spawnSync('dpkg-query', ['-W', '-f', '${db:Status-Status} ${Version}', name], { encoding: 'utf8' });
  const [status, version] = r.stdout.split(' ');
  return r.status === 0 && status === 'installed' ? version : null;
}

/** A process holding dpkg's frontend lock as apt does (an fcntl write lock), until it is killed or the time is up. */
async function holdDpkgLock(seconds: number): Promise<ChildProcess> {
  const script = 'use Fcntl qw(F_SETLK F_WRLCK SEEK_SET); open(my $fh, ">>", $ARGV[0]) or die "open: $!"; my $l = pack("s s x4 q q i x4", F_WRLCK, SEEK_SET, 0, 0, 0); fcntl($fh, F_SETLK, $l) or die "lock: $!"; $| = 1; print "held\\n"; sleep $ARGV[1];';
  const child = spawn('perl', ['-e', script, DPKG_LOCK, String(seconds)], { stdio: ['ignore', 'pipe', 'inherit'] });
  await new Promise<void>((resolve, reject) => {
    child.stdout?.once('data', () => resolve());
    child.once('exit', (code) => reject(new Error(`the lock holder exited with ${code}`)));
  });
  return child;
}

function events(stdout: string): Array<Record<string, any>> {
  return stdout.split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l));
}

const canRun = process.getuid?.() === 0 && existsSync('/usr/bin/apt-get');

describe('package: apt on this machine', { skip: canRun ? false : 'needs root and apt-get' }, () => {
  let dir: string;
  let stampExisted = false;
  const play = (args: Record<string, unknown>) => {
    const file = join(dir, `play-${Math.random().toString(36).slice(2)}.yml`);
    writeFileSync(file, `- name: packages\n  hosts: all\n  tasks:\n    - name: ${PACKAGE}\n      package: ${JSON.stringify(args)}\n`);
    return file;
  };
  const run = (file: string, ...extra: string[]) => runCli(['run', file, '-i', join(dir, 'inventory.yml'), ...extra], { timeoutMs: 600_000 });

  before(() => {
    if (installedVersion(PACKAGE)) throw new Error(`${PACKAGE} is installed on this machine: the test installs and removes it, so it does not run`);
    stampExisted = existsSync(STAMP);
    dir = mkdtempSync(join(tmpdir(), 'pgplay-package-'));
    writeFileSync(join(dir, 'inventory.yml'), 'all:\n  hosts:\n    here:\n      connection: local\n');
  });
  after(() => {
    // Whatever happened: the machine as it was.
    if (installedVersion(PACKAGE)) spawnSync('apt-get', ['remove', '-y', '-q', PACKAGE], { env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' } });
    if (!stampExisted) rmSync(STAMP, { force: true });
    rmSync(dir, { recursive: true, force: true });
  });

  it('--check says which packages would be installed and installs nothing', async () => {
    const r = await run(play({ name: PACKAGE }), '--check', '--diff');
    assert.equal(r.code, 0, r.stdout + r.stderr);
    assert.match(r.stdout, new RegExp(`^changed here \\| ${PACKAGE} .* install ${PACKAGE}`, 'm'));
    assert.match(r.stdout, new RegExp(`^\\+${PACKAGE} \\S+$`, 'm'), 'the diff names the version apt would install');
    assert.equal(installedVersion(PACKAGE), null);
  });

  it('installs it; a re-run changes nothing', async (t) => {
    let started = Date.now();
    const r = await run(play({ name: PACKAGE }));
    t.diagnostic(`install of ${PACKAGE}: ${Date.now() - started} ms`);
    assert.equal(r.code, 0, r.stdout + r.stderr);
    assert.match(r.stdout, new RegExp(`^changed here \\| ${PACKAGE} .* install ${PACKAGE}`, 'm'));
    const version = installedVersion(PACKAGE);
    assert.ok(version, `${PACKAGE} is installed`);
    started = Date.now();
    const again = await run(play({ name: PACKAGE }));
    t.diagnostic(`no-op re-run: ${Date.now() - started} ms`);
    assert.equal(again.code, 0, again.stdout);
    assert.match(again.stdout, new RegExp(`^ok\\s+here \\| ${PACKAGE} .* installed: ${PACKAGE} ${version.replace(/[+.]/g, '\\$&')}$`, 'm'));
    assert.match(again.stdout, /^here\s+ok=1 changed=0 /m);
  });

  it("waits while another process holds dpkg's lock, then removes it", async () => {
    // The lock is let go once pgplay says it waits for it (a fixed time could run out before pgplay reaches apt on a
    // slow machine), or after 30 s at most.
    const holder = await holdDpkgLock(30);
    const r = await runCli(['run', play({ name: PACKAGE, state: 'absent', lock_timeout: 60 }), '-i', join(dir, 'inventory.yml'), '--output', 'json'], {
      timeoutMs: 600_000,
      onStdout: (text) => {
        if (/waiting for the package manager's lock/.test(text)) holder.kill();
      },
    });
    holder.kill();
    assert.equal(r.code, 0, r.stdout + r.stderr);
    const progress = events(r.stdout).filter((e) => e.kind === 'task_progress').map((e) => e.message);
    assert.ok(progress.some((m) => new RegExp(`waiting for the package manager's lock \\(${DPKG_LOCK} is held by process ${holder.pid} \\(perl\\)\\)`).test(m)), progress.join('\n'));
    assert.equal(events(r.stdout).find((e) => e.kind === 'task_result')?.message, `remove ${PACKAGE}`);
    assert.equal(installedVersion(PACKAGE), null);
  });

  it('gives up after lock_timeout and says which process holds the lock', async () => {
    const holder = await holdDpkgLock(120);
    try {
      const started = Date.now();
      const r = await run(play({ name: PACKAGE, lock_timeout: 2 }));
      assert.ok(Date.now() - started < 30_000, 'it did not wait for the holder');
      assert.equal(r.code, 2, r.stdout);
      assert.match(r.stdout, new RegExp(`^failed\\s+here \\| ${PACKAGE} .* apt-get install: the package manager is busy: ${DPKG_LOCK} is held by process ${holder.pid} \\(perl\\), still after waiting 2 s \\(lock_timeout\\)$`, 'm'));
    } finally {
      holder.kill();
    }
    assert.equal(installedVersion(PACKAGE), null);
  });

  it('an unknown package fails, named, before apt-get install runs', async () => {
    const r = await run(play({ name: [PACKAGE, 'nosuch-pgplay-package'] }));
    assert.equal(r.code, 2, r.stdout);
    assert.match(r.stdout, /^failed\s+here \| sl .* apt-get cannot install nosuch-pgplay-package: not in the package lists \(apt-get: Unable to locate package nosuch-pgplay-package\)$/m);
    assert.equal(installedVersion(PACKAGE), null, 'nothing was installed');
  });
});
