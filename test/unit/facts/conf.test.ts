import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { AUTO_CONF_HEADER, confValues, parseConfFile, quoteConfValue, setConfValues } from '../../../src/facts/conf-file';
import { readConfChain, valuesInForce, walkConfChain, type ConfSnapshot } from '../../../src/facts/conf-chain';
import { canonicalValue, displaySetting, listItems, parseBool, sameValue, toConfText } from '../../../src/facts/conf-values';

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

describe('quoted lists as PostgreSQL reads them', () => {
  it('reads schema names (unquoted fold to lower case) and library or directory names (kept as written)', () => {
    assert.deepEqual(listItems('"$user", public', 'names'), ['$user', 'public']);
    assert.deepEqual(listItems(' Public ,"My ""Schema"""', 'names'), ['public', 'My "Schema"']);
    assert.deepEqual(listItems('', 'names'), []);
    assert.deepEqual(listItems('pg_stat_statements, Auto Explain', 'paths'), ['pg_stat_statements', 'Auto Explain']);
    assert.deepEqual(listItems('/run/postgresql/, "/tmp/Sock Dir"', 'paths'), ['/run/postgresql', '/tmp/Sock Dir']);
    assert.equal(listItems('"$user', 'names'), null);
    assert.equal(listItems('a b', 'names'), null);
    assert.equal(listItems('a,,b', 'names'), null);
    assert.equal(listItems(`${'x'.repeat(70)}`, 'names')?.[0].length, 63);
  });
  it('compares search_path items, not text', () => {
    const info = { vartype: 'string' as const, unit: null, name: 'search_path' };
    assert.equal(sameValue('"$user", public', '"$user",PUBLIC', info), true);
    assert.equal(sameValue('"$user", public', '"$user", "Public"', info), false);
    assert.equal(sameValue('"""$user""", public', '"$user", public', info), false);
    assert.match(canonicalValue('"open', info).error ?? '', /not a list PostgreSQL can read/);
  });
});

describe('the chain of configuration files', () => {
  const snapshot = (files: Record<string, string | null>, dirs: Record<string, string[] | null> = {}): ConfSnapshot => ({ files: new Map(Object.entries(files)), dirs: new Map(Object.entries(dirs)) });
  const where = (chain: ReturnType<typeof walkConfChain>) => [...valuesInForce(chain)].map(([name, e]) => `${name}=${e.value}@${e.file}:${e.line}`);

  it('follows include, include_if_exists and include_dir where they stand, then reads postgresql.auto.conf', () => {
    const snap = snapshot(
      {
        '/etc/pg/postgresql.conf': "wal_level = minimal\ninclude 'extra/a.conf'\nINCLUDE_IF_EXISTS = 'missing.conf'\ninclude_dir 'conf.d'\nport = 5433\n",
        '/etc/pg/extra/a.conf': "wal_level = replica\ninclude '../b.conf'\n",
        '/etc/pg/b.conf': 'max_wal_senders = 3\n',
        '/etc/pg/missing.conf': null,
        '/etc/pg/conf.d/10-x.conf': 'max_wal_senders = 5\nport = 5434\n',
        '/etc/pg/conf.d/Z.conf': 'wal_level = logical\n',
        '/data/postgresql.auto.conf': "max_wal_senders = '9'\n",
      },
      { '/etc/pg/conf.d': ['10-x.conf', 'Z.conf', '.hidden.conf', 'notes.txt', 'a.conf.bak'] },
    );
    const chain = walkConfChain('/etc/pg/postgresql.conf', '/data/postgresql.auto.conf', snap);
    assert.deepEqual(chain.files, ['/etc/pg/postgresql.conf', '/etc/pg/extra/a.conf', '/etc/pg/b.conf', '/etc/pg/conf.d/10-x.conf', '/etc/pg/conf.d/Z.conf', '/data/postgresql.auto.conf']);
    assert.deepEqual(where(chain), ['wal_level=logical@/etc/pg/conf.d/Z.conf:1', 'max_wal_senders=9@/data/postgresql.auto.conf:1', 'port=5433@/etc/pg/postgresql.conf:5']);
    assert.deepEqual(chain.problems, []);
    assert.deepEqual(chain.missing, { files: [], dirs: [] });
  });

  it('says what it still has to read, what the server could not read, and stops at nesting depth 10', () => {
    const partial = walkConfChain('/c/postgresql.conf', '/d/postgresql.auto.conf', snapshot({ '/c/postgresql.conf': "include 'x.conf'\ninclude_dir '/c/more'\n" }));
    assert.deepEqual(partial.missing, { files: ['/c/x.conf', '/d/postgresql.auto.conf'], dirs: ['/c/more'] });
    const broken = walkConfChain('/c/postgresql.conf', '/d/postgresql.auto.conf', snapshot({ '/c/postgresql.conf': "include 'x.conf'\ninclude 'self.conf'\n", '/c/x.conf': null, '/c/self.conf': "include 'self.conf'\n", '/d/postgresql.auto.conf': null }));
    assert.deepEqual(broken.problems, [
      '/c/postgresql.conf line 1: could not open configuration file "/c/x.conf": No such file or directory',
      '/c/self.conf line 1: could not open configuration file "/c/self.conf": maximum nesting depth exceeded',
    ]);
  });

  it('tells where a file not written yet would be read: a new file in an include_dir, in order', () => {
    const snap = snapshot({ '/c/postgresql.conf': "include_dir 'conf.d'\n", '/c/conf.d/50-b.conf': 'work_mem = 4MB\n', '/d/postgresql.auto.conf': null }, { '/c/conf.d': ['50-b.conf'] });
    const overlay = (path: string) => walkConfChain('/c/postgresql.conf', '/d/postgresql.auto.conf', snap, new Map([[path, 'work_mem = 8MB\n']]));
    assert.deepEqual(where(overlay('/c/conf.d/90-pgplay.conf')), ['work_mem=8MB@/c/conf.d/90-pgplay.conf:1']);
    assert.deepEqual(where(overlay('/c/conf.d/10-pgplay.conf')), ['work_mem=4MB@/c/conf.d/50-b.conf:1']);
    assert.equal(overlay('/c/other.conf').files.includes('/c/other.conf'), false);
  });

  it('reads the files through the host, following includes as they appear', async () => {
    const files: Record<string, string | null> = { '/c/postgresql.conf': "include 'a.conf'\n", '/c/a.conf': "include_dir 'd'\n", '/c/d/x.conf': 'port = 1\n', '/d/postgresql.auto.conf': null };
    const asked: string[] = [];
    const { chain } = await readConfChain('/c/postgresql.conf', '/d/postgresql.auto.conf', {
      read: async (p) => (asked.push(p), files[p] ?? null),
      list: async (d) => (asked.push(`${d}/`), d === '/c/d' ? ['x.conf'] : null),
    });
    assert.deepEqual(where(chain), ['port=1@/c/d/x.conf:1']);
    assert.deepEqual(asked, ['/c/postgresql.conf', '/d/postgresql.auto.conf', '/c/a.conf', '/c/d/', '/c/d/x.conf']);
  });
});
