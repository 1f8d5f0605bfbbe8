// The package as a user gets it: `npm pack`, then `npm install -g` of the tarball into a fresh prefix, then
// pgplay run from a directory outside the checkout. Slow (about 15 s): the install fetches the dependencies
// from the npm registry (or npm's cache).
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { promisify } from 'node:util';
import { ROOT } from '../helpers/cli';

const run = promisify(execFile);
const NPM_ENV = { npm_config_audit: 'false', npm_config_fund: 'false', npm_config_update_notifier: 'false' };

let work: string;
let prefix: string;
let tarball: string;
let files: string[];
/** PATH of a user who installed pgplay into the prefix: node, the prefix's bin, the system. */
let userPath: string;

before(async () => {
  work = mkdtempSync(join(tmpdir(), 'pgplay-package-'));
  prefix = join(work, 'prefix');
  // The tests run from the build (dist/), so the build is there: pack it as it is (prepack would build again).
  const packed = await run('npm', ['pack', '--json', '--ignore-scripts', '--pack-destination', work], { cwd: ROOT, env: { ...process.env, ...NPM_ENV } });
  const [info] = JSON.parse(packed.stdout) as Array<{ filename: string; files: Array<{ path: string }> }>;
  tarball = join(work, info.filename);
  files = info.files.map((f) => f.path);
  await run('npm', ['install', '--global', '--prefix', prefix, '--prefer-offline', '--no-audit', '--no-fund', tarball], {
    cwd: work,
    env: { ...process.env, ...NPM_ENV },
    timeout: 300_000,
  });
  userPath = [join(prefix, 'bin'), dirname(process.execPath), '/usr/bin', '/bin'].join(':');
});

after(() => rmSync(work, { recursive: true, force: true }));

/** pgplay from the PATH, as a user in `cwd` runs it: no checkout anywhere near, no variable of the test run. */
async function pgplay(args: string[], cwd: string): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const r = await run('pgplay', args, { cwd, env: { PATH: userPath, HOME: work, CI: 'true' } });
    return { code: 0, stdout: r.stdout, stderr: r.stderr };
  } catch (err) {
    const e = err as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}

test('the tarball holds what users need and nothing else', () => {
  const top = [...new Set(files.map((f) => f.split('/')[0]))].sort();
  assert.deepEqual(top, ['LICENSE', 'README.md', 'bin', 'dist', 'inventory.example.yml', 'package.json', 'playbooks', 'schemas', 'templates']);
  for (const f of ['bin/pgplay.js', 'dist/src/main.js', 'dist/src/cli.js', 'dist/src/commands/init.js', 'dist/src/config/validators.generated.js', 'playbooks/site.yml', 'schemas/playbook.schema.json', 'schemas/inventory.schema.json', 'templates/replication.conf.hbs']) {
    assert.ok(files.includes(f), `${f} is in the tarball`);
  }
  const stray = files.filter((f) => /^dist\/(test|bench)\/|^dist\/src\/tools\/|\.ts$|\.tsbuildinfo$|^(test|bench|src|scripts|docs)\//.test(f));
  assert.deepEqual(stray, []);
  assert.match(readFileSync(join(ROOT, 'LICENSE'), 'utf8'), /^MIT License/);
  const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { scripts: Record<string, string>; license: string };
  assert.equal(pkg.license, 'MIT');
  assert.match(pkg.scripts.prepack, /npm run build/, 'npm pack builds first (dist/ is not in git)');
});

test('the installed pgplay answers --version from any directory, with the package version', async () => {
  const elsewhere = mkdtempSync(join(work, 'cwd-'));
  const r = await pgplay(['--version'], elsewhere);
  assert.equal(r.code, 0, r.stderr);
  const { version } = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string };
  assert.equal(r.stdout, `pgplay ${version}\n`);
  assert.ok(existsSync(join(prefix, 'lib', 'node_modules', 'pgplay', 'dist', 'src', 'main.js')), 'installed in the prefix');
});

test('the installed pgplay validates its own playbooks against its example inventory', async () => {
  const installed = join(prefix, 'lib', 'node_modules', 'pgplay');
  const r = await pgplay(['validate', join(installed, 'playbooks'), '-i', join(installed, 'inventory.example.yml'), '-e', 'new_primary=pg2', '-e', 'replica=pg3'], mkdtempSync(join(work, 'cwd-')));
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /^6 playbooks valid against /);
});

test('pgplay init from another directory writes a project that the installed pgplay validates', async () => {
  const home = join(work, 'home');
  mkdirSync(home);
  const r = await pgplay(['init', 'replication', '--primary', 'pg1=10.0.0.11', '--replica', 'pg2=10.0.0.12'], home);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /^wrote replication\/site\.yml$/m);
  const site = readFileSync(join(home, 'replication', 'site.yml'), 'utf8');
  const schema = /^# yaml-language-server: \$schema=(.*)$/m.exec(site)?.[1] ?? '';
  assert.equal(schema, join(prefix, 'lib', 'node_modules', 'pgplay', 'schemas', 'playbook.schema.json'), 'the schema line points at the installed schemas');
  assert.ok(existsSync(schema));
  const valid = await pgplay(['validate', 'site.yml'], join(home, 'replication'));
  assert.equal(valid.code, 0, valid.stderr);
  assert.equal(valid.stdout, '1 playbook valid\n');
  const bad = await pgplay(['validate', '--format', 'github', join(home, 'replication', 'inventory.yml')], home);
  assert.equal(bad.code, 4, 'an inventory is not a playbook, and says so in an annotation');
  assert.match(bad.stdout, /^::error file=.*inventory\.yml,line=\d+,col=\d+::/m);
});
