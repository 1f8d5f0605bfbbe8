// Speaks to one host's agent over its stdin/stdout: typed host operations become framed requests.
import { Duplex, type Readable, type Writable } from 'node:stream';
import { StringDecoder } from 'node:string_decoder';
import { Secret } from '../secrets';
import { bootPayload, decodeList, encodeFrame, encodeList, FrameReader, FrameType, PROTOCOL_VERSION, type Frame } from './agent-protocol';
import { describeArgv } from './command';
import { HostOpError, type CloseOptions, type FileContent, type GuardAction, type FileStat, type HostFacts, type RunOptions, type RunResult, type TcpConnectResult, type WriteOptions } from './types';

/** A started agent process: its streams, and how it ends. */
export interface AgentTransport {
  stdin: Writable;
  stdout: Readable;
  stderr: Readable;
  /** Resolves when the transport ended (exit status when known). */
  ended: Promise<number | null>;
  kill(): void;
  /** The agent runs already (kept from an earlier run by the keeper): it is not sent its code, and says a new hello. */
  attached?: boolean;
}

/** How long a stopped command gets after SIGTERM before SIGKILL, and again before pgplay stops waiting for it. */
export const KILL_GRACE_MS = 3000;
const HELLO_TIMEOUT_MS = 30_000;

interface Pending {
  resolve(fields: Buffer[]): void;
  reject(err: Error): void;
  what: string;
}

/** A connection's frames before its stream exists (the agent may send data right after it answers) are kept for it. */
function openingStream(): { handlers: StreamHandlers; attach(stream: AgentStream): AgentStream } {
  let stream: AgentStream | null = null;
  const pendingData: Buffer[] = [];
  let pendingEnd = false;
  return {
    handlers: {
      data: (_type, chunk) => (stream ? stream.push(Buffer.from(chunk)) : pendingData.push(Buffer.from(chunk))),
      exit: () => (stream ? stream.push(null) : (pendingEnd = true)),
      lost: (err) => stream?.destroy(err),
    },
    attach(made) {
      stream = made;
      for (const chunk of pendingData) made.push(chunk);
      if (pendingEnd) made.push(null);
      return made;
    },
  };
}

interface StreamHandlers {
  what?: string;
  data(type: string, chunk: Buffer): void;
  exit(fields: Buffer[]): void;
  lost(err: Error): void;
}

export class AgentClient {
  #nextId = 1;
  #pending = new Map<number, Pending>();
  #streams = new Map<number, StreamHandlers>();
  /** Socket streams whose input pgplay ended: what is left of them is the agent's own to finish. */
  #socketsEnded = new Set<number>();
  #reader = new FrameReader();
  #stderr = '';
  #dead: Error | null = null;
  /**
   * Frames sent in this turn of the event loop (at first behind the agent's code), written together at its end:
   * one socket write where each promise chain of the turn (the watchdog, the lock, the SQL socket) made one.
   */
  #outgoing: Buffer[] = [];
  #outgoingBytes = 0;
  #flushing: NodeJS.Immediate | null = null;
  #closing = false;
  #pinger: NodeJS.Timeout | null = null;
  readonly ready: Promise<HostFacts>;

