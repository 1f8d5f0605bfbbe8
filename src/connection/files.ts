// Files travel through a command's stdin, so become works the same on every connection.
import { createHash } from 'node:crypto';
import { Secret } from '../secrets';
import { shellQuote, type Become, type Command } from './command';
import type { Connection, RunResult } from './types';

export interface PutFileOptions {
  owner?: string;
  group?: string;
  mode?: string; // octal, e.g. "0600"
  become?: Become;
}

export interface RemoteFile {
  exists: boolean;
  content: string;
  sha256: string | null;
  owner?: string;
  group?: string;
  mode?: string;
}

export function sha256(content: string | Buffer): string {
  return createHash('sha256').update(content).digest('hex');
}

/** Write a file atomically: a temp file beside it, owner and mode set, then rename. */
export async function putFile(conn: Connection, path: string, content: string | Secret, options: PutFileOptions = {}): Promise<void> {
  const tmp = `${path}.pgplay-tmp-${process.pid}-${Date.now().toString(36)}`;
  const q = shellQuote;
  const steps = [
    `umask 077`,
    `trap 'rm -f ${q(tmp)}' EXIT`,
    `trap 'exit 129' HUP INT TERM PIPE`,
    `cat > ${q(tmp)}`,
  ];
  if (options.owner || options.group) steps.push(`chown ${q(`${options.owner ?? ''}${options.group ? `:${options.group}` : ''}`)} ${q(tmp)}`);
  steps.push(`chmod ${q(options.mode ?? '0644')} ${q(tmp)}`);
  steps.push(`mv -f ${q(tmp)} ${q(path)}`);
  const command: Command = { argv: ['sh', '-ec', steps.join('\n')], stdin: content, become: options.become };
  const result = await conn.run(command);
  if (result.failed) throw new Error(`cannot write ${path}: ${firstLine(result)}`);
}

/** Read a file with its owner and mode; a missing file is data, not an error. */
export async function readFile(conn: Connection, path: string, become?: Become): Promise<RemoteFile> {
  const script = `if [ -e "$1" ]; then stat -c '%U %G %a' "$1" && cat "$1"; else echo MISSING; fi`;
  const result = await conn.run({ argv: ['sh', '-c', script, 'sh', path], become });
  if (result.failed) throw new Error(`cannot read ${path}: ${firstLine(result)}`);
  const nl = result.stdout.indexOf('\n');
  const head = nl < 0 ? result.stdout : result.stdout.slice(0, nl);
  if (head === 'MISSING') return { exists: false, content: '', sha256: null };
  const content = nl < 0 ? '' : result.stdout.slice(nl + 1);
  const [owner, group, mode] = head.split(' ');
  return { exists: true, content, sha256: sha256(content), owner, group, mode: mode.padStart(4, '0') };
}

export function firstLine(result: RunResult): string {
  const text = (result.stderr.trim() || result.stdout.trim() || `exit code ${result.exitCode}`).split('\n');
  return result.timedOut ? `timed out after ${result.durationMs} ms` : text[text.length - 1];
}
