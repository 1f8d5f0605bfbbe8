// A connection whose every operation goes through one agent per host: started on first use, kept for the run.
import type { Duplex } from 'node:stream';
import type { Secret } from '../secrets';
import { AgentClient } from './agent-client';
import { UnreachableError } from '../errors';
import type { CloseOptions, Connection, FileContent, GuardAction, FileStat, HostFacts, RunOptions, RunResult, TcpConnectResult, WriteOptions } from './types';

export abstract class AgentConnection implements Connection {
  abstract readonly kind: 'local' | 'ssh';
  #agent: Promise<AgentClient> | null = null;
  /** Locks the agent holds (path -> name), so that an agent started after a lost one takes them again first. */
  #locks = new Map<string, string>();
  /** The last agent was lost, not closed, while holding locks: it may still be at work on the host. */
  #lostWithLocks = false;

  constructor(readonly hostName: string) {}

  /** Start the agent (connecting first when needed). */
  protected abstract startAgent(): Promise<AgentClient>;

  /** What to do once an agent answered (the ssh connection starts the agent's watchdog). */
  protected async afterStart(_agent: AgentClient): Promise<void> {}

  /** How long an agent pgplay lost can still be at work on the host before it stops by itself (seconds). */
  protected lostAgentSeconds(): number {
    return 10;
  }

  /** The running agent, or a new one after close (or after the last one ended). */
  protected agent(): Promise<AgentClient> {
    const current = this.#agent;
    if (current) {
      return current.then(
        (a) => {
          if (a.alive) return a;
          if (this.#locks.size > 0) this.#lostWithLocks = true;
          return this.#restart();
        },
        () => this.#restart(),
      );
    }
    return this.#restart();
  }

  #restart(): Promise<AgentClient> {
    const relock = this.#lostWithLocks;
    const started = this.startAgent().then(async (agent) => {
      if (!relock) {
        // The first requests (the watchdog, the run's lock, the SQL session's socket) go out now, behind the agent's
        // code: they are answered as soon as it runs, not one round trip after its hello. Without a hello they fail
        // with its error.
        this.afterStart(agent).catch(() => undefined);
        return agent;
      }
      await agent.ready;
      await this.afterStart(agent);
      // The lost agent may still be at work (a cut link: it learns of it only from its watchdog). Its locks end
      // with it, after it stopped its commands and put back what it guarded: nothing is done beside it.
      if (this.#lostWithLocks) {
        const wait = this.lostAgentSeconds();
        for (const [path, name] of [...this.#locks]) {
          try {
            await agent.lock(name, wait);
          } catch (err) {
            await agent.close().catch(() => undefined);
            throw new UnreachableError(`${this.hostName}: the agent pgplay lost on this host still holds ${path} after ${wait} s, so nothing is done beside it (${(err as Error).message})`, { cause: err });
          }
        }
        this.#lostWithLocks = false;
      }
      return agent;
    });
    this.#agent = started;
    started.catch(() => {
      if (this.#agent === started) this.#agent = null;
    });
    return started;
  }

  async facts(): Promise<HostFacts> {
    return (await this.agent()).ready;
  }

  async run(argv: string[], options?: RunOptions): Promise<RunResult> {
    return (await this.agent()).run(argv, options);
  }

  async readFile(path: string, options: { maxBytes?: number } = {}): Promise<FileContent | null> {
    return (await this.agent()).readFile(path, options.maxBytes);
  }

  async writeFile(path: string, content: string | Buffer | Secret, options?: WriteOptions): Promise<void> {
    return (await this.agent()).writeFile(path, content, options);
  }

  async move(from: string, to: string): Promise<void> {
    return (await this.agent()).move(from, to);
  }

  async stat(path: string): Promise<FileStat | null> {
    return (await this.agent()).stat(path);
  }

  async list(path: string): Promise<string[] | null> {
    return (await this.agent()).list(path);
  }

  async mkdir(path: string, options?: WriteOptions): Promise<'created' | 'exists'> {
    return (await this.agent()).mkdir(path, options);
  }

  async remove(path: string, options?: { recursive?: boolean }): Promise<'removed' | 'absent'> {
    return (await this.agent()).remove(path, options);
  }

  async lock(name: string, waitSeconds: number): Promise<string> {
    const path = await (await this.agent()).lock(name, waitSeconds);
    this.#locks.set(path, name);
    return path;
  }

  async unlock(path: string): Promise<void> {
    // A lock of an agent that is gone ended with it: no new agent just to let go of it.
    const current = await this.#agent?.catch(() => null);
    if (current?.alive) await current.unlock(path);
    this.#locks.delete(path);
  }

  async guard(name: string, actions: GuardAction[] | null): Promise<void> {
    return (await this.agent()).guard(name, actions);
  }

  async connectUnix(path: string, options: { as?: string } = {}): Promise<Duplex> {
    return (await this.agent()).connectUnix(path, options.as);
  }

  async connectTcp(host: string, port: number, options: { timeoutMs?: number } = {}): Promise<TcpConnectResult> {
    return (await this.agent()).connectTcp(host, port, options.timeoutMs ?? 5000);
  }

  /** Stop the agent (and what it runs); a later call starts a new one. */
  async close(options: CloseOptions = {}): Promise<void> {
    const current = this.#agent;
    this.#agent = null;
    this.#locks.clear();
    this.#lostWithLocks = false;
    const agent = await current?.catch(() => null);
    await agent?.close(options);
    await this.closeTransport(options);
  }

  /** Let go of what carries the agent (the ssh connection); nothing for a local child. */
  protected async closeTransport(_options: CloseOptions): Promise<void> {}
}
