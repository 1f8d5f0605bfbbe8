import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { describe, it } from 'node:test';
import { parseScramVerifier, preparePassword, scramKeys, scramVerifier, verifierMatches } from '../../../src/facts/scram';

describe('SCRAM-SHA-256 verifier', () => {
  it('matches the RFC 7677 test vector (ServerSignature and ClientProof)', () => {
    const salt = Buffer.from('W22ZaJ0SNY7soEsUEjb6gQ==', 'base64');
    const { storedKey, serverKey, clientKey } = scramKeys('pencil', salt, 4096);
    const auth =
      'n=user,r=rOprNGfwEbeRWgbNEkqO,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096,c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0';
    assert.equal(createHmac('sha256', serverKey).update(auth).digest('base64'), '6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=');
    const clientSignature = createHmac('sha256', storedKey).update(auth).digest();
    const proof = Buffer.from(clientKey.map((b, i) => b ^ clientSignature[i]));
    assert.equal(proof.toString('base64'), 'dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=');
  });

  it('formats the verifier as pg_authid stores it, with a random 16-byte salt', () => {
    const v = scramVerifier('s3cret-pass');
    assert.match(v, /^SCRAM-SHA-256\$4096:[A-Za-z0-9+/]{22}==\$[A-Za-z0-9+/]{43}=:[A-Za-z0-9+/]{43}=$/);
    assert.notEqual(scramVerifier('s3cret-pass'), v);
    assert.equal(parseScramVerifier(v)?.salt.length, 16);
  });

  it('recomputes with the stored salt and iterations, so the same password matches and another does not', () => {
    const stored = scramVerifier('s3cret-pass', Buffer.alloc(16, 7), 8192);
    assert.equal(verifierMatches(stored, 's3cret-pass'), true);
    assert.equal(verifierMatches(stored, 's3cret-pasS'), false);
    assert.equal(verifierMatches('md5abcdef', 's3cret-pass'), false);
    assert.equal(verifierMatches(null, 's3cret-pass'), false);
  });
});

describe('SASLprep as libpq does it', () => {
  it('maps U+00AD to nothing and U+200B (a non-ASCII space) to a space, so the verifier is that of the prepared password', () => {
    assert.equal(preparePassword('pass\u00ADword'), 'password');
    assert.equal(preparePassword('zero\u200Bwidth'), 'zero width');
    assert.equal(preparePassword('\u3000ideographic'), ' ideographic');
    assert.equal(preparePassword('\uFB00-ligature'), 'ff-ligature');
    const salt = Buffer.alloc(16, 3);
    assert.equal(scramVerifier('pass\u00ADword', salt), scramVerifier('password', salt));
    assert.equal(verifierMatches(scramVerifier('password', salt), 'pass\u00ADword'), true);
  });
  it('falls back to the password as it is when SASLprep refuses it, as libpq and the server do', () => {
    assert.equal(preparePassword('priv\uE000ate'), 'priv\uE000ate', 'private use: prohibited');
    assert.equal(preparePassword('\u00AD\u200D'), '\u00AD\u200D', 'nothing left after mapping');
    assert.equal(preparePassword('x\u0221y'), 'x\u0221y', 'unassigned in Unicode 3.2');
    assert.equal(preparePassword('a\u0340'), 'a\u0340', 'prohibited before NFKC, as pg_saslprep checks');
    assert.equal(preparePassword('ascii\u0007bell'), 'ascii\u0007bell', 'pure ASCII passes untouched');
  });
});
