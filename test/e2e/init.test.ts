// pgplay init as a new user runs it: a starting project in a fresh directory, checked with pgplay validate.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse, stringify } from 'yaml';
import { ROOT, runCli } from '../helpers/cli';

const SECRET = 'init-test-not-a-real-password';
const HOSTS = ['--primary', 'pg1=10.0.0.11', '--replica', 'pg2=10.0.0.12', '--replica', 'pg3=10.0.0.13'];

let work: string;
before(() => {
  work = mkdtempSync(join(tmpdir(), 'pgplay-init-'));
});
after(() => rmSync(work, { recursive: true, force: true }));

/** Every file under dir, by relative path. */
function tree(dir: string): string[] {
  return (readdirSync(dir, { recursive: true }) as string[]).filter((f) => statSync(join(dir, f)).isFile()).sort();
}

const init = (args: string[], cwd = work) => runCli(['init', ...args], { cwd, env: { PGPLAY_REPLICATION_PASSWORD: SECRET } });

test('init writes the inventory, group_vars/all.yml, site.yml and a README, says so, and writes no secret', async () => {
  const r = await init(['yaml', ...HOSTS]);
  assert.equal(r.code, 0, r.stderr);
  const dir = join(work, 'yaml');
  assert.deepEqual(tree(dir), ['README.md', 'group_vars/all.yml', 'inventory.yml', 'site.yml']);
  for (const f of ['yaml/inventory.yml', 'yaml/group_vars/all.yml', 'yaml/site.yml', 'yaml/README.md']) assert.match(r.stdout, new RegExp(`^wrote ${f}$`, 'm'));
  assert.match(r.stdout, /^ {2}cd yaml$/m);
  assert.match(r.stdout, /^ {2}pgplay validate site\.yml -i inventory\.yml$/m);
  for (const f of tree(dir)) assert.doesNotMatch(readFileSync(join(dir, f), 'utf8'), new RegExp(SECRET), `${f} holds no secret`);

  const inventory = parse(readFileSync(join(dir, 'inventory.yml'), 'utf8'));
  assert.deepEqual(inventory, {
    all: {
      children: {
        primary: { hosts: { pg1: { ansible_host: '10.0.0.11', pg_address: '10.0.0.11' } } },
        replicas: { hosts: { pg2: { ansible_host: '10.0.0.12', pg_address: '10.0.0.12' }, pg3: { ansible_host: '10.0.0.13', pg_address: '10.0.0.13' } } },
      },
    },
  });
  const vars = parse(readFileSync(join(dir, 'group_vars', 'all.yml'), 'utf8'));
  assert.deepEqual(vars, {
    become_method: 'sudo',
    replication_user: 'replicator',
    pg_version: 15,
    pg_bin_dir: '/usr/lib/postgresql/15/bin',
    pg_data_dir: '/var/lib/postgresql/15/main',
    pg_config_dir: '/etc/postgresql/15/main',
    pg_socket_dir: '/var/run/postgresql',
    pg_port: 5432,
    pg_service: 'systemd:postgresql@15-main',
  });
  // The same plays as the shipped site.yml; only the schema line and the comments point at this project.
  const site = readFileSync(join(dir, 'site.yml'), 'utf8');
  assert.deepEqual(parse(site), parse(readFileSync(join(ROOT, 'playbooks', 'site.yml'), 'utf8')));
  assert.match(site, new RegExp(`^# yaml-language-server: \\$schema=${join(ROOT, 'schemas', 'playbook.schema.json')}$`, 'm'));
  assert.match(site, /env\.PGPLAY_REPLICATION_PASSWORD/);
  const readme = readFileSync(join(dir, 'README.md'), 'utf8');
  const commands = readme.split('```sh\n')[1].split('```')[0].trim().split('\n');
  assert.equal(commands.length, 4, readme);
  assert.match(commands[1], /^pgplay validate site\.yml -i inventory\.yml /);
  assert.match(commands[2], /^pgplay run site\.yml -i inventory\.yml --check --diff /);
  assert.match(commands[3], /^pgplay run site\.yml -i inventory\.yml /);
});

