// Reading a file the user points at (playbook, inventory, vars, template): UTF-8 text, or one error that says
// where it is not, so a Latin-1 byte or a binary file never reaches the parsers as replacement characters.
import { readFileSync } from 'node:fs';
import type { Diagnostic } from '../errors';

export type TextFile = { text: string; error: null } | { text: null; error: Diagnostic };

/** `what` names the file in messages: 'playbook', 'inventory', 'template'. */
export function readTextFile(file: string, what: string): TextFile {
  let bytes: Buffer;
  try {
    bytes = readFileSync(file);
  } catch (err) {
    return { text: null, error: { file, line: 1, col: 1, message: readProblem(err as NodeJS.ErrnoException, what) } };
  }
  const problem = textProblem(bytes);
  if (problem) return { text: null, error: { file, ...problem } };
  return { text: new TextDecoder('utf-8').decode(bytes), error: null };
}

function readProblem(err: NodeJS.ErrnoException, what: string): string {
  if (err.code === 'ENOENT') return `${what} file not found`;
  if (err.code === 'EISDIR') return `this is a directory, not a ${what} file`;
  if (err.code === 'EACCES') return `no permission to read the ${what}`;
  return `cannot read the ${what}: ${err.message}`;
}

/** Where the bytes stop being text: the first byte that is not UTF-8, or a control character YAML forbids. */
function textProblem(bytes: Buffer): { line: number; col: number; message: string } | null {
  const loose = new TextDecoder('utf-8', { ignoreBOM: true }).decode(bytes);
  let strictOk = true;
  try {
    new TextDecoder('utf-8', { fatal: true, ignoreBOM: true }).decode(bytes);
  } catch {
    strictOk = false;
  }
  const control = loose.search(/[\x00-\x08\x0B\x0C\x0E-\x1F\x7F]/);
  const invalid = strictOk ? -1 : loose.indexOf('\uFFFD');
  if (control < 0 && invalid < 0) return null;
  const index = [control, invalid].filter((i) => i >= 0).sort((a, b) => a - b)[0];
  const before = loose.slice(0, index);
  const line = before.split('\n').length;
  const col = index - before.lastIndexOf('\n');
  const byte = bytes[Buffer.byteLength(before)];
  const hex = `0x${byte.toString(16).padStart(2, '0')}`;
  if (bytes.includes(0)) return { line, col, message: `this file holds binary data (byte ${hex}), not text` };
  if (index === invalid) return { line, col, message: `this is not UTF-8 text (byte ${hex}): save the file as UTF-8` };
  return { line, col, message: `control character ${hex} is not allowed in a text file` };
}
