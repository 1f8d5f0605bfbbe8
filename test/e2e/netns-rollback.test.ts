// basebackup interrupted in every way a real run is, on network-namespace hosts (issue 10): the host a task reaches
// through another is locked too, in a directory only root may write; Ctrl-C, a killed ssh session and a cut link in
// the middle of the copy each leave the old data directory back in place, and pgplay says it is back only when it
// checked. A new host key is written nowhere under --check.
// Slow (about 40 s): a lab of two Debian hosts, copies slowed to 32 kB/s so that they are still running when cut.
import assert from 'node:assert/strict';
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import { parse, stringify } from 'yaml';
import { PGPLAY, runCli, type CliResult } from '../helpers/cli';
import { cutLink, netnsLabDown, netnsLabUp, onHost, psql, restoreLink, type NetnsLab, type NetnsLabHost } from '../lab/netns-lab';
import { childrenOf, commandLine, readPidFile, stopProcess } from '../lab/processes';

const ID = 't10b';
const LAB_ROOT = '/tmp/pgplay-t10b-lab';
const PASSWORD = 'Rb4-rollback-secret-10';
const PG = '/usr/lib/postgresql/15/bin';
const env = { PGPLAY_T10B_PASSWORD: PASSWORD };

function systemId(h: NetnsLabHost): string {
  const out = execFileSync('runuser', ['-u', 'postgres', '--', `${PG}/pg_controldata`, '-D', h.dataDir], { encoding: 'utf8' });
  return /^Database system identifier:\s+(\d+)/m.exec(out)?.[1] ?? '';
}

const oldDirs = (h: NetnsLabHost) => readdirSync('/var/lib/postgresql/15').filter((d) => d.startsWith(`${h.dataDir.split('/').pop()}.pgplay-old-`));
const serverRunning = (h: NetnsLabHost) => existsSync(`${h.dataDir}/postmaster.pid`);

/** The pg_basebackup copying into this host's data directory, if one runs. */
function copyOf(h: NetnsLabHost): number | null {
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const cmd = commandLine(Number(entry));
    if (cmd.includes('pg_basebackup') && cmd.includes(`-D ${h.dataDir} `)) return Number(entry);
  }
  return null;
}

