import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { relationNumber, type ClusterDirFacts } from '../../../src/facts/cluster-dir';
import { basebackupModule, type BasebackupFacts } from '../../../src/modules/basebackup';

const args = { primary: 'pg1', user: 'replicator', password: 'pa55-word' };
const dir = (over: Partial<ClusterDirFacts> = {}): ClusterDirFacts => ({
  entries: ['PG_VERSION', 'base', 'global', 'pg_wal', 'postgresql.auto.conf'],
  standbySignal: false,
  userDatabaseOids: [],
  userRelationFiles: 0,
  tablespaces: [],
  slots: [],
  ...over,
});
const fresh = (over: Partial<BasebackupFacts> = {}): BasebackupFacts => ({
  host: 'pg2',
  dataDir: '/var/lib/postgresql/15/main',
  primary: { name: 'pg1', address: '10.0.0.11', port: 5432, systemId: '7300000000000000001', sameDir: false },
  state: 'running',
  control: { systemIdentifier: '7300000000000000222', state: 'in production' },
  dir: dir(),
  inRecovery: false,
  streamingReplicas: 0,
  userDatabases: [],
  userTables: 0,
  slots: [],
  ...over,
});
const stopped = (over: Partial<ClusterDirFacts> = {}): BasebackupFacts =>
  fresh({ state: 'stopped', control: { systemIdentifier: '7300000000000000222', state: 'shut down' }, inRecovery: undefined, streamingReplicas: undefined, userDatabases: undefined, userTables: undefined, dir: dir(over), slots: over.slots ?? [] });

const message = (p: ReturnType<typeof basebackupModule.plan>) => (p.kind === 'fail' ? p.message : `not a failure: ${p.kind}`);

