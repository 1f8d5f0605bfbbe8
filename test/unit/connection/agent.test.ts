// The host agent run for real (perl, processes, files, sockets) through the local connection, which starts it
// exactly as ssh does, only without the network.
import assert from 'node:assert/strict';
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { existsSync, lstatSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { agentSource, bootPayload, decodeList, encodeFrame, encodeList, FrameReader, FrameType, type Frame } from '../../../src/connection/agent-protocol';
import { AgentClient } from '../../../src/connection/agent-client';
import { agentArgv } from '../../../src/connection/command';
import { LocalConnection } from '../../../src/connection/local';
import { UnreachableError } from '../../../src/errors';
import { HostOpError } from '../../../src/connection/types';
import { Secret } from '../../../src/secrets';

const ps = () => execFileSync('ps', ['-eo', 'args'], { encoding: 'utf8' });
/** A process whose whole command line is this (another session's `sleep 420` is not `sleep 42`). */
const runs = (command: string) => ps().split('\n').some((line) => line.trim() === command);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
/** The host agents this test process started and that still run (children that named themselves pgplay-agent). */
const agentsOfThisProcess = () =>
  (spawnSync('pgrep', ['-P', String(process.pid), '-f', '^pgplay-agent'], { encoding: 'utf8' }).stdout ?? '')
    .split('\n')
    .filter(Boolean)
    .map(Number);

async function gone(text: string, withinMs = 5000): Promise<void> {
  const deadline = Date.now() + withinMs;
  while (runs(text)) {
    if (Date.now() > deadline) assert.fail(`still running: ${text}`);
    await sleep(50);
  }
}

async function running(text: string, withinMs = 5000): Promise<void> {
  const deadline = Date.now() + withinMs;
  while (!runs(text)) {
    if (Date.now() > deadline) assert.fail(`not running: ${text}`);
    await sleep(50);
  }
}

describe('agent wire format', () => {
  it('frames and lists survive being cut anywhere', () => {
    const frames = [encodeFrame(7, FrameType.request, encodeList(['read', '/etc/hosts', Buffer.from([0, 255])])), encodeFrame(8, FrameType.endInput)];
    const bytes = Buffer.concat(frames);
    for (let cut = 0; cut <= bytes.length; cut++) {
      const reader = new FrameReader();
      const got = [...reader.push(bytes.subarray(0, cut)), ...reader.push(bytes.subarray(cut))];
      assert.deepEqual(
        got.map((f) => [f.id, f.type]),
        [
          [7, 'R'],
          [8, 'E'],
        ],
      );
      assert.deepEqual(decodeList(got[0].payload).map((b) => b.toString('latin1')), ['read', '/etc/hosts', '\u0000\u00ff']);
    }
    assert.throws(() => decodeList(Buffer.from([0, 0, 0, 9, 1])), /truncated/);
  });

  it('a large frame arriving in many small chunks, and several frames in one chunk, come out whole and in order', () => {
    const big = Buffer.alloc(100_000, 7);
    const bytes = Buffer.concat([encodeFrame(1, FrameType.stdout, big), encodeFrame(2, FrameType.exit, encodeList(['0', ''])), encodeFrame(3, FrameType.answer)]);
    const reader = new FrameReader();
    const got = [];
    for (let at = 0; at < bytes.length; at += 997) got.push(...reader.push(bytes.subarray(at, at + 997)));
    assert.deepEqual(
      got.map((f) => [f.id, f.type, f.payload.length]),
      [
        [1, 'O', 100_000],
        [2, 'X', 9],
        [3, 'A', 0],
      ],
    );
    assert.ok(got[0].payload.equals(big));
  });
});

describe('the host agent, run locally', () => {
  let dir: string;
  let conn: LocalConnection;
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'pgplay-agent-'));
    conn = new LocalConnection('local');
  });
  after(async () => {
    await conn.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('says who and where it is', async () => {
    const facts = await conn.facts();
    assert.equal(facts.uid, process.getuid?.());
    assert.match(facts.os.id, /\w/);
    assert.match(facts.perl, /^5\.\d+/);
  });

  it('runs argv without a shell, as another user, with env from the request and a clean PATH', async () => {
    const r = await conn.run(['sh', '-c', 'id -un; pwd; echo "$PGAPPNAME" "$HOME"; echo $PATH'], { as: 'postgres', env: { PGAPPNAME: 'a b;c' } });
    const home = execFileSync('getent', ['passwd', 'postgres'], { encoding: 'utf8' }).split(':')[5];
    assert.deepEqual(r.stdout.split('\n').slice(0, 3), ['postgres', '/', `a b;c ${home}`]);
    assert.equal(r.failed, false);
    // Real, effective, saved and file-system user ids are all the user's: no way back to root.
    const uid = execFileSync('id', ['-u', 'postgres'], { encoding: 'utf8' }).trim();
    const ids = await conn.run(['grep', '^Uid:', '/proc/self/status'], { as: 'postgres' });
    assert.deepEqual(ids.stdout.trim().split(/\s+/).slice(1), [uid, uid, uid, uid]);
    const weird = ['$HOME', "it's", '`id`', ''];
    assert.deepEqual((await conn.run(['printf', '%s\\n', ...weird])).stdout.split('\n').slice(0, -1), weird);
    const missing = await conn.run(['/no/such/program']);
    assert.deepEqual([missing.exitCode, missing.failed], [127, true]);
    assert.match(missing.stderr, /cannot run \/no\/such\/program/);
    await assert.rejects(conn.run(['true'], { as: 'no-such-user-here' }), (err: unknown) => err instanceof HostOpError && err.code === 'EUSER');
  });

  it('runs in a directory whose name looks like an option, with a blank and an =: the agent changes into it, no shell reads it', async () => {
    const odd = join(dir, '-P a=b');
    mkdirSync(odd);
    const r = await conn.run(['pwd'], { cwd: odd });
    assert.deepEqual([r.failed, r.stdout], [false, `${odd}\n`]);
    const missing = await conn.run(['pwd'], { cwd: join(dir, '-no such dir') });
    assert.equal(missing.failed, true);
    assert.match(missing.stderr, /cannot change directory to .*\/-no such dir: No such file or directory/);
  });

  it('reports the end of every short command at once (a SIGCHLD just before select() once left one in 500 waiting forever)', async () => {
    const started = Date.now();
    const waiting: number[] = [];
    for (let i = 0; i < 2000; i++) {
      const r = await conn.run(['true', String(i)], { timeoutMs: 1000 });
      if (r.timedOut) waiting.push(i);
    }
    assert.deepEqual(waiting, [], 'commands whose end was not seen');
    assert.ok(Date.now() - started < 30_000, `2000 commands took ${Date.now() - started} ms`);
  });

  it('keeps a secret on stdin: never in argv, never in the description', async () => {
    const secret = new Secret('hunter2-correct-horse-battery');
    const pending = conn.run(['sh', '-c', 'sleep 0.5; cat'], { stdin: secret });
    const seen: string[] = [];
    for (let i = 0; i < 5; i++) {
      seen.push(ps());
      await sleep(60);
    }
    const r = await pending;
    assert.equal(r.stdout, 'hunter2-correct-horse-battery');
    assert.equal(r.command.includes('hunter2'), false);
    assert.equal(seen.join('\n').includes('hunter2'), false);
  });

  it('stops a command that times out, its background children too', async () => {
    const started = Date.now();
    const r = await conn.run(['sh', '-c', 'sleep 41 & sleep 42; echo never'], { timeoutMs: 400 });
    assert.deepEqual([r.timedOut, r.failed, r.signal, r.stdout], [true, true, 'SIGTERM', '']);
    assert.ok(Date.now() - started < 3000);
    await gone('sleep 41');
    await gone('sleep 42');
  });

  it('finishes a command whose background child keeps its output open, and stops that child', async () => {
    const started = Date.now();
    const r = await conn.run(['sh', '-c', 'sleep 43 & echo started']);
    assert.deepEqual([r.exitCode, r.stdout], [0, 'started\n']);
    assert.ok(Date.now() - started < 8000, `took ${Date.now() - started} ms`);
    await gone('sleep 43', 10_000);
  });

  it('stops a command when its abort signal fires', async () => {
    const abort = new AbortController();
    setTimeout(() => abort.abort(), 300);
    const r = await conn.run(['sleep', '44'], { as: 'postgres', signal: abort.signal });
    assert.deepEqual([r.timedOut, r.signal], [false, 'SIGTERM']);
    await gone('sleep 44');
  });

  it('writes bytes atomically with owner and mode, keeps them on rewrite, and reads every byte back', async () => {
    const path = join(dir, 'pg_hba.conf');
    const latin1 = Buffer.from('# caf\xe9 r\xe8gle\nhost all all 10.0.0.1/32 scram-sha-256\n', 'latin1');
    await conn.writeFile(path, latin1, { owner: 'postgres', group: 'postgres', mode: '0640' });
    const read = await conn.readFile(path);
    assert.ok(read?.content.equals(latin1), 'every byte as written');
    assert.deepEqual([read?.owner, read?.group, read?.mode, read?.type], ['postgres', 'postgres', '0640', 'file']);
    await conn.writeFile(path, 'second\n');
    const again = statSync(path);
    assert.deepEqual([again.mode & 0o7777, readFileSync(path, 'utf8')], [0o640, 'second\n']);
    assert.deepEqual(readdirSync(dir).filter((n) => n.includes('pgplay-tmp')), []);
    assert.equal(await conn.readFile(join(dir, 'missing')), null);
    await assert.rejects(conn.readFile(dir), (err: unknown) => err instanceof HostOpError && err.code === 'EISDIR');
    await assert.rejects(conn.writeFile(dir, 'x'), (err: unknown) => err instanceof HostOpError && err.code === 'EISDIR');
  });

  it('writes through a symbolic link to its target, so the link stays', async () => {
    const target = join(dir, 'real.conf');
    const link = join(dir, 'link.conf');
    writeFileSync(target, 'old\n');
    symlinkSync(target, link);
    await conn.writeFile(link, 'new\n');
    assert.ok(lstatSync(link).isSymbolicLink());
    assert.equal(readFileSync(target, 'utf8'), 'new\n');
  });

  it('moves, but never into or over an existing target', async () => {
    const from = join(dir, 'data');
    mkdirSync(from);
    writeFileSync(join(from, 'PG_VERSION'), '15\n');
    const to = join(dir, 'data.old');
    mkdirSync(to);
    await assert.rejects(conn.move(from, to), (err: unknown) => err instanceof HostOpError && err.code === 'EEXIST' && /refusing to move into or over it/.test(err.message));
    assert.ok(existsSync(join(from, 'PG_VERSION')));
    assert.equal(existsSync(join(to, 'data')), false, 'not nested');
    rmSync(to, { recursive: true });
    await conn.move(from, to);
    assert.ok(existsSync(join(to, 'PG_VERSION')));
    await assert.rejects(conn.move(join(dir, 'nothing-here'), join(dir, 'x')), (err: unknown) => err instanceof HostOpError && err.code === 'ENOENT');
  });

  it('lists, stats, makes and removes directories, refusing to remove a relative or root path', async () => {
    const made = join(dir, 'made');
    assert.equal(await conn.mkdir(made, { owner: 'postgres', mode: '0700' }), 'created');
    assert.equal(await conn.mkdir(made), 'exists');
    const st = await conn.stat(made);
    assert.deepEqual([st?.type, st?.owner, st?.mode], ['directory', 'postgres', '0700']);
    writeFileSync(join(made, 'b'), '');
    writeFileSync(join(made, 'a'), '');
    assert.deepEqual(await conn.list(made), ['a', 'b']);
    assert.equal(await conn.list(join(dir, 'none')), null);
    assert.equal(await conn.stat(join(dir, 'none')), null);
    await assert.rejects(conn.remove('relative/path', { recursive: true }), (err: unknown) => err instanceof HostOpError && err.code === 'EINVAL');
    await assert.rejects(conn.remove('/', { recursive: true }), (err: unknown) => err instanceof HostOpError && err.code === 'EINVAL');
    await assert.rejects(conn.remove(`${made}/../made`, { recursive: true }), (err: unknown) => err instanceof HostOpError && err.code === 'EINVAL');
    assert.equal(await conn.remove(made, { recursive: true }), 'removed');
    assert.equal(await conn.remove(made), 'absent');
  });

  it('locks in a root-only directory; a second holder waits, then is refused; unlock frees it and removes the file', async () => {
    const name = `agent-test-${process.pid}.lock`;
    const path = await conn.lock(name, 0);
    assert.equal(path, `/run/pgplay/${name}`);
    const st = statSync('/run/pgplay');
    assert.deepEqual([st.uid, st.mode & 0o077], [0, 0], 'only root may enter');
    const other = new LocalConnection('other');
    const started = Date.now();
    await assert.rejects(other.lock(name, 1), (err: unknown) => err instanceof HostOpError && err.code === 'EBUSY');
    assert.ok(Date.now() - started >= 900);
    const waiting = other.lock(name, 5);
    await sleep(200);
    await conn.unlock(path);
    // The waiter held the file its holder removed: it takes the lock again on the file now at the path.
    assert.equal(await waiting, path);
    assert.ok(existsSync(path));
    await other.close();
    assert.equal(existsSync(path), false, 'the agent leaves no lock file behind');
  });

  it('keeps a lock file it did not make; removes the one it made when it ends', async () => {
    const mine = join(dir, 'users.lock');
    writeFileSync(mine, 'made by the user\n');
    const local = new LocalConnection('keeper');
    const path = await local.lock(mine, 0);
    await local.unlock(path);
    assert.equal(readFileSync(mine, 'utf8'), 'made by the user\n');
    const named = join(dir, 'named.lock');
    await local.lock(named, 0);
    assert.equal(readFileSync(named, 'utf8'), 'pgplay run lock\n');
    await local.close();
    assert.equal(existsSync(named), false, 'a lock file pgplay made goes when the agent ends');
  });

  it("at a run's end, an idle agent is told to end and not waited for; it still ends and removes its lock; a busy one is waited for", async () => {
    const idle = new LocalConnection('quick');
    const lockFile = join(dir, 'quick.lock');
    await idle.lock(lockFile, 0);
    const sockDir = mkdtempSync(join(tmpdir(), 'pgplay-agent-sock-'));
    execFileSync('chmod', ['0755', sockDir]);
    const sock = join(sockDir, 'quick.sock');
    const server = createServer((c) => c.resume());
    await new Promise<void>((r) => server.listen(sock, r));
    // A socket whose end pgplay sent (a SQL session's goodbye) does not make the agent busy.
    const stream = await idle.connectUnix(sock);
    stream.end();
    await new Promise((r) => stream.once('finish', r));
    const started = Date.now();
    await idle.close({ wait: false });
    assert.ok(existsSync(lockFile) || Date.now() - started < 50, 'close returned before the agent ended');
    for (let i = 0; i < 50 && existsSync(lockFile); i++) await sleep(100);
    assert.equal(existsSync(lockFile), false, 'the agent ended by itself and let go of its lock');
    server.close();
    rmSync(sockDir, { recursive: true, force: true });

    const busy = new LocalConnection('busy');
    const command = busy.run(['sleep', '0.6']).catch(() => undefined);
    await running('sleep 0.6');
    await busy.close({ wait: false });
    assert.equal(runs('sleep 0.6'), false, 'a command still running: the agent stopping it is waited for');
    await command;
  });

  it('connects to a unix socket as another user: the server sees that user', async () => {
    const sockDir = mkdtempSync(join(tmpdir(), 'pgplay-agent-sock-'));
    execFileSync('chmod', ['0755', sockDir]);
    const sock = join(sockDir, 'peer.sock');
    const server = createServer((c) => {
      c.on('data', (d) => c.write(Buffer.concat([Buffer.from('echo:'), d])));
    });
    await new Promise<void>((r) => server.listen(sock, r));
    execFileSync('chmod', ['0777', sock]);
    const stream = await conn.connectUnix(sock, { as: 'postgres' });
    const got = new Promise<Buffer>((r) => stream.once('data', r));
    stream.write(Buffer.from([0, 1, 2, 255]));
    assert.deepEqual([...(await got)], [...Buffer.from('echo:'), 0, 1, 2, 255]);
    // Who connected: the socket's peer, as ss shows it, is the postgres user's process (the agent, for that moment).
    stream.end();
    await new Promise((r) => stream.on('close', r));
    server.close();
    rmSync(sockDir, { recursive: true, force: true });
    await assert.rejects(conn.connectUnix(join(dir, 'missing.sock')), (err: unknown) => err instanceof HostOpError && err.code === 'ENOENT');
  });

  it('opens a TCP connection from the host: a stream with the address it left from, or refused as data', async () => {
    const server = createServer((c) => c.on('data', (d) => c.write(Buffer.concat([Buffer.from('tcp:'), d]))));
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const port = (server.address() as { port: number }).port;
    const opened = await conn.connectTcp('127.0.0.1', port, { timeoutMs: 2000 });
    assert.ok(opened.connected);
    assert.equal(opened.localAddress, '127.0.0.1');
    const got = new Promise<Buffer>((r) => opened.stream.once('data', r));
    opened.stream.write(Buffer.from([7, 0, 255]));
    assert.deepEqual([...(await got)], [...Buffer.from('tcp:'), 7, 0, 255]);
    opened.stream.end();
    await new Promise((r) => opened.stream.on('close', r));
    await new Promise((r) => server.close(r));
    // The port is closed now: the kernel answers with a reset at once.
    const refused = await conn.connectTcp('127.0.0.1', port, { timeoutMs: 2000 });
    assert.deepEqual(refused.connected ? null : [refused.code, refused.message], ['ECONNREFUSED', 'Connection refused']);
    assert.equal((await conn.run(['true'])).exitCode, 0, 'the agent still answers');
  });

  it('ends with its input: what it runs is stopped, and its guards put things back', async () => {
    const local = new LocalConnection('dropped');
    const moved = join(dir, 'guarded.pgplay-old');
    const data = join(dir, 'guarded');
    mkdirSync(data);
    writeFileSync(join(data, 'PG_VERSION'), '15\n');
    await local.move(data, moved);
    await local.mkdir(data);
    writeFileSync(join(data, 'partial-copy'), 'x');
    await local.guard('test', [
      { kind: 'remove', path: data },
      { kind: 'move', from: moved, to: data },
    ]);
    const pending = local.run(['sleep', '45']);
    pending.catch(() => undefined);
    await running('sleep 45');
    // The client goes away without a word, as a dropped connection does.
    // This test's own agent: the parent of the command it started (not a guess among this process's agents).
    const sleeping = execFileSync('ps', ['-eo', 'ppid=,args='], { encoding: 'utf8' })
      .split('\n')
      .map((line) => /^\s*(\d+)\s+(.*)$/.exec(line))
      .find((m) => m?.[2] === 'sleep 45');
    const agentPid = Number(sleeping?.[1]);
    assert.ok(agentPid > 1);
    assert.equal(readFileSync(`/proc/${agentPid}/comm`, 'utf8').trim(), 'pgplay-agent');
    (local as unknown as { close(): Promise<void> }).close = async () => undefined;
    execFileSync('kill', ['-HUP', String(agentPid)]);
    await gone('sleep 45').catch((err: Error) => {
      // Seen once in CI (not reproduced): say what the agent and the command were doing then.
      const state = (pid: number | string) => (existsSync(`/proc/${pid}/status`) ? readFileSync(`/proc/${pid}/status`, 'utf8').split('\n').filter((l) => /^(State|SigBlk|SigIgn|SigCgt)/.test(l)).join(' ') : 'gone');
      const sleeper = execFileSync('ps', ['-eo', 'pid=,args='], { encoding: 'utf8' }).split('\n').map((l) => /^\s*(\d+)\s+sleep 45$/.exec(l)).find(Boolean)?.[1];
      throw new Error(`${err.message}; the agent ${agentPid}: ${state(agentPid)}; the command ${sleeper ?? '?'}: ${sleeper ? state(sleeper) : '?'}`, { cause: err });
    });
    for (let i = 0; i < 100 && existsSync(`/proc/${agentPid}`); i++) await sleep(50);
    assert.ok(existsSync(join(data, 'PG_VERSION')), 'the old directory is back');
    assert.equal(existsSync(join(data, 'partial-copy')), false);
    assert.equal(existsSync(moved), false);
    await assert.rejects(pending);
  });

  it('with its watchdog on, stops its commands and puts back what it guards when pgplay falls silent (a cut link), not while pings come', async () => {
    const spawnAgent = () => {
      const child = spawn(agentArgv()[0], agentArgv().slice(1), { stdio: ['pipe', 'pipe', 'pipe'] });
      const ended = new Promise<number | null>((resolve) => child.on('close', (code) => resolve(code)));
      return { child, agent: new AgentClient({ stdin: child.stdin, stdout: child.stdout, stderr: child.stderr, ended, kill: () => child.kill('SIGKILL') }, 'watched', (what) => new Error(what)) };
    };
    // Pinged every 100 ms with a 1 s watchdog: still there after 2 s.
    const kept = spawnAgent();
    await kept.agent.ready;
    await kept.agent.watch(100, 1);
    await sleep(2000);
    assert.equal((await kept.agent.run(['echo', 'still here'])).stdout, 'still here\n');
    await kept.agent.close();
    // Never pinged: the agent hears nothing for 1 s and stops by itself, though its input stays open.
    const silent = spawnAgent();
    await silent.agent.ready;
    const data = join(dir, 'watched');
    const moved = join(dir, 'watched.pgplay-old');
    mkdirSync(data);
    writeFileSync(join(data, 'PG_VERSION'), '15\n');
    await silent.agent.move(data, moved);
    await silent.agent.mkdir(data);
    await silent.agent.guard('test', [
      { kind: 'remove', path: data },
      { kind: 'move', from: moved, to: data },
    ]);
    const pending = silent.agent.run(['sleep', '46']);
    pending.catch(() => undefined);
    await running('sleep 46');
    await silent.agent.watch(3_600_000, 1);
    const started = Date.now();
    await gone('sleep 46', 8000);
    assert.ok(Date.now() - started < 6000, `stopped ${Date.now() - started} ms after the last word`);
    if (silent.child.exitCode === null) await new Promise((r) => silent.child.once('exit', r));
    assert.ok(existsSync(join(data, 'PG_VERSION')), 'the old directory is back');
    assert.equal(existsSync(moved), false);
    assert.equal(silent.child.stdin.writableEnded, false, 'its input was never closed');
    silent.child.kill('SIGKILL');
  });

  it('after losing an agent that held locks, a new one first takes them again: nothing is done beside the old one', async () => {
    class Impatient extends LocalConnection {
      protected override lostAgentSeconds(): number {
        return 2;
      }
    }
    const name = `relock-test-${process.pid}.lock`;
    const lost = new Impatient('lost');
    // This connection's agent: the one agent of this process that was not there before it (not a guess among them).
    const others = agentsOfThisProcess();
    const seen: number[] = [];
    const agentPid = () => {
      const fresh = agentsOfThisProcess().filter((pid) => !others.includes(pid) && !seen.includes(pid));
      assert.equal(fresh.length, 1, `agents started by this connection, not yet killed: ${fresh.join(', ') || 'none'}`);
      seen.push(fresh[0]);
      return fresh[0];
    };
    const path = await lost.lock(name, 0);
    // The agent dies; something (standing for it, still at work on the host) holds its lock for 1 s more.
    execFileSync('kill', ['-KILL', String(agentPid())]);
    const holder = spawn('flock', ['-x', path, 'sleep', '1']);
    const holderDone = new Promise((r) => holder.on('close', r));
    await sleep(300);
    let started = Date.now();
    assert.equal((await lost.run(['echo', 'after'])).stdout, 'after\n');
    assert.ok(Date.now() - started >= 500, `waited ${Date.now() - started} ms for the lock`);
    await holderDone;
    // Held longer than the lost agent can live: refused, as unreachable, and nothing run.
    execFileSync('kill', ['-KILL', String(agentPid())]);
    const stubborn = spawn('flock', ['-x', path, 'sleep', '6']);
    await sleep(300);
    started = Date.now();
    await assert.rejects(lost.run(['touch', join(dir, 'beside')]), (err: unknown) => {
      assert.ok(err instanceof UnreachableError, String(err));
      assert.match(err.message, new RegExp(`^lost: the agent pgplay lost on this host still holds ${path} after 2 s, so nothing is done beside it`));
      return true;
    });
    assert.equal(existsSync(join(dir, 'beside')), false);
    stubborn.kill('SIGKILL');
    await lost.close();
    rmSync(path, { force: true });
  });
});

