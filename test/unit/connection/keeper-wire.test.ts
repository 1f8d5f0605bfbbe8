import assert from 'node:assert/strict';
import { chmodSync, mkdtempSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { connectionKey, decodeOpen, encodeOpen, keeperDir, keeperSocketPath, type OpenRequest } from '../../../src/connection/keeper-wire';
import { sshOptionsFrom } from '../../../src/connection/ssh-options';
import { Secret } from '../../../src/secrets';

const options = (vars: Record<string, unknown> = {}) => sshOptionsFrom('pg1', { ssh_config_file: '/dev/null', ansible_host: '192.0.2.11', ssh_control_persist: 60, ...vars }, { acceptNewHostKeys: false }, { PW: 'one-Secret-pw' });
const request = (vars: Record<string, unknown> = {}): OpenRequest => ({ hostName: 'pg1', options: options(vars), command: 'exec perl' });

test("a run's request reaches the keeper whole, its password a Secret again", () => {
  const sent = request({ ssh_password_env: 'PW' });
  const got = decodeOpen(encodeOpen(sent));
  assert.ok(got.options.password instanceof Secret);
  assert.equal(got.options.password.reveal(), 'one-Secret-pw');
  const plain = (r: OpenRequest) => JSON.parse(JSON.stringify({ ...r, options: { ...r.options, password: undefined } })) as unknown;
  assert.deepEqual(plain(got), plain(sent));
  assert.equal(got.options.persistSeconds, 60);
});

test('a connection is shared only by requests with the same options, and its key holds no secret', () => {
  const key = connectionKey(request({ ssh_password_env: 'PW' }));
  assert.equal(connectionKey({ ...request({ ssh_password_env: 'PW' }), hostName: 'other', command: 'other' }), key, 'the host name and command do not matter');
  assert.match(key, /^[0-9a-f]{64}$/);
  for (const vars of [{ ansible_user: 'ops' }, { ansible_port: 2222 }, { ssh_control_persist: 61 }, { ssh_known_hosts_file: '/tmp/kh' }, { ansible_host: '192.0.2.12' }]) {
    assert.notEqual(connectionKey(request({ ssh_password_env: 'PW', ...vars })), key, JSON.stringify(vars));
  }
  const other = sshOptionsFrom('pg1', { ssh_config_file: '/dev/null', ansible_host: '192.0.2.11', ssh_control_persist: 60, ssh_password_env: 'PW' }, { acceptNewHostKeys: false }, { PW: 'another-pw' });
  assert.notEqual(connectionKey({ hostName: 'pg1', options: other, command: '' }), key, 'another password, another connection');
  const checkMode = sshOptionsFrom('pg1', { ssh_config_file: '/dev/null', ansible_host: '192.0.2.11', ssh_control_persist: 60, ssh_password_env: 'PW' }, { acceptNewHostKeys: false, checkMode: true }, { PW: 'one-Secret-pw' });
  assert.notEqual(connectionKey({ hostName: 'pg1', options: checkMode, command: '' }), key, 'check mode (host keys not recorded) is never shared with a real run');
});

test("the keeper's socket is in a directory of this user's alone, else there is none", () => {
  const runtime = mkdtempSync(join(tmpdir(), 'pgplay-keeper-'));
  chmodSync(runtime, 0o700);
  const dir = keeperDir({ XDG_RUNTIME_DIR: runtime });
  assert.equal(dir, join(runtime, 'pgplay'));
  assert.equal(statSync(dir as string).mode & 0o777, 0o700);
  assert.match(keeperSocketPath({ XDG_RUNTIME_DIR: runtime }) ?? '', new RegExp(`^${runtime}/pgplay/keeper-\\d+\\.\\d+\\.\\d+.*\\.sock$`));
  // Without XDG_RUNTIME_DIR: ~/.pgplay/cp.
  const home = mkdtempSync(join(tmpdir(), 'pgplay-keeper-home-'));
  assert.equal(keeperDir({ HOME: home }), join(home, '.pgplay', 'cp'));
  assert.equal(statSync(join(home, '.pgplay', 'cp')).mode & 0o777, 0o700);
  // A directory others may enter or write is not used: no keeper, each run connects by itself.
  chmodSync(dir as string, 0o755);
  assert.equal(keeperDir({ XDG_RUNTIME_DIR: runtime }), null);
  assert.equal(keeperSocketPath({ XDG_RUNTIME_DIR: runtime }), null);
  chmodSync(dir as string, 0o770);
  assert.equal(keeperDir({ XDG_RUNTIME_DIR: runtime }), null);
  // A path too long for a unix socket, and no place at all.
  assert.equal(keeperSocketPath({ XDG_RUNTIME_DIR: join(runtime, 'x'.repeat(90)) }), null);
  assert.equal(keeperDir({}), null);
});
