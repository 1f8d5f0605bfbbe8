// The keeper of kept ssh connections (ControlPersist): one process per user and pgplay version, started by the first
// run that asks for one and detached from it (its own session: an interrupt of the run does not reach it). It holds
// each host's ssh connection between runs and carries each run's agent channel over the run's socket. When the run
// ends (or is gone), its agent ends what the run left, as at the end of its input, and is kept on the connection for
// the next run that would start the same agent (a become password's agent ends with its run). A connection left idle
// for its ControlPersist time is closed, its kept agents with it; the keeper exits when it keeps nothing and no run is
// connected.
import { existsSync, unlinkSync } from 'node:fs';
import { connect, createServer, type Server, type Socket } from 'node:net';
import type { Client, ClientChannel } from 'ssh2';
import { encodeFrame, FrameReader, FrameType, type Frame } from './agent-protocol';
import { connectionKey, decodeOpen, KeeperFrame, type Opened, type OpenRequest } from './keeper-wire';
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
  /** Agents whose run ended, waiting for the next run on this connection with the same command line and source. */
  agents: AgentChannel[];
}

/** How long a keeper with nothing to keep and no run waits before it exits (a run that started it connects meanwhile). */
const EMPTY_GRACE_MS = 5000;
/** How long a detaching agent may take to end what its run left (its commands' grace is 3 s) before it is closed. */
const DETACH_MS = 10_000;
/** Agents kept per connection at most (two runs on a host at once each leave one). */
const AGENTS_KEPT = 2;

/** Where an agent's output goes while a run uses it. */
interface AgentSink {
  stdout(data: Buffer): boolean;
  stderr(data: Buffer): void;
  /** The channel closed (the agent ended); its exit status when known. */
  closed(code: number | null): void;
  /** Called back once when the socket can take more (after stdout said false). */
  drain(resume: () => void): void;
}

/**
 * One agent's channel. Its output goes to the run that uses it as it comes; its frames are followed all along, so
 * that after a detach the keeper reads the agent's own frames from a frame's start, up to its 'D'.
 */
class AgentChannel {
  readonly #frames = new FrameReader();
  #sink: AgentSink | null = null;
  #detached: ((ok: boolean) => void) | null = null;
  #code: number | null = null;
  closed = false;
  /** Told once the channel closed (a kept agent leaves its connection's list). */
  onClose: () => void = () => undefined;

