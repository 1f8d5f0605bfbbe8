import { test } from 'node:test';
import assert from 'node:assert/strict';
import { redact, redactValue, rememberSecret, Secret } from '../../../src/secrets';

test('redact masks every remembered secret in text and nested values', () => {
  rememberSecret('s3cret-replication-pw');
  assert.equal(redact('password=s3cret-replication-pw host=x'), 'password=******** host=x');
  const out = redactValue({ a: ['x s3cret-replication-pw'], b: { c: 's3cret-replication-pw' }, n: 3 });
  assert.deepEqual(out, { a: ['x ********'], b: { c: '********' }, n: 3 });
});

test('a Secret never prints its value', () => {
  const s = new Secret('another-secret-value');
  assert.equal(String(s), '********');
  assert.equal(s.reveal(), 'another-secret-value');
  assert.equal(redact('got another-secret-value'), 'got ********');
});
