// The last build step: pgplay's code (dist/src) and the packages it loads, as one file (dist/src/bundle.js), with
// V8's code cache for it (dist/src/bundle.cache) made by a trial start. Each pgplay start then reads two files
// instead of resolving and compiling some 200 modules: about 100 ms less CPU per start (see bench/README.md).
// bin/pgplay.js uses them only while every file they were made from is unchanged (dist/src/bundle.json); after a
// build that did not run this step, it loads dist/src/main.js as before.
import { spawnSync } from 'node:child_process';
import { readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { build } from 'esbuild';
import { staleValidators } from '../config/validators';
import { allModules } from '../modules/registry';
import { BUNDLE_CACHE, BUNDLE_FILE, BUNDLE_MANIFEST, bundleDigest, bundleStamp, type BundleManifest } from '../bundle-start';

const root = join(__dirname, '..', '..', '..');
const dist = join(root, 'dist', 'src');
const out = join(dist, BUNDLE_FILE);
const manifestFile = join(dist, BUNDLE_MANIFEST);
const cacheFile = join(dist, BUNDLE_CACHE);

// A failed or partial run leaves no manifest: the next start falls back to the modules.
rmSync(manifestFile, { force: true });
rmSync(cacheFile, { force: true });

async function main(): Promise<void> {
  // The bundle's validators are used without checking them against the schemas at each start: check them here.
  const stale = staleValidators(allModules());
  if (stale.length > 0) throw new Error(`the generated validators are older than their schemas (${stale.join(', ')}): run build-validators first`);
  const result = await build({
    entryPoints: [join(dist, 'main.js')],
    outfile: out,
    bundle: true,
    platform: 'node',
    format: 'cjs',
    target: 'node20',
    // cpu-features is a native binding; pg-native is pg's optional driver. ssh2 is in the bundle, but its optional
    // native binding is loaded from where npm built it (node_modules/ssh2/...), or, when it was not built, not at all
    // (ssh2 then uses its JavaScript code, as it does outside the bundle).
    external: ['cpu-features', 'pg-native'],
    // Smaller to read at every start, and plain ASCII (no comments, where packages keep a few other characters), so
    // bundle-start reads it as Latin-1 without decoding UTF-8: about 25 ms less per start. Names are kept.
    minifyWhitespace: true,
    minifySyntax: true,
    legalComments: 'none',
    charset: 'ascii',
    // The validators were checked against the schemas below, before this build: see staleValidators.
    define: { PGPLAY_BUNDLE: 'true' },
    plugins: [
      {
        name: 'native-bindings',
        setup(build) {
          build.onResolve({ filter: /\.node$/ }, (a) => {
            const full = join(a.resolveDir, a.path);
            const at = full.lastIndexOf('/node_modules/');
            if (at < 0) throw new Error(`bundle: a native binding outside node_modules: ${full}`);
            return { path: full.slice(at + '/node_modules/'.length), external: true };
          });
        },
      },
    ],
    metafile: true,
    logLevel: 'warning',
    absWorkingDir: root,
  });

  // Every file of pgplay's own code in the bundle, and the lock file that pins the packages in it: a start compares
  // their size and modification time with these (and their bytes, when only the time differs).
  const bytes = readFileSync(out);
  const ascii = !bytes.some((b) => b > 0x7f);
  const own = Object.keys(result.metafile.inputs).filter((f) => f.startsWith('dist/src/'));
  const files = [...own, 'package-lock.json'];
  const manifest: BundleManifest = { ascii, files: files.map((f) => [f, bundleStamp(statSync(join(root, f))), bundleDigest(readFileSync(join(root, f)))]) };

  // The code cache, from a start that validates the shipped playbook: the functions that run compiled, the rest left
  // for V8 to compile when first called. A cache V8 does not accept (another Node, other flags) is ignored by it.
  const trial = spawnSync(process.execPath, [join(__dirname, '..', 'bundle-start.js'), '--write-cache', cacheFile, 'validate', join(root, 'playbooks', 'site.yml'), '-i', join(root, 'inventory.example.yml')], {
    cwd: root,
    encoding: 'utf8',
    env: { ...process.env, PGPLAY_REPLICATION_PASSWORD: 'bundle-trial-only' },
  });
  if (trial.status !== 0 || trial.error) {
    process.stderr.write(`bundle: the trial start failed (${trial.error?.message ?? `exit ${trial.status}`}):\n${trial.stdout}${trial.stderr}`);
    process.exit(1);
  }
  writeFileSync(manifestFile, `${JSON.stringify(manifest)}\n`);
  process.stdout.write(`wrote ${relative(root, out)} (${own.length} files of pgplay, ${Math.round(statSync(out).size / 1024)} KB) and its code cache (${Math.round(statSync(cacheFile).size / 1024)} KB)\n`);
}

main().catch((err: unknown) => {
  process.stderr.write(`bundle: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
