import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { parseControlData } from '../../../src/facts/control-data';
import { quoteIdent, quoteLiteral, socketPath } from '../../../src/facts/sql-session';
import { pgSettingsFrom } from '../../../src/facts/pg-settings';

describe('SQL text helpers', () => {
  it('quotes identifiers and literals', () => {
    assert.equal(quoteIdent('rep"licator'), '"rep""licator"');
    assert.equal(quoteLiteral("it's"), "'it''s'");
    assert.equal(quoteLiteral('c:\\dir'), "E'c:\\\\dir'");
    assert.throws(() => quoteLiteral('a\0b'), /NUL/);
  });
  it('names the socket', () => {
    assert.equal(socketPath(pgSettingsFrom({ pg_port: 5433 })), '/var/run/postgresql/.s.PGSQL.5433');
  });
});

describe('pg_controldata', () => {
  it('reads the system identifier and state from captured output', () => {
    const text = readFileSync(join(__dirname, '../../../../test/fixtures/facts/pg_controldata.txt'), 'utf8');
    assert.deepEqual(parseControlData(text), { systemIdentifier: '7711818278664995908', state: 'shut down' });
    assert.equal(parseControlData('garbage'), null);
  });
});
