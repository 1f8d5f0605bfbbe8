// Commands are values: an argv that never holds a secret, and stdin that may.
import { Secret } from '../secrets';

export interface Become {
  user: string;
  method: 'sudo' | 'su';
  /** The login user's sudo password (from the environment); it travels as the first line of stdin only. */
  password?: Secret;
}

// With a password, a shell reads its line from stdin (so nothing of it is left for the command, even when sudo does
// not ask), and sudo asks printenv for it: never on a command line, and removed from the command's environment.
const SUDO_WITH_PASSWORD =
  'IFS= read -r PGPLAY_BECOME_PASSWORD && export PGPLAY_BECOME_PASSWORD && SUDO_ASKPASS=/usr/bin/printenv exec sudo -A -p PGPLAY_BECOME_PASSWORD -H -u "$0" -- env -u PGPLAY_BECOME_PASSWORD "$@"';

export interface Command {
  argv: string[];
  /** Environment for the command; never put a secret here (it reaches the remote command line). */
  env?: Record<string, string>;
  cwd?: string;
  /** Data for the command's standard input: the only way a secret reaches a command. */
  stdin?: string | Buffer | Secret;
  become?: Become;
}

export function cmd(...argv: string[]): Command {
  return { argv };
}

const SAFE = /^[A-Za-z0-9_@%+=:,./-]+$/;

/** Quote one word for POSIX sh. */
export function shellQuote(word: string): string {
  if (word !== '' && SAFE.test(word)) return word;
  return `'${word.replace(/'/g, `'\\''`)}'`;
}

/** The command as one POSIX sh line, become and env included; the one place commands are quoted. */
export function toShellLine(command: Command): string {
  return toArgv(command).map(shellQuote).join(' ');
}

/** argv for spawning without a shell (local connection). */
export function toArgv(command: Command): string[] {
  const inner = withEnvAndCwd(command);
  const b = command.become;
  if (!b) return inner;
  if (b.method === 'su') return ['su', '-s', '/bin/sh', b.user, '-c', inner.map(shellQuote).join(' ')];
  if (b.password) return ['sh', '-c', SUDO_WITH_PASSWORD, b.user, ...inner];
  return ['sudo', '-n', '-H', '-u', b.user, '--', ...inner];
}

/** What the command reads on stdin: the become password's line first when there is one. */
export function stdinOf(command: Command): string | Buffer | undefined {
  const input = command.stdin instanceof Secret ? command.stdin.reveal() : command.stdin;
  const password = command.become?.method === 'sudo' ? command.become.password : undefined;
  if (!password) return input;
  const line = `${password.reveal()}\n`;
  return input === undefined ? line : Buffer.concat([Buffer.from(line), Buffer.from(input)]);
}

function withEnvAndCwd(command: Command): string[] {
  const env = Object.entries(command.env ?? {}).map(([k, v]) => `${k}=${v}`);
  let argv = env.length > 0 ? ['env', ...env, ...command.argv] : command.argv;
  if (command.cwd) argv = ['sh', '-c', 'cd "$1" && shift && exec "$@"', 'sh', command.cwd, ...argv];
  return argv;
}

/** A short text for people: the command line (argv never holds a secret) without stdin. */
export function describeCommand(command: Command): string {
  const line = toShellLine(command);
  return line.length > 200 ? `${line.slice(0, 197)}...` : line;
}

export function becomeUser(user: string, method: Become['method'] = 'sudo'): Become {
  return { user, method };
}
