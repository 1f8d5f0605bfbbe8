import assert from 'node:assert/strict';
import { test } from 'node:test';
import { closest, didYouMean } from '../../../src/config/suggest';

test('a close typo, or a word cut short that one candidate starts with, gets a hint', () => {
  assert.equal(closest('ensure_rol', ['ensure_role', 'ensure_conf']), 'ensure_role');
  assert.equal(closest('scram', ['md5', 'scram-sha-256', 'password']), 'scram-sha-256');
  assert.equal(closest('ho', ['hosts', 'host_vars']), undefined);
  assert.equal(didYouMean('pass', ['password', 'passfile']), '');
  assert.equal(didYouMean('apt', ['command', 'service']), '');
});
