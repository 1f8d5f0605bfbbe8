// A host's connection from its rendered settings: local (the agent as a child process here) or ssh (the default).
import type { HostSettings } from '../executor/host-settings';
import { LocalConnection } from './local';
import type { Connection } from './types';

/** A connection that connects on first use; ssh2 is loaded only when some host needs it. */
export function connectionFor(settings: HostSettings): Connection {
  if (settings.connection === 'local' || !settings.ssh) return new LocalConnection(settings.name, settings.agentBecome);
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const { SshConnection } = require('./ssh') as typeof import('./ssh');
  return new SshConnection(settings.name, settings.ssh, settings.agentBecome);
}
