// Words split the way Ansible splits them (Python's shlex.split, POSIX mode): INI host lines and ssh arguments.
// Hand-written because the npm port of shlex is an ES module only (pgplay is CommonJS on Node 20) and shell-quote
// reads shell syntax (operators, globs, $VAR) that shlex does not; each word keeps its column for messages.

export interface Word {
  text: string;
  /** 0-based offset of the word's first character in the line. */
  start: number;
  /** 0-based offset just past the word. */
  end: number;
  /** The word as written, quotes and escapes included. */
  raw: string;
}

export class ShellWordsError extends Error {
  constructor(
    message: string,
    readonly offset: number,
  ) {
    super(message);
  }
}

const WHITESPACE = ' \t\r\n';

/** shlex.split(text, comments): single quotes literal, double quotes with \" and \\, a backslash escapes outside quotes. */
export function splitWords(text: string, options: { comments?: boolean } = {}): Word[] {
  const words: Word[] = [];
  let i = 0;
  const n = text.length;
  while (i < n) {
    while (i < n && WHITESPACE.includes(text[i])) i++;
    if (i >= n) break;
    if (options.comments && text[i] === '#') {
      i = skipLine(text, i);
      continue;
    }
    const start = i;
    let word = '';
    let quoted = false;
    let comment = false;
    while (i < n && !WHITESPACE.includes(text[i])) {
      const c = text[i];
      if (options.comments && c === '#') {
        comment = true;
        break;
      }
      if (c === "'") {
        const close = text.indexOf("'", i + 1);
        if (close < 0) throw new ShellWordsError('no closing quotation: a single quote is never closed', i);
        word += text.slice(i + 1, close);
        quoted = true;
        i = close + 1;
      } else if (c === '"') {
        const open = i;
        i++;
        for (;;) {
          if (i >= n) throw new ShellWordsError('no closing quotation: a double quote is never closed', open);
          const d = text[i];
          if (d === '"') break;
          if (d === '\\' && i + 1 < n && (text[i + 1] === '"' || text[i + 1] === '\\')) {
            word += text[i + 1];
            i += 2;
            continue;
          }
          word += d;
          i++;
        }
        quoted = true;
        i++;
      } else if (c === '\\') {
        if (i + 1 >= n) throw new ShellWordsError('a backslash at the end escapes nothing', i);
        word += text[i + 1];
        i += 2;
      } else {
        word += c;
        i++;
      }
    }
    if (word !== '' || quoted) words.push({ text: word, start, end: i, raw: text.slice(start, i) });
    if (comment) i = skipLine(text, i);
  }
  return words;
}

function skipLine(text: string, i: number): number {
  const nl = text.indexOf('\n', i);
  return nl < 0 ? text.length : nl + 1;
}
