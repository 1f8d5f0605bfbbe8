import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { ensureHbaLineModule, type EnsureHbaFacts, type EnsureHbaLineArgs } from '../../../src/modules/ensure-hba-line';

const debian = readFileSync(join(__dirname, '../../../../test/fixtures/facts/pg_hba.debian.conf'), 'utf8');
const facts = (content = debian): EnsureHbaFacts => ({ running: true, path: '/etc/postgresql/15/main/pg_hba.conf', current: content });
const repl: EnsureHbaLineArgs = { type: 'host', database: 'replication', user: 'replicator', address: '10.0.0.12/32', method: 'scram-sha-256' };

describe('ensure_hba_line plan', () => {
  it('adds a missing rule with a file diff', () => {
    const plan = ensureHbaLineModule.plan(repl, facts());
    assert.equal(plan.kind, 'change');
    if (plan.kind !== 'change') return;
    assert.equal(plan.summary, 'add rule host replication replicator 10.0.0.12/32 scram-sha-256 in /etc/postgresql/15/main/pg_hba.conf');
    assert.equal(plan.diffs?.[0].before, debian);
    assert.ok(plan.diffs?.[0].after.startsWith(debian));
    assert.equal(plan.warnings, undefined);
  });

  it('is a no-op when the rule is there', () => {
    const plan = ensureHbaLineModule.plan({ ...repl, address: '127.0.0.1/32', user: 'all' }, facts());
    assert.equal(plan.kind, 'noop');
  });

  it('warns about wide addresses, trust and md5', () => {
    const plan = ensureHbaLineModule.plan({ ...repl, address: '0.0.0.0/0', method: 'trust' }, facts());
    assert.deepEqual(plan.kind === 'change' && plan.warnings, [
      'rule host replication replicator 0.0.0.0/0 admits every address',
      'rule host replication replicator 0.0.0.0/0 uses trust: no password is asked',
    ]);
  });

  it('uses scram-sha-256 when no method is given', () => {
    const { method: _, ...noMethod } = repl;
    const plan = ensureHbaLineModule.plan(noMethod, facts());
    assert.equal(plan.kind, 'change');
    if (plan.kind === 'change') assert.match(plan.diffs?.[0].after ?? '', /^host\s+replication\s+replicator\s+10\.0\.0\.12\/32\s+scram-sha-256$/m);
  });

  it('fails on a bare address, an unknown method and a missing file', () => {
    assert.deepEqual(ensureHbaLineModule.plan({ ...repl, address: '10.0.0.12' }, facts()), {
      kind: 'fail',
      message: 'address 10.0.0.12 has no prefix length: write 10.0.0.12/32 for this one host',
      result: undefined,
    });
    assert.deepEqual(ensureHbaLineModule.validate?.({ ...repl, method: 'scram' }), [{ arg: 'method', message: 'unknown method scram: use one of trust, reject, scram-sha-256, md5, password, gss, sspi, ident, peer, pam, ldap, radius, cert' }]);
    assert.deepEqual(ensureHbaLineModule.validate?.({ type: 'local', database: 'all', user: 'all', address: '1.2.3.4/32', method: 'peer' }), [{ arg: 'address', message: 'a local rule has no address' }]);
    const missing = ensureHbaLineModule.plan(repl, { ...facts(), current: null });
    assert.equal(missing.kind === 'fail' && missing.message, '/etc/postgresql/15/main/pg_hba.conf does not exist');
  });
});

describe('ensure_hba_line validate', () => {
  it('leaves values that are still templates for the plan', () => {
    assert.deepEqual(ensureHbaLineModule.validate?.({ ...repl, address: "{{ hostvar item 'pg_address' }}/32" }), []);
    assert.deepEqual(ensureHbaLineModule.validate?.({ ...repl, address: '10.0.0.0/8' }), []);
  });
});