async function until(what: string, test: () => boolean, withinMs = 30_000): Promise<void> {
  const deadline = Date.now() + withinMs;
  while (!test()) {
    if (Date.now() > deadline) assert.fail(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** pgplay run in the background: its output, and a promise of how it ended. */
function start(args: string[]): { child: ChildProcess; done: Promise<CliResult & { endedAt: number }> } {
  const child = spawn(process.execPath, [PGPLAY, ...args], { env: { ...process.env, CI: 'true', NO_COLOR: '1', ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout!.setEncoding('utf8').on('data', (c: string) => (stdout += c));
  child.stderr!.setEncoding('utf8').on('data', (c: string) => (stderr += c));
  const done = new Promise<CliResult & { endedAt: number }>((resolve) => child.on('close', (code) => resolve({ code, stdout, stderr, endedAt: Date.now() })));
  return { child, done };
}

describe('basebackup cut short on network-namespace hosts', () => {
  let lab: NetnsLab;
  let pg1: NetnsLabHost;
  let pg2: NetnsLabHost;
  let inventory: string;
  const file = (name: string, text: string) => {
    const path = `${LAB_ROOT}/${name}`;
    writeFileSync(path, text);
    return path;
  };
  let clone: string;
  let probe: string;
  const run = (args: string[]) => runCli(args, { env, timeoutMs: 120_000 });

  before(async () => {
    lab = await netnsLabUp(2, { id: ID, root: LAB_ROOT, layout: 'debian' });
    [pg1, pg2] = lab.hosts;
    // The lab's inventory, with the host locks where pgplay keeps them by default and ssh told to notice a dead link soon.
    const doc = parse(readFileSync(lab.inventory, 'utf8'));
    doc.all.vars.ansible_ssh_common_args = '-o ServerAliveInterval=1 -o ServerAliveCountMax=2 -o ConnectTimeout=3';
    for (const group of Object.values(doc.all.children) as Array<{ hosts: Record<string, Record<string, unknown>> }>) for (const vars of Object.values(group.hosts)) delete vars.pgplay_lock_file;
    inventory = file('inventory.yml', stringify(doc));
    const setup = file(
      'setup.yml',
      stringify([
        {
          name: 'primary',
          hosts: 'primary',
          tasks: [
            { name: 'replication role', ensure_role: { name: 'replicator', password: '{{ env.PGPLAY_T10B_PASSWORD }}', replication: true, login: true } },
            { name: 'replication rule', ensure_hba_line: { type: 'host', database: 'replication', user: 'replicator', address: `${pg2.address}/32` } },
          ],
        },
      ]),
    );
    clone = file('clone.yml', stringify([{ name: 'replicas', hosts: 'replicas', tasks: [{ name: 'clone', basebackup: { primary: 'pg1', user: 'replicator', password: '{{ env.PGPLAY_T10B_PASSWORD }}', max_rate: '32k' } }] }]));
    probe = file('probe.yml', stringify([{ name: 'probe', hosts: '{{ target }}', tasks: [{ name: 'probe', command: { argv: ['true'] } }] }]));
    const r = await run(['run', setup, '-i', inventory]);
    assert.equal(r.code, 0, r.stdout + r.stderr);
  });
  after(async () => {
    if (!process.env.PGPLAY_KEEP_LAB) await netnsLabDown(LAB_ROOT, ID);
  });

  it('under --check a new host key is trusted for the run and written nowhere; a real run records it', async () => {
    const partial = file('known_hosts.partial', `${readFileSync(lab.knownHosts, 'utf8').split('\n')[0]}\n`);
    const before = readFileSync(partial, 'utf8');
    const checked = await run(['run', probe, '-i', inventory, '-e', 'target=all', '--check', '--accept-new-host-keys', '--known-hosts', partial]);
    assert.equal(checked.code, 0, checked.stdout + checked.stderr);
    assert.equal(readFileSync(partial, 'utf8'), before);
    const real = await run(['run', probe, '-i', inventory, '-e', 'target=all', '--accept-new-host-keys', '--known-hosts', partial]);
    assert.equal(real.code, 0, real.stdout + real.stderr);
    const added = readFileSync(partial, 'utf8').slice(before.length);
    assert.equal(added.split('\n').length, 2, added);
    assert.ok(added.endsWith(`${readFileSync(lab.knownHosts, 'utf8').split('\n')[1].split(' ').slice(1).join(' ')}\n`), added);
    assert.match(execFileSync('ssh-keygen', ['-F', pg2.address, '-f', partial], { encoding: 'utf8' }), /ssh-ed25519/);
  });

  it('the primary a replica clones from is locked too (in root-only /run/pgplay) under --limit replicas; a run on it waits; Ctrl-C mid-copy puts the replica back, checked', async () => {
    // The old lock's name in /tmp, made by anyone and held: it no longer matters.
    const stale = '/tmp/pgplay-pg1.lock';
    const madeStale = !existsSync(stale);
    if (madeStale) writeFileSync(stale, '', { mode: 0o666 });
    const squatter = spawn('runuser', ['-u', 'nobody', '--', 'flock', '-x', stale, 'sleep', '60']);
    const id = systemId(pg2);
    let a: ReturnType<typeof start> | null = null;
    try {
      await until('the squatter to hold its lock', () => readFileSync('/proc/locks', 'utf8').includes(`:${statSync(stale).ino} `));
      const free = await run(['run', probe, '-i', inventory, '-e', 'target=primary', '-e', 'pgplay_lock_wait=1']);
      assert.equal(free.code, 0, free.stdout + free.stderr);
      squatter.kill('SIGKILL');
      a = start(['run', clone, '-i', inventory, '--limit', 'replicas']);
      await until('the copy to start', () => copyOf(pg2) !== null);
      const dir = statSync('/run/pgplay');
      assert.deepEqual([dir.uid, dir.mode & 0o777], [0, 0o700]);
      assert.ok(existsSync('/run/pgplay/host-pg1.lock'));
      const busy = await run(['run', probe, '-i', inventory, '-e', 'target=primary', '-e', 'pgplay_lock_wait=1']);
      assert.equal(busy.code, 2, busy.stdout + busy.stderr);
      assert.match(busy.stdout, /host pg1 is busy: another pgplay run holds \/run\/pgplay\/host-pg1\.lock \(waited 1 s\)/);
      const waiting = start(['run', probe, '-i', inventory, '-e', 'target=primary', '-e', 'pgplay_lock_wait=60']);
      await new Promise((r) => setTimeout(r, 1500));
      assert.equal(waiting.child.exitCode, null, 'the second run on pg1 waits');
      a.child.kill('SIGINT');
      const first = await a.done;
      const second = await waiting.done;
      assert.equal(first.code, 99, first.stdout + first.stderr);
      assert.match(first.stdout, new RegExp(`interrupted: .*undone: .*${pg2.dataDir} is back as it was \\(system identifier ${id}, \\d+ entries\\); PostgreSQL started again`));
      assert.equal(second.code, 0, second.stdout + second.stderr);
      assert.ok(second.endedAt >= first.endedAt, 'it ran once the first run let go of pg1');
      assert.equal(systemId(pg2), id);
      assert.deepEqual(oldDirs(pg2), []);
      assert.equal(serverRunning(pg2), true);
      assert.equal(existsSync(`/var/lib/postgresql/15/.pgpass-pgplay-${pg2.dataDir.split('/').pop()}`), false, 'the passfile is gone');
    } finally {
      a?.child.kill('SIGKILL');
      squatter.kill('SIGKILL');
      if (madeStale) rmSync(stale, { force: true });
    }
  });

  it('a killed ssh session mid-copy: the host agent puts the old directory back, and pgplay, connecting again once that agent is gone, checks it', async () => {
    const id = systemId(pg2);
    const d = start(['run', clone, '-i', inventory, '--limit', 'replicas']);
    try {
      await until('the copy to start', () => copyOf(pg2) !== null);
      const listener = readPidFile(pg2.sshd.pidFile) as number;
      const sessions = childrenOf(listener);
      assert.ok(sessions.length > 0);
      await Promise.all(sessions.map((pid) => stopProcess(pid, 'SIGTERM')));
      const r = await d.done;
      assert.equal(r.code, 3, r.stdout + r.stderr);
      assert.match(r.stdout, new RegExp(`connection lost while running: .*pg_basebackup.*; undone: .*${pg2.dataDir} is back as it was \\(system identifier ${id}, \\d+ entries\\); PostgreSQL started again`));
      assert.equal(copyOf(pg2), null);
      assert.equal(systemId(pg2), id);
      assert.deepEqual(oldDirs(pg2), []);
      assert.equal(serverRunning(pg2), true);
    } finally {
      d.child.kill('SIGKILL');
    }
  });

  it('a link cut mid-copy: pgplay says it could not undo or check; the host agent, hearing nothing more, stops the copy and puts the old directory back', async () => {
    const id = systemId(pg2);
    const e = start(['run', clone, '-i', inventory, '--limit', 'replicas']);
    try {
      await until('the copy to start', () => copyOf(pg2) !== null);
      const old = oldDirs(pg2);
      assert.equal(old.length, 1);
      await cutLink(lab, 'pg2');
      const r = await e.done;
      assert.equal(r.code, 3, r.stdout + r.stderr);
      assert.match(r.stdout, /NOT undone and NOT checked \(the host cannot be reached: .*\): .*the host's agent puts back by itself, once it hears nothing more from pgplay: /);
      assert.ok(r.stdout.includes(`/var/lib/postgresql/15/${old[0]} back at ${pg2.dataDir}`), r.stdout);
      assert.doesNotMatch(r.stdout, /back as it was/);
      // The agent's watchdog: 1 s pings, 3 silent seconds, then the copy is stopped and the directory put back.
      await until('the old directory back', () => oldDirs(pg2).length === 0 && copyOf(pg2) === null, 15_000);
      assert.equal(systemId(pg2), id);
    } finally {
      e.child.kill('SIGKILL');
      await restoreLink(lab, 'pg2');
    }
    // It was left stopped (nothing could start it again): a later run finds it as it was.
    execFileSync(onHost(pg2, ['pg_ctlcluster', '15', pg2.cluster as string, 'start'])[0], onHost(pg2, ['pg_ctlcluster', '15', pg2.cluster as string, 'start']).slice(1));
    assert.equal(psql(pg2, 'SELECT 1'), '1');
  });
});
