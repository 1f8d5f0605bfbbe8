// The private key pgplay hands to ssh2: parsed once for every host, and an Ed25519 key signing from a decoded key.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { utils, type ParsedKey } from 'ssh2';
import { privateKey, sshConnectConfig } from '../../../src/connection/ssh-connect-config';
import type { SshOptions } from '../../../src/connection/ssh-options';

function keygen(dir: string, type: string): Buffer {
  const file = join(dir, `id_${type}`);
  execFileSync('ssh-keygen', ['-q', '-t', type, '-N', '', '-C', 'pgplay-test', '-f', file]);
  return readFileSync(file);
}

test('a private key is parsed once for all hosts; Ed25519 signatures are the same and verify; RSA and unreadable keys go to ssh2 as they are', () => {
  const dir = mkdtempSync(join(tmpdir(), 'pgplay-key-'));
  try {
    const ed = keygen(dir, 'ed25519');
    const key = privateKey(ed) as ParsedKey;
    assert.ok(!Buffer.isBuffer(key));
    assert.equal(privateKey(Buffer.from(ed)), key, 'the same bytes: the same parsed key');
    const data = Buffer.from('session id and userauth request');
    const reference = (utils.parseKey(ed) as unknown as ParsedKey[])[0] ?? (utils.parseKey(ed) as ParsedKey);
    assert.deepEqual(key.sign(data), reference.sign(data), 'Ed25519 signatures are deterministic: the same bytes as ssh2 makes');
    assert.equal(reference.verify(data, key.sign(data)), true);

    const rsa = keygen(dir, 'rsa');
    const rsaKey = privateKey(rsa) as ParsedKey;
    assert.equal(rsaKey.type, 'ssh-rsa');
    assert.equal(rsaKey.verify(data, rsaKey.sign(data, 'sha256'), 'sha256'), true);
    assert.notEqual(privateKey(ed), key, 'another key in between: parsed again');

    const garbage = Buffer.from('not a key\n');
    assert.equal(privateKey(garbage), garbage, 'ssh2 says why it cannot use it');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a parsed key goes to ssh2 as a publickey attempt, before the agent and the password, in that order', () => {
  const dir = mkdtempSync(join(tmpdir(), 'pgplay-key-'));
  try {
    keygen(dir, 'ed25519');
    const options = { address: '192.0.2.10', port: 22, user: 'root', privateKeyFile: join(dir, 'id_ed25519'), agent: '/run/agent.sock', connectTimeoutMs: 1000, keepaliveIntervalMs: 0, keepaliveCountMax: 3 } as unknown as SshOptions;
    const made = sshConnectConfig(options, undefined, () => undefined);
    assert.ok('config' in made);
    assert.deepEqual(made.methods, ['publickey', 'agent']);
    const attempts = made.config.authHandler as unknown[];
    assert.equal((attempts[0] as { type: string; username: string }).type, 'publickey');
    assert.equal((attempts[0] as { username: string }).username, 'root');
    assert.equal(attempts[1], 'agent');
    assert.equal(made.config.privateKey, undefined);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
