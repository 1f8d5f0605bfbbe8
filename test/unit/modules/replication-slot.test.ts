import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { planSlots, replicationSlotModule, type ReplicationSlotFacts } from '../../../src/modules/replication-slot';
import { formatBytes, slotName } from '../../../src/modules/pg/slots';
import { renderValue } from '../../../src/templates/render';

const slot = (name: string, active = false, retained: number | null = 1024 * 1024) => ({ name, active, activePid: active ? 4242 : null, client: active ? `${name} from 10.0.0.12` : null, retainedBytes: retained, walStatus: 'reserved' });
const facts = (slots: ReplicationSlotFacts['slots'], extra: Partial<ReplicationSlotFacts> = {}): ReplicationSlotFacts => ({ host: 'pg1', inRecovery: false, slots, maxSlots: 10, ...extra });

describe('slot names', () => {
  it('lower-cases inventory names and replaces what a slot name cannot hold', () => {
    assert.equal(slotName('pg2'), 'pg2');
    assert.equal(slotName('PG-2.example.com'), 'pg_2_example_com');
    assert.equal(slotName('db 3'), 'db_3');
    assert.equal(slotName('x'.repeat(80)).length, 63);
  });
  it('slot_name and extract in playbook expressions', () => {
    const scope = { inventory_hostname: 'Db-2', hosts: { a: { replication_slot: 'a_slot' }, b: { replication_slot: 'b' } }, groups: { replicas: ['a', 'b'] } };
    assert.equal(renderValue('{{ slot_name inventory_hostname }}', scope), 'db_2');
    assert.deepEqual(renderValue("{{ extract groups.replicas 'replication_slot' }}", scope), ['a_slot', 'b']);
    assert.throws(() => renderValue("{{ extract groups.replicas 'nope' }}", scope), /host a has no variable 'nope'/);
  });
  it('formats WAL sizes', () => {
    assert.equal(formatBytes(512), '512 bytes');
    assert.equal(formatBytes(16 * 1024 * 1024), '16.0 MB');
  });
});

describe('replication_slot plan', () => {
  it('noop when every slot is there', () => {
    const plan = planSlots({ slots: ['pg2', 'pg3'] }, facts([slot('pg2', true), slot('pg3')]));
    assert.equal(plan.kind, 'noop');
    assert.equal(plan.kind === 'noop' && plan.reason, 'slots pg2, pg3 present on pg1');
  });
  it('creates the missing ones, with an undo', () => {
    const plan = planSlots({ slots: ['pg2', 'pg3'] }, facts([slot('pg2')]));
    assert.equal(plan.kind, 'change');
    if (plan.kind !== 'change') return;
    assert.equal(plan.summary, 'create slot pg3');
    assert.equal(plan.steps.length, 1);
    assert.ok(plan.steps[0].undo);
    assert.equal(plan.diffs?.[0].after, 'pg2\npg3\n');
  });
  it('reports an unowned slot as a warning, with its WAL, and leaves it', () => {
    const plan = planSlots({ slots: ['pg2'] }, facts([slot('pg2', true), slot('old_replica', false, 3 * 1024 * 1024)]));
    assert.equal(plan.kind, 'noop');
    assert.deepEqual(plan.kind === 'noop' && plan.warnings, [
      'the replication slot old_replica on pg1 is owned by no inventory host (inactive, keeps 3.0 MB of WAL): drop it with unowned: drop, or replication_slot state: absent',
    ]);
    assert.deepEqual((plan.result?.unowned as unknown[]).length, 1);
  });
  it('drops an inactive unowned slot only when told', () => {
    const plan = planSlots({ slots: ['pg2'], unowned: 'drop' }, facts([slot('pg2'), slot('old_replica')]));
    assert.equal(plan.kind === 'change' && plan.summary, 'drop unowned slot old_replica');
    assert.equal(planSlots({ slots: ['pg2'], unowned: 'ignore' }, facts([slot('pg2'), slot('old_replica')])).kind, 'noop');
  });
  it('refuses to drop an active slot, naming who streams through it', () => {
    const plan = planSlots({ slots: ['pg3'], state: 'absent' }, facts([slot('pg3', true)]));
    assert.equal(plan.kind, 'fail');
    assert.match(plan.kind === 'fail' ? plan.message : '', /^refusing to drop the slot pg3: it is active, pg3 from 10\.0\.0\.12 streams through it, keeps 1\.0 MB of WAL/);
    const unowned = planSlots({ slots: [], unowned: 'drop' }, facts([slot('busy', true)]));
    assert.match(unowned.kind === 'fail' ? unowned.message : '', /refusing to drop the unowned slot busy: it is active/);
  });
  it('drops an inactive slot with state absent; noop when it is gone', () => {
    const plan = planSlots({ slots: ['pg3'], state: 'absent' }, facts([slot('pg3'), slot('pg2')]));
    assert.equal(plan.kind === 'change' && plan.summary, 'drop slot pg3');
    assert.equal(planSlots({ slots: ['pg3'], state: 'absent' }, facts([slot('pg2')])).kind, 'noop');
  });
  it('fails on a standby, on a name given twice, and past max_replication_slots', () => {
    assert.match(String((planSlots({ slots: ['pg2'] }, facts([], { inRecovery: true })) as { message: string }).message), /is a standby/);
    assert.match(String((planSlots({ slots: ['pg_2', 'pg_2'] }, facts([])) as { message: string }).message), /the slot pg_2 is named twice/);
    assert.deepEqual(replicationSlotModule.validate?.({ slots: ['a', 'a'] }), [{ arg: 'slots', message: 'the slot a is named twice: two replicas would share it' }]);
    assert.match(String((planSlots({ slots: ['a', 'b'] }, facts([slot('c')], { maxSlots: 2 })) as { message: string }).message), /3 replication slots would exist on pg1, more than max_replication_slots \(2\)/);
  });
  it('--check on a stopped primary says what the run would do once it runs', () => {
    const plan = planSlots({ slots: ['pg2', 'pg3'] }, facts([], { serverDown: 'stopped' }));
    assert.equal(plan.kind === 'change' && plan.summary, 'create slot(s) pg2, pg3 as needed once the server runs (PostgreSQL is stopped, so its slots cannot be read)');
  });
});