  constructor(
    readonly ch: ClientChannel,
    readonly command: string,
    /** The agent's source digest when it may be kept after its run. */
    readonly source: string | undefined,
  ) {
    ch.on('data', (data: Buffer) => this.#output(data));
    ch.stderr.on('data', (data: Buffer) => this.#sink?.stderr(data));
    ch.on('error', () => undefined);
    ch.on('exit', (status?: number | null) => (this.#code = status ?? null));
    ch.on('close', () => {
      this.closed = true;
      this.#detached?.(false);
      this.#sink?.closed(this.#code);
      this.#sink = null;
      this.onClose();
    });
  }

  #output(data: Buffer): void {
    let frames: Frame[];
    try {
      frames = this.#frames.push(data);
    } catch {
      this.ch.close();
      return;
    }
    if (this.#detached) {
      for (const frame of frames) if (frame.id === 0 && frame.type === FrameType.detach) this.#detached(true);
      return;
    }
    const sink = this.#sink;
    if (sink && !sink.stdout(data)) {
      this.ch.pause();
      sink.drain(() => this.ch.resume());
    }
  }

  /** A run uses the agent; a kept one is asked for a new hello first. */
  attach(sink: AgentSink, kept: boolean): void {
    this.#sink = sink;
    if (kept) this.ch.write(encodeFrame(0, FrameType.hello));
  }

  /** The run is gone: the agent ends what it left; true once it said so and waits for the next run. */
  detach(idleSeconds: number): Promise<boolean> {
    this.#sink = null;
    if (this.closed) return Promise.resolve(false);
    return new Promise((resolve) => {
      const timer = setTimeout(() => done(false), DETACH_MS);
      const done = (ok: boolean) => {
        clearTimeout(timer);
        this.#detached = null;
        resolve(ok);
      };
      this.#detached = done;
      this.ch.resume();
      this.ch.write(encodeFrame(0, FrameType.detach, Buffer.from(String(idleSeconds))));
    });
  }
}

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
    let agent: AgentChannel | null = null;
    let entry: Kept | null = null;
    let closed = false;
    let asked = false;
    /** The run let go of its agent (its end of input, or its socket closed). */
    let finished = false;
    /** The agent has had its code (a kept one from its first run; a new one with the run's first input). */
    let started = false;
    /** Kept after the run: an agent the run may leave to the next one, once it has had its code. */
    const keepable = (a: AgentChannel) => a.source !== undefined && started;
    const early: Frame[] = [];
    const send = (type: string, payload?: Buffer): boolean => (sock.destroyed || sock.writableEnded ? true : sock.write(encodeFrame(0, type, payload)));
    const toChannel = (frame: Frame) => {
      if (!agent) return early.push({ ...frame, payload: Buffer.from(frame.payload) });
      if (finished) return;
      const ch = agent.ch;
      // The run writes whole frames (its first input holds the agent's code): a detach written after them starts a frame.
      if (frame.type === KeeperFrame.input) started = true;
      if (frame.type === KeeperFrame.input && !ch.write(frame.payload)) {
        sock.pause();
        ch.once('drain', () => sock.resume());
      } else if (frame.type === KeeperFrame.endInput) finish();
    };
    /**
     * The run is done with its agent. One that may be kept ends what the run left and waits for the next run (the run
     * learns of it as of an exit); any other gets the end of its input, or is closed when the run is gone.
     */
    const finish = () => {
      if (finished || !agent || !entry) return;
      finished = true;
      const [mine, kept] = [agent, entry];
      if (!keepable(mine)) {
        if (closed) mine.ch.close();
        else mine.ch.end();
        return;
      }
      void mine.detach(kept.persistSeconds > 0 ? kept.persistSeconds + 30 : 0).then((ok) => {
        if (ok && this.#kept.get(kept.key) === kept && kept.agents.length < AGENTS_KEPT) {
          kept.agents.push(mine);
          mine.onClose = () => (kept.agents = kept.agents.filter((a) => a !== mine));
        } else mine.ch.close();
        send(KeeperFrame.exit, Buffer.from('null'));
        sock.end();
      });
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
            ({ got, kept, reused, attached }) => {
              if (closed) {
                if (attached) kept.agents.push(got);
                else got.ch.close();
                this.#release(kept);
                return;
              }
              agent = got;
              entry = kept;
              started = attached;
              got.attach(
                {
                  stdout: (data) => send(KeeperFrame.stdout, data),
                  stderr: (data) => send(KeeperFrame.stderr, data),
                  closed: (code) => {
                    send(KeeperFrame.exit, Buffer.from(JSON.stringify(code)));
                    sock.end();
                  },
                  drain: (resume) => sock.once('drain', resume),
                },
                attached,
              );
              const opened: Opened = { reused, attached };
              send(KeeperFrame.opened, Buffer.from(JSON.stringify(opened)));
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
      // The run is gone (ended, killed, or its connection to the keeper lost): its agent is done with.
      if (finished && agent && !keepable(agent)) agent.ch.close();
      finish();
      if (entry) this.#release(entry);
      this.#maybeExit();
    });
  }

  /**
   * The agent for a run: one kept from an earlier run when there is one for this command line and source, else a new
   * channel on the kept connection, or on a new one when there is none or the kept one fails.
   */
  async #open(request: OpenRequest): Promise<{ got: AgentChannel; kept: Kept; reused: boolean; attached: boolean }> {
    const key = connectionKey(request);
    const existing = this.#kept.get(key);
    if (existing) {
      const at = request.agentSource ? existing.agents.findIndex((a) => !a.closed && a.command === request.command && a.source === request.agentSource) : -1;
      if (at >= 0) {
        const [got] = existing.agents.splice(at, 1);
        this.#use(existing);
        return { got, kept: existing, reused: true, attached: true };
      }
      try {
        return { got: await this.#exec(existing, request), kept: existing, reused: true, attached: false };
      } catch {
        // A connection that went away while kept (a restarted sshd, a cut link): a new one is made below.
        this.#drop(existing);
      }
    }
    const made = this.#dial(key, request);
    return { got: await this.#exec(made, request), kept: made, reused: false, attached: false };
  }

  #dial(key: string, request: OpenRequest): Kept {
    const entry: Kept = { key, client: openSsh(request.hostName, request.options, () => this.#drop(entry)), persistSeconds: request.options.persistSeconds ?? 0, channels: 0, idle: null, agents: [] };
    entry.client.catch(() => this.#drop(entry));
    this.#kept.set(key, entry);
    return entry;
  }

  /** A run uses the connection: it is no longer idle (#release lets go of it). */
  #use(entry: Kept): void {
    entry.channels++;
    if (entry.idle) clearTimeout(entry.idle);
    entry.idle = null;
  }

  async #exec(entry: Kept, request: OpenRequest): Promise<AgentChannel> {
    this.#use(entry);
    try {
      const client = await entry.client;
      const target = sshTarget(request.hostName, request.options);
      return await new Promise<AgentChannel>((resolve, reject) => {
        let late = false;
        const timer = setTimeout(() => {
          late = true;
          reject(unreachable(target, `no session channel within ${request.options.connectTimeoutMs / 1000} s`));
        }, request.options.connectTimeoutMs);
        client.exec(request.command, (err, ch) => {
          clearTimeout(timer);
          if (late) return ch?.close();
          if (err) reject(unreachable(target, `the server refused a session channel: ${err.message}`, err));
          else resolve(new AgentChannel(ch, request.command, request.agentSource));
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
