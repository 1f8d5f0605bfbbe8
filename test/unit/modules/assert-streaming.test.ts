import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { assertStreamingModule, replicationRowOf, type ReplicationRow } from '../../../src/modules/assert-streaming';

describe('assert_streaming plan', () => {
  const ok = (host: string, check: string) => ({ host, check, ok: true, seen: 'fine' });
  it('passes with a count of checks', () => {
    const plan = assertStreamingModule.plan({ replicas: ['pg2', 'pg3'] }, { primary: 'pg1', checks: [ok('pg2', 'a'), ok('pg3', 'a'), ok('pg3', 'b')] });
    assert.equal(plan.kind === 'noop' && plan.reason, '3 checks passed on pg2, pg3');
  });
  it('fails naming the check, the host and what was seen', () => {
    const plan = assertStreamingModule.plan({ replicas: ['pg2'] }, { primary: 'pg1', checks: [ok('pg2', 'a'), { host: 'pg2', check: 'refuses writes', ok: false, seen: 'the INSERT succeeded' }] });
    assert.equal(plan.kind === 'fail' && plan.message, 'pg2: refuses writes failed (the INSERT succeeded)');
  });
  it('fails at once, one line per replica, for replicas out of the run; never waits for them', async () => {
    let queries = 0;
    const ctx = {
      name: 'pg1',
      sql: async () => ({ query: async () => { queries++; return []; }, close: async () => undefined, closed: false }),
      otherHost: async (name: string) => { throw new Error(`${name} should not be reached`); },
      outOfRun: (name: string) => ({ pg2: "was unreachable earlier in this run: ssh to pg2 (10.0.0.12:22): connection refused", pg3: "failed earlier in this run (task 'Base backup'): pg_basebackup from pg1 failed" })[name] ?? null,
      progress: () => undefined,
      signal: new AbortController().signal,
    } as never;
    const started = Date.now();
    const facts = await assertStreamingModule.check(ctx, { replicas: ['pg2', 'pg3'], timeout: 30 });
    assert.ok(Date.now() - started < 1000);
    assert.equal(queries, 0, 'no marker is written when no replica can be checked');
    const plan = assertStreamingModule.plan({ replicas: ['pg2', 'pg3'] }, facts);
    assert.equal(
      plan.kind === 'fail' && plan.message,
      "pg2: not checked: it was unreachable earlier in this run: ssh to pg2 (10.0.0.12:22): connection refused\npg3: not checked: it failed earlier in this run (task 'Base backup'): pg_basebackup from pg1 failed",
    );
  });
  it('one line per replica when several checks fail', () => {
    const bad = (host: string, check: string) => ({ host, check, ok: false, seen: 'no' });
    const plan = assertStreamingModule.plan({ replicas: ['pg2', 'pg3'] }, { primary: 'pg1', checks: [bad('pg3', 'a'), ok('pg2', 'a'), bad('pg3', 'b'), bad('pg2', 'c')] });
    assert.equal(plan.kind === 'fail' && plan.message, 'pg2: c failed (no)\npg3: a failed (no); b failed (no)');
  });
  it('is skipped in check mode', () => {
    assert.equal(assertStreamingModule.checkMode, 'skip');
  });
  it('reads pg_stat_replication once for all the replicas waiting, not once each', async () => {
    let reads = 0;
    let marker = '';
    const row = (application_name: string, client_addr: string, state: string): ReplicationRow => ({ application_name, client_addr, state, sync_state: 'async', lag_bytes: '0', replay_lag_seconds: 0, ssl: false, ssl_version: null, slot: null });
    const primary = {
      closed: false,
      close: async () => undefined,
      query: async (text: string, params?: unknown[]) => {
        if (text.includes('pg_stat_replication')) {
          reads++;
          // pg3 streams from the second read on; pg4 is known by its address alone (another application_name).
          return [row('pg2', '10.0.0.12', 'streaming'), row('pg3', '10.0.0.13', reads > 1 ? 'streaming' : 'startup'), row('walreceiver', '10.0.0.14', 'streaming')];
        }
        if (/pgplay\.marker/.test(text)) {
          marker = /'([0-9a-f]{16})'/.exec(text)?.[1] ?? String(params?.[1] ?? '');
          return [{ lsn: '0/3000148' }];
        }
        return [];
      },
    };
    const replica = {
      closed: false,
      close: async () => undefined,
      query: async (text: string) => {
        if (text.startsWith('SELECT pg_is_in_recovery()')) return [{ rec: true, status: 'streaming', turns: '0', token: marker }];
        throw Object.assign(new Error('cannot execute INSERT in a read-only transaction'), { code: '25006' });
      },
    };
    const address: Record<string, string> = { pg2: '10.0.0.12', pg3: '10.0.0.13', pg4: '10.0.0.14' };
    const ctx = {
      name: 'pg1',
      vars: {},
      sql: async () => primary,
      otherHost: async (name: string) => ({ name, pg: { address: address[name] }, sql: async () => replica }),
      outOfRun: () => null,
      progress: () => undefined,
      signal: new AbortController().signal,
    } as never;
    const facts = await assertStreamingModule.check(ctx, { replicas: ['pg2', 'pg3', 'pg4'], timeout: 5 });
    assert.deepEqual(facts.checks.filter((c) => !c.ok), []);
    assert.equal(reads, 2, 'the first read serves all three, the second pg3 alone (one query each would be 4)');
  });
  it("waits on the replica's server until it has replayed the marker's commit and reads it in the same round; reads again at once after a wait, later after none", async () => {
    // How the replica answers: the first read sees the marker (no wait needed); the marker arrived during the wait
    // (read again at once); the replay was already past it and an older marker is there (read again 50 ms later); the
    // marker's table has not reached the replica (the first statement fails before it waits).
    const cases = {
      'read at once': { first: { turns: '0', token: 'MARKER' }, kinds: ['state+wait+read', 'write'] },
      'arrived during the wait': { first: { turns: '4', token: null }, kinds: ['state+wait+read', 'wait+read', 'write'] },
      'an older marker': { first: { turns: '0', token: 'an older one' }, kinds: ['state+wait+read', 'wait+read', 'write'] },
      'table not there yet': { first: null, kinds: ['state+wait+read', 'state+wait', 'wait+read', 'write'] },
    } as const;
    for (const [label, { first, kinds }] of Object.entries(cases)) {
      let marker = '';
      const queries: Array<{ text: string; params?: unknown[]; at: number }> = [];
      const primary = {
        closed: false,
        close: async () => undefined,
        query: async (text: string) => {
          if (text.includes('pg_stat_replication')) {
            return [{ application_name: 'pg2', client_addr: '10.0.0.12', state: 'streaming', sync_state: 'async', lag_bytes: '0', replay_lag_seconds: 0, ssl: false, ssl_version: null, slot: null } satisfies ReplicationRow];
          }
          if (/pgplay\.marker/.test(text)) {
            marker = /'([0-9a-f]{16})'/.exec(text)?.[1] ?? '';
            // The write's last statement answers the flush position after its commit.
            assert.match(text, /COMMIT;\s*SELECT pg_current_wal_flush_lsn\(\)/);
            return [{ lsn: '0/3000148' }];
          }
          return [];
        },
      };
      const replica = {
        closed: false,
        close: async () => undefined,
        query: async (text: string, params?: unknown[]) => {
          queries.push({ text, params, at: Date.now() });
          const state = { rec: true, status: 'streaming' };
          if (text.startsWith('SELECT pg_is_in_recovery()') && text.includes('pgplay.marker')) {
            if (!first) throw Object.assign(new Error('relation "pgplay.marker" does not exist'), { code: '42P01' });
            return [{ ...state, turns: first.turns, token: first.token === 'MARKER' ? marker : first.token }];
          }
          if (text.startsWith('SELECT pg_is_in_recovery()')) return [{ ...state, turns: '2' }];
          if (text.startsWith('SELECT (SELECT count(*)')) return [{ turns: '0', token: marker }];
          throw Object.assign(new Error('cannot execute INSERT in a read-only transaction'), { code: '25006' });
        },
      };
      const ctx = {
        name: 'pg1',
        vars: {},
        sql: async () => primary,
        otherHost: async (name: string) => ({ name, pg: { address: '10.0.0.12' }, sql: async () => replica }),
        outOfRun: () => null,
        progress: () => undefined,
        signal: new AbortController().signal,
      } as never;
      const facts = await assertStreamingModule.check(ctx, { replicas: ['pg2'], timeout: 5 });
      assert.deepEqual(facts.checks.filter((c) => !c.ok), [], label);
      assert.equal(facts.checks.length, 5, 'streaming, in recovery, WAL receiver, marker, refuses writes');
      const kind = (text: string) =>
        text.startsWith('SELECT pg_is_in_recovery()') ? (text.includes('pgplay.marker') ? 'state+wait+read' : 'state+wait') : text.startsWith('SELECT (SELECT count(*)') ? 'wait+read' : 'write';
      assert.deepEqual(queries.map((q) => kind(q.text)), kinds, label);
      // The first query waits for the primary's flush position, on the server, for at most 500 turns of 2 ms.
      assert.match(queries[0].text, /pg_sleep\(0\.002\) FROM generate_series\(1, \$2::int\) WHERE pg_last_wal_replay_lsn\(\) < \$1::pg_lsn/);
      assert.deepEqual(queries[0].params, ['0/3000148', 500, 'pg1']);
      // Read again 50 ms later only when the replay was already past the marker's position without it.
      const reread = queries.findIndex((q) => kind(q.text) === 'wait+read');
      if (reread > 0) assert.equal(queries[reread].at - queries[reread - 1].at >= 45, label === 'an older marker', label);
    }
  });

  it("finds a replica's walsender by name or address, a streaming one first, then the one with its name", () => {
    const row = (application_name: string, client_addr: string | null, state: string) => ({ application_name, client_addr, state }) as ReplicationRow;
    const rows = [row('pg9', '10.0.0.12', 'catchup'), row('other', '10.0.0.12', 'streaming'), row('pg2', null, 'streaming'), row('pg3', '10.0.0.13', 'startup')];
    assert.equal(replicationRowOf(rows, 'pg2', '10.0.0.12'), rows[2], 'streaming and named');
    assert.equal(replicationRowOf(rows, 'pg9', '10.0.0.12'), rows[1], 'streaming by address before its own name not streaming');
    assert.equal(replicationRowOf(rows, 'pg3', '10.0.0.99'), rows[3]);
    assert.equal(replicationRowOf(rows, 'pg4', '10.0.0.14'), undefined);
  });
});
