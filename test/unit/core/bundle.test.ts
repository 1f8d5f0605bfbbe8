// The bundled start (src/bundle-start.ts): used only while every file it was made from is unchanged.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { BUNDLE_MANIFEST, bundleDigest, bundleIsCurrent, bundleStamp, readOwnFile, runCodeCacheFile, writeCacheFile } from '../../../src/bundle-start';
import { ROOT } from '../../helpers/cli';

test('a bundle is current only while every file it was made from keeps its size and time (or, under another time, its bytes); a missing lock file is allowed', () => {
  const root = mkdtempSync(join(tmpdir(), 'pgplay-bundle-'));
  try {
    const dist = join(root, 'dist', 'src');
    mkdirSync(join(dist, 'config'), { recursive: true });
    writeFileSync(join(dist, 'main.js'), 'main\n');
    writeFileSync(join(dist, 'config', 'vars.js'), 'vars\n');
    writeFileSync(join(root, 'package-lock.json'), '{}\n');
    const files = ['dist/src/main.js', 'dist/src/config/vars.js', 'package-lock.json'];
    const writeManifest = () =>
      writeFileSync(join(dist, BUNDLE_MANIFEST), JSON.stringify({ files: files.map((f) => [f, bundleStamp(statSync(join(root, f))), bundleDigest(readFileSync(join(root, f)))]) }));
    assert.equal(bundleIsCurrent(root, dist), false, 'no manifest: the modules');
    writeManifest();
    assert.equal(bundleIsCurrent(root, dist), true);
    // An installed package: npm gives every file one old time; the bytes are the same.
    const old = new Date('1985-10-26T08:15:00Z');
    for (const f of files) utimesSync(join(root, f), old, old);
    assert.equal(bundleIsCurrent(root, dist), true, 'the same bytes under another time');
    // A rebuild by tsc alone rewrites a module: the same size, other bytes, a new time.
    writeFileSync(join(dist, 'config', 'vars.js'), 'VARS\n');
    assert.equal(bundleIsCurrent(root, dist), false, 'a module changed, same size');
    writeManifest();
    writeFileSync(join(dist, 'main.js'), 'main, longer\n');
    assert.equal(bundleIsCurrent(root, dist), false, 'a module of another size');
    writeManifest();
    rmSync(join(dist, 'config', 'vars.js'));
    assert.equal(bundleIsCurrent(root, dist), false, 'a module gone');
    writeFileSync(join(dist, 'config', 'vars.js'), 'vars\n');
    writeManifest();
    rmSync(join(root, 'package-lock.json'));
    assert.equal(bundleIsCurrent(root, dist), true, 'an installed package has no lock file');
    writeFileSync(join(dist, BUNDLE_MANIFEST), '{"files": []}');
    assert.equal(bundleIsCurrent(root, dist), false, 'an empty manifest');
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});

test('bin/pgplay.js from the bundle answers as the modules do', { skip: !bundleIsCurrent(ROOT, join(ROOT, 'dist', 'src')) && 'no current bundle (npm run build makes it)' }, () => {
  const args = ['validate', join(ROOT, 'playbooks', 'site.yml'), '-i', join(ROOT, 'inventory.example.yml')];
  const bundled = spawnSync(process.execPath, [join(ROOT, 'bin', 'pgplay.js'), ...args], { encoding: 'utf8' });
  const modules = spawnSync(process.execPath, [join(ROOT, 'dist', 'src', 'main.js'), ...args], { encoding: 'utf8' });
  assert.equal(bundled.status, 0, bundled.stderr);
  assert.deepEqual([bundled.status, bundled.stdout, bundled.stderr], [modules.status, modules.stdout, modules.stderr]);
  // An error names the file, line and column the same way, with no stack trace.
  const bad = ['validate', join(ROOT, 'test', 'fixtures', 'cli', 'inventory-render-errors.yml')];
  const b = spawnSync(process.execPath, [join(ROOT, 'bin', 'pgplay.js'), ...bad], { encoding: 'utf8' });
  const m = spawnSync(process.execPath, [join(ROOT, 'dist', 'src', 'main.js'), ...bad], { encoding: 'utf8' });
  assert.deepEqual([b.status, b.stdout, b.stderr], [m.status, m.stdout, m.stderr]);
  assert.doesNotMatch(b.stderr, /\n\s+at /);
});

test('--version answers from bin/pgplay.js alone, and a stdout that is closed or gone is no error', () => {
  const bin = join(ROOT, 'bin', 'pgplay.js');
  const { version } = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string };
  // Which of pgplay's files it loads: none but bin/pgplay.js (NODE_DEBUG=module names each file loaded).
  const r = spawnSync(process.execPath, [bin, '--version'], { encoding: 'utf8', env: { ...process.env, NODE_DEBUG: 'module' } });
  assert.equal(r.status, 0);
  assert.equal(r.stdout, `pgplay ${version}\n`);
  assert.doesNotMatch(r.stderr, /dist\/src/);
  for (const line of [`"${process.execPath}" "${bin}" --version >&-`, `"${process.execPath}" "${bin}" -V | true`]) {
    const closed = spawnSync('bash', ['-c', `set -o pipefail; ${line}`], { encoding: 'utf8' });
    assert.deepEqual([closed.status, closed.stderr], [0, ''], line);
  }
});

