import type { Readable, Writable } from 'node:stream';
import type { Command } from './command';

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
  /** Kill the command after this long; every remote call has one (default 120 s). */
  timeoutMs?: number;
  /** Called with each chunk of stdout/stderr as it arrives (progress of long steps). */
  onOutput?: (chunk: string, stream: 'stdout' | 'stderr') => void;
  signal?: AbortSignal;
}

/** A running command whose streams the caller drives (SQL relay, long jobs). */
export interface Channel {
  stdin: Writable;
  stdout: Readable;
  stderr: Readable;
  /** Resolves with the exit code (null when killed by a signal). */
  exited: Promise<number | null>;
  kill(): void;
}

/** A connection is small: run a command, open a channel, close. Files travel through stdin (see files.ts). */
export interface Connection {
  readonly kind: 'local' | 'ssh';
  readonly hostName: string;
  run(command: Command, options?: RunOptions): Promise<RunResult>;
  open(command: Command): Promise<Channel>;
  close(): Promise<void>;
}

export const DEFAULT_TIMEOUT_MS = 120_000;
