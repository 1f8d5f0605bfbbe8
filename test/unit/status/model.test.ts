import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { buildReport, type StatusHostInput } from '../../../src/status/model';
import type { ReplicationView, ServerView } from '../../../src/status/read-host';
import { renderStatus } from '../../../src/status/render';

const primaryView = (replication: ReplicationView[], slots: ServerView['slots'] = []): ServerView => ({
  data_directory: '/d/pg1',
  system_identifier: '7000000000000000001',
  in_recovery: false,
  timeline: 1,
  current_lsn: '0/3000148',
  receive_lsn: null,
  replay_lsn: null,
  replay_age_seconds: null,
  receiver: null,
  conninfo_host: null,
  replication,
  slots,
});
const standbyView = (name: string, sender: string | null): ServerView => ({
  ...primaryView([]),
  data_directory: `/d/${name}`,
  in_recovery: true,
  current_lsn: '0/3000100',
  receive_lsn: '0/3000148',
  replay_lsn: '0/3000100',
  replay_age_seconds: 2.5,
  receiver: sender ? { status: 'streaming', sender_host: sender, slot: name } : null,
  conninfo_host: '10.0.0.11',
});
const row = (name: string, addr: string, over: Partial<ReplicationView> = {}): ReplicationView => ({
  application_name: name,
  client_addr: addr,
  state: 'streaming',
  sent_lsn: '0/3000148',
  write_lsn: '0/3000148',
  flush_lsn: '0/3000148',
  replay_lsn: '0/3000148',
  lag_bytes: 0,
  replay_lag: 0.002,
  sync_state: 'async',
  ssl: true,
  ssl_version: 'TLSv1.3',
  slot: name,
  ...over,
});
const host = (name: string, role: 'primary' | 'replica', reading: StatusHostInput['reading'], n: number): StatusHostInput => ({ name, addresses: [`10.0.0.1${n}`], inventoryRole: role, slot: name, dataDir: `/d/${name}`, reading });
const slot = (name: string, active = true) => ({ name, active, retained_bytes: 16384, wal_status: 'reserved' });