test("a run's code cache lives in the user's cache directory, one file per bundle and Node, read only when no one else may write it", () => {
  const manifest = { ascii: true, files: [['dist/src/main.js', '5:1', 'ab'] as [string, string, string]] };
  const file = runCodeCacheFile(manifest, { XDG_CACHE_HOME: '/x/cache', HOME: '/home/u' });
  assert.match(file ?? '', /^\/x\/cache\/pgplay\/code-[0-9a-f]{16}\.cache$/);
  assert.match(runCodeCacheFile(manifest, { XDG_CACHE_HOME: 'relative', HOME: '/home/u' }) ?? '', /^\/home\/u\/\.cache\/pgplay\/code-/, 'a relative XDG_CACHE_HOME is ignored, as the XDG spec says');
  assert.equal(runCodeCacheFile(manifest, {}), null);
  const other = { ...manifest, files: [['dist/src/main.js', '6:1', 'cd'] as [string, string, string]] };
  assert.notEqual(runCodeCacheFile(other, { HOME: '/home/u' }), runCodeCacheFile(manifest, { HOME: '/home/u' }), 'another bundle, another file');

  const dir = mkdtempSync(join(tmpdir(), 'pgplay-code-cache-'));
  try {
    const cache = join(dir, 'pgplay', 'code-0123.cache');
    writeCacheFile(cache, () => Buffer.from('compiled'));
    assert.equal(statSync(cache).mode & 0o777, 0o600);
    assert.equal(statSync(join(dir, 'pgplay')).mode & 0o777, 0o700);
    assert.equal(readOwnFile(cache)?.toString(), 'compiled');
    chmodSync(cache, 0o666);
    assert.equal(readOwnFile(cache), null, 'a file others may write is not run');
    chmodSync(cache, 0o600);
    chmodSync(join(dir, 'pgplay'), 0o777);
    assert.equal(readOwnFile(cache), null, 'nor one in a directory others may write');
    writeCacheFile(cache, () => Buffer.from('other'));
    assert.equal(readFileSync(cache, 'utf8'), 'compiled', 'nor is one written there');
    chmodSync(join(dir, 'pgplay'), 0o700);
    // Another version's cache, unused for long, goes when a new one is written; a recent one stays.
    const stale = join(dir, 'pgplay', 'code-aaaa.cache');
    const recent = join(dir, 'pgplay', 'code-bbbb.cache');
    writeFileSync(stale, 'old');
    writeFileSync(recent, 'new');
    const longAgo = new Date(Date.now() - 40 * 24 * 3600 * 1000);
    utimesSync(stale, longAgo, longAgo);
    writeCacheFile(cache, () => Buffer.from('again'));
    assert.deepEqual(readdirSync(join(dir, 'pgplay')).sort(), ['code-0123.cache', 'code-bbbb.cache']);
    // Nowhere to write: no error.
    writeCacheFile(join(dir, 'pgplay', 'code-0123.cache', 'below-a-file.cache'), () => Buffer.from('x'));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('the first run of a bundle writes its code cache, later runs read it, and one V8 refuses is removed, then written again', { skip: !bundleIsCurrent(ROOT, join(ROOT, 'dist', 'src')) && 'no current bundle (npm run build makes it)' }, () => {
  const home = mkdtempSync(join(tmpdir(), 'pgplay-code-cache-'));
  try {
    const env = { ...process.env, XDG_CACHE_HOME: home };
    const pgplay = (...args: string[]) => spawnSync(process.execPath, [join(ROOT, 'bin', 'pgplay.js'), ...args], { encoding: 'utf8', env });
    const cacheFiles = () => (existsSync(join(home, 'pgplay')) ? readdirSync(join(home, 'pgplay')) : []);
    const codeCaches = () => cacheFiles().filter((f) => !f.startsWith('yaml-'));
    const validate = pgplay('validate', join(ROOT, 'playbooks', 'site.yml'), '-i', join(ROOT, 'inventory.example.yml'));
    assert.equal(validate.status, 0, validate.stderr);
    assert.deepEqual(cacheFiles(), [], 'validate does not write one, nor keep the YAML files it parsed');
    const run = ['run', join(ROOT, 'test', 'fixtures', 'cli', 'template.yml'), '-i', join(ROOT, 'test', 'fixtures', 'cli', 'inventory.yml'), '--check'];
    const first = pgplay(...run);
    assert.equal(first.status, 0, first.stderr);
    const [name] = codeCaches();
    assert.match(name ?? '', /^code-[0-9a-f]{16}\.cache$/);
    assert.equal(cacheFiles().filter((f) => /^yaml-[0-9a-f]{32}\.cache$/.test(f)).length, 2, 'a run keeps its inventory and playbook parsed too');
    const file = join(home, 'pgplay', name);
    const written = readFileSync(file);
    const old = new Date('2026-01-01T00:00:00Z');
    utimesSync(file, old, old);
    const second = pgplay(...run);
    // The same answer (the hosts' lines come in the order they finish).
    const lines = (out: string) => out.replace(/\d+ ms/g, '').split('\n').sort();
    assert.deepEqual([second.status, lines(second.stdout)], [first.status, lines(first.stdout)]);
    assert.equal(statSync(file).mtimeMs, old.getTime(), 'accepted by V8: not written again');
    writeFileSync(file, 'not a code cache');
    const third = pgplay(...run);
    assert.equal(third.status, 0, third.stderr);
    assert.deepEqual(codeCaches(), [], 'refused by V8: removed');
    assert.equal(pgplay(...run).status, 0);
    // As big as the first, give or take what V8 compiled differently (a run without the build's cache writes less).
    assert.ok(Math.abs(readFileSync(file).length - written.length) < written.length / 50, 'the next run, from the build cache, writes a whole one again');
  } finally {
    rmSync(home, { recursive: true, force: true });
  }
});
