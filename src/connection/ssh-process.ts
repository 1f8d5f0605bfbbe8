// One command on an ssh exec channel: its streams, its exit, and how to stop it for real on the remote side.
import { Writable } from 'node:stream';
import type { ClientChannel } from 'ssh2';
import type { Become } from './command';
import { GroupMarkerFilter, killLine } from './remote-process';

/** How long a stopped command gets after SIGTERM before SIGKILL, and again before pgplay stops waiting for it. */
export const KILL_GRACE_MS = 3000;

export interface RemoteExit {
  code: number | null;
  signal: string | null;
  /** The connection went away before the command's end was known. */
  lost: boolean;
}

/** stdin that never leaves a writer waiting: ssh2 drops the callback of a write to a closed channel. */
class ChannelStdin extends Writable {
  #pending: (() => void) | null = null;
  #gone = false;

  constructor(private readonly channel: ClientChannel) {
    super();
  }

  override _write(chunk: Buffer, _enc: BufferEncoding, done: (err?: Error | null) => void): void {
    if (this.#gone || this.channel.writableEnded) return done();
    this.#pending = done;
    this.channel.write(chunk, () => this.#release());
  }

  override _final(done: (err?: Error | null) => void): void {
    if (!this.#gone && !this.channel.writableEnded) this.channel.end();
    done();
  }

  gone(): void {
    this.#gone = true;
    this.#release();
  }

  #release(): void {
    const pending = this.#pending;
    this.#pending = null;
    pending?.();
  }
}

export class RemoteProcess {
  readonly stdin: ChannelStdin;
  readonly stderr: GroupMarkerFilter;
  /** The command's exit status arrived (its output may still be in flight). */
  readonly exited: Promise<RemoteExit>;
  /** The channel closed: all output has been delivered to readers, or the command was given up on. */
  readonly closed: Promise<RemoteExit>;
  #exited!: (exit: RemoteExit) => void;
  #closed!: (exit: RemoteExit) => void;
  #done = false;
  /** Once the command exited its process group may be reused: never signal it again. */
  #exit: RemoteExit | null = null;
  #pgid: number | null = null;
  #wanted: 'TERM' | 'KILL' | null = null;
  #stopping = false;
  #timers: NodeJS.Timeout[] = [];

  constructor(
    readonly channel: ClientChannel,
    /** Also signal the group as this user (a non-root login with become). */
    private readonly killAs: Become | undefined,
    /** Runs a kill line on the same connection, outside the channel queue. */
    private readonly sendKill: (line: string) => Promise<void>,
  ) {
    this.exited = new Promise((resolve) => (this.#exited = resolve));
    this.closed = new Promise((resolve) => (this.#closed = resolve));
    this.stdin = new ChannelStdin(channel);
    this.stdin.on('error', () => undefined);
    channel.on('error', () => undefined); // a write racing the channel's close: the exit tells what happened
    this.stderr = new GroupMarkerFilter((pgid) => this.#onGroup(pgid));
    channel.stderr.pipe(this.stderr);
    // ssh2 emits close only once stdout was read to its end; a reader of open() may never do that.
    channel.on('exit', (code?: number | null, signal?: string) => {
      this.#exit = exitOf(code, signal);
      this.#exited(this.#exit);
    });
    channel.on('close', (code?: number | null, signal?: string) => {
      if (code === undefined && signal === undefined) this.connectionLost();
      else this.#finish(exitOf(code, signal));
    });
  }

  get pgid(): number | null {
    return this.#pgid;
  }

  get done(): boolean {
    return this.#done;
  }

  /** SIGTERM to the remote process group, SIGKILL after a grace period, then stop waiting; never hangs. */
  stop(): void {
    if (this.#stopping || this.#done) return;
    this.#stopping = true;
    // It exited, but what it started in the background holds its output open (so the group is alive): stop both.
    if (this.#exit) {
      if (this.#pgid !== null) void this.sendKill(killLine(this.#pgid, 'TERM', this.killAs));
      return this.#abandon(this.#exit);
    }
    this.#signal('TERM');
    this.#timers.push(setTimeout(() => this.#signal('KILL'), KILL_GRACE_MS));
    this.#timers.push(setTimeout(() => this.#abandon(this.#exit ?? { code: null, signal: 'SIGKILL', lost: false }), 2 * KILL_GRACE_MS));
  }

  /** The ssh connection closed under the command: its exit if it came, else lost (the remote watchdog stops it). */
  connectionLost(): void {
    this.#finish(this.#exit ?? { code: null, signal: null, lost: true }, true);
  }

  #abandon(exit: RemoteExit): void {
    this.channel.close();
    this.#finish(exit, true);
  }

  #onGroup(pgid: number): void {
    this.#pgid = pgid;
    if (this.#wanted) this.#signal(this.#wanted);
  }

  #signal(signal: 'TERM' | 'KILL'): void {
    if (this.#done || this.#exit) return;
    if (this.#pgid === null) {
      this.#wanted = signal; // sent as soon as the wrapper says its group
      return;
    }
    void this.sendKill(killLine(this.#pgid, signal, this.killAs));
  }

  #finish(exit: RemoteExit, abandoned = false): void {
    if (this.#done) return;
    this.#done = true;
    for (const t of this.#timers) clearTimeout(t);
    this.stdin.gone();
    if (abandoned) {
      // ssh2 may never end these streams now: end ours so that readers finish.
      this.channel.stderr.unpipe(this.stderr);
      this.stderr.end();
    }
    this.#exited(exit);
    this.#closed(exit);
  }
}

function exitOf(code: number | null | undefined, signal: string | undefined): RemoteExit {
  return { code: code ?? null, signal: signal ? (signal.startsWith('SIG') ? signal : `SIG${signal}`) : null, lost: false };
}
