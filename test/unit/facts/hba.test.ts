import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { addressProblem, ensureHbaRule, parseCidr, parseHba, renderHba, ruleKey, shadows, type HbaRule } from '../../../src/facts/hba';

const fixture = (name: string) => readFileSync(join(__dirname, '../../../../test/fixtures/facts', name), 'utf8');
const rule = (type: HbaRule['type'], database: string, user: string, address: string | undefined, method = 'scram-sha-256'): HbaRule => ({ type, database, user, address, method, options: [] });

describe('parseHba', () => {
  it('reads every rule of the Debian default and keeps the text as it was', () => {
    const text = fixture('pg_hba.debian.conf');
    const file = parseHba(text);
    assert.deepEqual(file.errors, []);
    const rules = file.lines.filter((l) => l.rule).map((l) => l.rule);
    assert.equal(rules.length, 7);
    assert.deepEqual(rules[0], { type: 'local', database: 'all', user: 'postgres', address: undefined, method: 'peer', options: [] });
    assert.deepEqual(rules[5], { type: 'host', database: 'replication', user: 'all', address: '127.0.0.1/32', method: 'scram-sha-256', options: [] });
    assert.equal(renderHba(file), text);
  });

  it('reads quoted names, ip+mask addresses and options', () => {
    const file = parseHba(fixture('pg_hba.office.conf'));
    const rules = file.lines.filter((l) => l.rule).map((l) => l.rule as HbaRule);
    assert.deepEqual(rules[1], { type: 'host', database: '"app db",sales', user: 'all', address: '10.1.0.0 255.255.0.0', method: 'scram-sha-256', options: [] });
    assert.deepEqual(rules[2].options, ['clientcert=verify-full']);
    assert.equal(ruleKey(rules[1]), ruleKey(rule('host', '"app db",sales', 'all', '10.1.0.0/16')));
  });

  it('reports lines it cannot read', () => {
    assert.deepEqual(parseHba('hots all all 1.2.3.4/32 trust\nhost all\n').errors, ['line 1: unknown connection type "hots"', 'line 2: ends before the user']);
  });
});

describe('shadows', () => {
  it('follows PostgreSQL: `all` does not match the replication database', () => {
    assert.equal(shadows(rule('host', 'all', 'all', '127.0.0.1/32'), rule('host', 'replication', 'replicator', '127.0.0.1/32')), false);
    assert.equal(shadows(rule('host', 'replication', 'all', '127.0.0.0/8'), rule('host', 'replication', 'replicator', '127.0.0.42/32')), true);
  });
  it('compares networks, types and lists', () => {
    assert.equal(shadows(rule('host', 'all', 'all', '10.0.0.0/8'), rule('hostssl', 'app', 'bob', '10.2.3.4/32')), true);
    assert.equal(shadows(rule('hostssl', 'all', 'all', '10.0.0.0/8'), rule('host', 'app', 'bob', '10.2.3.4/32')), false);
    assert.equal(shadows(rule('host', 'all', 'all', '10.2.3.4/32'), rule('host', 'app', 'bob', '10.0.0.0/8')), false);
    assert.equal(shadows(rule('host', 'all', 'all', '10.1.0.0 255.255.0.0'), rule('host', 'app', 'bob', '10.1.9.9/32')), true);
    assert.equal(shadows(rule('host', 'all', 'all', '::1/128'), rule('host', 'app', 'bob', '127.0.0.1/32')), false);
    assert.equal(shadows(rule('host', 'all', 'all', 'all'), rule('host', 'app', 'bob', '::1/128')), true);
    assert.equal(shadows(rule('host', 'app,web', 'alice,bob', '0.0.0.0/0'), rule('host', 'web', 'bob', '1.2.3.4/32')), true);
    assert.equal(shadows(rule('host', 'app,web', 'alice', '0.0.0.0/0'), rule('host', 'web', 'bob', '1.2.3.4/32')), false);
    assert.equal(shadows(rule('host', 'app', '+admins', '0.0.0.0/0'), rule('host', 'app', 'alice', '1.2.3.4/32')), false, 'group membership is not known here');
    assert.equal(shadows(rule('local', 'all', 'all', undefined, 'peer'), rule('host', 'all', 'all', '1.2.3.4/32')), false);
  });
});

