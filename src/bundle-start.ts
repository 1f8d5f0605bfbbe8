// How bin/pgplay.js starts the bundled code (dist/src/bundle.js, written by src/tools/bundle.ts) with V8's code cache
// for it. Only Node's own modules here: this runs before anything else of pgplay.
import { createHash } from 'node:crypto';
import { readFileSync, statSync, writeFileSync, type Stats } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
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
  for (const [file, stamp, digest] of manifest.files) {
    let st: Stats;
    try {
      st = statSync(join(root, file));
    } catch {
      if (file === 'package-lock.json') continue;
      return null;
    }
    if (bundleStamp(st) === stamp) continue;
    if (String(st.size) !== stamp.split(':')[0]) return null;
    try {
      if (bundleDigest(readFileSync(join(root, file))) !== digest) return null;
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

/** Start pgplay from the bundle when it is current; false (nothing started) otherwise. */
export function startBundled(): boolean {
  const manifest = currentManifest(root, dist);
  if (!manifest) return false;
  let cachedData: Buffer | undefined;
  try {
    cachedData = readFileSync(join(dist, BUNDLE_CACHE));
  } catch {
    cachedData = undefined;
  }
  run(cachedData, manifest.ascii === true);
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
