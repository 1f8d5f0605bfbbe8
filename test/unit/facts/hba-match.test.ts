import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { describeRule, firstMatchingRule, rowFromFileRules, rowsFromHbaText, type HbaConnection } from '../../../src/facts/hba-match';

const FIXTURES = join(__dirname, '..', '..', '..', '..', 'test', 'fixtures', 'facts');
const conn = (address: string, extra: Partial<HbaConnection> = {}): HbaConnection => ({ address, user: 'replicator', ssl: false, memberOf: [], ...extra });
const verdict = (text: string, c: HbaConnection) => {
  const v = firstMatchingRule(rowsFromHbaText(text), c);
  return v.kind === 'none' ? 'none' : `${v.kind} line ${v.rule.line}`;
};

describe('the pg_hba.conf rule a replication connection meets', () => {
  it("Debian's default file admits replication only from the host itself", () => {
    const text = readFileSync(join(FIXTURES, 'pg_hba.debian.conf'), 'utf8');
    assert.equal(verdict(text, conn('198.51.100.12')), 'none');
    assert.match(verdict(text, conn('127.0.0.1')), /^admit line \d+$/);
  });

  it('the first match wins, in file order: a reject before an admitting rule refuses', () => {
    const text = ['host replication all 198.51.100.0/24 reject', 'host replication replicator 198.51.100.12/32 scram-sha-256'].join('\n');
    assert.equal(verdict(text, conn('198.51.100.12')), 'reject line 1');
    assert.equal(verdict(text.split('\n').reverse().join('\n'), conn('198.51.100.12')), 'admit line 1');
  });

  it('`all` in the database column does not match replication; only the replication keyword does, not a quoted "replication"', () => {
    assert.equal(verdict('host all all 0.0.0.0/0 scram-sha-256', conn('198.51.100.12')), 'none');
    assert.equal(verdict('host "replication" all 0.0.0.0/0 scram-sha-256', conn('198.51.100.12')), 'none');
    assert.equal(verdict('host replication all 0.0.0.0/0 scram-sha-256', conn('198.51.100.12')), 'admit line 1');
  });

  it('addresses: a /32 admits only its host, a netmask as its prefix, another family never', () => {
    assert.equal(verdict('host replication replicator 198.51.100.13/32 md5', conn('198.51.100.12')), 'none');
    assert.equal(verdict('host replication replicator 198.51.100.0 255.255.255.0 md5', conn('198.51.100.12')), 'admit line 1');
    assert.equal(verdict('host replication replicator ::/0 md5', conn('198.51.100.12')), 'none');
    assert.equal(verdict('host replication replicator 2001:db8::/32 md5', conn('2001:db8::5')), 'admit line 1');
  });

  it('users: the name, all, or a +group the user is a member of', () => {
    assert.equal(verdict('host replication other 0.0.0.0/0 md5', conn('198.51.100.12')), 'none');
    assert.equal(verdict('host replication +repl 0.0.0.0/0 md5', conn('198.51.100.12', { memberOf: ['repl'] })), 'admit line 1');
    assert.equal(verdict('host replication +repl 0.0.0.0/0 md5', conn('198.51.100.12', { memberOf: [] })), 'none');
    // A stopped server cannot say who is in the group: not judged, rather than a wrong finding.
    assert.equal(verdict('host replication +repl 0.0.0.0/0 md5', conn('198.51.100.12', { memberOf: null })), 'unknown line 1');
  });

  it('hostssl matches only a TLS connection, hostnossl only a plain one; local never', () => {
    const text = ['local replication all trust', 'hostssl replication all 0.0.0.0/0 scram-sha-256', 'hostnossl replication all 0.0.0.0/0 reject'].join('\n');
    assert.equal(verdict(text, conn('198.51.100.12', { ssl: true })), 'admit line 2');
    assert.equal(verdict(text, conn('198.51.100.12', { ssl: false })), 'reject line 3');
  });

  it('a host name or samenet cannot be judged here; a rule the server could not read is not in force', () => {
    assert.equal(verdict('host replication all pg2.example.com scram-sha-256', conn('198.51.100.12')), 'unknown line 1');
    assert.equal(verdict('host replication all samenet scram-sha-256', conn('198.51.100.12')), 'unknown line 1');
    const rows = [
      rowFromFileRules({ line_number: 3, type: null, database: null, user_name: null, address: null, netmask: null, auth_method: null, error: 'invalid IP mask' }),
      rowFromFileRules({ line_number: 7, type: 'host', database: ['replication'], user_name: ['replicator'], address: '198.51.100.12', netmask: '255.255.255.255', auth_method: 'scram-sha-256', error: null }),
    ];
    const v = firstMatchingRule(rows, conn('198.51.100.12'));
    assert.equal(v.kind === 'admit' && describeRule(v.rule), 'host replication replicator 198.51.100.12 255.255.255.255 scram-sha-256');
  });
});