  constructor(
    private readonly transport: AgentTransport,
    readonly hostName: string,
    /** Makes the error for a transport that ended by itself (an UnreachableError for ssh). */
    private readonly lost: (what: string, stderr: string) => Error,
    /** Written before the agent's source: a sudo password line, when one is needed. */
    preamble?: Secret,
  ) {
    transport.stdin.on('error', () => undefined);
    transport.stderr.setEncoding('utf8');
    transport.stderr.on('data', (text: string) => {
      if (this.#stderr.length < 65536) this.#stderr += text;
    });
    let hello: (facts: HostFacts) => void = () => undefined;
    let helloFailed: (err: Error) => void = () => undefined;
    this.ready = new Promise<HostFacts>((resolve, reject) => {
      hello = resolve;
      helloFailed = reject;
    });
    // Requests may go out before the hello (behind the agent's code, in the same input): when there is no hello,
    // they fail with its error.
    this.ready.catch((err: Error) => this.#fail(err));
    const timer = setTimeout(() => {
      helloFailed(this.lost('starting the host agent', `no answer after ${HELLO_TIMEOUT_MS / 1000} s${this.#stderr ? `: ${this.#stderr.trim()}` : ''}`));
      transport.kill();
    }, HELLO_TIMEOUT_MS);
    transport.stdout.on('data', (chunk: Buffer) => {
      let frames: Frame[];
      try {
        frames = this.#reader.push(chunk);
      } catch (err) {
        return this.#fail(err as Error);
      }
      for (const frame of frames) {
        if (frame.type === FrameType.hello) {
          clearTimeout(timer);
          try {
            hello(parseHello(decodeList(frame.payload)));
          } catch (err) {
            helloFailed(err as Error);
          }
        } else this.#onFrame(frame);
      }
    });
    void transport.ended.then((code) => {
      clearTimeout(timer);
      const busy = [...[...this.#streams.values()].map((h) => h.what), ...[...this.#pending.values()].map((p) => p.what)].filter(Boolean)[0];
      const why = this.#closing
        ? new Error(`the agent on ${hostName} was closed`)
        : this.lost(busy ? `connection lost while running: ${busy}` : 'the host agent ended', whyNoAgent(this.#stderr.trim(), code));
      helloFailed(why);
      this.#fail(why);
    });
    if (transport.attached) return;
    const boot = bootPayload();
    this.#queue(preamble ? Buffer.concat([Buffer.from(`${preamble.reveal()}\n`), boot]) : boot);
  }

  get alive(): boolean {
    return this.#dead === null;
  }

  /**
   * Ask the agent to stop what it runs and put back what it guards once it hears nothing from pgplay for
   * `timeoutSeconds` (a link cut without a word), and send it a ping every `intervalMs` meanwhile.
   */
  async watch(intervalMs: number, timeoutSeconds: number): Promise<void> {
    await this.request('watchdog', ['watchdog', timeoutSeconds]);
    if (this.#dead) return;
    this.#pinger = setInterval(() => this.#send(0, FrameType.ping), intervalMs);
    this.#pinger.unref();
  }

  #fail(err: Error): void {
    if (this.#pinger) clearInterval(this.#pinger);
    this.#pinger = null;
    if (this.#dead) return;
    this.#dead = err;
    for (const p of this.#pending.values()) p.reject(err);
    for (const s of this.#streams.values()) s.lost(err);
    this.#pending.clear();
    this.#streams.clear();
  }

  #onFrame(frame: Frame): void {
    if (frame.type === FrameType.answer) {
      const pending = this.#pending.get(frame.id);
      if (!pending) return;
      this.#pending.delete(frame.id);
      const [status, ...fields] = decodeList(frame.payload);
      if (status.toString() === 'ok') pending.resolve(fields);
      else {
        const [code, message] = fields.map((f) => f.toString('utf8'));
        pending.reject(new HostOpError(code, `${this.hostName}: ${message}`));
        this.#streams.delete(frame.id);
      }
      return;
    }
    const stream = this.#streams.get(frame.id);
    if (!stream) return;
    if (frame.type === FrameType.exit) {
      this.#streams.delete(frame.id);
      this.#socketsEnded.delete(frame.id);
      stream.exit(decodeList(frame.payload));
    } else stream.data(frame.type, frame.payload);
  }

  #send(id: number, type: (typeof FrameType)[keyof typeof FrameType], payload?: Buffer): void {
    // Nothing after close: the stream's end (a pg session's, say) may come a tick after the agent's input ended.
    if (this.#dead || this.#closing) return;
    this.#queue(encodeFrame(id, type, payload));
  }

  #queue(bytes: Buffer): void {
    this.#outgoing.push(bytes);
    this.#outgoingBytes += bytes.length;
    if (this.#outgoingBytes >= 1 << 18) this.#flush();
    else this.#flushing ??= setImmediate(() => this.#flush());
  }

  #flush(): void {
    if (this.#flushing) clearImmediate(this.#flushing);
    this.#flushing = null;
    const frames = this.#outgoing;
    if (frames.length === 0) return;
    this.#outgoing = [];
    this.#outgoingBytes = 0;
    if (!this.#dead) this.transport.stdin.write(frames.length === 1 ? frames[0] : Buffer.concat(frames));
  }

  /** One request; resolves with the answer's fields after 'ok'. */
  async request(what: string, items: Array<string | Buffer | number>): Promise<Buffer[]> {
    return (await this.#start(what, items)).answer;
  }

  /**
   * Send a request; its id is known at once, its answer comes later. It need not wait for the agent's hello: the
   * agent reads its input in order, so a request written behind its code is read once it runs.
   */
  async #start(what: string, items: Array<string | Buffer | number>, stream?: StreamHandlers): Promise<{ id: number; answer: Promise<Buffer[]> }> {
    if (this.#dead) throw this.#dead;
    const id = this.#nextId++;
    if (stream) this.#streams.set(id, stream);
    const answer = new Promise<Buffer[]>((resolve, reject) => this.#pending.set(id, { resolve, reject, what }));
    this.#send(id, FrameType.request, encodeList(items));
    return { id, answer };
  }

  // Typed host operations.

  async stat(path: string): Promise<FileStat | null> {
    const [state, ...fields] = await this.request(`stat ${path}`, ['stat', path]);
    if (state.toString() !== 'present') return null;
    return statFrom(fields.map(String));
  }

  async readFile(path: string, maxBytes = 0): Promise<FileContent | null> {
    const [state, ...fields] = await this.request(`read ${path}`, ['read', path, maxBytes]);
    if (state.toString() !== 'present') return null;
    return { ...statFrom(fields.slice(0, 9).map(String)), content: fields[9] };
  }

  async list(path: string): Promise<string[] | null> {
    const [state, ...names] = await this.request(`list ${path}`, ['list', path]);
    return state.toString() === 'present' ? names.map((n) => n.toString('utf8')) : null;
  }

  async writeFile(path: string, content: string | Buffer | Secret, options: WriteOptions = {}): Promise<void> {
    const bytes = content instanceof Secret ? Buffer.from(content.reveal()) : Buffer.isBuffer(content) ? content : Buffer.from(content, 'utf8');
    await this.request(`write ${path}`, ['write', path, options.mode ?? '', options.owner ?? '', options.group ?? '', bytes]);
  }

  async move(from: string, to: string): Promise<void> {
    await this.request(`move ${from}`, ['move', from, to]);
  }

  async mkdir(path: string, options: WriteOptions = {}): Promise<'created' | 'exists'> {
    const [state] = await this.request(`mkdir ${path}`, ['mkdir', path, options.mode ?? '', options.owner ?? '', options.group ?? '']);
    return state.toString() === 'created' ? 'created' : 'exists';
  }

  async remove(path: string, options: { recursive?: boolean } = {}): Promise<'removed' | 'absent'> {
    const [state] = await this.request(`remove ${path}`, ['remove', path, options.recursive ? '1' : '']);
    return state.toString() === 'removed' ? 'removed' : 'absent';
  }

  /** Hold a lock file until the agent ends; a bare name goes in the agent's own lock directory. */
  async lock(name: string, waitSeconds: number): Promise<string> {
    const [, path] = await this.request(`lock ${name}`, ['lock', name, Math.max(0, Math.floor(waitSeconds))]);
    return path.toString('utf8');
  }

  async unlock(path: string): Promise<void> {
    await this.request(`unlock ${path}`, ['unlock', path]);
  }

  /** Set (or with null, clear) what the agent puts back should this client go away in the middle of a change. */
  async guard(name: string, actions: GuardAction[] | null): Promise<void> {
    const encoded = (actions ?? []).map((a) => (a.kind === 'remove' ? `remove\t${a.path}` : `move\t${a.from}\t${a.to}`));
    await this.request(`guard ${name}`, ['guard', name, actions ? 'set' : 'clear', ...encoded]);
  }

  async run(argv: string[], options: RunOptions = {}): Promise<RunResult> {
    const started = Date.now();
    const command = describeArgv(argv, options.as);
    const result = (exitCode: number | null, signal: string | null, out: { stdout: string; stderr: string; timedOut: boolean }): RunResult => ({
      command,
      exitCode,
      signal,
      ...out,
      durationMs: Date.now() - started,
      failed: out.timedOut || exitCode !== 0,
    });
    if (options.signal?.aborted) return result(null, 'SIGTERM', { stdout: '', stderr: 'aborted before it started', timedOut: false });
    const decoders = { O: new StringDecoder('utf8'), e: new StringDecoder('utf8') };
    let stdout = '';
    let stderr = '';
    let timedOut = false;
    const add = (type: string, text: string) => {
      if (!text) return;
      if (type === FrameType.stdout) stdout += text;
      else stderr += text;
      options.onOutput?.(text, type === FrameType.stdout ? 'stdout' : 'stderr');
    };
    let settle: (r: RunResult) => void = () => undefined;
    let fail: (err: Error) => void = () => undefined;
    const finished = new Promise<RunResult>((resolve, reject) => {
      settle = resolve;
      fail = reject;
    });
    // Awaited below once the agent said it started; when it never does, the answer carries the error.
    finished.catch(() => undefined);
    const timers: NodeJS.Timeout[] = [];
    const handlers: StreamHandlers = {
      what: command,
      data: (type, chunk) => add(type, decoders[type as 'O' | 'e']?.write(chunk) ?? ''),
      exit: (fields) => {
        add('O', decoders.O.end());
        add('e', decoders.e.end());
        const [code, signal] = fields.map(String);
        settle(result(code === '' ? null : Number(code), signal || null, { stdout, stderr, timedOut }));
      },
      lost: (err) => fail(err),
    };
    const env = Object.entries(options.env ?? {}).flat();
    const hasStdin = options.stdin !== undefined;
    const { id, answer } = await this.#start(command, ['run', options.as ?? '', options.cwd ?? '', hasStdin ? '1' : '', env.length / 2, ...env, ...argv], handlers);
    if (hasStdin) {
      const input = options.stdin instanceof Secret ? Buffer.from(options.stdin.reveal()) : Buffer.from(options.stdin as string | Buffer);
      for (let at = 0; at < input.length; at += 1 << 20) this.#send(id, FrameType.input, input.subarray(at, at + (1 << 20)));
      this.#send(id, FrameType.endInput);
    }
    const stop = () => {
      this.#send(id, FrameType.kill, Buffer.from('TERM'));
      timers.push(setTimeout(() => this.#send(id, FrameType.kill, Buffer.from('KILL')), KILL_GRACE_MS));
    };
    timers.push(
      setTimeout(() => {
        timedOut = true;
        stop();
      }, options.timeoutMs ?? DEFAULT_TIMEOUT_MS),
    );
    options.signal?.addEventListener('abort', stop, { once: true });
    if (options.signal?.aborted) stop();
    try {
      await answer;
      return await finished;
    } finally {
      for (const t of timers) clearTimeout(t);
      options.signal?.removeEventListener('abort', stop);
    }
  }

  /** A byte stream to a unix socket on the host, connected as the given user (PostgreSQL's peer authentication). */
  async connectUnix(path: string, as?: string): Promise<Duplex> {
    const opening = openingStream();
    const { id, answer } = await this.#start(`connect to ${path}`, ['unix', path, as ?? ''], opening.handlers);
    await answer;
    return opening.attach(this.#streamOf(id));
  }

  /** A TCP connection opened from the host itself; refused, timed out or unreachable is data, as the exit code of a command is. */
  async connectTcp(host: string, port: number, timeoutMs: number): Promise<TcpConnectResult> {
    const opening = openingStream();
    const { id, answer } = await this.#start(`connect to ${host} port ${port}`, ['tcp', host, String(port), String(timeoutMs)], opening.handlers);
    const [state, ...fields] = (await answer).map((f) => f.toString('utf8'));
    if (state !== 'connected') {
      this.#streams.delete(id);
      const [code, message, localAddress] = fields;
      return { connected: false, code, message, localAddress };
    }
    return { connected: true, stream: opening.attach(this.#streamOf(id)), localAddress: fields[0] };
  }

  /** The duplex stream of an opened connection: what is written goes to the agent as that request's input. */
  #streamOf(id: number): AgentStream {
    return new AgentStream(
      (chunk) => this.#send(id, FrameType.input, chunk),
      () => {
        this.#socketsEnded.add(id);
        this.#send(id, FrameType.endInput);
      },
      () => this.#send(id, FrameType.kill, Buffer.from('TERM')),
    );
  }

  /** End the agent's input: it stops what still runs and exits; wait for that, then let go of the transport. */
  async close(options: CloseOptions = {}): Promise<void> {
    if (this.#pinger) clearInterval(this.#pinger);
    this.#pinger = null;
    this.#closing = true;
    this.#flush();
    this.transport.stdin.end();
    // At a run's end, an agent with nothing running (a SQL session's socket whose end was sent counts as done: the
    // agent writes what it was sent, then closes it) ends by itself at the end of its input, letting go of its locks
    // as it ends: its end is not waited for (a run's last tens of milliseconds, while the hosts are busy).
    if (options.wait === false && this.#pending.size === 0 && [...this.#streams.keys()].every((id) => this.#socketsEnded.has(id))) {
      // Those sockets end here, as when the agent says it closed them.
      for (const [id, stream] of this.#streams) {
        this.#streams.delete(id);
        stream.exit([]);
      }
      this.#fail(new Error(`the agent on ${this.hostName} was closed`));
      return;
    }
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([this.transport.ended, new Promise((r) => (timer = setTimeout(r, KILL_GRACE_MS + 2000)))]);
    clearTimeout(timer);
    this.transport.kill();
    this.#fail(new Error(`the agent on ${this.hostName} was closed`));
  }
}

export const DEFAULT_TIMEOUT_MS = 120_000;

/** A Duplex over one agent stream: writes become input frames, output frames become reads. */
export class AgentStream extends Duplex {
  constructor(
    private readonly write_: (chunk: Buffer) => void,
    private readonly end_: () => void,
    private readonly kill_: () => void,
  ) {
    super({ allowHalfOpen: false });
  }

  override _read(): void {
    // Frames are pushed as they arrive: the agent's channel has its own flow control.
  }

  override _write(chunk: Buffer, _enc: BufferEncoding, done: (err?: Error | null) => void): void {
    this.write_(chunk);
    done();
  }

  /** What was written while corked (pg writes a query's Parse, Bind, Execute and Sync so) goes as one frame. */
  override _writev(chunks: Array<{ chunk: Buffer }>, done: (err?: Error | null) => void): void {
    this.write_(chunks.length === 1 ? chunks[0].chunk : Buffer.concat(chunks.map((c) => c.chunk)));
    done();
  }

  override _final(done: (err?: Error | null) => void): void {
    this.end_();
    done();
  }

  override _destroy(err: Error | null, done: (err?: Error | null) => void): void {
    this.kill_();
    done(err);
  }
}

/** What the agent's own start said, with what to do when it is a missing perl or a sudo that wants a password. */
export function whyNoAgent(stderr: string, code: number | null): string {
  if (/perl: (command )?not found|perl: No such file/.test(stderr) || code === 127) {
    return `${stderr || 'perl was not found'}: pgplay's host agent needs perl (Debian and Ubuntu have it: perl-base; RHEL: dnf install perl-interpreter)`;
  }
  if (/a password is required|a terminal is required/.test(stderr)) {
    return `${stderr}: the login user needs passwordless sudo, or give the sudo password with become_password_env: NAME`;
  }
  return stderr || (code === null ? '' : `exit ${code}`);
}

function statFrom(fields: string[]): FileStat {
  const [type, mode, uid, gid, owner, group, size, mtime, identity] = fields;
  return { type: type as FileStat['type'], mode, uid: Number(uid), gid: Number(gid), owner, group, size: Number(size), mtimeMs: Number(mtime) * 1000, identity };
}

function parseHello(fields: Buffer[]): HostFacts {
  const [name, protocol, uid, user, hostname, osId, osLike, osVersion, arch, perl] = fields.map(String);
  if (name !== 'pgplay-agent') throw new Error(`the host agent said ${JSON.stringify(name)} instead of hello`);
  if (Number(protocol) !== PROTOCOL_VERSION) throw new Error(`the host agent speaks protocol ${protocol}, pgplay ${PROTOCOL_VERSION}`);
  return { uid: Number(uid), user, hostname, os: { id: osId, like: osLike.split(/\s+/).filter(Boolean), version: osVersion }, arch, perl };
}
