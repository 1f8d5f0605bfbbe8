import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { serverCommand } from '../../../src/modules/pg/server';
import { serviceModule } from '../../../src/modules/service';
import { pgSettingsFrom } from '../../../src/facts/pg-settings';

describe('service plan', () => {
  const f = (state: 'running' | 'stopped' | 'no-cluster') => ({ state, dataDir: '/d' });
  it('does nothing when the state already holds', () => {
    assert.deepEqual(serviceModule.plan({ state: 'started' }, f('running')), { kind: 'noop', reason: 'PostgreSQL is running', result: undefined });
    assert.equal(serviceModule.plan({ state: 'stopped' }, f('stopped')).kind, 'noop');
    assert.equal(serviceModule.plan({ state: 'reloaded' }, f('stopped')).kind, 'noop');
  });
  it('acts otherwise; restarted starts a stopped server', () => {
    assert.equal(serviceModule.plan({ state: 'started' }, f('stopped')).kind === 'change', true);
    const restart = serviceModule.plan({ state: 'restarted' }, f('stopped'));
    assert.deepEqual(restart.kind === 'change' && restart.steps.map((s) => s.description), ['start PostgreSQL']);
    assert.equal(serviceModule.plan({ state: 'restarted' }, f('running')).kind === 'change' && (serviceModule.plan({ state: 'restarted' }, f('running')) as { summary: string }).summary, 'PostgreSQL restarted');
  });
  it('fails without a cluster', () => {
    assert.deepEqual(serviceModule.plan({ state: 'started' }, f('no-cluster')), { kind: 'fail', message: 'there is no PostgreSQL cluster in /d', result: undefined });
  });
  it("uses pg_ctl as the OS user, Debian's pg_ctlcluster, or systemctl for systemd units", () => {
    const pg = pgSettingsFrom({ pg_config_dir: '/etc/postgresql/15/main' });
    assert.deepEqual(serverCommand(pg, 'start'), {
      argv: ['/usr/lib/postgresql/15/bin/pg_ctl', 'start', '-D', '/etc/postgresql/15/main', '-l', '/var/lib/postgresql/15/main/pgplay-server.log', '-w', '-t', '60'],
      as: 'postgres',
    });
    assert.deepEqual(serverCommand(pgSettingsFrom({ pg_service: 'systemd:postgresql@15-main' }), 'reload').argv, ['systemctl', 'reload', 'postgresql@15-main']);
    // The cluster name comes from the Debian configuration directory, or pg_cluster.
    assert.deepEqual(serverCommand(pgSettingsFrom({ pg_service: 'pg_ctlcluster', pg_config_dir: '/etc/postgresql/15/pg2' }), 'restart').argv, ['pg_ctlcluster', '15', 'pg2', 'restart']);
    assert.deepEqual(serverCommand(pgSettingsFrom({ pg_service: 'pg_ctlcluster', pg_cluster: 'sales', pg_version: 16 }), 'stop').argv, ['pg_ctlcluster', '16', 'sales', 'stop']);
  });
  it('uses pg_ctlcluster as root on Debian, the cluster named by pg_cluster or by the configuration directory', () => {
    const named = pgSettingsFrom({ pg_service: 'pg_ctlcluster', pg_cluster: 'pg2' });
    assert.deepEqual(serverCommand(named, 'restart'), { argv: ['pg_ctlcluster', '15', 'pg2', 'restart'] });
    assert.deepEqual([named.dataDir, named.configDir, named.logFile], ['/var/lib/postgresql/15/pg2', '/etc/postgresql/15/pg2', '/var/log/postgresql/postgresql-15-pg2.log']);
    const fromDir = pgSettingsFrom({ pg_service: 'pg_ctlcluster', pg_version: 16, pg_config_dir: '/etc/postgresql/16/sales' });
    assert.deepEqual(serverCommand(fromDir, 'stop'), { argv: ['pg_ctlcluster', '16', 'sales', 'stop'] });
    assert.equal(fromDir.dataDir, '/var/lib/postgresql/16/sales');
    assert.equal(pgSettingsFrom({ pg_service: 'pg_ctlcluster' }).cluster, 'main');
  });
});
