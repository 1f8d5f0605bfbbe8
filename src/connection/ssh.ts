// One ssh connection per host for the whole run (ssh2), carrying one exec channel: the host agent. Host keys are checked
// first. With ControlPersist the connection is the keeper's (keeper.ts), kept between runs with the agent it carried.
import type { Client, ClientChannel } from 'ssh2';
import { AgentClient, KILL_GRACE_MS } from './agent-client';
import { agentSourceDigest } from './agent-protocol';
import { AgentConnection } from './agent-connection';
import { agentCommandLine, type Become } from './command';
import { takeEarlySocket } from './early-dial';
import { unreachable, type SshTarget } from './ssh-errors';
import type { SshOptions } from './ssh-options';
import type { CloseOptions } from './types';

export type { SshOptions } from './ssh-options';

let connectionsOpened = 0;

/** ssh connections this process has opened so far (tests and the benchmark). */
export function sshConnectionsOpened(): number {
  return connectionsOpened;
}

/** How long holdWrites keeps a host's writes at most. */
const HELD_WRITES_MS = 100;

export class SshConnection extends AgentConnection {
  readonly kind = 'ssh' as const;
  #client: Client | null = null;
  #connecting: Promise<Client> | null = null;
  /** The socket to the keeper that carries the agent's channel, when the connection is kept (ControlPersist). */
  #kept: import('node:net').Socket | null = null;

  constructor(
    hostName: string,
    readonly options: SshOptions,
    /** How the agent gets root (or the become user) once per run; none when the login user already is. */
    readonly become?: Become,
  ) {
    super(hostName);
  }

