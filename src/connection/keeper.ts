// The keeper of kept ssh connections (ControlPersist): one process per user and pgplay version, started by the first
// run that asks for one and detached from it (its own session: an interrupt of the run does not reach it). It holds
// each host's ssh connection between runs and carries each run's agent channel over the run's socket; the agent still
// ends with its run, since the keeper closes the channel when the run's socket closes. A connection left idle for
// its ControlPersist time is closed; the keeper exits when it keeps nothing and no run is connected.
import { existsSync, unlinkSync } from 'node:fs';
import { connect, createServer, type Server, type Socket } from 'node:net';
import type { Client, ClientChannel } from 'ssh2';
import { encodeFrame, FrameReader, type Frame } from './agent-protocol';
import { connectionKey, decodeOpen, KeeperFrame, type OpenRequest } from './keeper-wire';
import { openSsh, sshTarget } from './ssh';
import { unreachable } from './ssh-errors';

interface Kept {
  key: string;
  client: Promise<Client>;
  /** Idle seconds it is kept once no run uses it (0: until the keeper is stopped). */
  persistSeconds: number;
  /** Runs using it now. */
  channels: number;
  idle: NodeJS.Timeout | null;
}

/** How long a keeper with nothing to keep and no run waits before it exits (a run that started it connects meanwhile). */
const EMPTY_GRACE_MS = 5000;

export class Keeper {
  readonly #kept = new Map<string, Kept>();
  #runs = 0;
  #exitTimer: NodeJS.Timeout | null = null;
  #server: Server | null = null;
  #done: (code: number) => void = () => undefined;

  constructor(readonly socketPath: string) {}

