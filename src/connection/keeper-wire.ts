// Kept connections (ControlPersist): where a user's keeper of ssh connections listens, and what a run and the
// keeper say to each other over that socket. Frames as the agent's (agent-protocol.ts), id 0.
import { createHash } from 'node:crypto';
import { lstatSync, mkdirSync, readFileSync } from 'node:fs';
import { isAbsolute, join } from 'node:path';
import { Secret } from '../secrets';
import { packageFile } from '../package-files';
import type { SshOptions } from './ssh-options';

/** What goes between a run and the keeper, one channel (one host's agent) per socket connection. */
export const KeeperFrame = {
  /** Run to keeper, first: the host, its ssh options and the agent's command line (JSON). */
  open: 'o',
  /**
   * Keeper to run: the agent's channel is open (JSON: whether the connection was kept from an earlier run, and whether
   * the agent was: then it is running already and says a new hello).
   */
  opened: 'k',
  /** Keeper to run: the channel could not be opened (the message, which names the host). */
  failed: 'f',
  input: 'I',
  endInput: 'E',
  stdout: 'O',
  stderr: 'e',
  /** Keeper to run: the agent's exit status (JSON, null when unknown); the keeper then ends the socket. */
  exit: 'X',
} as const;

/** What a run asks the keeper for. */
export interface OpenRequest {
  hostName: string;
  options: SshOptions;
  /** The agent's command line on the host. */
  command: string;
  /**
   * The SHA-256 of the agent's source, when the agent may be kept after the run for the next one with the same command
   * line and source (not when a become password starts it: each run gives its own).
   */
  agentSource?: string;
}

/** What the keeper says when the channel is open. */
export interface Opened {
  reused: boolean;
  attached: boolean;
}

/** The socket's longest path (sun_path holds 108 bytes with its end). */
const MAX_SOCKET_PATH = 100;

/**
 * The directory of this user's keeper: $XDG_RUNTIME_DIR/pgplay, else ~/.pgplay/cp. Made 0700 when missing; null when
 * it cannot be made or is not this user's alone (a directory anyone else may enter or write), so that no other user
 * can reach the connections it keeps.
 */
export function keeperDir(env: NodeJS.ProcessEnv = process.env): string | null {
  const base = env.XDG_RUNTIME_DIR && isAbsolute(env.XDG_RUNTIME_DIR) ? join(env.XDG_RUNTIME_DIR, 'pgplay') : env.HOME && isAbsolute(env.HOME) ? join(env.HOME, '.pgplay', 'cp') : null;
  if (!base) return null;
  try {
    mkdirSync(base, { recursive: true, mode: 0o700 });
    const st = lstatSync(base);
    const uid = process.getuid?.();
    if (!st.isDirectory() || (uid !== undefined && st.uid !== uid) || (st.mode & 0o077) !== 0) return null;
  } catch {
    return null;
  }
  return base;
}

let version: string | null = null;

/** The keeper's socket for this version of pgplay (another version's keeper is another process), or null. */
export function keeperSocketPath(env: NodeJS.ProcessEnv = process.env): string | null {
  const dir = keeperDir(env);
  if (!dir) return null;
  try {
    version ??= (JSON.parse(readFileSync(packageFile('package.json'), 'utf8')) as { version: string }).version;
  } catch {
    return null;
  }
  const path = join(dir, `keeper-${version}.sock`);
  return path.length <= MAX_SOCKET_PATH ? path : null;
}

/** The options as JSON, with their secrets (the socket is this user's alone): Secret becomes { secret }. */
export function encodeOpen(request: OpenRequest): Buffer {
  // The value before its toJSON (a Secret's says only that it is one).
  return Buffer.from(
    JSON.stringify(request, function (this: Record<string, unknown>, key, value: unknown) {
      const own = this[key];
      return own instanceof Secret ? { secret: own.reveal() } : value;
    }),
  );
}

export function decodeOpen(payload: Buffer): OpenRequest {
  return JSON.parse(payload.toString('utf8'), (_key, value: unknown) => (value && typeof value === 'object' && 'secret' in value && Object.keys(value).length === 1 ? new Secret(String((value as { secret: unknown }).secret)) : value)) as OpenRequest;
}

/**
 * The connection a request may share: one made with exactly these options (where, who, which key and password, how
 * the host key is checked, how long it is kept). A digest, so that the keeper's map holds no secret.
 */
export function connectionKey(request: OpenRequest): string {
  const { options } = request;
  return createHash('sha256').update(encodeOpen({ hostName: '', options, command: '' })).digest('hex');
}