test('the project validates: its playbook alone, the whole directory, and with its variables given as inventory vars', async () => {
  const dir = join(work, 'yaml');
  const alone = await runCli(['validate', 'site.yml'], { cwd: dir });
  assert.equal(alone.code, 0, alone.stderr);
  const all = await runCli(['validate', '.'], { cwd: dir });
  assert.equal(all.code, 0, all.stderr);
  assert.equal(all.stdout, '1 playbook valid\n', 'group_vars/all.yml is not taken for a playbook');
  // What group_vars/all.yml holds is what site.yml needs: the same values as the inventory's all.vars.
  const inventory = parse(readFileSync(join(dir, 'inventory.yml'), 'utf8'));
  inventory.all.vars = parse(readFileSync(join(dir, 'group_vars', 'all.yml'), 'utf8'));
  writeFileSync(join(work, 'merged-inventory.yml'), stringify(inventory));
  const merged = await runCli(['validate', 'site.yml', '-i', join(work, 'merged-inventory.yml')], { cwd: dir });
  assert.equal(merged.code, 0, merged.stderr);
  assert.match(merged.stdout, /^1 playbook valid against /);
});

test('the YAML project validates with its inventory and group_vars, as its README says', async () => {
  const r = await runCli(['validate', 'site.yml', '-i', 'inventory.yml'], { cwd: join(work, 'yaml') });
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdout, '1 playbook valid against inventory.yml\n');
});

test('--ini writes the inventory in Ansible INI layout, beside the same group_vars', async () => {
  const r = await init(['ini', '--ini', ...HOSTS]);
  assert.equal(r.code, 0, r.stderr);
  const dir = join(work, 'ini');
  assert.deepEqual(tree(dir), ['README.md', 'group_vars/all.yml', 'inventory.ini', 'site.yml']);
  const lines = readFileSync(join(dir, 'inventory.ini'), 'utf8').split('\n').filter((l) => l && !l.startsWith('#'));
  assert.deepEqual(lines, [
    '[primary]',
    'pg1 ansible_host=10.0.0.11 pg_address=10.0.0.11',
    '[replicas]',
    'pg2 ansible_host=10.0.0.12 pg_address=10.0.0.12',
    'pg3 ansible_host=10.0.0.13 pg_address=10.0.0.13',
  ]);
  assert.equal(readFileSync(join(dir, 'group_vars', 'all.yml'), 'utf8'), readFileSync(join(work, 'yaml', 'group_vars', 'all.yml'), 'utf8'));
  assert.match(readFileSync(join(dir, 'README.md'), 'utf8'), /pgplay validate site\.yml -i inventory\.ini/);
  const alone = await runCli(['validate', 'site.yml'], { cwd: dir });
  assert.equal(alone.code, 0, alone.stderr);
});

test('the INI project validates with its inventory and group_vars, as its README says', async () => {
  const r = await runCli(['validate', 'site.yml', '-i', 'inventory.ini'], { cwd: join(work, 'ini') });
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdout, '1 playbook valid against inventory.ini\n');
});