  /** Listen on the socket (taking over a stale one); resolves with the exit code once the keeper is done. */
  run(onListening: () => void): Promise<number> {
    return new Promise((resolve) => {
      this.#done = resolve;
      const server = createServer((sock) => this.#serve(sock));
      this.#server = server;
      let retried = false;
      server.on('error', (err: NodeJS.ErrnoException) => {
        if (err.code !== 'EADDRINUSE' || retried) return resolve(1);
        retried = true;
        // Another keeper, or a socket a keeper left behind when it was killed: only the second is taken over.
        const probe = connect(this.socketPath);
        probe.once('connect', () => {
          probe.destroy();
          resolve(0);
        });
        probe.once('error', () => {
          try {
            unlinkSync(this.socketPath);
          } catch {
            // gone meanwhile
          }
          server.listen(this.socketPath);
        });
      });
      server.once('listening', () => {
        onListening();
        this.#maybeExit();
      });
      server.listen(this.socketPath);
    });
  }

  #serve(sock: Socket): void {
    this.#runs++;
    this.#cancelExit();
    const reader = new FrameReader();
    let channel: ClientChannel | null = null;
    let entry: Kept | null = null;
    let closed = false;
    let asked = false;
    const early: Frame[] = [];
    const send = (type: string, payload?: Buffer): boolean => (sock.destroyed ? true : sock.write(encodeFrame(0, type, payload)));
    const toChannel = (frame: Frame) => {
      if (!channel) return early.push({ ...frame, payload: Buffer.from(frame.payload) });
      if (frame.type === KeeperFrame.input && !channel.write(frame.payload)) {
        sock.pause();
        channel.once('drain', () => sock.resume());
      } else if (frame.type === KeeperFrame.endInput) channel.end();
    };
    sock.on('error', () => undefined);
    sock.on('data', (chunk: Buffer) => {
      let frames: Frame[];
      try {
        frames = reader.push(chunk);
      } catch {
        sock.destroy();
        return;
      }
      for (const frame of frames) {
        if (frame.type === KeeperFrame.open && !asked) {
          asked = true;
          let request: OpenRequest;
          try {
            request = decodeOpen(frame.payload);
          } catch {
            sock.destroy();
            return;
          }
          void this.#open(request).then(
            ({ ch, kept, reused }) => {
              if (closed) {
                ch.close();
                this.#release(kept);
                return;
              }
              channel = ch;
              entry = kept;
              send(KeeperFrame.opened, Buffer.from(JSON.stringify({ reused })));
              let code: number | null = null;
              ch.on('data', (data: Buffer) => {
                if (!send(KeeperFrame.stdout, data)) {
                  ch.pause();
                  sock.once('drain', () => ch.resume());
                }
              });
              ch.stderr.on('data', (data: Buffer) => send(KeeperFrame.stderr, data));
              ch.on('error', () => undefined);
              ch.on('exit', (status?: number | null) => (code = status ?? null));
              ch.on('close', () => {
                send(KeeperFrame.exit, Buffer.from(JSON.stringify(code)));
                sock.end();
              });
              for (const f of early.splice(0)) toChannel(f);
            },
            (err: Error) => {
              send(KeeperFrame.failed, Buffer.from(err.message));
              sock.end();
            },
          );
        } else if (frame.type === KeeperFrame.input || frame.type === KeeperFrame.endInput) toChannel(frame);
      }
    });
    sock.on('close', () => {
      closed = true;
      this.#runs--;
      // The run is gone (ended, killed, or its connection to the keeper lost): its agent ends with the channel.
      if (channel) channel.close();
      if (entry) this.#release(entry);
      this.#maybeExit();
    });
  }

  /** The agent's channel on the kept connection, or on a new one when there is none or the kept one fails. */
  async #open(request: OpenRequest): Promise<{ ch: ClientChannel; kept: Kept; reused: boolean }> {
    const key = connectionKey(request);
    const existing = this.#kept.get(key);
    if (existing) {
      try {
        return { ch: await this.#exec(existing, request), kept: existing, reused: true };
      } catch {
        // A connection that went away while kept (a restarted sshd, a cut link): a new one is made below.
        this.#drop(existing);
      }
    }
    const made = this.#dial(key, request);
    return { ch: await this.#exec(made, request), kept: made, reused: false };
  }

  #dial(key: string, request: OpenRequest): Kept {
    const entry: Kept = { key, client: openSsh(request.hostName, request.options, () => this.#drop(entry)), persistSeconds: request.options.persistSeconds ?? 0, channels: 0, idle: null };
    entry.client.catch(() => this.#drop(entry));
    this.#kept.set(key, entry);
    return entry;
  }

  async #exec(entry: Kept, request: OpenRequest): Promise<ClientChannel> {
    entry.channels++;
    if (entry.idle) clearTimeout(entry.idle);
    entry.idle = null;
    try {
      const client = await entry.client;
      const target = sshTarget(request.hostName, request.options);
      return await new Promise<ClientChannel>((resolve, reject) => {
        let late = false;
        const timer = setTimeout(() => {
          late = true;
          reject(unreachable(target, `no session channel within ${request.options.connectTimeoutMs / 1000} s`));
        }, request.options.connectTimeoutMs);
        client.exec(request.command, (err, ch) => {
          clearTimeout(timer);
          if (late) return ch?.close();
          if (err) reject(unreachable(target, `the server refused a session channel: ${err.message}`, err));
          else resolve(ch);
        });
      });
    } catch (err) {
      this.#release(entry);
      throw err;
    }
  }

  /** A run let go of the connection: once no run uses it, it is kept for its persist time (or closed, if forgotten). */
  #release(entry: Kept): void {
    entry.channels--;
    if (entry.channels > 0) return;
    if (this.#kept.get(entry.key) !== entry) this.#end(entry);
    else if (entry.persistSeconds > 0) entry.idle = setTimeout(() => this.#drop(entry), entry.persistSeconds * 1000);
  }

  /** Forget a connection (gone, failing or idle too long); closed now unless runs still use it (then when they let go). */
  #drop(entry: Kept): void {
    if (entry.idle) clearTimeout(entry.idle);
    entry.idle = null;
    if (this.#kept.get(entry.key) === entry) this.#kept.delete(entry.key);
    if (entry.channels === 0) this.#end(entry);
    this.#maybeExit();
  }

  #end(entry: Kept): void {
    void entry.client.then(
      (c) => c.end(),
      () => undefined,
    );
  }

  #cancelExit(): void {
    if (this.#exitTimer) clearTimeout(this.#exitTimer);
    this.#exitTimer = null;
  }

  #maybeExit(): void {
    if (this.#kept.size > 0 || this.#runs > 0 || this.#exitTimer) return;
    this.#exitTimer = setTimeout(() => {
      if (this.#kept.size > 0 || this.#runs > 0) return;
      // The socket goes first: a run from now on starts a new keeper instead of reaching one that is leaving.
      try {
        if (existsSync(this.socketPath)) unlinkSync(this.socketPath);
      } catch {
        // another keeper's by now, or gone
      }
      this.#server?.close();
      this.#done(0);
    }, EMPTY_GRACE_MS);
  }
}

/** `pgplay __keep-connections SOCKET`: the keeper's process; says "ready" on its stdout once it listens. */
export function keepConnections(socketPath: string): Promise<number> {
  process.stdout.on('error', () => undefined);
  return new Keeper(socketPath).run(() => process.stdout.write('ready\n'));
}
