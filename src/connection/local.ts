// The host is this machine: the agent runs as a child process (behind sudo when a become is asked for).
import { spawn } from 'node:child_process';
import { AgentClient } from './agent-client';
import { AgentConnection } from './agent-connection';
import { agentArgv, type Become } from './command';

export class LocalConnection extends AgentConnection {
  readonly kind = 'local' as const;

  constructor(
    hostName: string,
    private readonly become?: Become,
  ) {
    super(hostName);
  }

  protected async startAgent(): Promise<AgentClient> {
    const [file, ...args] = agentArgv(this.become);
    const child = spawn(file, args, { stdio: ['pipe', 'pipe', 'pipe'] });
    const ended = new Promise<number | null>((resolve) => {
      child.on('error', () => resolve(127));
      child.on('close', (code) => resolve(code));
    });
    const transport = { stdin: child.stdin, stdout: child.stdout, stderr: child.stderr, ended, kill: () => child.kill('SIGKILL') };
    const lost = (what: string, stderr: string) => new Error(`${this.hostName} (local): ${what}: ${stderr}`);
    return new AgentClient(transport, this.hostName, lost, this.become?.password);
  }
}
