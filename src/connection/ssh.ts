// One ssh connection per host for the whole run (ssh2), every command a channel on it; host keys checked first.
import { readFileSync } from 'node:fs';
import { StringDecoder } from 'node:string_decoder';
import { Client, type AuthenticationType, type ClientChannel, type ConnectConfig, type ServerHostKeyAlgorithm } from 'ssh2';
import { describeCommand, stdinOf, toShellLine, type Command } from './command';
import { decideHostKey, hostKeyAlgorithms } from './host-key-policy';
import { wrapForRemote } from './remote-process';
import { connectFailure, unreachable, type SshTarget } from './ssh-errors';
import type { SshOptions } from './ssh-options';
import { RemoteProcess } from './ssh-process';
import { Slots } from './slots';
import { DEFAULT_TIMEOUT_MS, type Channel, type Connection, type RunOptions, type RunResult } from './types';

export type { SshOptions } from './ssh-options';

/** sshd's MaxSessions defaults to 10 per connection; two stay free for kill requests. */
export const MAX_CHANNELS = 8;
const KILL_REQUEST_TIMEOUT_MS = 5000;
const OPEN_ATTEMPTS = 10;

let connectionsOpened = 0;

/** ssh connections this process has opened so far (tests and the benchmark). */
export function sshConnectionsOpened(): number {
  return connectionsOpened;
}

export class SshConnection implements Connection {
  readonly kind = 'ssh' as const;
  #client: Client | null = null;
  #connecting: Promise<Client> | null = null;
  #slots = new Slots(MAX_CHANNELS);
  /** Running commands, with the client they run on (a closed client loses only its own). */
  #processes = new Map<RemoteProcess, Client>();
  #killQueue: string[] = [];
  #killing: Promise<void> | null = null;

  constructor(
    readonly hostName: string,
    readonly options: SshOptions,
  ) {}

