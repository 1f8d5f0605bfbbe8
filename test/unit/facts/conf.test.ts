import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { AUTO_CONF_HEADER, confValues, parseConfFile, quoteConfValue, setConfValues } from '../../../src/facts/conf-file';
import { canonicalValue, displaySetting, parseBool, sameValue, toConfText } from '../../../src/facts/conf-values';

describe('configuration values', () => {
  it('compares memory and time with units as the server does', () => {
    assert.equal(sameValue('65536', '64MB', { vartype: 'integer', unit: 'kB' }), true);
    assert.equal(sameValue('16384', '128MB', { vartype: 'integer', unit: '8kB' }), true);
    assert.equal(sameValue('16384', '129MB', { vartype: 'integer', unit: '8kB' }), false);
    assert.equal(sameValue('256', '256MB', { vartype: 'integer', unit: 'MB' }), true);
    assert.equal(sameValue('300', '5min', { vartype: 'integer', unit: 's' }), true);
    assert.equal(sameValue('300', '300', { vartype: 'integer', unit: 's' }), true);
    assert.equal(sameValue('-1', '-1', { vartype: 'integer', unit: 'kB' }), true);
    assert.equal(sameValue('64MB', '65536kB', { vartype: 'integer', unit: null }), true);
  });
  it('compares booleans, enums and strings', () => {
    assert.equal(sameValue('on', 'true', { vartype: 'bool', unit: null }), true);
    assert.equal(sameValue('off', 'yes', { vartype: 'bool', unit: null }), false);
    assert.equal(sameValue('replica', 'REPLICA', { vartype: 'enum', unit: null }), true);
    assert.equal(sameValue('a, b', 'a,b', { vartype: 'string', unit: null }), true);
    assert.equal(sameValue('/tmp', '/TMP', { vartype: 'string', unit: null }), false);
  });
  it('reports values that cannot be right', () => {
    assert.match(canonicalValue('maybe', { vartype: 'bool', unit: null }).error ?? '', /not a boolean/);
    assert.match(canonicalValue('10s', { vartype: 'integer', unit: 'kB' }).error ?? '', /time unit but this setting takes kB/);
    assert.match(canonicalValue('lots', { vartype: 'integer', unit: 'kB' }).error ?? '', /not a number/);
  });
  it('reads booleans like PostgreSQL, prefixes included', () => {
    assert.deepEqual(['on', 'TRUE', 't', 'ye', '1', 'off', 'of', 'f', 'no', '0', 'o', 'x'].map(parseBool), [true, true, true, true, true, false, false, false, false, false, null, null]);
  });
  it('turns YAML values into configuration text and shows active values with a unit', () => {
    assert.deepEqual([toConfText(true), toConfText(false), toConfText(10), toConfText(['a', 'b'])], ['on', 'off', '10', 'a, b']);
    assert.equal(displaySetting({ name: 'shared_buffers', setting: '16384', unit: '8kB', vartype: 'integer', context: 'postmaster' }), '128MB');
    assert.equal(displaySetting({ name: 'checkpoint_timeout', setting: '300', unit: 's', vartype: 'integer', context: 'sighup' }), '5min');
    assert.equal(displaySetting({ name: 'wal_level', setting: 'replica', unit: null, vartype: 'enum', context: 'postmaster' }), 'replica');
  });
});

describe('configuration files', () => {
  const auto = `${AUTO_CONF_HEADER}wal_level = 'replica'\nListen_Addresses = '10.0.0.1' # ours\nwork_mem 4MB\nwal_level = 'logical'\n`;
  it('reads values, the last line winning', () => {
    assert.deepEqual([...confValues(auto)], [['wal_level', 'logical'], ['listen_addresses', '10.0.0.1'], ['work_mem', '4MB']]);
    assert.deepEqual(parseConfFile("x = 'it''s'\n#y = 1\n")[0], { name: 'x', value: "it's", line: 0 });
  });
  it('rewrites the line in force, appends new names and keeps the rest', () => {
    const out = setConfValues(auto, { wal_level: 'replica', port: '5433', application_name: "a'b" });
    assert.equal(out, `${AUTO_CONF_HEADER}wal_level = 'replica'\nListen_Addresses = '10.0.0.1' # ours\nwork_mem 4MB\nwal_level = 'replica'\nport = '5433'\napplication_name = 'a''b'\n`);
    assert.equal(setConfValues('', { a: 'b' }), "a = 'b'\n");
    assert.equal(quoteConfValue('c:\\x'), "'c:\\\\x'");
    assert.equal(confValues(setConfValues('', { p: "c:\\x'y" })).get('p'), "c:\\x'y");
  });
});

describe('setConfValues and line breaks', () => {
  it('refuses a value with a line break rather than write a second setting', () => {
    assert.throws(() => setConfValues('', { primary_conninfo: "x\nshared_preload_libraries = 'evil'" }), /primary_conninfo holds a line break/);
  });
});
