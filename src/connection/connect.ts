// Picks a host's connection from its variables: local (child processes here) or ssh (the default).
import { userInfo } from 'node:os';
import { LocalConnection } from './local';
import { becomeFrom } from './ssh-options';
import type { Connection } from './types';

export interface ConnectSettings {
  acceptNewHostKeys: boolean;
  knownHostsFile?: string;
}

export function connectionKind(vars: Record<string, unknown>): 'local' | 'ssh' {
  const kind = vars.connection ?? vars.ansible_connection ?? 'ssh';
  return kind === 'local' ? 'local' : 'ssh';
}

/** A connection that connects on first use; ssh2 is loaded only when some host needs it. */
export function connectionFor(name: string, vars: Record<string, unknown>, settings: ConnectSettings): Connection {
  if (connectionKind(vars) === 'local') return new LocalConnection(name, becomeFrom(name, vars, userInfo().username));
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const { SshConnection } = require('./ssh') as typeof import('./ssh');
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const { sshOptionsFrom } = require('./ssh-options') as typeof import('./ssh-options');
  return new SshConnection(name, sshOptionsFrom(name, vars, settings));
}
