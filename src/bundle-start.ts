// How bin/pgplay.js starts the bundled code (dist/src/bundle.js, written by src/tools/bundle.ts) with V8's code cache
// for it. Only Node's own modules here: this runs before anything else of pgplay.
import { createHash } from 'node:crypto';
import { closeSync, fstatSync, mkdirSync, openSync, readdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync, type Stats } from 'node:fs';
import { createRequire } from 'node:module';
import { basename, dirname, isAbsolute, join, sep } from 'node:path';
import { Script } from 'node:vm';

export const BUNDLE_FILE = 'bundle.js';
export const BUNDLE_CACHE = 'bundle.cache';
export const BUNDLE_MANIFEST = 'bundle.json';

/** The files the bundle was made from, each with bundleStamp of it then and the SHA-256 of its bytes. */
export interface BundleManifest {
  /** The bundle is plain ASCII: read as Latin-1, without decoding UTF-8 (the same text, sooner). */
  ascii?: boolean;
  files: Array<[string, string, string]>;
}

export function bundleStamp(st: Stats): string {
  return `${st.size}:${st.mtimeMs}`;
}

export function bundleDigest(bytes: Buffer): string {
  return createHash('sha256').update(bytes).digest('hex');
}

const dist = __dirname;
const root = join(dist, '..', '..');

/**
 * Whether the bundle's manifest (in distDir) is there and every file it names under root is as it was when the bundle
 * was made: the same size and time, or else (an installed package: npm sets every file's time) the same size and
 * bytes. The lock file alone may be absent (an installed package has none).
 */
export function bundleIsCurrent(root: string, distDir: string): boolean {
  return currentManifest(root, distDir) !== null;
}

/** The bundle's manifest when the bundle is current (see bundleIsCurrent), else null. */
export function currentManifest(root: string, distDir: string): BundleManifest | null {
  let manifest: BundleManifest;
  try {
    manifest = JSON.parse(readFileSync(join(distDir, BUNDLE_MANIFEST), 'utf8')) as BundleManifest;
  } catch {
    return null;
  }
  if (!Array.isArray(manifest.files) || manifest.files.length === 0) return null;
  // The manifest's names are relative and plain (the bundler wrote them): joined as text, not by path.join, whose
  // normalising costs more than the 140-odd stat calls themselves.
  const prefix = root.endsWith(sep) ? root : `${root}${sep}`;
  for (const [file, stamp, digest] of manifest.files) {
    const path = prefix + file;
    let st: Stats;
    try {
      st = statSync(path);
    } catch {
      if (file === 'package-lock.json') continue;
      return null;
    }
    if (bundleStamp(st) === stamp) continue;
    if (String(st.size) !== stamp.split(':')[0]) return null;
    try {
      if (bundleDigest(readFileSync(path)) !== digest) return null;
    } catch {
      return null;
    }
  }
  return manifest;
}

function run(cachedData: Buffer | undefined, ascii: boolean): Script {
  const filename = join(dist, BUNDLE_FILE);
  const source = readFileSync(filename, ascii ? 'latin1' : 'utf8');
  const wrapped = `(function (exports, require, module, __filename, __dirname) {${source}\n})`;
  const script = new Script(wrapped, { filename, cachedData });
  const module = { exports: {} };
  (script.runInThisContext() as (...args: unknown[]) => void).call(module.exports, module.exports, createRequire(filename), module, filename, dist);
  return script;
}

/**
 * Where runs keep V8's code cache of the bundle: the build's trial start (a validate) leaves the code that talks to
 * hosts (SSH, the host agent, SQL) for V8 to compile at each start; a cache made at the end of a run has it compiled
 * (about 50 ms less CPU per run, bench/README.md). One file per bundle and Node, in the user's cache directory
 * ($XDG_CACHE_HOME/pgplay, else ~/.cache/pgplay); null when there is none.
 */
export function runCodeCacheFile(manifest: BundleManifest, env: NodeJS.ProcessEnv = process.env): string | null {
  const dir = pgplayCacheDir(env);
  if (!dir) return null;
  const key = createHash('sha256').update(JSON.stringify(manifest)).update(`${process.version} ${process.arch}`).digest('hex').slice(0, 16);
  return join(dir, `code-${key}.cache`);
}

