import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ensureConfModule, type EnsureConfFacts } from '../../../src/modules/ensure-conf';

const running = (over: Partial<EnsureConfFacts> = {}): EnsureConfFacts => ({
  running: true,
  useAlterSystem: true,
  file: null,
  inFiles: {},
  info: {
    shared_buffers: { vartype: 'integer', unit: '8kB', context: 'postmaster', active: '16384', display: '128MB' },
    wal_keep_size: { vartype: 'integer', unit: 'MB', context: 'sighup', active: '0', display: '0' },
    hot_standby: { vartype: 'bool', unit: null, context: 'postmaster', active: 'on', display: 'on' },
    wal_segment_size: { vartype: 'integer', unit: 'B', context: 'internal', active: '16777216' },
  },
  ...over,
});

describe('ensure_conf plan', () => {
  it('is a no-op when every value already holds, whatever its spelling', () => {
    const plan = ensureConfModule.plan({ settings: { shared_buffers: '131072kB', hot_standby: true, wal_keep_size: 0 } }, running());
    assert.deepEqual(plan, { kind: 'noop', reason: '3 setting(s) already as wanted', result: undefined });
  });

  it('plans only the gap, with a restart for postmaster settings and a diff per setting', () => {
    const plan = ensureConfModule.plan({ settings: { shared_buffers: '256MB', hot_standby: 'on' } }, running());
    assert.equal(plan.kind, 'change');
    if (plan.kind !== 'change') return;
    assert.equal(plan.needs, 'restart');
    assert.deepEqual(plan.result, { settings: ['shared_buffers'], needs: 'restart' });
    assert.deepEqual(plan.diffs, [{ path: 'settings', before: 'shared_buffers = 128MB\n', after: 'shared_buffers = 256MB\n' }]);
    assert.deepEqual(plan.steps.map((s) => s.description), ['ALTER SYSTEM SET shared_buffers', 'SELECT pg_reload_conf()']);
  });

  it('needs only a reload for sighup settings', () => {
    const plan = ensureConfModule.plan({ settings: { wal_keep_size: '1GB' } }, running());
    assert.equal(plan.kind === 'change' && plan.needs, 'reload');
  });

  it('reports a value written but not yet in use without writing it again', () => {
    const plan = ensureConfModule.plan({ settings: { shared_buffers: '256MB' } }, running({ inFiles: { shared_buffers: '256MB' } }));
    assert.equal(plan.kind, 'change');
    if (plan.kind !== 'change') return;
    assert.equal(plan.needs, 'restart');
    assert.deepEqual(plan.steps.map((s) => s.description), ['SELECT pg_reload_conf()']);
    assert.match(plan.summary, /written but not in use: the server needs a restart/);
  });

  it('fails on unknown settings, internal ones and impossible values', () => {
    assert.deepEqual(ensureConfModule.plan({ settings: { shared_bufers: '1GB' } }, running()), { kind: 'fail', message: 'PostgreSQL has no setting named shared_bufers', result: undefined });
    assert.match((ensureConfModule.plan({ settings: { wal_segment_size: '32MB' } }, running()) as { message: string }).message, /fixed when the cluster is created/);
    assert.match((ensureConfModule.plan({ settings: { wal_keep_size: '5s' } }, running()) as { message: string }).message, /wal_keep_size: '5s' has a time unit/);
    assert.deepEqual(ensureConfModule.validate?.({ settings: { 'bad name': 1 } }), [{ arg: 'settings', message: "'bad name' is not a setting name" }]);
  });

  it('edits the file of a stopped server and needs nothing afterwards', () => {
    const facts: EnsureConfFacts = {
      running: false,
      useAlterSystem: false,
      info: { listen_addresses: { vartype: 'string', unit: null, context: 'postmaster' }, wal_keep_size: { vartype: 'integer', unit: null, context: 'sighup' } },
      inFiles: { wal_keep_size: '65536kB' },
      file: { path: '/d/postgresql.auto.conf', text: "wal_keep_size = '65536kB'\n" },
    };
    const plan = ensureConfModule.plan({ settings: { listen_addresses: '10.0.0.12', wal_keep_size: '64MB' } }, facts);
    assert.equal(plan.kind, 'change');
    if (plan.kind !== 'change') return;
    assert.equal(plan.needs, undefined);
    assert.deepEqual(plan.diffs, [{ path: '/d/postgresql.auto.conf', before: 'listen_addresses = (default)\n', after: 'listen_addresses = 10.0.0.12\n' }]);
    assert.deepEqual(plan.steps.map((s) => s.description), ['write listen_addresses to /d/postgresql.auto.conf']);
  });
});

describe('ensure_conf refuses a value that would write another setting', () => {
  const stopped = (): EnsureConfFacts => ({
    running: false,
    useAlterSystem: false,
    file: { path: '/var/lib/postgresql/15/main/postgresql.auto.conf', text: "port = '5432'\n" },
    inFiles: {},
    info: { primary_conninfo: { vartype: 'string', unit: null, context: 'sighup' }, port: { vartype: 'integer', unit: null, context: 'postmaster' } },
  });
  const injected = { primary_conninfo: "host=pg1 user=replicator\nshared_preload_libraries = 'evil'" };
  it('at validate time when the value is written in the playbook', () => {
    assert.deepEqual(ensureConfModule.validate?.({ settings: injected }), [{ arg: ['settings', 'primary_conninfo'], message: 'primary_conninfo holds a line break or another control character, which a configuration file cannot hold in a value' }]);
    assert.deepEqual(ensureConfModule.validate?.({ settings: { search_path: ['"$user"', 'pub\rlic'] } })?.length, 1);
    assert.deepEqual(ensureConfModule.validate?.({ settings: { primary_conninfo: '{{ conninfo }}' } }), []);
  });
  it('at run time when the value was rendered, on a stopped server (file) and a running one (ALTER SYSTEM)', () => {
    const file = ensureConfModule.plan({ settings: injected }, stopped());
    assert.equal(file.kind, 'fail');
    assert.match(file.kind === 'fail' ? file.message : '', /^primary_conninfo holds a line break/);
    const alter = ensureConfModule.plan({ settings: injected }, running({ info: { primary_conninfo: { vartype: 'string', unit: null, context: 'sighup', active: '' } } }));
    assert.equal(alter.kind, 'fail');
  });
});
