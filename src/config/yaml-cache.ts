// Parsed YAML files kept between runs, as Python keeps compiled modules: a run or status reads the same inventory and
// playbook as the last one, and parsing them is most of a start's reading (about 20 ms for the bench's 5 KB inventory
// and its playbook, before any host is reached). A file's entry is found by the SHA-256 of its text (and of the yaml
// package's version and this format), so an edited file is simply another entry. It holds the value and every place
// (file:line:col) asked of it by the last run that parsed it; a place not in it is answered by parsing the text then,
// so an answer is always the parser's. Only files without errors and with plain data (text, numbers, booleans, null,
// lists, mappings) are kept, in the user's cache directory, read only when no one else may write them.
import { createHash } from 'node:crypto';
import { join } from 'node:path';
import { readOwnFile, writeCacheFile } from '../bundle-start';
import type { SourceRef } from './types';
import type { YamlPath, YamlSource } from './yaml';

/** Changed whenever what an entry holds or how places are asked changes. */
const FORMAT = 1;

interface Entry {
  /** The value, serialised when parsed (what the run does to its copy is not kept). */
  value: Buffer;
  /** Answers by question ('at value [path]', 'text [path]', ...): a place without its file, or null (no such place). */
  places: Record<string, { line: number; col: number } | null>;
}

let cacheDir: string | null = null;
const unsaved = new Map<string, Entry>();

/** Keep parsed YAML files in dir (pgplay's cache directory) from now on in this process; null: parse every time. */
export function keepParsedYaml(dir: string | null): void {
  cacheDir = dir;
}

let parses = 0;
/** How many texts were parsed in this process (the tests' count of what the cache spared). */
export function yamlTextsParsed(): number {
  return parses;
}

/**
 * The YAML source of text: from the cache when it holds this text, else parse(); a parse kept when it had no errors
 * and its value is plain data (written when the process exits).
 */
export function cachedYamlSource(file: string, text: string, parse: () => YamlSource): YamlSource {
  const counted = () => {
    parses++;
    return parse();
  };
  if (!cacheDir) return counted();
  const key = createHash('sha256').update(`pgplay yaml ${FORMAT} ${yamlVersion()}\n`).update(text).digest('hex').slice(0, 32);
  const kept = read(join(cacheDir, `yaml-${key}.cache`));
  if (kept) return remembering(file, text, v8().deserialize(kept.value), kept, counted, key);
  const parsed = counted();
  if (parsed.errors.length > 0 || !plainData(parsed.value)) return parsed;
  const entry: Entry = { value: v8().serialize(parsed.value), places: {} };
  save(key, entry);
  return remembering(file, text, parsed.value, entry, () => parsed, key);
}

/** A source whose places come from the entry, or from parsing (once) and then the entry, saved at exit. */
function remembering(file: string, text: string, value: unknown, entry: Entry, parse: () => YamlSource, key: string): YamlSource {
  let parsed: YamlSource | null = null;
  const ask = <T extends SourceRef | null>(question: string, answer: (source: YamlSource) => T): T => {
    const known = entry.places[question];
    if (known !== undefined) return (known ? { file, line: known.line, col: known.col } : null) as T;
    parsed ??= parse();
    const found = answer(parsed);
    entry.places[question] = found ? { line: found.line, col: found.col } : null;
    save(key, entry);
    return found;
  };
  return {
    file,
    text,
    value,
    errors: [],
    at: (path: YamlPath, which: 'key' | 'value' = 'value') => ask(`at ${which} ${JSON.stringify(path)}`, (s) => s.at(path, which)),
    inString: (path: YamlPath, line: number, column: number) => ask(`in ${line} ${column} ${JSON.stringify(path)}`, (s) => s.inString(path, line, column)),
    textAt: (path: YamlPath) => ask(`text ${JSON.stringify(path)}`, (s) => s.textAt(path)),
  };
}

function read(file: string): Entry | null {
  const bytes = readOwnFile(file);
  if (!bytes) return null;
  try {
    const kept = v8().deserialize(bytes) as { format?: unknown; value?: unknown; places?: unknown };
    if (kept.format !== FORMAT || !(kept.value instanceof Uint8Array) || !kept.places || typeof kept.places !== 'object') return null;
    return { value: Buffer.from(kept.value), places: kept.places as Entry['places'] };
  } catch {
    // Not one this version wrote whole: parsed again, and written anew.
    return null;
  }
}

let savingAtExit = false;
function save(key: string, entry: Entry): void {
  if (!savingAtExit) process.once('exit', saveParsedYaml);
  savingAtExit = true;
  unsaved.set(key, entry);
}

/** Write what this process parsed or learned of its files (at exit; the tests call it). */
export function saveParsedYaml(): void {
  const dir = cacheDir;
  if (dir) for (const [key, entry] of unsaved) writeCacheFile(join(dir, `yaml-${key}.cache`), () => v8().serialize({ format: FORMAT, value: entry.value, places: entry.places }));
  unsaved.clear();
}

/** Text, numbers, booleans, null, lists and plain mappings only: what survives being kept exactly. */
function plainData(value: unknown, seen = new Set<object>()): boolean {
  if (value === null || typeof value === 'string' || typeof value === 'number' || typeof value === 'boolean') return true;
  if (typeof value !== 'object') return false;
  if (seen.has(value)) return true;
  seen.add(value);
  if (Array.isArray(value)) return value.every((v) => plainData(v, seen));
  const proto = Object.getPrototypeOf(value);
  if (proto !== Object.prototype && proto !== null) return false;
  return Object.values(value).every((v) => plainData(v, seen));
}

/** Node's serialiser, loaded when first used: only run and status keep YAML files, and it costs a start 0.7 ms. */
function v8(): typeof import('node:v8') {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  return require('node:v8') as typeof import('node:v8');
}

let version: string | null = null;
function yamlVersion(): string {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  return (version ??= (require('yaml/package.json') as { version: string }).version);
}