describe('basebackup plan', () => {
  it('refuses a password with a line break before anything is stopped or moved (it would write a second passfile entry)', () => {
    assert.equal(message(basebackupModule.plan({ ...args, password: 'pw\n*:*:*:*:other' }, fresh())), 'user and password cannot hold a line break: libpq reads the passfile line by line');
  });

  it('is a no-op on a standby of the same primary', () => {
    const plan = basebackupModule.plan(args, fresh({ control: { systemIdentifier: '7300000000000000001', state: 'in archive recovery' }, dir: dir({ standbySignal: true }), inRecovery: true }));
    assert.deepEqual(plan, { kind: 'noop', reason: '/var/lib/postgresql/15/main is already a standby of pg1 (system identifier 7300000000000000001)', result: undefined });
  });

  it('brings a standby of that primary to the slot and TLS asked for: primary_conninfo and primary_slot_name, then a reload', () => {
    const conninfo = 'user=replicator passfile=/var/lib/postgresql/15/.pgpass-pgplay-main host=10.0.0.11 port=5432 sslmode=prefer application_name=pg2';
    const standbyConf = {
      running: true,
      info: {
        primary_conninfo: { vartype: 'string' as const, unit: null, context: 'sighup', active: conninfo, display: conninfo },
        primary_slot_name: { vartype: 'string' as const, unit: null, context: 'sighup', active: '', display: '' },
      },
      inFiles: { primary_conninfo: { value: conninfo, file: '/var/lib/postgresql/15/main/postgresql.auto.conf', line: 3 } },
      file: null,
      useAlterSystem: true,
    };
    const standby = fresh({ control: { systemIdentifier: '7300000000000000001', state: 'in archive recovery' }, dir: dir({ standbySignal: true }), inRecovery: true, standbyConf });
    const tls = { ...args, slot: 'pg2', sslmode: 'verify-full' as const, sslrootcert: '/var/lib/postgresql/15/main.pgplay-tls/root.crt' };
    const plan = basebackupModule.plan(tls, standby);
    assert.equal(plan.kind, 'change');
    if (plan.kind !== 'change') return;
    assert.equal(plan.summary, '/var/lib/postgresql/15/main is already a standby of pg1 (system identifier 7300000000000000001); primary_conninfo with sslmode=verify-full sslrootcert=/var/lib/postgresql/15/main.pgplay-tls/root.crt, primary_slot_name = pg2 (reloaded: the WAL receiver reconnects)');
    assert.match(plan.diffs?.[0].after ?? '', /primary_conninfo = user=replicator .* sslmode=verify-full application_name=pg2 sslrootcert=\/var\/lib\/postgresql\/15\/main\.pgplay-tls\/root\.crt\nprimary_slot_name = pg2/);
    assert.equal(plan.steps.length, 2, 'ALTER SYSTEM, then the reload');
    const auto = '/var/lib/postgresql/15/main/postgresql.auto.conf';
    const tlsConninfo = conninfo.replace('sslmode=prefer', 'sslmode=verify-full') + ' sslrootcert=/var/lib/postgresql/15/main.pgplay-tls/root.crt';
    // Written and in use (the server reloaded it): pg_settings says so too.
    const done = {
      ...standbyConf,
      info: {
        primary_conninfo: { ...standbyConf.info.primary_conninfo, active: tlsConninfo, display: tlsConninfo },
        primary_slot_name: { ...standbyConf.info.primary_slot_name, active: 'pg2', display: 'pg2' },
      },
      inFiles: { primary_conninfo: { value: tlsConninfo, file: auto, line: 3 }, primary_slot_name: { value: 'pg2', file: auto, line: 4 } },
    };
    assert.equal(basebackupModule.plan(tls, { ...standby, standbyConf: done }).kind, 'noop');
  });

  it('replaces a fresh default cluster, stopping it first, in steps that each can be undone', () => {
    const plan = basebackupModule.plan(args, fresh());
    assert.equal(plan.kind, 'change');
    if (plan.kind !== 'change') return;
    assert.equal(plan.summary, 'clone pg1 into /var/lib/postgresql/15/main; old directory moved aside');
    assert.deepEqual(plan.warnings, ['PostgreSQL on pg2 is stopped for the copy']);
    assert.deepEqual(
      plan.steps.map((s) => [s.description, Boolean(s.undo)]),
      [
        ['lock /var/lib/postgresql/15/main and read its facts again', true],
        ['stop PostgreSQL', true],
        ['move /var/lib/postgresql/15/main aside', true],
        ['write the passfile', true],
        ['pg_basebackup from pg1 (10.0.0.11:5432)', false],
        ['start the standby', true],
        ['finish', false],
      ],
    );
    assert.equal(JSON.stringify(plan).includes('pa55-word'), false);
  });

  it('in --check on a stopped primary (identity from its files), plans the copy and says the primary must run', () => {
    const plan = basebackupModule.plan(args, fresh({ primary: { ...fresh().primary, stopped: true }, state: 'stopped', inRecovery: undefined, streamingReplicas: undefined }));
    assert.equal(plan.kind === 'change' && plan.summary, 'clone pg1 into /var/lib/postgresql/15/main; old directory moved aside');
    assert.deepEqual(plan.kind === 'change' && plan.warnings, ['PostgreSQL on the primary pg1 is stopped: the copy needs it running']);
  });

  it('fills an empty directory with replace: empty', () => {
    assert.equal(basebackupModule.plan({ ...args, replace: 'empty' }, fresh({ state: 'no-cluster', control: null, dir: dir({ entries: [] }) })).kind, 'change');
    assert.match(message(basebackupModule.plan({ ...args, replace: 'empty' }, fresh())), /holds a cluster \(system identifier 7300000000000000222\): refusing to replace it with replace: empty/);
  });

  it('refuses what a DBA would not want replaced', () => {
    assert.match(message(basebackupModule.plan(args, fresh({ userDatabases: ['shop'] }))), /user databases \(shop\)/);
    assert.match(message(basebackupModule.plan(args, fresh({ userTables: 3 }))), /user tables \(3 relation\(s\) made by users\)/);
    // On a running server, tables in a default database other than the session's (template1) show in the files only.
    assert.match(message(basebackupModule.plan(args, fresh({ userTables: 0, dir: dir({ userRelationFiles: 2 }) }))), /user tables \(2 relation file\(s\) made by users\)/);
    assert.match(message(basebackupModule.plan(args, fresh({ dir: dir({ standbySignal: true }) }))), /standby of another primary/);
    assert.match(message(basebackupModule.plan(args, fresh({ control: { systemIdentifier: '7300000000000000001', state: 'in production' } }))), /copy of pg1 that is not a standby/);
    assert.match(message(basebackupModule.plan({ ...args, replace: 'any' }, fresh({ streamingReplicas: 2 }))), /running primary with 2 replica\(s\) streaming/);
    assert.match(message(basebackupModule.plan(args, fresh({ control: null, state: 'no-cluster' }))), /holds 5 file\(s\) but no cluster/);
    assert.match(message(basebackupModule.plan(args, fresh({ primary: { ...fresh().primary, sameDir: true } }))), /is the primary pg1 itself/);
    assert.match(message(basebackupModule.plan(args, fresh({ primary: { ...fresh().primary, systemId: undefined, error: 'PostgreSQL on pg1 is not accepting connections' } }))), /cannot read the system identifier of the primary pg1: PostgreSQL on pg1/);
  });

  it('a stopped cluster is fresh only when its files prove it: tables in postgres, user databases, tablespaces', () => {
    assert.equal(basebackupModule.plan(args, stopped()).kind, 'change');
    assert.match(message(basebackupModule.plan(args, stopped({ userRelationFiles: 2 }))), /user tables \(2 relation file\(s\) made by users\)/);
    assert.match(message(basebackupModule.plan(args, stopped({ userDatabaseOids: ['16384'] }))), /user databases \(OID 16384\)/);
    assert.match(message(basebackupModule.plan(args, stopped({ tablespaces: ['16500'] }))), /tablespaces \(16500\)/);
  });

  it('any replication slot makes it a primary with replicas, active or not, running or stopped, even with replace: any', () => {
    assert.match(message(basebackupModule.plan({ ...args, replace: 'any' }, fresh({ slots: ['pg3'] }))), /replication slot\(s\) pg3: replicas depend on it/);
    assert.match(message(basebackupModule.plan({ ...args, replace: 'any' }, stopped({ slots: ['pg3'] }))), /replication slot\(s\) pg3/);
  });

  it('replaces anything else with replace: any', () => {
    assert.equal(basebackupModule.plan({ ...args, replace: 'any' }, fresh({ userDatabases: ['shop'], dir: dir({ standbySignal: true }) })).kind, 'change');
  });

  it('discard_old only once the new standby streams', () => {
    assert.match(message(basebackupModule.plan({ ...args, discard_old: true }, fresh())), /discard_old needs start: true and wait: true/);
    assert.deepEqual(basebackupModule.validate?.({ ...args, discard_old: true, start: true }), []);
  });
});

describe('relation file numbers', () => {
  it('reads the number of a relation file, its forks and segments', () => {
    assert.deepEqual(['16384', '16384_fsm', '16384_vm', '16384.1', '1259', 'PG_VERSION', 'pg_filenode.map', 't3_16400'].map(relationNumber), [16384, 16384, 16384, 16384, 1259, null, null, null]);
  });
});
