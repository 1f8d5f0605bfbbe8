// Typed host operations: what modules ask of a host. `local` and `ssh` implement them through the host agent.
import type { Duplex } from 'node:stream';
import type { Secret } from '../secrets';

/** What running a command returns: a non-zero exit is data, not an exception. */
export interface RunResult {
  command: string; // for people, no secret
  exitCode: number | null;
  signal: string | null;
  stdout: string;
  stderr: string;
  durationMs: number;
  timedOut: boolean;
  failed: boolean; // exitCode !== 0 or timed out or killed
}

export interface RunOptions {
  /** The OS user to run as; the agent switches to it itself (no sudo per command). Default: the agent's user. */
  as?: string;
  /** Environment for the command, on top of a clean one; it travels in the request, never on a command line. */
  env?: Record<string, string>;
  /** Data for the command's standard input: the way a secret reaches a command. */
  stdin?: string | Buffer | Secret;
  /** Working directory (default /). */
  cwd?: string;
  /** Kill the command after this long (default 120 s). */
  timeoutMs?: number;
  /** Called with each chunk of stdout/stderr as it arrives (progress of long steps). */
  onOutput?: (chunk: string, stream: 'stdout' | 'stderr') => void;
  signal?: AbortSignal;
}

export interface FileStat {
  type: 'file' | 'directory' | 'link' | 'other';
  mode: string; // octal, 4 digits: '0600'
  uid: number;
  gid: number;
  owner: string;
  group: string;
  size: number;
  mtimeMs: number;
  /** device:inode, to tell whether two paths name the same file. */
  identity: string;
}

export interface FileContent extends FileStat {
  content: Buffer;
}

export interface WriteOptions {
  owner?: string;
  group?: string;
  mode?: string; // octal, e.g. "0600"; default: the existing file's, else 0644
}

/** A TCP connect from a host: the stream, or why not (ECONNREFUSED, ETIMEDOUT, EHOSTUNREACH, EAI...); the address it left from. */
export type TcpConnectResult =
  | { connected: true; stream: Duplex; localAddress: string }
  | { connected: false; code: string; message: string; localAddress: string };

export type GuardAction = { kind: 'remove'; path: string } | { kind: 'move'; from: string; to: string };

/** What the host's agent said about itself when it started. */
export interface HostFacts {
  uid: number;
  user: string;
  hostname: string;
  os: { id: string; like: string[]; version: string };
  arch: string;
  perl: string;
}

export interface Connection {
  readonly kind: 'local' | 'ssh';
  readonly hostName: string;
  /** The agent's own account of the host (starts the agent when it is not running yet). */
  facts(): Promise<HostFacts>;
  run(argv: string[], options?: RunOptions): Promise<RunResult>;
  /** The file's bytes with its owner and mode, or null when there is none. */
  readFile(path: string, options?: { maxBytes?: number }): Promise<FileContent | null>;
  /** Atomic: a temporary file beside it, owner and mode set, flushed, renamed over it. */
  writeFile(path: string, content: string | Buffer | Secret, options?: WriteOptions): Promise<void>;
  /** Rename; refuses when the target exists, so a directory is never nested inside another. */
  move(from: string, to: string): Promise<void>;
  stat(path: string): Promise<FileStat | null>;
  /** Names in a directory, or null when there is none. */
  list(path: string): Promise<string[] | null>;
  mkdir(path: string, options?: WriteOptions): Promise<'created' | 'exists'>;
  remove(path: string, options?: { recursive?: boolean }): Promise<'removed' | 'absent'>;
  /** Hold a lock until the connection closes; a bare name lives in a directory only root can write. */
  lock(name: string, waitSeconds: number): Promise<string>;
  /** Let go of a lock taken with lock() before the connection closes. */
  unlock(path: string): Promise<void>;
  /**
   * What the host puts back by itself should pgplay go away in the middle of a change (a dropped connection,
   * pgplay killed): actions run in reverse order; null clears them.
   */
  guard(name: string, actions: GuardAction[] | null): Promise<void>;
  /** A byte stream to a unix socket on the host, connected as that user (PostgreSQL's peer authentication). */
  connectUnix(path: string, options?: { as?: string }): Promise<Duplex>;
  /** A TCP connection opened from the host itself (its address, routes and firewall): whether it connected is data. */
  connectTcp(host: string, port: number, options?: { timeoutMs?: number }): Promise<TcpConnectResult>;
  /**
   * End the connection. By default, once the host's side has ended (its agent gone, its locks let go); with
   * `{ wait: false }` (a run's end, just before pgplay exits), an idle agent is told to end and not waited for.
   */
  close(options?: CloseOptions): Promise<void>;
  /**
   * Hold what is written to the host until close() ends the connection: at a run's end the SQL sessions' ends, the
   * agent's end of input and the goodbye then leave together (one packet a host instead of one each).
   */
  holdWrites?(): void;
}

export interface CloseOptions {
  wait?: boolean;
}

/** A host operation the host refused: `code` is the errno name (ENOENT, EEXIST, EACCES, EBUSY, ...). */
export class HostOpError extends Error {
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(message);
    this.name = 'HostOpError';
  }
}

export const DEFAULT_TIMEOUT_MS = 120_000;
