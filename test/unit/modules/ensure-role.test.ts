import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { scramVerifier } from '../../../src/facts/scram';
import { ensureRoleModule, type EnsureRoleFacts } from '../../../src/modules/ensure-role';

const role = (password: string | null, over: Partial<NonNullable<EnsureRoleFacts['role']>> = {}): EnsureRoleFacts => ({
  role: { rolcanlogin: true, rolreplication: true, rolsuper: false, rolcreatedb: false, rolcreaterole: false, rolconnlimit: -1, rolpassword: password, ...over },
});

describe('ensure_role plan', () => {
  const args = { name: 'replicator', password: 'pa55-word', login: true, replication: true };

  it('is a no-op when attributes hold and the stored verifier matches the password', () => {
    const plan = ensureRoleModule.plan(args, role(scramVerifier('pa55-word')));
    assert.deepEqual(plan, { kind: 'noop', reason: 'role replicator is as wanted', result: undefined });
  });

  it('changes only the password when it differs, and never shows it', () => {
    const plan = ensureRoleModule.plan(args, role(scramVerifier('old-password')));
    assert.equal(plan.kind, 'change');
    if (plan.kind !== 'change') return;
    assert.equal(plan.summary, 'alter role replicator: password');
    assert.equal(plan.diffs?.[0].after.includes('pa55-word'), false);
    assert.match(plan.diffs?.[0].after ?? '', /password: \*{8} \(changed\)/);
    assert.equal(JSON.stringify(plan).includes('pa55-word'), false);
  });

  it('creates a missing role and alters attributes', () => {
    const created = ensureRoleModule.plan(args, { role: null });
    assert.equal(created.kind === 'change' && created.summary, 'create role replicator');
    assert.equal(created.kind === 'change' && created.diffs?.[0].before, 'absent\n');
    const altered = ensureRoleModule.plan({ name: 'replicator', replication: false, connection_limit: 5 }, role('SCRAM-SHA-256$...'));
    assert.equal(altered.kind === 'change' && altered.summary, 'alter role replicator: noreplication, connection limit 5');
    const md5 = ensureRoleModule.plan(args, role('md5abc'));
    assert.equal(md5.kind === 'change' && md5.summary, 'alter role replicator: password');
  });

  it('in --check on a stopped server, says it would create or alter the role, without the password', () => {
    const plan = ensureRoleModule.plan(args, { role: null, serverDown: 'stopped' });
    assert.equal(plan.kind, 'change');
    if (plan.kind !== 'change') return;
    assert.equal(plan.summary, 'create or alter role replicator once the server runs (PostgreSQL is stopped, so its roles cannot be read)');
    assert.deepEqual(plan.diffs?.[0], { path: 'role replicator', before: 'unknown (PostgreSQL is stopped, so its roles cannot be read)\n', after: 'login: true\nreplication: true\npassword: ********\n' });
    assert.equal(JSON.stringify(plan).includes('pa55-word'), false);
    const drop = ensureRoleModule.plan({ name: 'old', state: 'absent' }, { role: null, serverDown: 'no-cluster' });
    assert.equal(drop.kind === 'change' && drop.summary, 'drop role old once the server runs (there is no cluster yet)');
  });

  it('leaves LOGIN alone on an existing role when login is left out, and gives it to a new role', () => {
    const nologin = role(scramVerifier('pa55-word'), { rolcanlogin: false });
    assert.deepEqual(ensureRoleModule.plan({ name: 'replicator', password: 'pa55-word', replication: true }, nologin), { kind: 'noop', reason: 'role replicator is as wanted', result: undefined });
    const altered = ensureRoleModule.plan({ name: 'replicator', connection_limit: 3 }, nologin);
    assert.equal(altered.kind === 'change' && altered.summary, 'alter role replicator: connection limit 3');
    assert.match(altered.kind === 'change' ? altered.diffs?.[0].after ?? '' : '', /^login: false$/m);
    const created = ensureRoleModule.plan({ name: 'replicator', replication: true }, { role: null });
    assert.match(created.kind === 'change' ? created.diffs?.[0].after ?? '' : '', /^login: true$/m);
    const asked = ensureRoleModule.plan({ name: 'replicator', login: true }, nologin);
    assert.equal(asked.kind === 'change' && asked.summary, 'alter role replicator: login');
  });

  it('drops only an existing role, and refuses a too short password', () => {
    assert.equal(ensureRoleModule.plan({ name: 'x', state: 'absent' }, { role: null }).kind, 'noop');
    assert.equal(ensureRoleModule.plan({ name: 'x', state: 'absent' }, role(null)).kind, 'change');
    assert.deepEqual(ensureRoleModule.validate?.({ name: 'x', password: 'abc' }), [{ arg: 'password', message: 'a password needs at least 4 characters' }]);
  });
});
