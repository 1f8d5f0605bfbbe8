// sshd ignores a client that goes away while a command runs, so each command says its process group and watches its sshd.
import { Transform, type TransformCallback } from 'node:stream';
import { shellQuote, toShellLine, type Become } from './command';

const MARKER = 'pgplay-pgid ';

/**
 * Runs "$1" from / in the session's own process group (sshd made the login shell a session leader, and exec keeps its pid),
 * after telling the client that group on stderr. A watchdog kills the group when the sshd serving the connection
 * is gone (pgplay killed, network lost); it holds no stdio, so the channel still ends with the command.
 */
export const WRAPPER = [
  `printf '${MARKER}%s\\n' "$$" >&2`,
  'parent=$PPID',
  '(',
  "  trap 'kill $! 2>/dev/null; exit 0' TERM",
  '  while kill -0 "$parent" 2>/dev/null || [ -d "/proc/$parent" ]; do sleep 2 & wait $!; done',
  '  kill -s TERM -- "-$$"',
  ') </dev/null >/dev/null 2>&1 &',
  'watchdog=$!',
  // The login home (/root, 0700) is no place for a become user: tools there warn "could not change directory".
  'cd /',
  'eval "$1"',
  'status=$?',
  'kill "$watchdog" 2>/dev/null',
  'exit "$status"',
].join('\n');

/** The exec request for a command line: the wrapper, then the line as its only argument. */
export function wrapForRemote(line: string): string {
  return `exec sh -c ${shellQuote(WRAPPER)} pgplay-run ${shellQuote(line)}`;
}

/** Signal a command's process group; with become, also as that user, who owns what sudo or su started. */
export function killLine(pgid: number, signal: 'TERM' | 'KILL', become?: Become): string {
  const kill = ['kill', '-s', signal, '--', `-${pgid}`];
  const lines = [toShellLine({ argv: kill })];
  if (become) lines.push(toShellLine({ argv: kill, become }));
  return lines.map((l) => `${l} 2>/dev/null`).join('; ') + '; true';
}

/** stderr without the wrapper's marker line; the process group it names goes to onGroup. */
export class GroupMarkerFilter extends Transform {
  #head = '';
  #found = false;

  constructor(private readonly onGroup: (pgid: number) => void) {
    super();
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, done: TransformCallback): void {
    if (this.#found) return done(null, chunk);
    this.#head += chunk.toString('latin1');
    const at = this.#head.indexOf(MARKER);
    const end = at < 0 ? -1 : this.#head.indexOf('\n', at);
    if (end < 0) {
      // A login script may print first; give up on a marker after 64 kB of text without one.
      if (this.#head.length > 65536) this.#flushHead();
      return done();
    }
    const pgid = Number(this.#head.slice(at + MARKER.length, end));
    if (Number.isInteger(pgid) && pgid > 1) this.onGroup(pgid);
    const rest = this.#head.slice(0, at) + this.#head.slice(end + 1);
    this.#found = true;
    this.#head = '';
    done(null, rest.length > 0 ? Buffer.from(rest, 'latin1') : undefined);
  }

  override _flush(done: TransformCallback): void {
    this.#flushHead();
    done();
  }

  #flushHead(): void {
    if (this.#head) this.push(Buffer.from(this.#head, 'latin1'));
    this.#head = '';
    this.#found = true;
  }
}