describe('pg_hba.conf as PostgreSQL 15 reads it', () => {
  // Each case was checked against pg_hba_file_rules of a real PostgreSQL 15.
  it('a blank after a comma continues the list; a blank before it ends the field', () => {
    const one = parseHba('host db1, db2 u1, u2 10.0.0.0/8 md5\n');
    assert.deepEqual(one.errors, []);
    assert.deepEqual(one.lines[0].rule, { type: 'host', database: 'db1,db2', user: 'u1,u2', address: '10.0.0.0/8', method: 'md5', options: [] });
    // PostgreSQL reads database db3, user db4, address u1 and method 10.0.0.0/8 here.
    assert.deepEqual(parseHba('host db3 ,db4 u1 10.0.0.0/8 md5\n').errors, ['line 1: unknown authentication method "10.0.0.0/8"']);
    assert.deepEqual(parseHba('host db14, u1 10.0.0.0/8 md5\n').errors, ['line 1: ends before the authentication method']);
  });
  it('quotes, comments without a blank, tabs and CRLF', () => {
    const file = parseHba('host "db 7",db8 u1 10.0.0.0/8 md5\nhost db16 u1 10.0.0.0/8 md5#c\nhost\tdb17\tu1\t10.0.0.0/8\tmd5\r\nhost "all" u1 10.0.0.0/8 md5\n');
    assert.deepEqual(file.errors, []);
    assert.deepEqual(file.lines.map((l) => l.rule && [l.rule.database, l.rule.method]), [['"db 7",db8', 'md5'], ['db16', 'md5'], ['db17', 'md5'], ['"all"', 'md5']]);
    assert.notEqual(ruleKey(file.lines[3].rule as HbaRule), ruleKey(rule('host', 'all', 'u1', '10.0.0.0/8')), '"all" is a database named all');
    assert.equal(ruleKey(rule('host', '"db8"', 'u1', '10.0.0.0/8')), ruleKey(rule('host', 'db8', 'u1', '10.0.0.0/8')));
  });
  it('options are split at commas, like every field', () => {
    assert.deepEqual(parseHba('host db12 u1 10.0.0.0/8 ldap ldapserver=a,b\n').errors, ['line 1: option b is not in name=value form']);
    assert.deepEqual(parseHba('host db11 u1 10.0.0.0/8 ldap ldapserver=a ldapprefix="x y"\n').lines[0].rule?.options, ['ldapserver=a', 'ldapprefix="x y"']);
  });
  it('continuation lines and include directives are refused, not guessed', () => {
    const cont = parseHba('host db9 u1 10.0.0.0/8 md5 \\\n  clientcert=verify-ca\n# a comment \\\nhost all all 0.0.0.0/0 trust\n');
    assert.deepEqual(cont.errors.map((e) => e.slice(0, 34)), ['line 1: ends with a backslash: Pos', 'line 2: unknown connection type "c', 'line 3: ends with a backslash: Pos']);
    assert.deepEqual(parseHba('include other.conf\ninclude_dir hba.d\ninclude_if_exists x\n').errors.map((e) => e.split(' is ')[0]), ['line 1: "include"', 'line 2: "include_dir"', 'line 3: "include_if_exists"']);
    assert.deepEqual(parseHba('host db15 u1 10.0.0.1 md5\n').errors, ['line 1: address 10.0.0.1 has neither a prefix length nor a netmask after it']);
  });
});

describe('shadowed rules', () => {
  it('an earlier all covers +group, @file and samerole', () => {
    assert.equal(shadows(rule('host', 'all', 'all', '0.0.0.0/0'), rule('host', 'all', '+admins', '1.2.3.4/32')), true);
    assert.equal(shadows(rule('host', 'all', 'all', '0.0.0.0/0'), rule('host', 'app', '@admins.txt', '1.2.3.4/32')), true);
    assert.equal(shadows(rule('host', 'all', 'all', '0.0.0.0/0'), rule('host', 'samerole', 'bob', '1.2.3.4/32')), true);
    assert.equal(shadows(rule('host', 'all', 'all', '0.0.0.0/0'), rule('host', 'replication', '+admins', '1.2.3.4/32')), false);
    assert.equal(shadows(rule('host', 'all', '"all"', '0.0.0.0/0'), rule('host', 'app', 'bob', '1.2.3.4/32')), false, 'a role named "all"');
  });
  it('a wanted rule behind one that matches all its connections is not present: it moves before it, with its comments', () => {
    const text = '# admins\nhost all all 10.0.0.0/8 reject\n# group admins from the LAN\nhost all +admins 10.0.0.0/8 scram-sha-256\n';
    const wanted = rule('host', 'all', '+admins', '10.0.0.0/8');
    const { file, edit } = ensureHbaRule(parseHba(text), wanted, 'present');
    assert.equal(edit.kind, 'move');
    assert.deepEqual(edit.kind === 'move' && [edit.line, edit.before.method, edit.changed], [2, 'reject', undefined]);
    assert.equal(renderHba(file), '# group admins from the LAN\nhost all +admins 10.0.0.0/8 scram-sha-256\n# admins\nhost all all 10.0.0.0/8 reject\n');
    assert.equal(ensureHbaRule(file, wanted, 'present').edit.kind, 'none');
    const md5 = ensureHbaRule(parseHba(text), { ...wanted, method: 'md5' }, 'present');
    assert.equal(md5.edit.kind === 'move' && md5.edit.changed?.method, 'scram-sha-256');
    assert.match(renderHba(md5.file).split('\n')[1], /^host\s+all\s+\+admins\s+10\.0\.0\.0\/8\s+md5$/);
  });
  it('absent removes every rule with the key', () => {
    const gone = ensureHbaRule(parseHba('host a b 10.0.0.0/8 md5\nhost a b 10.1.2.3/8 trust\nhost a c 10.0.0.0/8 md5\n'), rule('host', 'a', 'b', '10.0.0.0/8'), 'absent');
    assert.deepEqual(gone.edit, { kind: 'remove', count: 2 });
    assert.equal(renderHba(gone.file), 'host a c 10.0.0.0/8 md5\n');
  });
});

