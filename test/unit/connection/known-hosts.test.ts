import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { decideHostKey, hostKeyAlgorithms } from '../../../src/connection/host-key-policy';
import {
  appendKnownHost,
  checkHostKey,
  fingerprint,
  hostKeyFromBlob,
  hostLookupName,
  knownKeyTypes,
  parseKnownHosts,
  readKnownHosts,
  type HostKey,
} from '../../../src/connection/known-hosts';

const FIXTURES = join(__dirname, '..', '..', '..', '..', 'test', 'fixtures', 'known-hosts');
const MIXED = join(FIXTURES, 'mixed.known_hosts');
const entries = parseKnownHosts(readFileSync(MIXED, 'utf8'));

function key(name: string): HostKey {
  const [type, base64] = readFileSync(join(FIXTURES, `key-${name}.pub`), 'utf8').trim().split(' ');
  return { type, base64 };
}

const check = (host: string, port: number, k: HostKey) => checkHostKey(entries, hostLookupName(host, port), k);

test('parses plain, [host]:port, comma lists, hashed lines and markers; skips comments, blanks and junk', () => {
  assert.equal(entries.length, 10);
  assert.deepEqual(entries[0], { line: 2, marker: null, patterns: ['db1.example.com'], hashed: null, key: key('a') });
  assert.deepEqual(entries[2].patterns, ['db3.example.com', '10.0.0.3']);
  assert.deepEqual(
    entries.filter((e) => e.marker).map((e) => [e.marker, e.line]),
    [
      ['cert-authority', 7],
      ['revoked', 8],
    ],
  );
  assert.equal(entries.filter((e) => e.hashed).length, 2);
  assert.ok(entries.every((e) => e.line !== 14 && e.line !== 15), 'junk and unknown markers are not entries');
});

test('lookup names are the bare host on port 22 and [host]:port otherwise, lower case', () => {
  assert.equal(hostLookupName('127.0.0.12', 22), '127.0.0.12');
  assert.equal(hostLookupName('DB2.example.com', 2222), '[db2.example.com]:2222');
});

test('a plain entry: the same key is known, another key of that type is a change, another type is unknown', () => {
  assert.deepEqual(check('db1.example.com', 22, key('a')), { kind: 'known', line: 2 });
  assert.deepEqual(check('DB1.Example.COM', 22, key('a')), { kind: 'known', line: 2 });
  assert.deepEqual(check('db1.example.com', 22, key('b')), { kind: 'changed', line: 2, knownType: 'ssh-ed25519' });
  assert.deepEqual(check('db1.example.com', 22, key('ecdsa')), { kind: 'unknown', knownTypes: ['ssh-ed25519'] });
  assert.deepEqual(check('nowhere.example.org', 22, key('a')), { kind: 'unknown', knownTypes: [] });
});

test('a port other than 22 is looked up as [host]:port only', () => {
  assert.equal(check('db2.example.com', 2222, key('b')).kind, 'known');
  assert.equal(check('db2.example.com', 22, key('b')).kind, 'unknown');
});

test('comma lists, wildcards and negated patterns match as OpenSSH matches them', () => {
  assert.equal(check('10.0.0.3', 22, key('c')).kind, 'known');
  assert.equal(check('db3.example.com', 22, key('c')).kind, 'known');
  assert.equal(check('pg1.lab.example.com', 22, key('d')).kind, 'known');
  assert.equal(check('bad.lab.example.com', 22, key('d')).kind, 'unknown');
});

test('hashed entries match through HMAC-SHA1 of the lookup name (made by ssh-keygen -H)', () => {
  assert.deepEqual(check('db5.example.com', 22, key('ecdsa')), { kind: 'known', line: 10 });
  assert.deepEqual(check('db6.example.com', 2200, key('a')), { kind: 'known', line: 11 });
  assert.equal(check('db6.example.com', 22, key('a')).kind, 'unknown');
  assert.deepEqual(check('db5.example.com', 22, key('b')), { kind: 'unknown', knownTypes: ['ecdsa-sha2-nistp256'] });
});

test('a host may have several keys; a certificate authority is not a host key; a revoked key is refused everywhere', () => {
  assert.equal(check('db7.example.com', 22, key('ecdsa')).kind, 'known');
  assert.equal(check('db7.example.com', 22, key('b')).kind, 'known');
  assert.deepEqual(check('db7.example.com', 22, key('a')), { kind: 'changed', line: 13, knownType: 'ssh-ed25519' });
  assert.deepEqual(knownKeyTypes(entries, 'db7.example.com'), ['ecdsa-sha2-nistp256', 'ssh-ed25519']);
  assert.equal(check('x.example.com', 22, key('e')).kind, 'unknown');
  assert.deepEqual(check('db1.example.com', 22, key('f')), { kind: 'revoked', line: 8 });
});