test('existing files are refused, all named, and nothing is written; --force overwrites only those files', async () => {
  const dir = join(work, 'again');
  assert.equal((await init(['again', ...HOSTS])).code, 0);
  writeFileSync(join(dir, 'site.yml'), '# mine\n');
  writeFileSync(join(dir, 'notes.txt'), 'mine too\n');
  const refused = await init(['again', '--primary', 'db1=10.1.0.1', '--replica', 'db2=10.1.0.2']);
  assert.equal(refused.code, 5);
  assert.match(refused.stderr, /^pgplay: again\/inventory\.yml, again\/group_vars\/all\.yml, again\/site\.yml, again\/README\.md already exist: nothing was written \(--force overwrites them\)$/m);
  assert.equal(readFileSync(join(dir, 'site.yml'), 'utf8'), '# mine\n');
  assert.doesNotMatch(readFileSync(join(dir, 'inventory.yml'), 'utf8'), /db1/);
  // Another layout writes another inventory file, but the others are still refused.
  const ini = await init(['again', '--ini', ...HOSTS]);
  assert.equal(ini.code, 5);
  assert.equal(existsSync(join(dir, 'inventory.ini')), false);

  const forced = await init(['again', '--force', '--primary', 'db1=10.1.0.1', '--replica', 'db2=10.1.0.2']);
  assert.equal(forced.code, 0, forced.stderr);
  assert.match(forced.stdout, /^overwrote again\/site\.yml$/m);
  assert.match(readFileSync(join(dir, 'inventory.yml'), 'utf8'), /db1:\n {10}ansible_host: 10\.1\.0\.1/);
  assert.notEqual(readFileSync(join(dir, 'site.yml'), 'utf8'), '# mine\n');
  assert.equal(readFileSync(join(dir, 'notes.txt'), 'utf8'), 'mine too\n', 'a file init does not write is not touched');
});

test('the current directory is the default, and the commands then need no cd', async () => {
  const dir = mkdtempSync(join(work, 'here-'));
  const r = await init(HOSTS, dir);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /^wrote inventory\.yml$/m);
  assert.doesNotMatch(r.stdout, /cd /);
});

test('bad host options are refused before anything is written', async () => {
  const cases: Array<[string[], RegExp]> = [
    [['--replica', 'pg2=10.0.0.12'], /init needs --primary NAME=ADDRESS, as in --primary pg1=10\.0\.0\.11/],
    [['--primary', 'pg1=10.0.0.11'], /init needs at least one --replica NAME=ADDRESS/],
    [['--primary', 'pg1=10.0.0.11', '--primary', 'pg9=10.0.0.19', '--replica', 'pg2=10.0.0.12'], /init takes one --primary, got 2/],
    [['--primary', 'pg1', '--replica', 'pg2=10.0.0.12'], /--primary takes NAME=ADDRESS, as in --primary pg1=10\.0\.0\.11; got 'pg1'/],
    [['--primary', 'pg1=10.0.0.11', '--replica', 'pg2=db2.example.com'], /a replica's address is an IPv4 address \(site\.yml lets it in with a pg_hba\.conf rule for ADDRESS\/32\); got 'db2\.example\.com'/],
    [['--primary', 'pg 1=10.0.0.11', '--replica', 'pg2=10.0.0.12'], /'pg 1' is not a host name/],
    [['--primary', 'primary=10.0.0.11', '--replica', 'pg2=10.0.0.12'], /'primary' is the name of a group of the inventory/],
    [['--primary', 'pg1=10.0.0.11', '--replica', 'pg1=10.0.0.12'], /two hosts with the name pg1/],
    [['--primary', 'pg1=10.0.0.11', '--replica', 'pg2=10.0.0.11'], /two hosts with the address 10\.0\.0\.11/],
    [['--primary', 'pg1=bad_name!', '--replica', 'pg2=10.0.0.12'], /'bad_name!' is not an IP address or a DNS name/],
  ];
  for (const [args, message] of cases) {
    const dir = mkdtempSync(join(work, 'bad-'));
    const r = await init(args, dir);
    assert.equal(r.code, 5, `${args.join(' ')}: ${r.stderr}`);
    assert.match(r.stderr, message, args.join(' '));
    assert.deepEqual(readdirSync(dir), [], 'nothing written');
  }
});

test('init --help describes the files and the options', async () => {
  const r = await runCli(['init', '--help']);
  assert.equal(r.code, 0);
  assert.match(r.stdout, /^pgplay init \[DIR\] --primary NAME=ADDRESS --replica NAME=ADDRESS/);
  assert.match(r.stdout, /--ini/);
  assert.match(r.stdout, /--force/);
  const usage = await runCli(['--help']);
  assert.match(usage.stdout, /pgplay init \[DIR\]/);
});
