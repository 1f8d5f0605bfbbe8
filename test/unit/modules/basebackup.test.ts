import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { basebackupModule, type BasebackupFacts } from '../../../src/modules/basebackup';

const args = { primary: 'pg1', user: 'replicator', password: 'pa55-word' };
const fresh = (over: Partial<BasebackupFacts> = {}): BasebackupFacts => ({
  host: 'pg2',
  dataDir: '/var/lib/postgresql/15/main',
  primary: { name: 'pg1', address: '10.0.0.11', port: 5432, systemId: '7300000000000000001', sameDir: false },
  state: 'running',
  control: { systemIdentifier: '7300000000000000222', state: 'in production' },
  standbySignal: false,
  entries: 20,
  lockHeld: false,
  userDatabases: [],
  inRecovery: false,
  streamingReplicas: 0,
  userTables: 0,
  ...over,
});

const message = (p: ReturnType<typeof basebackupModule.plan>) => (p.kind === 'fail' ? p.message : `not a failure: ${p.kind}`);

describe('basebackup plan', () => {
  it('refuses a password with a line break before anything is stopped or moved (it would write a second passfile entry)', () => {
    assert.equal(message(basebackupModule.plan({ ...args, password: 'pw\n*:*:*:*:other' }, fresh())), 'user and password cannot hold a line break: libpq reads the passfile line by line');
  });

  it('is a no-op on a standby of the same primary', () => {
    const plan = basebackupModule.plan(args, fresh({ control: { systemIdentifier: '7300000000000000001', state: 'in archive recovery' }, standbySignal: true, inRecovery: true }));
    assert.deepEqual(plan, { kind: 'noop', reason: '/var/lib/postgresql/15/main is already a standby of pg1 (system identifier 7300000000000000001)', result: undefined });
  });

  it('replaces a fresh default cluster, stopping it first', () => {
    const plan = basebackupModule.plan(args, fresh());
    assert.equal(plan.kind, 'change');
    if (plan.kind !== 'change') return;
    assert.equal(plan.summary, 'clone pg1 into /var/lib/postgresql/15/main; old directory moved aside');
    assert.deepEqual(plan.warnings, ['PostgreSQL on pg2 is stopped for the copy']);
    assert.equal(JSON.stringify(plan).includes('pa55-word'), false);
  });

  it('fills an empty directory with replace: empty', () => {
    assert.equal(basebackupModule.plan({ ...args, replace: 'empty' }, fresh({ state: 'no-cluster', control: null, entries: 0 })).kind, 'change');
    assert.match(message(basebackupModule.plan({ ...args, replace: 'empty' }, fresh())), /holds a cluster \(system identifier 7300000000000000222\): refusing to replace it with replace: empty/);
  });

  it('refuses what a DBA would not want replaced', () => {
    assert.match(message(basebackupModule.plan(args, fresh({ userDatabases: ['shop'] }))), /user databases \(shop\)/);
    assert.match(message(basebackupModule.plan(args, fresh({ userTables: 3 }))), /3 user table\(s\)/);
    assert.match(message(basebackupModule.plan(args, fresh({ standbySignal: true }))), /standby of another primary/);
    assert.match(message(basebackupModule.plan(args, fresh({ control: { systemIdentifier: '7300000000000000001', state: 'in production' } }))), /copy of pg1 that is not a standby/);
    assert.match(message(basebackupModule.plan({ ...args, replace: 'any' }, fresh({ streamingReplicas: 2 }))), /running primary with 2 replica\(s\) streaming/);
    assert.match(message(basebackupModule.plan(args, fresh({ control: null, state: 'no-cluster' }))), /holds 20 file\(s\) but no cluster/);
    assert.match(message(basebackupModule.plan(args, fresh({ primary: { ...fresh().primary, sameDir: true } }))), /is the primary pg1 itself/);
    assert.match(message(basebackupModule.plan(args, fresh({ primary: { ...fresh().primary, systemId: undefined, error: 'PostgreSQL on pg1 is not accepting connections' } }))), /cannot read the system identifier of the primary pg1: PostgreSQL on pg1/);
    assert.match(message(basebackupModule.plan(args, fresh({ lockHeld: true }))), /another basebackup is running on pg2/);
  });

  it('replaces anything else with replace: any', () => {
    assert.equal(basebackupModule.plan({ ...args, replace: 'any' }, fresh({ userDatabases: ['shop'], standbySignal: true })).kind, 'change');
  });
});