test('the key blob a server sends gives the type and the fingerprint ssh-keygen -l prints', () => {
  const blob = Buffer.from(key('a').base64, 'base64');
  assert.deepEqual(hostKeyFromBlob(blob), key('a'));
  assert.equal(fingerprint(key('a')), 'SHA256:4KGwv0nxsOH9bnKNpsJpAZcBYerww4k/ENiCKfa68x0');
  assert.equal(fingerprint(key('ecdsa')), 'SHA256:ltw73EXkfn8r+a+AYfUQEWvbVroUM5L5zV0LfMoRgOc');
  assert.throws(() => hostKeyFromBlob(Buffer.from([0, 0, 0, 50, 1])), /malformed host key/);
});

test('appending creates the file 0600 in a new 0700 directory, adds a missing newline, writes plain lines', () => {
  const dir = mkdtempSync(join(tmpdir(), 'pgplay-kh-'));
  try {
    const file = join(dir, 'ssh', 'known_hosts');
    appendKnownHost(file, hostLookupName('127.0.0.12', 22), key('a'));
    assert.equal(statSync(file).mode & 0o777, 0o600);
    assert.equal(statSync(join(dir, 'ssh')).mode & 0o777, 0o700);
    writeFileSync(file, readFileSync(file, 'utf8') + '# no newline at the end');
    appendKnownHost(file, hostLookupName('127.0.0.13', 2222), key('b'));
    const text = readFileSync(file, 'utf8');
    assert.equal(text, `127.0.0.12 ${key('a').type} ${key('a').base64}\n# no newline at the end\n[127.0.0.13]:2222 ${key('b').type} ${key('b').base64}\n`);
    assert.equal(checkHostKey(parseKnownHosts(text), '[127.0.0.13]:2222', key('b')).kind, 'known');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('policy: unknown keys are refused unless opted in, then recorded; changed and revoked keys are always refused', () => {
  const dir = mkdtempSync(join(tmpdir(), 'pgplay-kh-'));
  try {
    const file = join(dir, 'known_hosts');
    writeFileSync(file, readFileSync(MIXED));
    const blob = (name: string) => Buffer.from(key(name).base64, 'base64');
    const strict = { knownHostsFile: file, acceptNewHostKeys: false };
    const acceptNew = { knownHostsFile: file, acceptNewHostKeys: true };
    const refused = decideHostKey('10.9.9.9', 22, blob('a'), strict);
    assert.equal(refused.trusted, false);
    assert.match(refused.trusted ? '' : refused.reason, new RegExp(`^host key of 10\\.9\\.9\\.9 \\(ssh-ed25519 SHA256:\\S+\\) is not in ${file} \\(pass --accept-new-host-keys`));
    assert.deepEqual(decideHostKey('10.9.9.9', 22, blob('a'), acceptNew), { trusted: true, recorded: true, key: key('a') });
    assert.deepEqual(decideHostKey('10.9.9.9', 22, blob('a'), strict), { trusted: true, recorded: false, key: key('a') });
    const changed = decideHostKey('db1.example.com', 22, blob('b'), acceptNew);
    assert.equal(changed.trusted, false);
    assert.match(changed.trusted ? '' : changed.reason, /^HOST KEY CHANGED for db1\.example\.com: .* holds another ssh-ed25519 key\. .*ssh-keygen -R 'db1\.example\.com'/);
    const revoked = decideHostKey('10.9.9.9', 22, blob('f'), acceptNew);
    assert.match(revoked.trusted ? '' : revoked.reason, /is REVOKED in .*:8$/);
    assert.equal(readFileSync(file, 'utf8').split('\n').filter((l) => l.startsWith('10.9.9.9 ')).length, 1);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a known_hosts file is parsed once, and again as soon as its text changes (an edit in place, a removal)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'pgplay-kh-'));
  try {
    const file = join(dir, 'known_hosts');
    const blob = (name: string) => Buffer.from(key(name).base64, 'base64');
    const strict = { knownHostsFile: file, acceptNewHostKeys: false };
    writeFileSync(file, `10.9.9.9 ${key('a').type} ${key('a').base64}\n`);
    const first = readKnownHosts(file);
    assert.equal(readKnownHosts(file), first, 'the same entries while the file is unchanged');
    assert.equal(decideHostKey('10.9.9.9', 22, blob('a'), strict).trusted, true);
    // The host's key replaced in place (ssh-keygen -R, then the new key): the old key is refused at once.
    writeFileSync(file, `10.9.9.9 ${key('b').type} ${key('b').base64}\n`);
    assert.notEqual(readKnownHosts(file), first);
    assert.equal(decideHostKey('10.9.9.9', 22, blob('a'), strict).trusted, false);
    assert.equal(decideHostKey('10.9.9.9', 22, blob('b'), strict).trusted, true);
    rmSync(file);
    assert.deepEqual(readKnownHosts(file), []);
    assert.equal(decideHostKey('10.9.9.9', 22, blob('b'), strict).trusted, false);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a host whose known ed25519 key is replaced by an RSA key is not new: refused with the opt-in, nothing recorded', () => {
  const dir = mkdtempSync(join(tmpdir(), 'pgplay-kh-'));
  try {
    const file = join(dir, 'known_hosts');
    const text = `10.1.1.1 ${key('a').type} ${key('a').base64}\n`;
    writeFileSync(file, text);
    const rsa = Buffer.from(key('rsa').base64, 'base64');
    const decision = decideHostKey('10.1.1.1', 22, rsa, { knownHostsFile: file, acceptNewHostKeys: true });
    assert.equal(decision.trusted, false);
    assert.match(
      decision.trusted ? '' : decision.reason,
      new RegExp(`^host key of 10\\.1\\.1\\.1 \\(ssh-rsa SHA256:\\S+\\) is not known, but ${file}:1 holds a ssh-ed25519 key for it: .*remove the old one \\(ssh-keygen -R '10\\.1\\.1\\.1' -f ${file}\\)`),
    );
    assert.equal(readFileSync(file, 'utf8'), text, 'nothing was added');
    // A key known through a hashed line counts too.
    const hashed = join(dir, 'hashed');
    writeFileSync(hashed, readFileSync(MIXED));
    assert.equal(decideHostKey('db5.example.com', 22, rsa, { knownHostsFile: hashed, acceptNewHostKeys: true }).trusted, false);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a new host in a hashed known_hosts is recorded hashed, with HashKnownHosts=yes too; a plain file gets a plain line', () => {
  const dir = mkdtempSync(join(tmpdir(), 'pgplay-kh-'));
  try {
    const hashed = join(dir, 'hashed');
    writeFileSync(hashed, readFileSync(MIXED, 'utf8').split('\n').filter((l) => l.startsWith('|1|')).join('\n') + '\n');
    const before = readFileSync(hashed, 'utf8');
    assert.deepEqual(decideHostKey('10.2.2.2', 2222, Buffer.from(key('rsa').base64, 'base64'), { knownHostsFile: hashed, acceptNewHostKeys: true }), { trusted: true, recorded: true, key: key('rsa') });
    const added = readFileSync(hashed, 'utf8').slice(before.length);
    assert.match(added, /^\|1\|[A-Za-z0-9+/]{27}=\|[A-Za-z0-9+/]{27}= ssh-rsa AAAA\S+\n$/);
    assert.equal(added.includes('10.2.2.2'), false, 'the name is not readable');
    assert.deepEqual(checkHostKey(parseKnownHosts(added), '[10.2.2.2]:2222', key('rsa')), { kind: 'known', line: 1 });
    // ssh-keygen finds it as OpenSSH would.
    assert.match(execFileSync('ssh-keygen', ['-F', '[10.2.2.2]:2222', '-f', hashed], { encoding: 'utf8' }), /ssh-rsa/);
    const plain = join(dir, 'plain');
    writeFileSync(plain, `db1.example.com ${key('a').type} ${key('a').base64}\n`);
    decideHostKey('10.2.2.3', 22, Buffer.from(key('b').base64, 'base64'), { knownHostsFile: plain, acceptNewHostKeys: true });
    assert.match(readFileSync(plain, 'utf8'), /\n10\.2\.2\.3 ssh-ed25519 /);
    // HashKnownHosts=yes hashes the line whatever the file holds.
    decideHostKey('10.2.2.4', 22, Buffer.from(key('c').base64, 'base64'), { knownHostsFile: plain, acceptNewHostKeys: true, hashKnownHosts: true });
    assert.match(readFileSync(plain, 'utf8').trim().split('\n').pop() ?? '', /^\|1\|\S+ ssh-ed25519 /);
    assert.equal(readFileSync(plain, 'utf8').includes('10.2.2.4'), false);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('in check mode a new host key is trusted for the run and written nowhere', () => {
  const dir = mkdtempSync(join(tmpdir(), 'pgplay-kh-'));
  try {
    const file = join(dir, 'ssh', 'known_hosts');
    const blob = Buffer.from(key('a').base64, 'base64');
    assert.deepEqual(decideHostKey('10.3.3.3', 22, blob, { knownHostsFile: file, acceptNewHostKeys: true, checkMode: true }), { trusted: true, recorded: false, key: key('a') });
    assert.equal(existsSync(file), false);
    assert.equal(existsSync(join(dir, 'ssh')), false);
    assert.equal(decideHostKey('10.3.3.3', 22, blob, { knownHostsFile: file, acceptNewHostKeys: false, checkMode: true }).trusted, false, 'without the opt-in it is still refused');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('host key algorithms offer the types known for the host first', () => {
  const policy = { knownHostsFile: MIXED, acceptNewHostKeys: false };
  assert.deepEqual(hostKeyAlgorithms('db5.example.com', 22, policy).slice(0, 2), ['ecdsa-sha2-nistp256', 'ssh-ed25519']);
  assert.equal(hostKeyAlgorithms('unknown.example.org', 22, policy)[0], 'ssh-ed25519');
  assert.ok(hostKeyAlgorithms('db1.example.com', 22, policy).includes('rsa-sha2-512'));
});
