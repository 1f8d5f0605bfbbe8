// The configuration files of a cluster in the order PostgreSQL reads them (guc-file.l): postgresql.conf with its
// include, include_if_exists and include_dir directives followed where they stand, then postgresql.auto.conf.
// The last line that sets a name wins. Pure over a snapshot of the files, so a plan can ask "and after this write?".
import { posix } from 'node:path';
import { parseConfFile } from './conf-file';

/** What pgplay read of the host: each file's text (one byte per character; null: absent) and each directory's names. */
export interface ConfSnapshot {
  files: Map<string, string | null>;
  dirs: Map<string, string[] | null>;
}

export interface ChainEntry {
  name: string;
  /** As written, unquoted, one byte per character. */
  value: string;
  file: string;
  /** 1-based, as PostgreSQL numbers lines. */
  line: number;
}

export interface ConfChain {
  /** Every setting line in the order the server reads them (include directives left out). */
  entries: ChainEntry[];
  /** Files read, in order. */
  files: string[];
  /** What would stop the server from reading its configuration (a missing file it must include, includes too deep). */
  problems: string[];
  /** Paths the snapshot does not hold yet: read them and walk again. */
  missing: { files: string[]; dirs: string[] };
}

/** PostgreSQL stops following includes this deep (CONF_FILE_MAX_DEPTH). */
const MAX_DEPTH = 10;

/** Walk the chain from postgresql.conf, then postgresql.auto.conf; `overlay` replaces the text of some files. */
export function walkConfChain(configFile: string, autoFile: string, snapshot: ConfSnapshot, overlay: Map<string, string> = new Map()): ConfChain {
  const chain: ConfChain = { entries: [], files: [], problems: [], missing: { files: [], dirs: [] } };
  const textOf = (path: string): string | null | undefined => (overlay.has(path) ? overlay.get(path) : snapshot.files.get(path));
  const readFile = (path: string, strict: boolean, depth: number, from: string | null): void => {
    if (depth > MAX_DEPTH) {
      chain.problems.push(`${from}: could not open configuration file "${path}": maximum nesting depth exceeded`);
      return;
    }
    const text = textOf(path);
    if (text === undefined) {
      chain.missing.files.push(path);
      return;
    }
    if (text === null) {
      if (strict) chain.problems.push(`${from ?? 'the server'}: could not open configuration file "${path}": No such file or directory`);
      return;
    }
    chain.files.push(path);
    for (const entry of parseConfFile(text)) {
      const at = `${path} line ${entry.line + 1}`;
      if (entry.name === 'include' || entry.name === 'include_if_exists') {
        readFile(locate(entry.value, path), entry.name === 'include', depth + 1, at);
      } else if (entry.name === 'include_dir') {
        const dir = locate(entry.value, path);
        const names = snapshot.dirs.get(dir);
        if (names === undefined) chain.missing.dirs.push(dir);
        else if (names === null) chain.problems.push(`${at}: could not open configuration directory "${dir}": No such file or directory`);
        // Files ending in .conf, not hidden, in byte order (ParseConfigDirectory).
        else for (const name of confFilesOf(names, dir, overlay)) readFile(`${dir}/${name}`, true, depth + 1, at);
      } else {
        chain.entries.push({ name: entry.name, value: entry.value, file: path, line: entry.line + 1 });
      }
    }
  };
  readFile(configFile, true, 0, null);
  readFile(autoFile, false, 0, null);
  return chain;
}

/** A directory's configuration files as the server picks them, with files the overlay would create there. */
function confFilesOf(names: string[], dir: string, overlay: Map<string, string>): string[] {
  const all = new Set(names);
  for (const path of overlay.keys()) if (posix.dirname(path) === dir) all.add(posix.basename(path));
  return [...all].filter((n) => n.endsWith('.conf') && !n.startsWith('.')).sort((a, b) => Buffer.compare(Buffer.from(a, 'latin1'), Buffer.from(b, 'latin1')));
}

/** An include's path: absolute as written, else relative to the directory of the file that names it. */
export function locate(path: string, from: string): string {
  return posix.normalize(path.startsWith('/') ? path : `${posix.dirname(from)}/${path}`).replace(/(.)\/$/, '$1');
}

/** The line in force for each name: the last one the server reads. */
export function valuesInForce(chain: ConfChain): Map<string, ChainEntry> {
  const out = new Map<string, ChainEntry>();
  for (const e of chain.entries) out.set(e.name, e);
  return out;
}

/** Read the files of the chain through `read` and `list`, following includes as the server would. */
export async function readConfChain(
  configFile: string,
  autoFile: string,
  io: { read(path: string): Promise<string | null>; list(dir: string): Promise<string[] | null> },
): Promise<{ chain: ConfChain; snapshot: ConfSnapshot }> {
  const snapshot: ConfSnapshot = { files: new Map(), dirs: new Map() };
  for (let round = 0; ; round++) {
    const chain = walkConfChain(configFile, autoFile, snapshot);
    const { files, dirs } = chain.missing;
    if ((files.length === 0 && dirs.length === 0) || round > MAX_DEPTH + 1) return { chain, snapshot };
    await Promise.all([
      ...files.map(async (f) => snapshot.files.set(f, await io.read(f))),
      ...dirs.map(async (d) => snapshot.dirs.set(d, await io.list(d))),
    ]);
  }
}
