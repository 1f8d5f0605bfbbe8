// The host agent's wire format: frames of (u32 length, u32 job id, one type byte, payload) both ways, and
// lists of byte strings as u32-length-prefixed items. Pure: the agent itself is agent.pl.
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { packageFile } from '../package-files';

export const PROTOCOL_VERSION = 1;

/** Frame types. Requests and input go to the agent; answers, output and exits come back. */
export const FrameType = {
  request: 'R',
  input: 'I',
  endInput: 'E',
  kill: 'K',
  /** Nothing but "pgplay is still there", for the agent's watchdog. */
  ping: 'P',
  /**
   * Keeper to a kept agent: the run it served is gone; end what the run left (as at the end of input) and wait for
   * the next run, at most the payload's idle seconds (0: no limit). The agent answers with the same type, id 0.
   */
  detach: 'D',
  /** The agent's hello, and, from the keeper to a kept agent, the request for a new one when the next run comes. */
  hello: 'H',
  answer: 'A',
  stdout: 'O',
  stderr: 'e',
  exit: 'X',
} as const;
export type FrameTypeValue = (typeof FrameType)[keyof typeof FrameType];

export interface Frame {
  id: number;
  type: string;
  payload: Buffer;
}

const HEADER = 9;

export function encodeFrame(id: number, type: FrameTypeValue | string, payload: Buffer = Buffer.alloc(0)): Buffer {
  const head = Buffer.alloc(HEADER);
  head.writeUInt32BE(payload.length, 0);
  head.writeUInt32BE(id, 4);
  head.write(type, 8, 'latin1');
  return Buffer.concat([head, payload]);
}

export function encodeList(items: Array<string | Buffer | number>): Buffer {
  const parts: Buffer[] = [];
  for (const item of items) {
    const bytes = Buffer.isBuffer(item) ? item : Buffer.from(String(item), 'utf8');
    const len = Buffer.alloc(4);
    len.writeUInt32BE(bytes.length, 0);
    parts.push(len, bytes);
  }
  return Buffer.concat(parts);
}

export function decodeList(payload: Buffer): Buffer[] {
  const out: Buffer[] = [];
  let at = 0;
  while (at + 4 <= payload.length) {
    const len = payload.readUInt32BE(at);
    if (at + 4 + len > payload.length) throw new Error('agent sent a truncated list');
    out.push(payload.subarray(at + 4, at + 4 + len));
    at += 4 + len;
  }
  if (at !== payload.length) throw new Error('agent sent a truncated list');
  return out;
}

/** Splits a byte stream into frames; keeps what is left of a frame for the next chunk (joined once it is whole). */
export class FrameReader {
  #chunks: Buffer[] = [];
  #length = 0;
  /** Bytes the frame at the head needs, once its header is known. */
  #need = HEADER;

  push(chunk: Buffer): Frame[] {
    this.#chunks.push(chunk);
    this.#length += chunk.length;
    const frames: Frame[] = [];
    while (this.#length >= this.#need) {
      const buffer = this.#chunks.length === 1 ? this.#chunks[0] : Buffer.concat(this.#chunks, this.#length);
      let at = 0;
      while (buffer.length - at >= HEADER) {
        const len = buffer.readUInt32BE(at);
        if (buffer.length - at < HEADER + len) break;
        frames.push({ id: buffer.readUInt32BE(at + 4), type: buffer.toString('latin1', at + 8, at + 9), payload: buffer.subarray(at + HEADER, at + HEADER + len) });
        at += HEADER + len;
      }
      const rest = buffer.subarray(at);
      this.#chunks = rest.length > 0 ? [rest] : [];
      this.#length = rest.length;
      this.#need = rest.length >= HEADER ? HEADER + rest.readUInt32BE(0) : HEADER;
    }
    return frames;
  }
}

/**
 * What the host runs: perl reads lines until the marker (a sudo password line that sudo did not need is
 * skipped), then the agent's length-prefixed source, and runs it. The source travels on stdin, not in argv.
 */
export const BOOT_MARKER = 'pgplay-agent-source';
export const BOOT_SCRIPT = [
  // Unbuffered reads only: what follows the agent's code (requests sent before its hello) stays for its own reads.
  `my $l = ""; while (1) { sysread(STDIN, my $ch, 1) or exit 3; if ($ch ne "\\n") { $l .= $ch } elsif ($l eq "${BOOT_MARKER}") { last } else { $l = "" } }`,
  'sub r { my $b = ""; while (length $b < $_[0]) { my $n = sysread(STDIN, $b, $_[0] - length $b, length $b); exit 3 unless $n } $b }',
  'my $c = r(unpack "N", r(4)); eval $c; die $@ if $@;',
].join(' ');

let source: Buffer | null = null;

/** The agent's source (dist/src/connection/agent.pl, beside this file; found from the package root, as the bundle has it too). */
export function agentSource(): Buffer {
  source ??= readFileSync(packageFile('dist', 'src', 'connection', 'agent.pl'));
  return source;
}

let digest: string | null = null;

/** The SHA-256 of the agent's source: an agent kept between runs serves only runs that would start the same one. */
export function agentSourceDigest(): string {
  digest ??= createHash('sha256').update(agentSource()).digest('hex');
  return digest;
}

/** The bytes that start the agent once perl runs BOOT_SCRIPT. */
export function bootPayload(): Buffer {
  const code = agentSource();
  const len = Buffer.alloc(4);
  len.writeUInt32BE(code.length, 0);
  return Buffer.concat([Buffer.from(`${BOOT_MARKER}\n`), len, code]);
}