  get #target(): SshTarget {
    return sshTarget(this.hostName, this.options);
  }

  /** One exec channel: the login shell execs perl (behind sudo or su when a become is set), which runs the agent. */
  protected async startAgent(): Promise<AgentClient> {
    const line = agentCommandLine(this.become);
    const lost = (what: string, stderr: string) => unreachable(this.#target, `${what}${stderr ? `: ${stderr}` : ''}`);
    if (this.options.persistSeconds !== undefined) {
      // eslint-disable-next-line @typescript-eslint/no-require-imports
      const { openKeptChannel } = require('./kept-connection') as typeof import('./kept-connection');
      // The agent is kept for the next run too, unless a become password starts it (each run gives its own).
      const agentSource = this.become?.password ? undefined : agentSourceDigest();
      const kept = await openKeptChannel({ hostName: this.hostName, options: this.options, command: line, agentSource }, this.#target);
      if (kept) {
        this.#kept = kept.socket;
        return new AgentClient(kept.transport, this.hostName, lost, this.become?.password);
      }
    }
    const client = await this.#connect();
    const channel = await new Promise<ClientChannel>((resolve, reject) =>
      client.exec(line, (err, ch) => (err ? reject(unreachable(this.#target, `the server refused a session channel: ${err.message}`, err)) : resolve(ch))),
    );
    channel.on('error', () => undefined);
    const ended = new Promise<number | null>((resolve) => {
      channel.on('exit', (code?: number | null) => resolve(code ?? null));
      channel.on('close', () => resolve(null));
    });
    const transport = { stdin: channel, stdout: channel, stderr: channel.stderr, ended, kill: () => channel.close() };
    return new AgentClient(transport, this.hostName, lost, this.become?.password);
  }

  /**
   * The agent's watchdog: pgplay pings it as often as ssh's keepalive probes the server, and it stops on its own
   * (its commands stopped, what it guards put back) after as many silent intervals as ssh waits, plus one.
   */
  protected override async afterStart(agent: AgentClient): Promise<void> {
    await agent.watch(this.#pingMs, this.#watchSeconds);
  }

  protected override lostAgentSeconds(): number {
    // Its watchdog, then its commands' grace to stop, then a margin.
    return this.#watchSeconds + KILL_GRACE_MS / 1000 + 5;
  }

  get #pingMs(): number {
    return this.options.keepaliveIntervalMs > 0 ? this.options.keepaliveIntervalMs : 15_000;
  }

  get #watchSeconds(): number {
    return Math.max(3, Math.ceil((this.#pingMs * (this.options.keepaliveCountMax + 1)) / 1000));
  }

  /**
   * Hold what is written to the host until the connection ends (ssh2's end() lets it go), or 100 ms at most: a close
   * that waits for the agent to end must not wait for its own end of input. ssh2 has no other way to its socket;
   * without it (another ssh2) writes go at once, as before.
   */
  holdWrites(): void {
    const sock = this.#kept ?? (this.#client as unknown as { _sock?: import('node:stream').Writable } | null)?._sock;
    if (!sock || sock.destroyed || typeof sock.cork !== 'function') return;
    sock.cork();
    setTimeout(() => {
      while (sock.writableCorked > 0) sock.uncork();
    }, HELD_WRITES_MS).unref();
  }

  /** End the ssh connection after the agent stopped. */
  protected override async closeTransport(options: CloseOptions): Promise<void> {
    const kept = this.#kept;
    this.#kept = null;
    // A kept connection stays with the keeper; the agent's channel ends with this socket.
    kept?.end();
    if (kept && options.wait === false) kept.destroy();
    const client = this.#client ?? (await this.#connecting?.catch(() => null)) ?? null;
    this.#client = null;
    if (!client) return;
    if (options.wait === false) {
      // A run's end: the goodbye goes out behind what was written (the agent's end of input); the server's side of
      // the close is not waited for (it would hold pgplay's exit a few tens of milliseconds while the hosts are busy).
      client.end();
      client.destroy();
      return;
    }
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

  #connect(): Promise<Client> {
    if (this.#client) return Promise.resolve(this.#client);
    this.#connecting ??= this.#dial().finally(() => (this.#connecting = null));
    return this.#connecting;
  }

  async #dial(): Promise<Client> {
    const client = await openSsh(this.hostName, this.options, (closed) => {
      if (this.#client === closed) this.#client = null;
    });
    this.#client = client;
    return client;
  }
}

/**
 * Open an ssh connection to a host (through its bastions when it has some), its host key checked first; one clear
 * failure naming the host. onClose is told when the connection ends. The keeper of kept connections opens its own
 * with it too.
 */
export function openSsh(hostName: string, o: SshOptions, onClose?: (client: Client) => void): Promise<Client> {
  if (o.proxyJump.length === 0) return dialThrough(hostName, o, onClose);
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const { jumpSocket } = require('./ssh-jump') as typeof import('./ssh-jump');
  return jumpSocket(hostName, o).then(({ sock, release }) => dialThrough(hostName, o, onClose, sock, release));
}

/** Connect directly, or over sock (a channel through bastions) given back with release when the connection ends. */
async function dialThrough(hostName: string, o: SshOptions, onClose?: (client: Client) => void, sock?: import('node:stream').Duplex, release?: () => void): Promise<Client> {
  const target = sshTarget(hostName, o);
  // ssh2 loads with the first connection a run makes itself (a run whose connections are all kept never loads it).
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const { dialSsh } = require('./ssh-connect-config') as typeof import('./ssh-connect-config');
  const client = await dialSsh(o, sock ?? takeEarlySocket(o), {
    target,
    closedEarly: 'the server closed the connection',
    unsetPassword: o.passwordEnv && !o.password ? o.passwordEnv : undefined,
    failure: (what, cause) => {
      release?.();
      return unreachable(target, what, cause);
    },
    onClose: (closed) => {
      release?.();
      onClose?.(closed);
    },
  });
  connectionsOpened++;
  return client;
}

export function sshTarget(hostName: string, o: SshOptions): SshTarget {
  return { hostName, address: o.address, port: o.port, user: o.user };
}
