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
