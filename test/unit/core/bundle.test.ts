// The bundled start (src/bundle-start.ts): used only while every file it was made from is unchanged.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { BUNDLE_MANIFEST, bundleDigest, bundleIsCurrent, bundleStamp } from '../../../src/bundle-start';
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
