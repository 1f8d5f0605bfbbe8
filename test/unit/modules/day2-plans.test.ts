import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { elect, planPromote, type PromoteArgs } from '../../../src/modules/promote';
import { currentPrimary, type MemberState } from '../../../src/modules/pg/cluster';
import { assertPrimaryModule } from '../../../src/modules/assert-primary';
import { wantedConninfo } from '../../../src/modules/rejoin';
import { passfileHosts, passfileText } from '../../../src/modules/pg/passfile';
import { HELPERS } from '../../../src/templates/helpers';
import type { QueryOptions, SqlSession } from '../../../src/facts/sql';
import type { TaskContext } from '../../../src/modules/types';

const settings = { walLogHints: true, checksums: false, fullPageWrites: true };
const primary = (name: string, over: Partial<MemberState> = {}): MemberState => ({ name, address: `10.0.0.${name.slice(2)}`, port: 5432, state: 'running', systemId: '7', role: 'primary', timeline: 1, lsn: '0/3000148', settings, slots: [], ...over });
const standby = (name: string, over: Partial<MemberState> = {}): MemberState => ({
  name,
  address: `10.0.0.${name.slice(2)}`,
  port: 5432,
  state: 'running',
  systemId: '7',
  role: 'standby',
  timeline: 1,
  lsn: '0/3000148',
  receiveLsn: '0/3000148',
  upstream: { host: '10.0.0.1', status: 'streaming', slot: null },
  settings,
  ...over,
});
const switchover: PromoteArgs = { cluster: ['pg1', 'pg2', 'pg3'], new_primary: 'pg2', mode: 'switchover', user: 'replicator' };

describe('promote: the plan', () => {
  it('a switchover stops the primary cleanly before promoting, and its stop can be undone', () => {
    const p = planPromote(switchover, { host: 'pg2', members: [primary('pg1'), standby('pg2'), standby('pg3')], elected: 'pg2', electedWhy: 'named', grantsMissing: [], pgRewind: true });
    assert.equal(p.kind, 'change');
    if (p.kind !== 'change') return;
    assert.match(p.summary, /stop pg1 cleanly, wait until pg2 replayed its shutdown checkpoint, promote pg2/);
    assert.deepEqual(p.steps.map((s) => s.description), ['CHECKPOINT on pg1', 'stop pg1 cleanly', "wait until pg2 replayed pg1's shutdown checkpoint", 'promote pg2']);
    assert.ok(p.steps[1].undo, 'the stop has an undo');
  });

  it('a switchover is refused before anything changes: lag, no streaming, no rewind prerequisites, missing grants; two primaries', () => {
    const p = planPromote(switchover, {
      host: 'pg2',
      members: [primary('pg1', { lsn: '0/9000000', settings: { walLogHints: false, checksums: false, fullPageWrites: false } }), standby('pg2', { upstream: { host: '10.0.0.3', status: 'streaming', slot: null } }), standby('pg3')],
      elected: 'pg2',
      electedWhy: 'named',
      grantsMissing: ['pg_catalog.pg_ls_dir(text, boolean, boolean)'],
      pgRewind: false,
    });
    assert.equal(p.kind, 'fail');
    if (p.kind !== 'fail') return;
    for (const text of [/does not stream from/, /lags \d+ bytes behind/, /neither wal_log_hints nor data checksums/, /full_page_writes off/, /pg_rewind is not in/, /cannot run what pg_rewind needs/]) assert.match(p.message, text);
    const two = planPromote(switchover, { host: 'pg2', members: [primary('pg1'), standby('pg2'), primary('pg3')], elected: 'pg2', electedWhy: 'named' });
    assert.equal(two.kind, 'fail');
    if (two.kind === 'fail') assert.match(two.message, /pg1 and pg3 both run as primaries/);
  });

  it('nothing happens on a host that already is the primary', () => {
    const p = planPromote(switchover, { host: 'pg2', members: [standby('pg1', { timeline: 2 }), primary('pg2', { timeline: 2 }), standby('pg3', { timeline: 2 })], elected: 'pg2', electedWhy: 'named' });
    assert.equal(p.kind, 'noop');
  });

  it('a failover chooses the standby that received the most WAL; a running primary is never replaced unless named', () => {
    const failover: PromoteArgs = { cluster: ['pg1', 'pg2', 'pg3'], mode: 'failover' };
    const down: MemberState = { name: 'pg1', address: '', port: 0, state: 'unreachable', error: 'timed out' };
    assert.deepEqual(elect(failover, [down, standby('pg2', { receiveLsn: '0/3000100' }), standby('pg3', { receiveLsn: '0/3000148' })], 'pg2').elected, 'pg3');
    assert.equal(elect(failover, [primary('pg1'), standby('pg2'), standby('pg3')], 'pg2').elected, 'pg1');
    const p = planPromote(failover, { host: 'pg2', members: [down, standby('pg2'), standby('pg3')], elected: 'pg3', electedWhy: 'x' });
    assert.equal(p.kind, 'noop');
    const q = planPromote(failover, { host: 'pg3', members: [down, standby('pg2'), standby('pg3')], elected: 'pg3', electedWhy: 'x' });
    assert.equal(q.kind, 'change');
    if (q.kind === 'change') assert.match((q.warnings ?? []).join('\n'), /pg1 cannot be reached .* must be fenced/);
  });
});

