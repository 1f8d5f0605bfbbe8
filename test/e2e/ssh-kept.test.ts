import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { parse, stringify } from 'yaml';
import { PGPLAY, runCli, type CliResult } from '../helpers/cli';
import { acceptedConnections, netnsLabDown, netnsLabUp, startSshd, stopSshd, type NetnsLab } from '../lab/netns-lab';
import { sessionsStarted } from '../lab/sshd';

// Kept connections (ControlPersist): the CLI as users run it, its keeper started by the first run, against two
// sshd-only hosts of the network-namespace lab; logins and sessions counted in each sshd's log. About 30 s.
const ROOT = '/tmp/pgplay-kept-test';
const LAB_ID = 'kept';
const RUNTIME = join(ROOT, 'runtime');
const SOCKET_DIR = join(RUNTIME, 'pgplay');
const env = { XDG_RUNTIME_DIR: RUNTIME, PGPLAY_KEPT_TEST_SECRET: 'kept-Secret-value-1' };
const PERSIST = ['-e', 'ssh_control_persist=60'];

function processes(text: string): string[] {
  return execFileSync('ps', ['-eo', 'pid=,args='], { encoding: 'utf8' })
    .split('\n')
    .filter((line) => line.includes(text) && !line.includes('ps -eo'));
}

/** The keeper of this test's runtime directory (its pid), if one runs. */
function keeperPid(dir = SOCKET_DIR): number | null {
  const line = processes(`__keep-connections ${dir}/`)[0];
  return line ? Number(line.trim().split(/\s+/)[0]) : null;
}

