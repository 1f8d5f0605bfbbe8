// The one place a command line is quoted: the line that starts the host agent (with its one become).
// Everything else travels to the agent as argv lists, never through a shell.
import type { Secret } from '../secrets';
import { BOOT_SCRIPT } from './agent-protocol';

/** How the agent gets the rights it needs: once per host and run. */
export interface Become {
  user: string;
  method: 'sudo' | 'su';
  /** sudo's password (sudo -S), from the environment variable the inventory names. */
  password?: Secret;
}

const SAFE = /^[A-Za-z0-9_@%+:,./-]+$/;

/** Quote one word for POSIX sh (a word holding `=` is quoted too: `env` would read it as a variable). */
export function shellQuote(word: string): string {
  if (word !== '' && SAFE.test(word)) return word;
  return `'${word.replace(/'/g, `'\\''`)}'`;
}

// With a password, a shell reads its line from stdin one byte at a time (so nothing of what follows is taken, and
// nothing of the password is left when sudo does not ask), and sudo asks printenv for it: never on a command line,
// and removed from the agent's environment.
const SUDO_WITH_PASSWORD =
  'IFS= read -r PGPLAY_BECOME_PASSWORD && export PGPLAY_BECOME_PASSWORD && SUDO_ASKPASS=/usr/bin/printenv exec sudo -A -p PGPLAY_BECOME_PASSWORD -H -u "$0" -- env -u PGPLAY_BECOME_PASSWORD "$@"';

/** argv that starts the agent: perl, behind sudo or su when a become is asked for. */
export function agentArgv(become?: Become): string[] {
  const perl = ['perl', '-e', BOOT_SCRIPT];
  if (!become) return perl;
  if (become.method === 'su') return ['su', '-s', '/bin/sh', become.user, '-c', `exec ${perl.map(shellQuote).join(' ')}`];
  if (become.password) return ['sh', '-c', SUDO_WITH_PASSWORD, become.user, ...perl];
  return ['sudo', '-n', '-H', '-u', become.user, '--', ...perl];
}

/** The exec request that starts the agent over ssh: one login shell, one become. */
export function agentCommandLine(become?: Become): string {
  return `exec ${agentArgv(become).map(shellQuote).join(' ')}`;
}

/** A short text for people: the command (argv never holds a secret) and who runs it. */
export function describeArgv(argv: string[], as?: string): string {
  const line = `${as ? `[as ${as}] ` : ''}${argv.map(shellQuote).join(' ')}`;
  return line.length > 200 ? `${line.slice(0, 197)}...` : line;
}