/** pgplay's directory in the user's cache directory: $XDG_CACHE_HOME/pgplay, else ~/.cache/pgplay; null without either. */
export function pgplayCacheDir(env: NodeJS.ProcessEnv = process.env): string | null {
  const base = env.XDG_CACHE_HOME && isAbsolute(env.XDG_CACHE_HOME) ? env.XDG_CACHE_HOME : env.HOME && isAbsolute(env.HOME) ? join(env.HOME, '.cache') : null;
  return base ? join(base, 'pgplay') : null;
}

/** The commands whose code cache is worth keeping: they reach hosts. */
const CACHING_COMMANDS = ['run', 'status'];

/** A cache file not written for this long (another version's, another text's) is removed when a new one of its kind is written. */
const UNUSED_CACHE_MS = 30 * 24 * 3600 * 1000;

/** A file or directory of this user's that no one else may write. */
function ownedAndClosed(st: Stats): boolean {
  const uid = process.getuid?.();
  return (uid === undefined || st.uid === uid) && (st.mode & 0o022) === 0;
}

/**
 * The cache file's bytes when it and its directory are this user's and no one else may write them (V8 runs what a
 * code cache holds); null otherwise.
 */
export function readOwnFile(file: string): Buffer | null {
  let fd: number | undefined;
  try {
    if (!ownedAndClosed(statSync(dirname(file)))) return null;
    fd = openSync(file, 'r');
    if (!ownedAndClosed(fstatSync(fd))) return null;
    return readFileSync(fd);
  } catch {
    return null;
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
}

/**
 * Write a cache file (a run's code cache, a parsed YAML file) in place of the old one: readers see the old file or
 * the new, whole. Files of its kind (the same name up to the first '-') not written for a month go. Errors are ignored.
 */
export function writeCacheFile(file: string, data: () => Buffer): void {
  const dir = dirname(file);
  const partial = `${file}.${process.pid}.partial`;
  try {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    if (!ownedAndClosed(statSync(dir))) return;
    writeFileSync(partial, data(), { mode: 0o600 });
    renameSync(partial, file);
    const kind = new RegExp(`^${basename(file).split('-')[0]}-[0-9a-f]+\\.cache$`);
    for (const name of readdirSync(dir)) {
      const other = join(dir, name);
      if (other !== file && kind.test(name) && Date.now() - statSync(other).mtimeMs > UNUSED_CACHE_MS) rmSync(other, { force: true });
    }
  } catch {
    // No cache directory to write in: the next start compiles what it runs, as this one did.
    try {
      rmSync(partial, { force: true });
    } catch {
      // Nothing was written.
    }
  }
}

/** Start pgplay from the bundle when it is current; false (nothing started) otherwise. */
export function startBundled(): boolean {
  const manifest = currentManifest(root, dist);
  if (!manifest) return false;
  const runCache = runCodeCacheFile(manifest);
  const fromRuns = runCache ? readOwnFile(runCache) : null;
  let cachedData = fromRuns ?? undefined;
  if (!cachedData) {
    try {
      cachedData = readFileSync(join(dist, BUNDLE_CACHE));
    } catch {
      cachedData = undefined;
    }
  }
  const script = run(cachedData, manifest.ascii === true);
  if (!runCache) return true;
  if (fromRuns && script.cachedDataRejected) {
    // Not one V8 takes (damaged, or made by another V8 under the same name): gone, so that the next start begins
    // from the build's cache and its run writes a whole one again.
    try {
      rmSync(runCache, { force: true });
    } catch {
      // Left: V8 refuses it again, at no cost.
    }
  } else if (!fromRuns && CACHING_COMMANDS.includes(process.argv[2] ?? '')) {
    // The first run or status of this bundle leaves what it compiled for the next.
    process.once('exit', () => writeCacheFile(runCache, () => script.createCachedData()));
  }
  return true;
}

// The build's trial start: `node bundle-start.js --write-cache FILE ARGS...` runs pgplay ARGS from the bundle, then
// writes the code cache of what ran to FILE.
if (require.main === module && process.argv[2] === '--write-cache') {
  const file = process.argv[3];
  process.argv.splice(2, 2);
  const script = run(undefined, false);
  process.on('exit', () => writeFileSync(file, script.createCachedData()));
}
