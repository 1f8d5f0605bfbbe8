import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parse } from 'yaml';
import { parseHost, projectFiles } from '../../../src/commands/init';
import { BadOptionsError } from '../../../src/errors';

const hosts = { primary: { name: 'pg1', address: 'db1.example.com' }, replicas: [{ name: 'pg2', address: '192.0.2.12' }] };

test('parseHost takes NAME=ADDRESS: IPv4 or a DNS name (or IPv6) for the primary, IPv4 for a replica', () => {
  assert.deepEqual(parseHost('--primary', 'pg1=db1.example.com'), { name: 'pg1', address: 'db1.example.com' });
  assert.deepEqual(parseHost('--primary', 'pg1=2001:db8::1'), { name: 'pg1', address: '2001:db8::1' });
  assert.deepEqual(parseHost('--replica', 'pg-2.lan=192.0.2.12'), { name: 'pg-2.lan', address: '192.0.2.12' });
  for (const [option, spec] of [['--replica', 'pg2=2001:db8::2'], ['--replica', 'pg2=192.0.2.300'], ['--primary', '=10.0.0.1'], ['--primary', 'pg1='], ['--primary', 'all=10.0.0.1'], ['--primary', 'pg1=-bad-']] as const) {
    assert.throws(() => parseHost(option, spec), BadOptionsError, `${option} ${spec}`);
  }
});

test('projectFiles: the YAML inventory and group_vars point editors at the given schemas; the INI inventory has no YAML line', () => {
  const yamlFiles = projectFiles({ ...hosts, ini: false }, '/opt/pgplay/schemas');
  assert.deepEqual(Object.keys(yamlFiles), ['inventory.yml', 'group_vars/all.yml', 'site.yml', 'README.md']);
  assert.match(yamlFiles['inventory.yml'], /^# yaml-language-server: \$schema=\/opt\/pgplay\/schemas\/inventory\.schema\.json\n/);
  assert.match(yamlFiles['group_vars/all.yml'], /^# yaml-language-server: \$schema=\/opt\/pgplay\/schemas\/inventory\.schema\.json#\/definitions\/vars\n/);
  assert.match(yamlFiles['site.yml'], /^# yaml-language-server: \$schema=\/opt\/pgplay\/schemas\/playbook\.schema\.json\n/);
  assert.doesNotMatch(yamlFiles['site.yml'], /playbooks\/site\.yml/);
  assert.equal(parse(yamlFiles['inventory.yml']).all.children.primary.hosts.pg1.pg_address, 'db1.example.com');
  const iniFiles = projectFiles({ ...hosts, ini: true }, '/opt/pgplay/schemas');
  assert.deepEqual(Object.keys(iniFiles), ['inventory.ini', 'group_vars/all.yml', 'site.yml', 'README.md']);
  assert.doesNotMatch(iniFiles['inventory.ini'], /yaml-language-server/);
  assert.match(iniFiles['inventory.ini'], /^\[replicas\]\npg2 ansible_host=192\.0\.2\.12 pg_address=192\.0\.2\.12$/m);
  assert.match(iniFiles['README.md'], /pg1 \(db1\.example\.com\) is the primary, pg2 \(192\.0\.2\.12\) is its replica\./);
});