async function until(what: string, test: () => boolean, withinMs = 5000): Promise<void> {
  const deadline = Date.now() + withinMs;
  while (!test()) {
    if (Date.now() > deadline) assert.fail(`not within ${withinMs} ms: ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

const agents = () => processes('pgplay-agent').map((line) => Number(line.trim().split(/\s+/)[0]));
const noAgentLeft = () => until(`no agent left (${processes('pgplay-agent').join(' | ')})`, () => agents().length === 0);
/** The agents kept once the runs ended and detached them: one per host. */
async function keptAgents(): Promise<number[]> {
  await until(`one agent kept per host (${processes('pgplay-agent').join(' | ')})`, () => agents().length === 2);
  return agents().sort();
}

describe('kept connections (ControlPersist) against the network-namespace lab', () => {
  let lab: NetnsLab;
  let playbook: string;
  let sleeper: string;
  const counts = () => lab.hosts.map((h) => [acceptedConnections(h), sessionsStarted(h.sshd)]);
  const since = (before: number[][]) => counts().map(([l, s], i) => ({ logins: l - before[i][0], sessions: s - before[i][1] }));
  const run = (extra: string[] = [], book = playbook): Promise<CliResult> => runCli(['run', book, '-i', lab.inventory, '--output', 'plain', ...extra], { env });

  before(async () => {
    lab = await netnsLabUp(2, { id: LAB_ID, root: ROOT, sshdOnly: true });
    mkdirSync(RUNTIME, { recursive: true, mode: 0o700 });
    playbook = join(ROOT, 'hello.yml');
    writeFileSync(playbook, '- name: Hello\n  hosts: all\n  tasks:\n    - name: Say hello\n      command:\n        argv: [echo, hello]\n');
    sleeper = join(ROOT, 'sleep.yml');
    writeFileSync(sleeper, '- name: Sleep\n  hosts: all\n  tasks:\n    - name: Sleep a while\n      command:\n        argv: [sleep, "37"]\n');
  });
  after(async () => {
    for (const line of processes(`__keep-connections ${ROOT}`)) process.kill(Number(line.trim().split(/\s+/)[0]), 'SIGKILL');
    await netnsLabDown(ROOT, LAB_ID);
  });

  it("a second run logs in nowhere and starts no session: each host's kept connection keeps the agent of the run before", async () => {
    const first = counts();
    const r1 = await run(PERSIST);
    assert.equal(r1.code, 0, r1.stdout + r1.stderr);
    assert.deepEqual(since(first), [
      { logins: 1, sessions: 1 },
      { logins: 1, sessions: 1 },
    ]);
    const keeper = keeperPid();
    assert.ok(keeper, 'the first run started a keeper');
    const kept = await keptAgents();

    const second = counts();
    const r2 = await run(PERSIST);
    assert.equal(r2.code, 0, r2.stdout + r2.stderr);
    assert.match(r2.stdout, /pg1  ok=0 changed=1 unreachable=0 failed=0/);
    assert.deepEqual(since(second), [
      { logins: 0, sessions: 0 },
      { logins: 0, sessions: 0 },
    ]);
    assert.equal(keeperPid(), keeper, 'the same keeper');
    assert.deepEqual(await keptAgents(), kept, 'the same agents');

    // The keeper has none of the run's environment (its secrets) and nothing but its socket on its command line.
    const environ = readFileSync(`/proc/${keeper}/environ`, 'utf8').split('\0');
    assert.ok(!environ.some((v) => v.startsWith('PGPLAY_KEPT_TEST_SECRET=')), environ.join(' '));
    const argv = readFileSync(`/proc/${keeper}/cmdline`, 'utf8').split('\0').filter(Boolean);
    // Its command line: node's flag for a small young generation, pgplay, and the socket; nothing of the run's.
    assert.deepEqual(argv.slice(1), ['--max-semi-space-size=1', PGPLAY, '__keep-connections', join(SOCKET_DIR, argv[4].split('/').pop() as string)]);
    // Its own session: an interrupt at the run's terminal does not reach it.
    const stat = readFileSync(`/proc/${keeper}/stat`, 'utf8').split(') ')[1].split(' ');
    assert.equal(Number(stat[3]), keeper, 'the keeper leads its own session');
  });

  it('a run without ControlPersist logs in by itself, beside the kept connections', async () => {
    const before = counts();
    const r = await run();
    assert.equal(r.code, 0, r.stdout + r.stderr);
    assert.deepEqual(
      since(before).map((c) => c.logins),
      [1, 1],
    );
  });

  it("an interrupted run's command ends with it (the run's lock let go); the keeper, its connections and agents stay", async () => {
    await run(PERSIST);
    const keeper = keeperPid();
    const kept = await keptAgents();
    const before = counts();
    const child = spawn(process.execPath, [PGPLAY, 'run', sleeper, '-i', lab.inventory, '--output', 'plain', ...PERSIST], { env: { ...process.env, ...env, CI: 'true' }, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.setEncoding('utf8').on('data', (c: string) => (output += c));
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    await until('sleep 37 on both hosts', () => processes('sleep 37').length === 2, 15_000);
    child.kill('SIGINT');
    const code = await exited;
    assert.notEqual(code, 0, output);
    await until(`the commands stopped (${processes('sleep 37').join(' | ')})`, () => processes('sleep 37').length === 0);
    assert.equal(keeperPid(), keeper, 'the keeper is still there');
    assert.deepEqual(await keptAgents(), kept, 'the agents are kept');
    const r = await run(PERSIST);
    assert.equal(r.code, 0, r.stdout + r.stderr);
    assert.deepEqual(since(before), [
      { logins: 0, sessions: 0 },
      { logins: 0, sessions: 0 },
    ]);
  });

  it('a run killed without a word (SIGKILL) leaves its command to the kept agent, which stops it; the next run takes the lock at once', async () => {
    await run(PERSIST);
    const kept = await keptAgents();
    const child = spawn(process.execPath, [PGPLAY, 'run', sleeper, '-i', lab.inventory, '--output', 'plain', ...PERSIST], { env: { ...process.env, ...env, CI: 'true' }, stdio: 'ignore' });
    await until('sleep 37 on both hosts', () => processes('sleep 37').length === 2, 15_000);
    child.kill('SIGKILL');
    await until(`the commands stopped (${processes('sleep 37').join(' | ')})`, () => processes('sleep 37').length === 0);
    assert.deepEqual(await keptAgents(), kept);
    const started = Date.now();
    const r = await run([...PERSIST, '-e', 'pgplay_lock_wait=0']);
    assert.equal(r.code, 0, r.stdout + r.stderr);
    assert.ok(Date.now() - started < 10_000);
    assert.deepEqual(await keptAgents(), kept);
  });

  it('a kept connection the host dropped is replaced: the next run logs in again to that host only', async () => {
    await run(PERSIST);
    const [pg1] = lab.hosts;
    await stopSshd(pg1, { dropSessions: true });
    await startSshd(pg1);
    const before = counts();
    const r = await run(PERSIST);
    assert.equal(r.code, 0, r.stdout + r.stderr);
    assert.deepEqual(
      since(before).map((c) => c.logins),
      [1, 0],
    );
  });

  it('a killed keeper is replaced by the next run, which takes over the socket it left', async () => {
    await run(PERSIST);
    const old = keeperPid() as number;
    process.kill(old, 'SIGKILL');
    await until('the keeper gone', () => keeperPid() === null);
    assert.ok(existsSync(SOCKET_DIR) && readdir(SOCKET_DIR).some((f) => f.endsWith('.sock')), 'its socket is left behind');
    const before = counts();
    const r = await run(PERSIST);
    assert.equal(r.code, 0, r.stdout + r.stderr);
    assert.deepEqual(
      since(before).map((c) => c.logins),
      [1, 1],
    );
    const now = keeperPid();
    assert.ok(now && now !== old);
    assert.equal((await keptAgents()).length, 2, 'the new keeper keeps the agents of this run; those of the old one ended with its connections');
  });

  it('a host that cannot be reached through the keeper is reported as without it, and the run fails as it would', async () => {
    const empty = join(ROOT, 'empty_known_hosts');
    writeFileSync(empty, '');
    const line = (r: CliResult) => r.stdout.split('\n').filter((l) => l.startsWith('unreachable')).map((l) => l.replace(/\(\d+ ms\)/, '')).sort();
    const kept = await run([...PERSIST, '-e', `ssh_known_hosts_file=${empty}`]);
    const direct = await run(['-e', `ssh_known_hosts_file=${empty}`]);
    assert.equal(kept.code, direct.code);
    assert.notEqual(kept.code, 0);
    assert.equal(line(kept).length, 2, kept.stdout);
    assert.deepEqual(line(kept), line(direct));
    assert.match(line(kept)[0], /host key of .* is not in /);
  });

  it('the keeper closes a connection idle for its ControlPersist time (set in the inventory), then leaves, its socket removed', async () => {
    const runtime = join(ROOT, 'runtime-short');
    mkdirSync(runtime, { recursive: true, mode: 0o700 });
    const doc = parse(readFileSync(lab.inventory, 'utf8')) as { all: { vars: Record<string, unknown> } };
    doc.all.vars.ssh_control_persist = '1s';
    const inventory = join(ROOT, 'inventory-kept.yml');
    writeFileSync(inventory, stringify(doc));
    const r = await runCli(['run', playbook, '-i', inventory, '--output', 'plain'], { env: { XDG_RUNTIME_DIR: runtime } });
    assert.equal(r.code, 0, r.stdout + r.stderr);
    const dir = join(runtime, 'pgplay');
    assert.ok(keeperPid(dir), 'a keeper runs');
    // 1 s idle, then the keeper's 5 s with nothing to keep; the agents end with the connections.
    await until('the keeper gone', () => keeperPid(dir) === null, 12_000);
    assert.deepEqual(readdir(dir), []);
    for (const line of processes(`__keep-connections ${ROOT}`)) process.kill(Number(line.trim().split(/\s+/)[0]), 'SIGKILL');
    await noAgentLeft();
  });
});

function readdir(dir: string): string[] {
  return execFileSync('ls', ['-A', dir], { encoding: 'utf8' }).split('\n').filter(Boolean);
}
