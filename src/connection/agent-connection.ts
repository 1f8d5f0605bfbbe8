// A connection whose every operation goes through one agent per host: started on first use, kept for the run.
import type { Duplex } from 'node:stream';
import type { Secret } from '../secrets';
import { AgentClient } from './agent-client';
import type { Connection, FileContent, GuardAction, FileStat, HostFacts, RunOptions, RunResult, TcpConnectResult, WriteOptions } from './types';

export abstract class AgentConnection implements Connection {
  abstract readonly kind: 'local' | 'ssh';
  #agent: Promise<AgentClient> | null = null;

  constructor(readonly hostName: string) {}

  /** Start the agent (connecting first when needed). */
  protected abstract startAgent(): Promise<AgentClient>;

  /** The running agent, or a new one after close (or after the last one ended). */
  protected agent(): Promise<AgentClient> {
    const current = this.#agent;
    if (current) {
      return current.then(
        (a) => (a.alive ? a : this.#restart()),
        () => this.#restart(),
      );
    }
    return this.#restart();
  }

  #restart(): Promise<AgentClient> {
    const started = this.startAgent().then(async (agent) => {
      await agent.ready;
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
    return (await this.agent()).lock(name, waitSeconds);
  }

  async unlock(path: string): Promise<void> {
    return (await this.agent()).unlock(path);
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
  async close(): Promise<void> {
    const current = this.#agent;
    this.#agent = null;
    const agent = await current?.catch(() => null);
    await agent?.close();
    await this.closeTransport();
  }

  /** Let go of what carries the agent (the ssh connection); nothing for a local child. */
  protected async closeTransport(): Promise<void> {}
}