/** A candidate's server as the promote step sees it: in recovery until a few polls after pg_promote(). */
class CandidateServer {
  inRecovery = true;
  promoteAsked = false;
  readonly sent: Array<{ text: string; interruptible: boolean }> = [];
  constructor(
    private pollsUntilPromoted: number,
    private readonly signal: AbortSignal,
    private readonly hooks: { onPromote?: () => void; failPoll?: number } = {},
  ) {}
  session(): SqlSession {
    return {
      closed: false,
      close: async () => undefined,
      query: async <T,>(text: string, _params?: unknown[], options?: QueryOptions): Promise<T[]> => {
        const interruptible = options?.interruptible !== false;
        this.sent.push({ text, interruptible });
        // What a cancel request does to a statement that runs when the run is interrupted.
        if (this.signal.aborted && interruptible) throw new Error('canceling statement due to user request');
        if (/pg_promote/.test(text)) {
          this.promoteAsked = true;
          this.hooks.onPromote?.();
          return [{}] as T[];
        }
        if (/pg_is_in_recovery/.test(text)) {
          if (this.hooks.failPoll !== undefined && this.hooks.failPoll-- === 0) throw new Error('the SQL session to pg2 was lost');
          if (this.promoteAsked && this.pollsUntilPromoted-- <= 0) this.inRecovery = false;
          return [{ rec: this.inRecovery }] as T[];
        }
        if (/txid_current/.test(text)) return [{ xid: '900', lsn: '0/5000060', tli: 2 }] as T[];
        throw new Error(`unexpected statement ${text}`);
      },
    };
  }
}

function candidateContext(server: CandidateServer, signal: AbortSignal, sessions = [true]): TaskContext {
  const session = server.session();
  // Each call to sql() takes the next answer: a session, or none (the host cannot be asked now).
  let call = 0;
  return {
    name: 'pg2',
    sql: async () => {
      if (sessions[Math.min(call++, sessions.length - 1)]) return session;
      throw new Error('PostgreSQL on pg2 is not accepting connections');
    },
    signal,
    progress: () => undefined,
    otherHost: async () => {
      throw new Error('the old primary is not touched once the candidate was asked to promote');
    },
  } as unknown as TaskContext;
}

