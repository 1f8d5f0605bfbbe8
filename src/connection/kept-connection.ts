// A run's side of kept connections (ControlPersist): the host agent's channel through this user's keeper (keeper.ts),
// which is started when none runs. When no keeper can be had (no private directory for its socket, it cannot start),
// the run connects by itself, as without ControlPersist.
import { spawn } from 'node:child_process';
import { connect, type Socket } from 'node:net';
import { PassThrough, Writable } from 'node:stream';
import { UnreachableError } from '../errors';
import { packageFile } from '../package-files';
import { encodeFrame, FrameReader, type Frame } from './agent-protocol';
import type { AgentTransport } from './agent-client';
import { encodeOpen, KeeperFrame, keeperSocketPath, type Opened, type OpenRequest } from './keeper-wire';
import { unreachable, type SshTarget } from './ssh-errors';

/** The agent's channel through the keeper: its transport, the socket that carries it, whether the connection was kept. */
export interface KeptChannel {
  transport: AgentTransport;
  socket: Socket;
  reused: boolean;
}

/** How long a run waits for a keeper it started to listen. */
const KEEPER_START_MS = 5000;

let starting: Promise<boolean> | null = null;
let keptChannels = 0;

/** Agent channels this process opened on connections kept from an earlier run (tests and the benchmark). */
export function keptChannelsReused(): number {
  return keptChannels;
}

/**
 * Open the agent's channel through the keeper; null when there is no keeper to be had. A failure to reach the host
 * is the keeper's UnreachableError, told as a direct connection would tell it.
 */
export async function openKeptChannel(request: OpenRequest, target: SshTarget, env: NodeJS.ProcessEnv = process.env): Promise<KeptChannel | null> {
  const path = keeperSocketPath(env);
  if (!path) return null;
  let socket = await reach(path);
  if (!socket) {
    starting ??= startKeeper(path, env);
    if (!(await starting)) return null;
    socket = await reach(path);
    if (!socket) return null;
  }
  socket.setNoDelay?.(true);
  return opened(socket, request, target);
}

function reach(path: string): Promise<Socket | null> {
  return new Promise((resolve) => {
    const socket = connect(path);
    socket.once('connect', () => {
      socket.removeAllListeners('error');
      resolve(socket);
    });
    socket.once('error', () => resolve(null));
  });
}

/**
 * The keeper lives long and only relays bytes: a young generation of 1 MB semi-spaces (V8 grows it to 8 MB under
 * the traffic of 17 hosts) keeps it about 9 MB smaller at no measured cost in CPU (bench/README.md).
 */
const KEEPER_NODE_FLAGS = ['--max-semi-space-size=1'];

/**
 * Start the keeper: this pgplay in a session of its own (an interrupt of the run does not reach it), in /, with no
 * more of the environment than it needs (never the run's secrets), and wait until it listens.
 */
function startKeeper(path: string, env: NodeJS.ProcessEnv): Promise<boolean> {
  return new Promise((resolve) => {
    const keep = ['HOME', 'PATH', 'USER', 'LOGNAME', 'XDG_RUNTIME_DIR', 'LANG'];
    const childEnv: NodeJS.ProcessEnv = {};
    for (const name of keep) if (env[name] !== undefined) childEnv[name] = env[name];
    let child;
    try {
      child = spawn(process.execPath, [...KEEPER_NODE_FLAGS, packageFile('bin', 'pgplay.js'), '__keep-connections', path], { detached: true, stdio: ['ignore', 'pipe', 'ignore'], cwd: '/', env: childEnv });
    } catch {
      return resolve(false);
    }
    const done = (ok: boolean) => {
      clearTimeout(timer);
      child.stdout?.destroy();
      child.unref();
      resolve(ok);
    };
    const timer = setTimeout(() => done(false), KEEPER_START_MS);
    child.once('error', () => done(false));
    child.once('exit', () => done(true)); // another keeper was there first: reach it
    child.stdout?.setEncoding('utf8');
    child.stdout?.once('data', (text: string) => done(text.startsWith('ready')));
  });
}

/** Ask for the channel; once the keeper says it is open, the socket carries the agent's input, output and exit. */
function opened(socket: Socket, request: OpenRequest, target: SshTarget): Promise<KeptChannel | null> {
  return new Promise((resolve, reject) => {
    // The keeper gives up on a host after its connect timeout (each bastion's too); a keeper that does not answer
    // at all is not waited for longer.
    const waitMs = request.options.connectTimeoutMs * (request.options.proxyJump.length + 2) + 5000;
    const timer = setTimeout(() => {
      if (answered) return;
      answered = true;
      socket.destroy();
      reject(unreachable(target, `no answer within ${Math.round(waitMs / 1000)} s from pgplay's keeper of kept connections`));
    }, waitMs);
    const reader = new FrameReader();
    const stdout = new PassThrough();
    const stderr = new PassThrough();
    let exitCode: number | null = null;
    let answered = false;
    let ended: (code: number | null) => void = () => undefined;
    const endedPromise = new Promise<number | null>((r) => (ended = r));
    const stdin = new Writable({
      write(chunk: Buffer, _encoding, callback) {
        if (socket.destroyed) return callback();
        socket.write(encodeFrame(0, KeeperFrame.input, chunk), () => callback());
      },
      final(callback) {
        if (!socket.destroyed) socket.write(encodeFrame(0, KeeperFrame.endInput));
        callback();
      },
    });
    const onFrame = (frame: Frame) => {
      switch (frame.type) {
        case KeeperFrame.opened: {
          if (answered) return;
          answered = true;
          clearTimeout(timer);
          const { reused, attached } = JSON.parse(frame.payload.toString('utf8')) as Opened;
          if (reused) keptChannels++;
          resolve({ transport: { stdin, stdout, stderr, ended: endedPromise, kill: () => socket.destroy(), attached }, socket, reused });
          return;
        }
        case KeeperFrame.failed:
          if (answered) return;
          answered = true;
          clearTimeout(timer);
          reject(new UnreachableError(frame.payload.toString('utf8')));
          return;
        case KeeperFrame.stdout:
          stdout.write(Buffer.from(frame.payload));
          return;
        case KeeperFrame.stderr:
          stderr.write(Buffer.from(frame.payload));
          return;
        case KeeperFrame.exit:
          exitCode = JSON.parse(frame.payload.toString('utf8')) as number | null;
          return;
      }
    };
    socket.on('data', (chunk: Buffer) => {
      let frames: Frame[];
      try {
        frames = reader.push(chunk);
      } catch {
        socket.destroy();
        return;
      }
      for (const frame of frames) onFrame(frame);
    });
    socket.on('error', () => undefined);
    socket.once('close', () => {
      // The keeper went away before it answered: the run connects by itself.
      clearTimeout(timer);
      if (!answered) resolve(null);
      stdout.end();
      stderr.end();
      ended(exitCode);
    });
    socket.write(encodeFrame(0, KeeperFrame.open, encodeOpen(request)));
  });
}
