import { spawn } from 'node:child_process';
import { describeCommand, stdinOf, toArgv, type Command } from './command';
import { DEFAULT_TIMEOUT_MS, type Channel, type Connection, type RunOptions, type RunResult } from './types';

/** Runs commands as child processes on this machine. */
export class LocalConnection implements Connection {
  readonly kind = 'local' as const;
  #children = new Set<ReturnType<typeof spawn>>();

  constructor(readonly hostName: string) {}

  run(command: Command, options: RunOptions = {}): Promise<RunResult> {
    const started = Date.now();
    const [file, ...args] = toArgv(command);
    const child = spawn(file, args, { stdio: ['pipe', 'pipe', 'pipe'], detached: true });
    this.#children.add(child);
    let stdout = '';
    let stderr = '';
    let timedOut = false;
    const timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
    const timer = setTimeout(() => {
      timedOut = true;
      killTree(child.pid);
    }, timeoutMs);
    const onAbort = () => killTree(child.pid);
    options.signal?.addEventListener('abort', onAbort, { once: true });
    child.stdout.setEncoding('utf8').on('data', (c: string) => {
      stdout += c;
      options.onOutput?.(c, 'stdout');
    });
    child.stderr.setEncoding('utf8').on('data', (c: string) => {
      stderr += c;
      options.onOutput?.(c, 'stderr');
    });
    child.stdin.on('error', () => undefined);
    writeStdin(child.stdin, stdinOf(command));
    return new Promise((resolve) => {
      const finish = (exitCode: number | null, signal: string | null, spawnError?: Error) => {
        clearTimeout(timer);
        options.signal?.removeEventListener('abort', onAbort);
        this.#children.delete(child);
        if (spawnError) stderr += spawnError.message;
        resolve({
          command: describeCommand(command),
          exitCode,
          signal,
          stdout,
          stderr,
          durationMs: Date.now() - started,
          timedOut,
          failed: timedOut || exitCode !== 0,
        });
      };
      child.on('error', (err) => finish(127, null, err));
      child.on('close', (code, signal) => finish(code, signal));
    });
  }

  async open(command: Command): Promise<Channel> {
    const [file, ...args] = toArgv(command);
    const child = spawn(file, args, { stdio: ['pipe', 'pipe', 'pipe'], detached: true });
    this.#children.add(child);
    const exited = new Promise<number | null>((resolve) => {
      child.on('error', () => resolve(127));
      child.on('close', (code) => {
        this.#children.delete(child);
        resolve(code);
      });
    });
    child.stdin.on('error', () => undefined);
    if (command.become?.password) child.stdin.write(stdinOf({ argv: [], become: command.become }) as string);
    return { stdin: child.stdin, stdout: child.stdout, stderr: child.stderr, exited, kill: () => killTree(child.pid) };
  }

  async close(): Promise<void> {
    for (const child of this.#children) killTree(child.pid);
    this.#children.clear();
  }
}

function writeStdin(stdin: NodeJS.WritableStream, data: string | Buffer | undefined): void {
  if (data === undefined) stdin.end();
  else stdin.end(data);
}

// Children run in their own process group so that a timeout or interrupt stops sudo and what it started.
function killTree(pid: number | undefined): void {
  if (!pid) return;
  try {
    process.kill(-pid, 'SIGTERM');
  } catch {
    try {
      process.kill(pid, 'SIGTERM');
    } catch {
      /* already gone */
    }
  }
}
