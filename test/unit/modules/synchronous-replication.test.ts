import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { slotWalRoomRisk, syncStandbyRisk, synchronousStandbyNames } from '../../../src/facts/replication-risks';
import { expectedSyncStates } from '../../../src/modules/assert-streaming';
import { planSynchronous } from '../../../src/modules/synchronous-replication';
import type { EnsureConfFacts } from '../../../src/modules/ensure-conf';

const conf = (names: string, commit = 'on'): EnsureConfFacts => ({
  running: true,
  info: {
    synchronous_standby_names: { vartype: 'string', unit: null, context: 'sighup', active: names, display: names },
    synchronous_commit: { vartype: 'enum', unit: null, context: 'user', active: commit, display: commit },
  },
  inFiles: {},
  file: null,
  useAlterSystem: true,
});

describe('synchronous standbys', () => {
  it('writes synchronous_standby_names with each inventory name quoted', () => {
    assert.equal(synchronousStandbyNames({ method: 'FIRST', count: 1, standbys: ['pg2', 'db-3.example'] }), 'FIRST 1 ("pg2", "db-3.example")');
    assert.equal(synchronousStandbyNames({ method: 'ANY', count: 2, standbys: [] }), '');
  });
  it('refuses a count above the standbys, warns when losing one stops writes', () => {
    assert.equal(syncStandbyRisk({ method: 'FIRST', count: 1, standbys: ['pg2', 'pg3'] }, 2), null);
    assert.equal(syncStandbyRisk({ method: 'ANY', count: 2, standbys: ['pg2', 'pg3'] }, 2)?.level, 'warn');
    assert.match(syncStandbyRisk({ method: 'FIRST', count: 3, standbys: ['pg2', 'pg3'] }, 2)?.message ?? '', /every write on the primary would wait forever/);
  });
  it('plans the gap through ensure_conf, with the warning', () => {
    const plan = planSynchronous({ standbys: ['pg2'], count: 1 }, { conf: conf(''), inventoryHosts: ['pg1', 'pg2', 'pg3'] });
    assert.equal(plan.kind, 'change');
    if (plan.kind !== 'change') return;
    assert.equal(plan.needs, 'reload');
    assert.match(plan.diffs?.[0].after ?? '', /synchronous_standby_names = FIRST 1 \("pg2"\)/);
    assert.match(plan.warnings?.[0] ?? '', /FIRST 1 of 1 standby\(s\) \(pg2\): when any one of them is down or cut off, every commit on the primary waits/);
    const same = planSynchronous({ standbys: ['pg2', 'pg3'], method: 'any' }, { conf: conf('ANY 1 ("pg2", "pg3")'), inventoryHosts: [] });
    assert.equal(same.kind, 'noop');
  });
  it('fails on a standby that is not in the inventory', () => {
    const plan = planSynchronous({ standbys: ['pg9'] }, { conf: conf(''), inventoryHosts: ['pg1', 'pg2'] });
    assert.equal(plan.kind === 'fail' && plan.message, 'synchronous standbys must be inventory hosts: pg9 is not');
  });
  it('expects sync, potential, quorum and async as PostgreSQL reports them', () => {
    assert.deepEqual([...expectedSyncStates({ standbys: ['pg3', 'pg2'], count: 1 }, ['pg2', 'pg3', 'pg4'])], [['pg2', 'potential'], ['pg3', 'sync'], ['pg4', 'async']]);
    assert.deepEqual([...expectedSyncStates({ standbys: ['pg2', 'pg3'], method: 'ANY', count: 1 }, ['pg2', 'pg3'])], [['pg2', 'quorum'], ['pg3', 'quorum']]);
    assert.deepEqual([...expectedSyncStates({ standbys: [] }, ['pg2'])], [['pg2', 'async']]);
  });
});

describe('room for the WAL slots keep (for the preflight)', () => {
  const GB = 1024 ** 3;
  it('warns when the disk cannot hold max_slot_wal_keep_size, or when it is unlimited', () => {
    assert.equal(slotWalRoomRisk({ freeBytes: 100 * GB, maxSlotWalKeepSize: 8 * GB, maxWalSize: GB, walKeepSize: GB / 4, slots: 2 }), null);
    assert.match(slotWalRoomRisk({ freeBytes: 5 * GB, maxSlotWalKeepSize: 8 * GB, maxWalSize: GB, walKeepSize: 0, slots: 2 }) ?? '', /has 5\.0 GB free, less than max_slot_wal_keep_size \(8\.0 GB\)/);
    assert.match(slotWalRoomRisk({ freeBytes: 5 * GB, maxSlotWalKeepSize: -1, maxWalSize: GB, walKeepSize: 0, slots: 1 }) ?? '', /unlimited/);
    assert.equal(slotWalRoomRisk({ freeBytes: 1, maxSlotWalKeepSize: -1, maxWalSize: GB, walKeepSize: 0, slots: 0 }), null);
  });
});
