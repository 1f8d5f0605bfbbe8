import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { conninfoWithPassfile, formatConninfo, parseConninfo, passfileLine } from '../../../../src/modules/pg/conninfo';
import { parseDescribeConfig } from '../../../../src/modules/pg/describe-config';

describe('conninfo', () => {
  it('drops the password that pg_basebackup -R copies and points at the passfile', () => {
    const written = "user=replicator password='se cr\\'et' channel_binding=prefer host=127.0.0.41 port=5441 sslmode=prefer application_name=x";
    assert.deepEqual(parseConninfo(written)[1], ['password', "se cr'et"]);
    assert.equal(
      conninfoWithPassfile(written, '/var/lib/postgresql/15/.pgpass-pgplay-main', 'pg2'),
      'user=replicator channel_binding=prefer host=127.0.0.41 port=5441 sslmode=prefer passfile=/var/lib/postgresql/15/.pgpass-pgplay-main application_name=pg2',
    );
    assert.equal(formatConninfo([['passfile', "/a b/it's"]]), "passfile='/a b/it\\'s'");
  });
  it('escapes colons and backslashes in a passfile line', () => {
    assert.equal(passfileLine('10.0.0.1', 5432, 'rep', 'a:b\\c'), '10.0.0.1:5432:*:rep:a\\:b\\\\c\n');
  });
  it('refuses a line break rather than write a second passfile entry', () => {
    assert.throws(() => passfileLine('10.0.0.1', 5432, 'rep', 'pw\n*:*:*:*:other'), /cannot hold a line break/);
    assert.throws(() => passfileLine('10.0.0.1', 5432, 'rep\r', 'pw'), /cannot hold a line break/);
  });
});

describe('postgres --describe-config', () => {
  it('reads context and type of each setting', () => {
    const text = 'hot_standby\tpostmaster\tReplication\tBOOLEAN\tFALSE\t\t\tAllows...\t\nwal_keep_size\tsighup\tReplication\tINTEGER\t0\t0\t2147483647\tSets...\t\n';
    assert.deepEqual([...parseDescribeConfig(text)], [
      ['hot_standby', { context: 'postmaster', vartype: 'bool' }],
      ['wal_keep_size', { context: 'sighup', vartype: 'integer' }],
    ]);
  });
});
