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
    const plan = ensureConfModule.plan({ settings: { shared_buffers: '256MB' } }, running({ inFiles: { shared_buffers: { value: '256MB', file: '/d/postgresql.auto.conf', line: 3, error: 'setting could not be applied' } } }));
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
      inFiles: { wal_keep_size: { value: '65536kB', file: '/d/postgresql.auto.conf', line: 1 } },
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

describe('ensure_conf compares the value in effect for the cluster', () => {
  const workMem = (over: Partial<EnsureConfFacts['info'][string]> = {}) => ({ vartype: 'integer' as const, unit: 'kB', context: 'user', active: '8192', display: '8MB', source: 'user', bootVal: '4096', ...over });
  const auto = '/d/postgresql.auto.conf';

  it("a per-role value is this session's, not the cluster's: the files' line decides, once the server has read it", () => {
    const facts = running({ info: { work_mem: workMem() }, inFiles: { work_mem: { value: '64MB', file: auto, line: 3 } }, loaded: { loadTime: 1000, fileTimes: { [auto]: 990 } } });
    assert.equal(ensureConfModule.plan({ settings: { work_mem: '64MB' } }, facts).kind, 'noop');
    const stale = ensureConfModule.plan({ settings: { work_mem: '64MB' } }, { ...facts, loaded: { loadTime: 1000, fileTimes: { [auto]: 1001 } } });
    assert.equal(stale.kind, 'change');
    if (stale.kind !== 'change') return;
    assert.deepEqual(stale.steps.map((s) => s.description), ['SELECT pg_reload_conf()']);
    assert.match(stale.diffs?.[0].after ?? '', /written, not yet in use: \/d\/postgresql\.auto\.conf changed after the server last read its configuration/);
  });

  it("a per-database value equal to the wanted one is not ok when no file sets it: the cluster has the default", () => {
    const plan = ensureConfModule.plan({ settings: { work_mem: '8MB' } }, running({ info: { work_mem: workMem({ source: 'database' }) } }));
    assert.equal(plan.kind, 'change');
    if (plan.kind !== 'change') return;
    assert.equal(plan.needs, 'reload');
    assert.deepEqual(plan.diffs?.[0], { path: 'settings', before: 'work_mem = 4MB (default); 8MB for this session (database)\n', after: 'work_mem = 8MB\n' });
    assert.deepEqual(plan.steps.map((s) => s.description), ['ALTER SYSTEM SET work_mem', 'SELECT pg_reload_conf()']);
  });

  it("a value set on the server's command line cannot be changed from a file: refused, naming it", () => {
    const plan = ensureConfModule.plan({ settings: { work_mem: '16MB' } }, running({ info: { work_mem: workMem({ source: 'command line' }) } }));
    assert.equal(plan.kind === 'fail' && plan.message, "work_mem is set on the server's command line (8MB), which wins over every configuration file: change it where the server is started");
    assert.equal(ensureConfModule.plan({ settings: { work_mem: '8MB' } }, running({ info: { work_mem: workMem({ source: 'command line' }) } })).kind, 'noop');
  });

  it("the server's own reading decides what the plain comparison cannot: aliases, rounding, and refusals in its words", () => {
    const info = { wal_level: { vartype: 'enum' as const, unit: null, context: 'postmaster', active: 'replica', display: 'replica', source: 'default' }, shared_buffers: running().info.shared_buffers };
    const forms = { wal_level: { hot_standby: { value: 'replica' } }, shared_buffers: { '100.1MB': { value: '12813' }, '100kB': { refused: '12 8kB is outside the valid range for parameter "shared_buffers" (16 .. 1073741823)' } } };
    assert.equal(ensureConfModule.plan({ settings: { wal_level: 'hot_standby' } }, running({ info, forms })).kind, 'noop');
    assert.equal(ensureConfModule.plan({ settings: { wal_level: 'hot_standby' } }, running({ info })).kind, 'change', 'without the server it would differ');
    const rounded = running({ info: { ...info, shared_buffers: { ...info.shared_buffers, active: '12813' } }, forms });
    assert.equal(ensureConfModule.plan({ settings: { shared_buffers: '100.1MB' } }, rounded).kind, 'noop');
    assert.deepEqual(ensureConfModule.plan({ settings: { shared_buffers: '100kB' } }, running({ info, forms })), {
      kind: 'fail',
      message: `shared_buffers: PostgreSQL refuses '100kB': 12 8kB is outside the valid range for parameter "shared_buffers" (16 .. 1073741823)`,
      result: undefined,
    });
  });

  it('a stopped server: the line in force anywhere in the chain, or the default, and a write elsewhere that a later file would override is refused', () => {
    const snapshot = {
      files: new Map<string, string | null>([
        ['/c/postgresql.conf', "include_dir 'conf.d'\n"],
        ['/c/conf.d/10-a.conf', 'max_wal_senders = 7\n'],
        [auto, "max_wal_senders = '9'\n"],
      ]),
      dirs: new Map([['/c/conf.d', ['10-a.conf']]]),
    };
    const stopped: EnsureConfFacts = {
      running: false,
      useAlterSystem: false,
      info: { max_wal_senders: { vartype: 'integer', unit: null, context: 'postmaster' }, work_mem: { vartype: 'integer', unit: null, context: 'user' } },
      inFiles: { max_wal_senders: { value: '9', file: auto, line: 1 } },
      defaults: { work_mem: '4096' },
      forms: { work_mem: { '4MB': { value: '4096' } } },
      chain: { configFile: '/c/postgresql.conf', autoFile: auto, snapshot, problems: [] },
      file: { path: '/c/conf.d/10-a.conf', text: 'max_wal_senders = 7\n' },
    };
    assert.equal(ensureConfModule.plan({ settings: { max_wal_senders: 9, work_mem: '4MB' } }, stopped).kind, 'noop');
    const lost = ensureConfModule.plan({ settings: { max_wal_senders: 5 }, file: 'conf.d/10-a.conf' }, stopped);
    assert.equal(lost.kind === 'fail' && lost.message, `max_wal_senders is set again in ${auto} line 1, which PostgreSQL reads after /c/conf.d/10-a.conf: the value written would not be in force`);
    const elsewhere = ensureConfModule.plan({ settings: { max_wal_senders: 5 }, file: '/c/other.conf' }, { ...stopped, file: { path: '/c/other.conf', text: null } });
    assert.equal(elsewhere.kind === 'fail' && elsewhere.message, '/c/other.conf is not read by PostgreSQL: include it from /c/postgresql.conf (include, include_if_exists or include_dir)');
  });
});