describe('ensure_hba_line refuses what would write another rule or misread the file', () => {
  const injected: Array<[Partial<EnsureHbaLineArgs>, string, RegExp]> = [
    [{ user: 'bob\nhost all all 0.0.0.0/0 trust' }, 'user', /line break, tab or other control character/],
    [{ database: 'app\r' }, 'database', /control character/],
    [{ user: 'bob # all' }, 'user', /# outside double quotes/],
    [{ user: 'bob all' }, 'user', /read by PostgreSQL as 2 fields \(bob \| all\)/],
    [{ database: 'db1 ,db2' }, 'database', /2 fields/],
    [{ user: '"bob' }, 'user', /double quote that is never closed/],
    [{ options: 'clientcert=verify-full\nhost all all 0.0.0.0/0 trust' }, 'options', /control character/],
    [{ options: ['map=x # trust'] }, 'options', /# outside double quotes/],
    [{ options: ['ldapserver=a,b'] }, 'options', /option b is not in name=value form \(PostgreSQL splits options at commas/],
  ];
  it('at validate time when the value is written in the playbook', () => {
    for (const [over, arg, message] of injected) {
      const problems = ensureHbaLineModule.validate?.({ ...repl, ...over } as EnsureHbaLineArgs) ?? [];
      assert.equal(problems.length, 1, JSON.stringify(over));
      assert.equal(problems[0].arg, arg);
      assert.match(problems[0].message, message);
    }
    assert.deepEqual(ensureHbaLineModule.validate?.({ ...repl, user: '"a#b", carol', options: ['ldapprefix="cn=#x"', "{{ extra }}"] }), []);
  });
  it('at run time when the value was rendered, and the file is not touched', () => {
    for (const [over, , message] of injected) {
      const plan = ensureHbaLineModule.plan({ ...repl, ...over } as EnsureHbaLineArgs, facts());
      assert.equal(plan.kind, 'fail', JSON.stringify(over));
      assert.match(plan.kind === 'fail' ? plan.message : '', message);
    }
  });
  it('writes db1, db2 as the one field PostgreSQL reads, and finds it again', () => {
    const plan = ensureHbaLineModule.plan({ ...repl, database: 'db1, db2' }, facts());
    const after = plan.kind === 'change' ? plan.diffs?.[0].after ?? '' : '';
    assert.match(after, /^host\s+db1,db2\s+replicator\s+10\.0\.0\.12\/32\s+scram-sha-256$/m);
    assert.equal(ensureHbaLineModule.plan({ ...repl, database: 'db1,db2' }, facts(after)).kind, 'noop');
  });
  it('fails, naming the lines, on a file it cannot read as PostgreSQL does (continuations, includes, server errors)', () => {
    const cont = ensureHbaLineModule.plan(repl, facts(`${debian}host all all 10.0.0.0/8 md5 \\\n  map=x\n`));
    assert.match(cont.kind === 'fail' ? cont.message : '', /pgplay does not edit a file it cannot read as PostgreSQL does: line 29: ends with a backslash.*; line 30: unknown connection type "map=x"/);
    const include = ensureHbaLineModule.plan({ ...repl, address: '127.0.0.1/32', user: 'all' }, facts(`${debian}include_dir hba.d\n`));
    assert.match(include.kind === 'fail' ? include.message : '', /line 29: "include_dir" is read by PostgreSQL 16 and later only/);
    const server = ensureHbaLineModule.plan(repl, { ...facts(), serverErrors: ['line 3: could not resolve hostname'] });
    assert.match(server.kind === 'fail' ? server.message : '', /line 3: could not resolve hostname/);
  });
  it('a rule present on disk but not loaded by the server is a reload, not ok', () => {
    const present = { ...repl, address: '127.0.0.1/32', user: 'all' };
    const loadedAfter = { ...facts(), loaded: { fileTime: 1_700_000_000, loadTime: 1_700_000_000.4 } };
    assert.equal(ensureHbaLineModule.plan(present, loadedAfter).kind, 'noop');
    const stale = ensureHbaLineModule.plan(present, { ...facts(), loaded: { fileTime: 1_700_000_060, loadTime: 1_700_000_000.4 } });
    assert.equal(stale.kind, 'change');
    assert.match(stale.kind === 'change' ? stale.summary : '', /is in \/etc\/postgresql\/15\/main\/pg_hba.conf, but the server has not loaded the file since it changed \(file changed at 2023-11-14T22:14:20Z, configuration loaded at 2023-11-14T22:13:20.400Z\): reload/);
    assert.deepEqual(stale.kind === 'change' && stale.steps.map((s) => s.description), ['check pg_hba_file_rules, reload']);
    assert.equal(ensureHbaLineModule.plan(present, { ...facts(), running: false, loaded: { fileTime: 2, loadTime: 1 } }).kind, 'noop');
  });
  it('a rule behind an earlier all is moved before it, and the summary says why', () => {
    const text = `${debian}host all all 10.0.0.0/8 reject\nhost all +admins 10.0.0.0/8 scram-sha-256\n`;
    const plan = ensureHbaLineModule.plan({ type: 'host', database: 'all', user: '+admins', address: '10.0.0.0/8' }, facts(text));
    assert.match(plan.kind === 'change' ? plan.summary : '', /^move rule host all \+admins 10\.0\.0\.0\/8 scram-sha-256 in \S+ before line 29 \(host all all 10\.0\.0\.0\/8 reject\), which matches all its connections first: behind it the rule was never used$/);
  });
});