describe('promote: an interrupt once the promotion is asked for', () => {
  const steps = (args: PromoteArgs = switchover) => {
    const p = planPromote(args, { host: 'pg2', members: [primary('pg1'), standby('pg2'), standby('pg3')], elected: 'pg2', electedWhy: 'named', grantsMissing: [], pgRewind: true });
    assert.equal(p.kind, 'change');
    return p.kind === 'change' ? p.steps : [];
  };

  it('does not cut the promotion short: it ends with the server out of recovery, and the undo says so', async () => {
    const controller = new AbortController();
    const server = new CandidateServer(3, controller.signal, { onPromote: () => controller.abort() });
    const ctx = candidateContext(server, controller.signal);
    const [, stop, , promote] = steps();
    const out = await promote.apply(ctx);
    assert.deepEqual(out, { timeline: 2, promoted_at: '0/5000060' });
    assert.equal(server.inRecovery, false);
    assert.ok(server.sent.filter((q) => /pg_promote|pg_is_in_recovery/.test(q.text)).every((q) => !q.interruptible), 'the request and its wait are not cancelled');
    await assert.rejects(stop.undo!(ctx), /^Error: pg2 was promoted: pg1 stays stopped; pg2 is the primary now/);
  });

  it('after a lost wait, the undo names the new primary only once its server has left recovery', async () => {
    const controller = new AbortController();
    const server = new CandidateServer(4, controller.signal, { failPoll: 0 });
    const ctx = candidateContext(server, controller.signal);
    const [, stop, , promote] = steps();
    await assert.rejects(promote.apply(ctx), /was lost/);
    controller.abort();
    assert.equal(server.inRecovery, true);
    await assert.rejects(stop.undo!(ctx), (err: Error) => {
      assert.match(err.message, /^pg2 was promoted/);
      assert.equal(server.inRecovery, false, 'said once the server agrees');
      return true;
    });
  });

  it('a promotion that does not come within promote_timeout: the step fails, and the undo never says it was promoted', async () => {
    const controller = new AbortController();
    const server = new CandidateServer(Infinity, controller.signal);
    const ctx = candidateContext(server, controller.signal);
    const [, stop, , promote] = steps({ ...switchover, promote_timeout: 1 });
    const started = Date.now();
    await assert.rejects(promote.apply(ctx), /^Error: pg2 is still in recovery 1 s after pg_promote\(\) \(promote_timeout\): read its server log; its old primary was not started again/);
    assert.ok(Date.now() - started >= 1000);
    const polls = server.sent.length;
    await assert.rejects(stop.undo!(ctx), /^Error: pg2 is still in recovery 1 s after pg_promote\(\)/);
    assert.equal(server.sent.length - polls, 1, 'the undo looks once, it does not wait again');
  });

  it('when the candidate cannot be asked after the request, the undo says so and leaves the old primary stopped', async () => {
    const controller = new AbortController();
    const server = new CandidateServer(0, controller.signal, { failPoll: 0 });
    const ctx = candidateContext(server, controller.signal, [true, false]);
    const [, stop, , promote] = steps();
    await assert.rejects(promote.apply(ctx), /was lost/);
    await assert.rejects(stop.undo!(ctx), /^Error: pg2 was asked to promote, and whether it did cannot be read now \(no SQL session\): pg1 stays stopped/);
  });
});

describe('the cluster as the servers tell it', () => {
  it('the primary is the running one on the newest timeline; two on one timeline is a split brain', () => {
    assert.equal(currentPrimary([primary('pg1'), primary('pg3', { timeline: 2 })]).primary?.name, 'pg3');
    assert.match(currentPrimary([primary('pg1'), primary('pg3')]).problem ?? '', /pg1 and pg3 both run as primaries on timeline 1/);
  });

  it("assert_primary names the host that is the primary now", () => {
    const p = assertPrimaryModule.plan({ cluster: ['pg1', 'pg2'] }, { host: 'pg1', me: standby('pg1', { timeline: 2 }), members: [primary('pg2', { timeline: 2 })] });
    assert.equal(p.kind, 'fail');
    if (p.kind === 'fail') assert.match(p.message, /^pg2 is the primary now \(timeline 2\): update the inventory \(pg2 under primary, pg1 under replicas\)/);
    assert.equal(assertPrimaryModule.plan({ cluster: ['pg1', 'pg2'] }, { host: 'pg1', me: primary('pg1'), members: [standby('pg2'), { ...primary('pg2'), systemId: '8' }] }).kind, 'noop');
  });
});

describe('passfile and primary_conninfo', () => {
  it('one entry per host, no password in the conninfo', () => {
    const text = passfileText([{ address: '10.0.0.1', port: 5432 }, { address: '10.0.0.2', port: 5432 }, { address: '10.0.0.1', port: 5432 }], 'replicator', 'p:w');
    assert.equal(text, '10.0.0.1:5432:*:replicator:p\\:w\n10.0.0.2:5432:*:replicator:p\\:w\n');
    assert.deepEqual(passfileHosts(text), ['10.0.0.1:5432', '10.0.0.2:5432']);
    assert.equal(wantedConninfo("host=10.0.0.1 port=5432 user=replicator password=x sslmode=verify-full application_name=pg3", { address: '10.0.0.2', port: 5433 }, 'replicator', '/var/lib/x/.pgpass', 'pg3'), 'host=10.0.0.2 port=5433 user=replicator sslmode=verify-full passfile=/var/lib/x/.pgpass application_name=pg3');
  });

  it('union and difference of host lists', () => {
    const opts = { hash: {}, data: {} };
    assert.deepEqual(HELPERS.union(['pg1'], ['pg2', 'pg1'], opts), ['pg1', 'pg2']);
    assert.deepEqual(HELPERS.difference(['pg1', 'pg2', 'pg3'], 'pg2', ['pg3'], opts), ['pg1']);
  });
});