describe('ensureHbaRule', () => {
  const wanted = rule('host', 'replication', 'replicator', '127.0.0.42/32');

  it('appends a rule that nothing shadows, keeping every other line', () => {
    const before = fixture('pg_hba.debian.conf');
    const { file, edit } = ensureHbaRule(parseHba(before), wanted, 'present');
    assert.equal(edit.kind, 'append');
    const after = renderHba(file);
    assert.ok(after.startsWith(before));
    assert.match(after.split('\n').slice(-2)[0], /^host\s+replication\s+replicator\s+127\.0\.0\.42\/32\s+scram-sha-256$/);
  });

  it('inserts before the first rule that would shadow it, above that rule\'s comments', () => {
    const text = '# local\nlocal all all peer\n# the LAN\nhost all all 10.0.0.0/8 reject\n';
    const { file, edit } = ensureHbaRule(parseHba(text), rule('host', 'app', 'bob', '10.9.9.9/32'), 'present');
    assert.equal(edit.kind, 'insert');
    const lines = renderHba(file).split('\n');
    assert.equal(lines[0], '# local');
    assert.match(lines[2], /^host\s+app\s+bob\s+10\.9\.9\.9\/32/);
    assert.equal(lines[3], '# the LAN');
  });

  it('updates the method of the same key in place and is then a no-op', () => {
    const text = fixture('pg_hba.debian.conf');
    const md5 = rule('host', 'replication', 'all', '127.0.0.1/32', 'md5');
    const first = ensureHbaRule(parseHba(text), md5, 'present');
    assert.equal(first.edit.kind, 'update');
    const after = renderHba(first.file).split('\n');
    assert.equal(after.length, text.split('\n').length);
    assert.match(after[26], /^host\s+replication\s+all\s+127\.0\.0\.1\/32\s+md5$/);
    assert.equal(ensureHbaRule(parseHba(renderHba(first.file)), md5, 'present').edit.kind, 'none');
    assert.equal(ensureHbaRule(parseHba(text), rule('host', 'replication', 'all', '127.0.0.1/32'), 'present').edit.kind, 'none');
  });

  it('removes a rule only when it is there', () => {
    const text = fixture('pg_hba.debian.conf');
    const gone = ensureHbaRule(parseHba(text), rule('host', 'all', 'all', '::1/128'), 'absent');
    assert.equal(gone.edit.kind, 'remove');
    assert.doesNotMatch(renderHba(gone.file), /^host\s+all\s+all\s+::1\/128/m);
    assert.match(renderHba(gone.file), /# IPv6 local connections:/);
    assert.equal(ensureHbaRule(gone.file, rule('host', 'all', 'all', '::1/128'), 'absent').edit.kind, 'none');
  });
});

describe('addresses', () => {
  it('suggests a prefix for a bare address and refuses garbage', () => {
    assert.equal(addressProblem('10.0.0.12'), 'address 10.0.0.12 has no prefix length: write 10.0.0.12/32 for this one host');
    assert.match(addressProblem('10.0.0.0/33') ?? '', /not a valid CIDR/);
    assert.match(addressProblem('10.0.0.300') ?? '', /not a valid IPv4/);
    assert.match(addressProblem('bad host!') ?? '', /neither/);
    assert.equal(addressProblem('fe80::/10'), null);
    assert.equal(addressProblem('db2.example.com'), null);
    assert.equal(addressProblem('samenet'), null);
  });
  it('normalises networks', () => {
    assert.equal(ruleKey(rule('host', 'a', 'b', '10.1.2.3/8')), ruleKey(rule('host', 'a', 'b', '10.0.0.0/8')));
    assert.equal(ruleKey(rule('host', 'a', 'b', '::1/128')), ruleKey(rule('host', 'a', 'b', '0:0::1/128')));
    assert.equal(parseCidr('::ffff:10.0.0.1/128')?.family, 6);
  });
});
