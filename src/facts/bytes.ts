// Configuration files are edited as bytes: read one byte per character (Latin-1), so every byte a user
// wrote (a Latin-1 comment, a stray UTF-8 sequence) goes back to the file exactly as it was.
export function bytesToText(bytes: Buffer): string {
  return bytes.toString('latin1');
}

export function textToBytes(text: string): Buffer {
  return Buffer.from(text, 'latin1');
}

/** Text pgplay writes (UTF-8) in the same one-byte-per-character form as the file it goes into. */
export function fromUtf8(text: string): string {
  return Buffer.from(text, 'utf8').toString('latin1');
}

/** For people (diffs, messages): the bytes as UTF-8 when they are valid UTF-8, else as Latin-1. */
export function displayText(text: string): string {
  const bytes = textToBytes(text);
  const utf8 = bytes.toString('utf8');
  return Buffer.from(utf8, 'utf8').equals(bytes) ? utf8 : text;
}
