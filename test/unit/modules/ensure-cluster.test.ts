import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { pgSettingsFrom } from '../../../src/facts/pg-settings';
import { createClusterArgv, ensureClusterModule, initdbOptions, isDebianLayout, unitPgdata, type EnsureClusterFacts } from '../../../src/modules/ensure-cluster';
import type { Plan } from '../../../src/modules/types';

const rhel = (over: Partial<EnsureClusterFacts> = {}): EnsureClusterFacts => ({
  host: 'pg1',
  layout: 'initdb',
  version: '15',
  cluster: 'main',
  dataDir: '/var/lib/pgsql/15/data',
  configDir: '/var/lib/pgsql/15/data',
  entries: [],
  pgVersion: null,
  debianConfig: false,
  toolPresent: true,
  setup: null,
  ...over,
});
const debian = (over: Partial<EnsureClusterFacts> = {}) => rhel({ layout: 'debian', dataDir: '/var/lib/postgresql/15/main', configDir: '/etc/postgresql/15/main', ...over });
const change = (plan: Plan) => {
  assert.equal(plan.kind, 'change', JSON.stringify(plan));
  return plan as Extract<Plan, { kind: 'change' }>;
};
const message = (plan: Plan) => (plan.kind === 'fail' ? plan.message : `not a failure: ${JSON.stringify(plan)}`);

describe('ensure_cluster plan', () => {
  it('leaves a cluster that exists, on either layout', () => {
    assert.deepEqual(ensureClusterModule.plan({}, rhel({ pgVersion: '15', entries: ['PG_VERSION', 'base'] })), { kind: 'noop', reason: 'a PostgreSQL 15 cluster exists in /var/lib/pgsql/15/data', result: undefined });
    assert.equal(ensureClusterModule.plan({}, debian({ pgVersion: '15', debianConfig: true })).kind, 'noop');
  });

  it('never initialises over a directory that holds anything, nor over another version', () => {
    assert.match(message(ensureClusterModule.plan({}, rhel({ entries: ['notes.txt', 'old'] }))), /holds 2 file\(s\) but no cluster \(notes.txt, old\): refusing to initialise over them/);
    assert.match(message(ensureClusterModule.plan({}, rhel({ pgVersion: '14' }))), /holds a PostgreSQL 14 cluster, not 15/);
    assert.match(message(ensureClusterModule.plan({}, debian({ debianConfig: true }))), /has its configuration in \/etc\/postgresql\/15\/main but no cluster/);
    assert.match(message(ensureClusterModule.plan({}, debian({ pgVersion: '15' }))), /postgresql-common does not know/);
  });

  it('RHEL without a setup command: initdb with peer, scram-sha-256 and checksums, then the host settings', () => {
    const plan = change(ensureClusterModule.plan({}, rhel({ entries: null })));
    assert.equal(plan.summary, 'create the PostgreSQL 15 cluster /var/lib/pgsql/15/data with initdb');
    assert.deepEqual(plan.steps.map((s) => s.description), ['initialise /var/lib/pgsql/15/data with initdb', 'port and socket directory of this host']);
    assert.deepEqual(initdbOptions({}), ['--auth-local=peer', '--auth-host=scram-sha-256', '--data-checksums']);
    assert.deepEqual(initdbOptions({ checksums: false, initdb_options: ['--locale=C.UTF-8'] }), ['--auth-local=peer', '--auth-host=scram-sha-256', '--locale=C.UTF-8']);
  });

  it("RHEL: the service's setup command when its unit names this data directory, else initdb with a warning", () => {
    const setup = { argv: ['/usr/pgsql-15/bin/postgresql-15-setup', 'initdb', 'postgresql-15'], unitDataDir: '/var/lib/pgsql/15/data' };
    assert.match(change(ensureClusterModule.plan({}, rhel({ setup }))).summary, /with postgresql-15-setup initdb$/);
    const elsewhere = change(ensureClusterModule.plan({}, rhel({ setup: { ...setup, unitDataDir: '/srv/pg' } })));
    assert.match(elsewhere.summary, /with initdb$/);
    assert.deepEqual(elsewhere.warnings, ['/usr/pgsql-15/bin/postgresql-15-setup initialises /srv/pg, not /var/lib/pgsql/15/data: initdb is run instead']);
    assert.equal(unitPgdata('PGDATA=/var/lib/pgsql/15/data/ PG_OOM_ADJUST_FILE=/proc/self/oom_score_adj'), '/var/lib/pgsql/15/data');
    assert.equal(unitPgdata(''), null);
  });

  it('Debian: pg_createcluster with the host port, socket directory and initdb options', () => {
    const plan = change(ensureClusterModule.plan({}, debian({ entries: null })));
    assert.deepEqual(plan.steps.map((s) => s.description), ['initialise 15/main (/var/lib/postgresql/15/main) with pg_createcluster']);
    const pg = pgSettingsFrom({ pg_service: 'pg_ctlcluster', pg_cluster: 'sales', pg_port: 5433, pg_socket_dir: '/run/pg-sales' });
    assert.deepEqual(createClusterArgv(pg, initdbOptions({})), ['pg_createcluster', '15', 'sales', '--port', '5433', '--socketdir', '/run/pg-sales', '--', '--auth-local=peer', '--auth-host=scram-sha-256', '--data-checksums']);
  });

  it("reads Debian's layout from pg_ctlcluster or a configuration directory in /etc/postgresql", () => {
    assert.equal(isDebianLayout(pgSettingsFrom({ pg_service: 'systemd:postgresql@15-main', pg_config_dir: '/etc/postgresql/15/main' })), true);
    assert.equal(isDebianLayout(pgSettingsFrom({ pg_service: 'pg_ctlcluster' })), true);
    assert.equal(isDebianLayout(pgSettingsFrom({ pg_service: 'systemd:postgresql-15', pg_data_dir: '/var/lib/pgsql/15/data' })), false);
  });

  it('says when the server binaries are not installed yet (the package task comes first)', () => {
    assert.deepEqual(change(ensureClusterModule.plan({}, rhel({ toolPresent: false }))).warnings, ['initdb is not installed yet: the server package must be installed first']);
  });

  it('refuses initdb options that are not long options, or that name the data directory', () => {
    assert.deepEqual(ensureClusterModule.validate?.({ initdb_options: ['-E', '--pgdata=/x', '--locale=C'] }), [
      { arg: 'initdb_options', message: "'-E' is not a long option (--name or --name=value)" },
      { arg: 'initdb_options', message: 'the data directory is pg_data_dir: --pgdata cannot be given' },
    ]);
  });
});