  get #target(): SshTarget {
    return { hostName: this.hostName, address: this.options.address, port: this.options.port, user: this.options.user };
  }

  async run(command: Command, options: RunOptions = {}): Promise<RunResult> {
    const started = Date.now();
    const description = describeCommand(command);
    const result = (exitCode: number | null, signal: string | null, out: { stdout: string; stderr: string; timedOut: boolean }): RunResult => ({
      command: description,
      exitCode,
      signal,
      ...out,
      durationMs: Date.now() - started,
      failed: out.timedOut || exitCode !== 0,
    });
    if (options.signal?.aborted) return result(null, 'SIGTERM', { stdout: '', stderr: 'aborted before it started', timedOut: false });
    const { process: proc, release } = await this.#start(command, description);
    let stdout = '';
    let stderr = '';
    let timedOut = false;
    const collect = (stream: NodeJS.ReadableStream, name: 'stdout' | 'stderr') => {
      const decoder = new StringDecoder('utf8');
      const add = (text: string) => {
        if (!text) return;
        if (name === 'stdout') stdout += text;
        else stderr += text;
        options.onOutput?.(text, name);
      };
      stream.on('data', (chunk: Buffer) => add(decoder.write(chunk)));
      stream.on('end', () => add(decoder.end()));
    };
    collect(proc.channel, 'stdout');
    collect(proc.stderr, 'stderr');
    const timer = setTimeout(() => {
      timedOut = true;
      proc.stop();
    }, options.timeoutMs ?? DEFAULT_TIMEOUT_MS);
    const onAbort = () => proc.stop();
    options.signal?.addEventListener('abort', onAbort, { once: true });
    if (options.signal?.aborted) onAbort(); // aborted while it waited for the connection or a channel
    proc.stdin.end(stdinOf(command));
    try {
      const exit = await proc.closed;
      if (exit.lost) throw unreachable(this.#target, `connection lost while running: ${description}`);
      return result(exit.code, exit.signal, { stdout, stderr, timedOut });
    } finally {
      clearTimeout(timer);
      options.signal?.removeEventListener('abort', onAbort);
      release();
    }
  }

  async open(command: Command): Promise<Channel> {
    const { process: proc, release } = await this.#start(command, describeCommand(command));
    const first = command.become?.password ? stdinOf({ argv: [], become: command.become }) : undefined;
    if (first !== undefined) proc.stdin.write(first);
    return {
      stdin: proc.stdin,
      stdout: proc.channel,
      stderr: proc.stderr,
      exited: proc.exited.then((exit) => {
        release();
        return exit.code;
      }),
      kill: () => proc.stop(),
    };
  }

  /** Stop what still runs (one kill request for all), then end the connection; a later call connects again. */
  async close(): Promise<void> {
    const running = [...this.#processes.keys()];
    running.forEach((p) => p.stop());
    await Promise.race([Promise.all(running.map((p) => p.exited)), delay(KILL_REQUEST_TIMEOUT_MS, { unref: true })]);
    const client = this.#client ?? (await this.#connecting?.catch(() => null)) ?? null;
    this.#client = null;
    if (!client) return;
    await new Promise<void>((resolve) => {
      const timer = setTimeout(() => {
        client.destroy();
        resolve();
      }, 2000);
      client.once('close', () => {
        clearTimeout(timer);
        resolve();
      });
      client.end();
    });
  }

  /** Connect (once), take a channel slot, exec the wrapped command line. */
  async #start(command: Command, description: string): Promise<{ process: RemoteProcess; release: () => void }> {
    const client = await this.#connect();
    const release = await this.#slots.acquire();
    const line = wrapForRemote(toShellLine(command));
    let channel: ClientChannel | null = null;
    for (let attempt = 1; !channel; attempt++) {
      try {
        channel = await new Promise<ClientChannel>((resolve, reject) => client.exec(line, (err, ch) => (err ? reject(err) : resolve(ch))));
      } catch (err) {
        // sshd frees a session a moment after its channel closes, so a refused open is retried briefly.
        const refused = typeof (err as { reason?: unknown }).reason === 'number';
        if (this.#client === client && refused && attempt < OPEN_ATTEMPTS) {
          await delay(20 * attempt);
          continue;
        }
        release();
        if (this.#client !== client) throw unreachable(this.#target, `connection lost before running: ${description}`, err);
        throw new Error(`${this.hostName}: the server refused a session channel for ${description}: ${(err as Error).message}`, { cause: err });
      }
    }
    // root signals every process; another login user also kills as the become user, who owns what sudo started.
    const killAs = this.options.user === 'root' ? undefined : command.become;
    const proc = new RemoteProcess(channel, killAs, (line) => this.#sendKill(line));
    this.#processes.set(proc, client);
    void proc.closed.then(() => this.#processes.delete(proc));
    return { process: proc, release };
  }

  #connect(): Promise<Client> {
    if (this.#client) return Promise.resolve(this.#client);
    this.#connecting ??= this.#dial().finally(() => (this.#connecting = null));
    return this.#connecting;
  }

  #dial(): Promise<Client> {
    if (this.options.proxyJump.length === 0) return this.#dialThrough();
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const { jumpSocket } = require('./ssh-jump') as typeof import('./ssh-jump');
    return jumpSocket(this.hostName, this.options).then(({ sock, release }) => this.#dialThrough(sock, release));
  }

  /** Connect directly, or over sock (a channel through bastions) given back with release when the connection ends. */
  #dialThrough(sock?: import('node:stream').Duplex, release?: () => void): Promise<Client> {
    const o = this.options;
    const target = this.#target;
    return new Promise((resolve, reject) => {
      const client = new Client();
      let settled = false;
      let hostKeyProblem: string | null = null;
      const fail = (what: string, cause?: unknown) => {
        if (settled) return;
        settled = true;
        client.destroy();
        release?.();
        reject(unreachable(target, what, cause));
      };
      const methods: AuthenticationType[] = [];
      const config: ConnectConfig = {
        host: o.address,
        port: o.port,
        username: o.user,
        readyTimeout: o.connectTimeoutMs,
        keepaliveInterval: o.keepaliveIntervalMs,
        keepaliveCountMax: o.keepaliveCountMax,
        algorithms: { serverHostKey: hostKeyAlgorithms(o.address, o.port, o) as ServerHostKeyAlgorithm[], ...(o.compression ? { compress: ['zlib@openssh.com', 'zlib', 'none'] } : {}) },
        ...(o.addressFamily ? { [o.addressFamily === 'inet' ? 'forceIPv4' : 'forceIPv6']: true } : {}),
        ...(sock ? { sock } : {}),
        hostVerifier: (key: Buffer) => {
          const decision = decideHostKey(o.address, o.port, key, o);
          if (!decision.trusted) hostKeyProblem = decision.reason;
          return decision.trusted;
        },
      };
      if (o.privateKeyFile) {
        try {
          config.privateKey = readFileSync(o.privateKeyFile);
        } catch (err) {
          return fail(`cannot read private key ${o.privateKeyFile} (${(err as NodeJS.ErrnoException).code ?? 'error'})`, err);
        }
        methods.push('publickey');
      }
      if (o.agent) {
        config.agent = o.agent;
        methods.push('agent');
      }
      if (o.password) {
        config.password = o.password.reveal();
        methods.push('password');
      }
      const unsetPassword = o.passwordEnv && !o.password ? o.passwordEnv : undefined;
      config.authHandler = methods;
      client.once('ready', () => {
        settled = true;
        connectionsOpened++;
        this.#client = client;
        resolve(client);
      });
      client.on('error', (err) => fail(hostKeyProblem ?? connectFailure(target, err, { timeoutMs: o.connectTimeoutMs, methods, unsetPassword }), err));
      client.on('close', () => {
        release?.();
        fail(hostKeyProblem ?? 'the server closed the connection');
        if (this.#client === client) this.#client = null;
        for (const [p, c] of this.#processes) if (c === client) p.connectionLost();
      });
      try {
        client.connect(config);
        // Small writes (the handshake's service request, a SQL query's Parse, Bind, Execute) must not wait 40 ms
        // for a delayed ACK: without this, every connection and every parameterised query stalled.
        client.setNoDelay(true);
      } catch (err) {
        const message = (err as Error).message;
        fail(/encrypted|passphrase/i.test(message) ? `private key ${o.privateKeyFile} is encrypted: load it into ssh-agent instead` : `cannot use the private key: ${message}`, err);
      }
    });
  }

  /** Kill requests from one moment go out as one exec, bypassing the channel queue. */
  #sendKill(line: string): Promise<void> {
    this.#killQueue.push(line);
    this.#killing ??= (async () => {
      await Promise.resolve();
      while (this.#killQueue.length > 0) await this.#execQuietly(this.#killQueue.splice(0).join('; '));
      this.#killing = null;
    })();
    return this.#killing;
  }

  #execQuietly(line: string): Promise<void> {
    const client = this.#client;
    if (!client) return Promise.resolve();
    return new Promise((resolve) => {
      const timer = setTimeout(resolve, KILL_REQUEST_TIMEOUT_MS);
      const done = () => {
        clearTimeout(timer);
        resolve();
      };
      try {
        client.exec(line, (err, ch) => {
          if (err) return done();
          ch.on('error', () => undefined);
          ch.on('close', done).resume();
          ch.stderr.resume();
          ch.end();
        });
      } catch {
        done();
      }
    });
  }
}

function delay(ms: number, options: { unref?: boolean } = {}): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(resolve, ms);
    if (options.unref) timer.unref();
  });
}