describe('an agent kept between runs (ControlPersist), as the keeper drives it', () => {
  it('at a detach ends what its run left, as at the end of its input, says so, and serves the next run after a new hello; idle too long, it ends', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'pgplay-kept-agent-'));
    const child = spawn(agentArgv()[0], agentArgv().slice(1), { stdio: ['pipe', 'pipe', 'pipe'] });
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    const reader = new FrameReader();
    const frames: Frame[] = [];
    child.stdout.on('data', (chunk: Buffer) => frames.push(...reader.push(chunk)));
    /** The first frame (from now on) that passes the test, taken off the list. */
    const next = async (what: string, test: (f: Frame) => boolean, withinMs = 8000): Promise<Frame> => {
      const deadline = Date.now() + withinMs;
      for (;;) {
        const at = frames.findIndex(test);
        if (at >= 0) return frames.splice(at, 1)[0];
        if (Date.now() > deadline) assert.fail(`no ${what} within ${withinMs} ms (frames: ${frames.map((f) => `${f.id}${f.type}`).join(' ')})`);
        await sleep(20);
      }
    };
    const answer = async (id: number) => decodeList((await next(`answer ${id}`, (f) => f.id === id && f.type === FrameType.answer)).payload).map(String);
    const request = (id: number, ...items: Array<string | number>) => child.stdin.write(encodeFrame(id, FrameType.request, encodeList(items)));
    const hello = async () => decodeList((await next('hello', (f) => f.id === 0 && f.type === FrameType.hello)).payload).map(String);
    try {
      child.stdin.write(bootPayload());
      assert.equal((await hello())[0], 'pgplay-agent');
      // A run: its lock, a change it guards (a data directory moved aside, a partial copy in its place), a command.
      const lock = join(dir, 'run.lock');
      request(1, 'lock', lock, 0);
      assert.deepEqual(await answer(1), ['ok', 'locked', lock]);
      const data = join(dir, 'data');
      const moved = join(dir, 'data.pgplay-old');
      mkdirSync(moved);
      writeFileSync(join(moved, 'PG_VERSION'), '15\n');
      mkdirSync(data);
      writeFileSync(join(data, 'partial-copy'), 'x');
      request(2, 'guard', 'copy', 'set', `remove\t${data}`, `move\t${moved}\t${data}`);
      assert.deepEqual(await answer(2), ['ok', 'ok']);
      request(3, 'watchdog', 3600);
      assert.deepEqual(await answer(3), ['ok', 'watching']);
      request(4, 'run', '', '', '', 0, 'sleep', '48');
      assert.equal((await answer(4))[1], 'started');
      await running('sleep 48');

      // The run is gone: the keeper detaches its agent.
      child.stdin.write(encodeFrame(0, FrameType.detach, Buffer.from('0')));
      await next('detach', (f) => f.id === 0 && f.type === FrameType.detach);
      assert.equal(runs('sleep 48'), false, 'the command was stopped');
      assert.equal(existsSync(lock), false, 'the lock was let go');
      assert.ok(existsSync(join(data, 'PG_VERSION')), 'the guarded change was put back');
      assert.equal(existsSync(moved), false);
      assert.equal(child.exitCode, null, 'the agent waits for the next run');

      // The next run: a new hello, then requests as usual; the lock is free.
      frames.length = 0;
      child.stdin.write(encodeFrame(0, FrameType.hello));
      assert.equal((await hello())[0], 'pgplay-agent');
      request(1, 'lock', lock, 0);
      assert.deepEqual(await answer(1), ['ok', 'locked', lock]);
      request(2, 'run', '', '', '', 0, 'echo', 'the next run');
      assert.equal((await answer(2))[1], 'started');
      assert.equal((await next('output', (f) => f.id === 2 && f.type === FrameType.stdout)).payload.toString(), 'the next run\n');
      await next('exit', (f) => f.id === 2 && f.type === FrameType.exit);

      // Detached with an idle limit of 1 s: silence that long ends it, though its input is still open.
      child.stdin.write(encodeFrame(0, FrameType.detach, Buffer.from('1')));
      await next('detach', (f) => f.id === 0 && f.type === FrameType.detach);
      assert.equal(existsSync(lock), false);
      const started = Date.now();
      assert.equal(await Promise.race([exited, sleep(6000).then(() => 'still running')]), 0);
      assert.ok(Date.now() - started < 4000, `ended ${Date.now() - started} ms after its detach`);
      assert.equal(child.stdin.writableEnded, false);
    } finally {
      child.kill('SIGKILL');
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('when the agent cannot start', () => {
  it('says what to install or to set', async () => {
    const { whyNoAgent } = await import('../../../src/connection/agent-client');
    assert.match(whyNoAgent('sh: 1: perl: not found', 127), /needs perl \(Debian and Ubuntu have it: perl-base; RHEL: dnf install perl-interpreter\)/);
    assert.match(whyNoAgent('sudo: a password is required', 1), /passwordless sudo, or give the sudo password with become_password_env/);
    assert.equal(whyNoAgent('', 3), 'exit 3');
  });
});

describe('requests sent before the agent says hello', () => {
  /** An agent whose perl starts late, as behind a login shell with a slow profile. */
  function lateAgent(delaySeconds: number, script?: string) {
    const child = spawn('sh', ['-c', script ?? `sleep ${delaySeconds}; exec "$@"`, 'sh', ...agentArgv()], { stdio: ['pipe', 'pipe', 'pipe'] });
    const ended = new Promise<number | null>((resolve) => child.on('close', (code) => resolve(code)));
    const transport = { stdin: child.stdin, stdout: child.stdout, stderr: child.stderr, ended, kill: () => child.kill('SIGKILL') };
    return new AgentClient(transport, 'late', (what, stderr) => new UnreachableError(`late: ${what}${stderr ? `: ${stderr}` : ''}`));
  }

  it('are read by the agent once it runs, in order, and answered', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'pgplay-early-'));
    const agent = lateAgent(0.3);
    let helloSeen = false;
    void agent.ready.then(() => (helloSeen = true));
    try {
      // All three go out now, behind the agent's code, while the shell still sleeps.
      const wrote = agent.writeFile(join(dir, 'early.txt'), 'written before the hello\n', { mode: '0640' });
      const read = agent.readFile(join(dir, 'early.txt'));
      const locked = agent.lock(join(dir, 'early.lock'), 5);
      await new Promise((r) => setImmediate(r));
      assert.equal(helloSeen, false, 'the requests were sent before the hello');
      await wrote;
      assert.equal((await read)?.content.toString(), 'written before the hello\n');
      assert.equal(await locked, join(dir, 'early.lock'));
      assert.equal(helloSeen, true);
      // The agent goes on as usual afterwards.
      assert.equal((await agent.stat(join(dir, 'early.txt')))?.mode, '0640');
    } finally {
      await agent.close();
      rmSync(dir, { recursive: true, force: true });
    }
    assert.equal(existsSync(join(dir, 'early.lock')), false);
  });

  it("go out with the agent's code in one write when one turn of the event loop makes them, from several promise chains", async () => {
    const child = spawn(agentArgv()[0], agentArgv().slice(1), { stdio: ['pipe', 'pipe', 'pipe'] });
    const ended = new Promise<number | null>((resolve) => child.on('close', (code) => resolve(code)));
    const writes: number[] = [];
    const write = child.stdin.write.bind(child.stdin) as (chunk: Buffer) => boolean;
    (child.stdin as unknown as { write: (chunk: Buffer) => boolean }).write = (chunk: Buffer) => {
      writes.push(chunk.length);
      return write(chunk);
    };
    const agent = new AgentClient({ stdin: child.stdin, stdout: child.stdout, stderr: child.stderr, ended, kill: () => child.kill('SIGKILL') }, 'batched', (what) => new Error(what));
    try {
      // As a run's start does: the watchdog, the lock and the SQL socket each come from a chain of their own.
      const answers = [agent.stat('/'), Promise.resolve().then(() => agent.stat('/tmp')), Promise.resolve().then(async () => { await null; return agent.stat('/nonexistent-pgplay'); })];
      assert.equal(writes.length, 0, 'nothing is written before the turn ends');
      const [root, tmp, absent] = await Promise.all(answers);
      assert.equal(root?.type, 'directory');
      assert.equal(tmp?.type, 'directory');
      assert.equal(absent, null);
      assert.equal(writes.length, 1, `the agent's code and three requests in one write (writes: ${writes.join(', ')})`);
      assert.ok(writes[0] > agentSource().length, 'the write holds the code and the requests');
    } finally {
      await agent.close();
    }
  });

  it('fail with the reason there is no agent when none starts', async () => {
    const agent = lateAgent(0, 'echo "sh: 1: perl: not found" >&2; exit 127');
    const early = agent.stat('/');
    await assert.rejects(early, (err: Error) => err instanceof UnreachableError && /needs perl/.test(err.message));
    await assert.rejects(agent.ready, (err: Error) => err instanceof UnreachableError && /needs perl/.test(err.message));
    await agent.close();
  });
});