describe('pgplay status report', () => {
  it('healthy: roles from the servers, LSNs and lag from the primary, slot and TLS', () => {
    const report = buildReport(
      [
        host('pg1', 'primary', { kind: 'server', view: primaryView([row('pg2', '10.0.0.12', { sync_state: 'sync' }), row('pg3', '10.0.0.13')], [slot('pg2'), slot('pg3')]) }, 1),
        host('pg2', 'replica', { kind: 'server', view: standbyView('pg2', '10.0.0.11') }, 2),
        host('pg3', 'replica', { kind: 'server', view: standbyView('pg3', '10.0.0.11') }, 3),
      ],
      {},
    );
    assert.equal(report.exitCode, 0);
    assert.equal(report.summary, 'healthy: 3 host(s)');
    const pg2 = report.hosts[1];
    assert.equal(pg2.role, 'standby of pg1');
    assert.deepEqual(pg2.lsn, { current: '0/3000100', sent: '0/3000148', write: '0/3000148', flush: '0/3000148', replay: '0/3000148' });
    assert.deepEqual(pg2.slot, { name: 'pg2', active: true, retained_bytes: 16384, wal_status: 'reserved' });
    assert.deepEqual(pg2.tls, { ssl: true, version: 'TLSv1.3' });
    assert.equal(pg2.sync_state, 'sync');
    const text = renderStatus(report);
    assert.match(text, /^cluster 7000000000000000001$/m);
    assert.match(text, /^host\s+role\s+tl\s+current\s+sent\s+write\s+flush\s+replay\s+lag\s+lag time\s+sync\s+slot\s+tls$/m);
    assert.match(text, /^pg2\s+standby of pg1\s+1\s+0\/3000100\s+0\/3000148 .* 0 bytes\s+0\.002 s\s+sync\s+pg2 active, 16\.0 kB\s+TLSv1\.3$/m);
  });
  it('degraded (2): a standby not streaming, an inactive slot, a lag bound exceeded', () => {
    const report = buildReport(
      [
        host('pg1', 'primary', { kind: 'server', view: primaryView([row('pg2', '10.0.0.12', { lag_bytes: 5000000 })], [slot('pg2'), slot('pg3', false), slot('gone', false)]) }, 1),
        host('pg2', 'replica', { kind: 'server', view: standbyView('pg2', '10.0.0.11') }, 2),
        host('pg3', 'replica', { kind: 'server', view: standbyView('pg3', null) }, 3),
      ],
      { maxLagBytes: 1000 },
    );
    assert.equal(report.exitCode, 2);
    const problems = report.hosts.flatMap((h) => h.problems.map((p) => `${h.host}: ${p}`));
    assert.deepEqual(problems, [
      'pg1: slot pg3 is inactive and keeps 16.0 kB of WAL',
      'pg1: slot gone is inactive and keeps 16.0 kB of WAL (no inventory host owns it)',
      'pg2: lag 5000000 bytes is over --max-lag-bytes 1000',
      'pg3: not streaming: pg1 has no walsender for it; WAL receiver not running',
    ]);
    assert.deepEqual(report.hosts[0].unowned_slots, [{ name: 'gone', active: false, retained_bytes: 16384 }]);
    assert.equal(report.hosts[2].role, 'standby of pg1', 'the upstream comes from primary_conninfo when the WAL receiver is down');
  });
  it('unreachable (3) wins over degraded; a stopped server is degraded; both listed apart', () => {
    const report = buildReport(
      [
        host('pg1', 'primary', { kind: 'server', view: primaryView([]) }, 1),
        host('pg2', 'replica', { kind: 'unreachable', error: 'ssh to pg2 (10.0.0.12:22): connection timed out' }, 2),
        host('pg3', 'replica', { kind: 'stopped', error: 'PostgreSQL on pg3 is not accepting connections' }, 3),
      ],
      {},
    );
    assert.equal(report.exitCode, 3);
    assert.equal(report.summary, 'unreachable: pg2; degraded: pg3');
    assert.deepEqual(report.clusters, [{ id: '7000000000000000001', hosts: ['pg1'] }, { id: null, hosts: ['pg2', 'pg3'] }]);
    assert.equal(report.hosts[2].role, 'stopped');
  });
  it('a replica promoted by hand: two primaries, and the inventory disagrees', () => {
    const report = buildReport(
      [host('pg1', 'primary', { kind: 'server', view: primaryView([]) }, 1), host('pg2', 'replica', { kind: 'server', view: { ...primaryView([]), data_directory: '/d/pg2' } }, 2)],
      {},
    );
    assert.equal(report.exitCode, 2);
    assert.deepEqual(report.hosts[1].problems, ['the server is a primary, but the inventory has it in replicas (promoted by hand?)', '2 primaries of one cluster accept writes: pg1, pg2']);
  });
  it('--limit to a standby: its own account, healthy while its WAL receiver streams', () => {
    const report = buildReport([host('pg2', 'replica', { kind: 'server', view: standbyView('pg2', '10.0.0.11') }, 2)], {});
    assert.equal(report.exitCode, 0, report.hosts[0].problems.join());
    assert.deepEqual(report.hosts[0].lsn, { current: '0/3000100', sent: null, write: null, flush: '0/3000148', replay: '0/3000100' });
    assert.equal(report.hosts[0].lag_seconds, 2.5);
    assert.equal(report.hosts[0].slot, null);
  });
  it('the README documents every field of --json, and no other', () => {
    const readme = readFileSync(join(__dirname, '..', '..', '..', '..', 'README.md'), 'utf8');
    const table = readme.slice(readme.indexOf('| field |'), readme.indexOf('\n\n', readme.indexOf('| field |')));
    const documented = [...table.matchAll(/^\| `([a-z_]+)`(?:, `([a-z_]+)`)? \|/gm)].flatMap((m) => [m[1], m[2]].filter(Boolean)).sort();
    const report = buildReport([host('pg1', 'primary', { kind: 'server', view: primaryView([]) }, 1)], {});
    assert.deepEqual(documented, Object.keys(report.hosts[0]).sort());
  });
});
