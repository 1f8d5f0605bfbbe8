// The troubleshooter's mapping from what PostgreSQL said to one line of cause and fix. Fixtures are lines captured
// from PostgreSQL 15 and pg_basebackup on the network-namespace lab (test/fixtures/logs).
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { parseServerLog } from '../../../src/facts/server-log';
import { diagnose, formatDiagnosis, listensOn, type Evidence } from '../../../src/modules/pg/troubleshoot';

const FIXTURES = join(__dirname, '..', '..', '..', '..', 'test', 'fixtures', 'logs');
const text = (name: string) => readFileSync(join(FIXTURES, name), 'utf8');
const log = (name: string) => parseServerLog(text(name));

function evidence(over: Partial<Evidence> = {}): Evidence {
  return {
    replica: { name: 'pg3', address: '198.51.100.13' },
    primary: { name: 'pg1', address: '198.51.100.11', port: 5432, running: true, listenAddresses: '*', walKeepSize: '256MB' },
    user: 'replicator',
    client: 'pg_basebackup',
    replicaLog: [],
    primaryLog: [],
    ...over,
  };
}

const said = (e: Evidence) => {
  const d = diagnose(e);
  return d ? formatDiagnosis(d) : null;
};

describe('server log', () => {
  it("reads messages after any log_line_prefix, with their DETAIL, and a tab-led line as the message's continuation", () => {
    const entries = parseServerLog(`${text('primary-password.txt')}2026-12-01 21:00:00.000 UTC [1] LOG:  first part\n\tsecond part\nnot a log line\n`);
    assert.deepEqual(
      entries.map((e) => [e.severity, e.message, e.detail ?? null]),
      [
        ['FATAL', 'password authentication failed for user "replicator"', 'Connection matched pg_hba.conf line 106: "host    replication     replicator      198.51.100.13/32        scram-sha-256"'],
        ['LOG', 'first part second part', null],
      ],
    );
  });
});

describe('troubleshooter: the cause of a failed clone or stream, and its fix', () => {
  it('no pg_hba.conf rule: names the address the primary saw and the rule to add, quoting both sides', () => {
    assert.equal(
      said(evidence({ clientError: text('basebackup-no-hba.txt'), primaryLog: log('primary-no-hba.txt') })),
      [
        `pg1's pg_hba.conf has no rule for replication connections from 198.51.100.13 (user replicator). Fix: add "host replication replicator 198.51.100.13/32 scram-sha-256" in pg1's pg_hba.conf and reload it (ensure_hba_line does both)`,
        'seen in pg_basebackup on pg3: connection to server at "198.51.100.11", port 5432 failed: FATAL:  no pg_hba.conf entry for replication connection from host "198.51.100.13", user "replicator", no encryption',
        `seen in pg1's log: FATAL:  no pg_hba.conf entry for replication connection from host "198.51.100.13", user "replicator", no encryption`,
      ].join('\n'),
    );
  });

  it('no rule, for a replica whose connections leave from another address than its pg_address: say so', () => {
    const d = diagnose(evidence({ replica: { name: 'pg3', address: '10.9.0.13' }, clientError: text('basebackup-no-hba.txt') }));
    assert.match(d?.fix ?? '', /pg3 connects from 198\.51\.100\.13, not its pg_address 10\.9\.0\.13: set pg_client_address for it$/);
  });

  it("another replica's refusal in the primary's log is not this replica's cause; an old one is no cause at all", () => {
    const pg2 = { name: 'pg2', address: '198.51.100.12' };
    assert.equal(diagnose(evidence({ replica: pg2, client: undefined, primaryLog: log('primary-no-hba.txt'), primaryLogSinceAttempt: true })), null);
    // The last part of a log, not read from where it ended before an attempt: its refusals may be long fixed.
    assert.equal(diagnose(evidence({ client: undefined, primaryLog: log('primary-no-hba.txt') })), null);
    assert.match(diagnose(evidence({ client: undefined, primaryLog: log('primary-no-hba.txt'), primaryLogSinceAttempt: true }))?.cause ?? '', /no rule for replication connections from 198\.51\.100\.13/);
    // The replica streamed again after its walreceiver failed: that failure is over.
    const recovered = parseServerLog(`${text('replica-timeout.txt')}2026-12-01 21:30:00.000 UTC [9] LOG:  started streaming WAL from primary at 0/5000000 on timeline 1\n`);
    assert.equal(diagnose(evidence({ client: undefined, replicaLog: recovered })), null);
  });

  it('a wrong password; a role that does not exist', () => {
    const d = diagnose(evidence({ clientError: text('basebackup-password.txt'), primaryLog: log('primary-password.txt') }));
    assert.equal(d?.cause, 'the password for replicator is not the one pg1 has');
    assert.deepEqual(d?.seen.length, 2);
    const missing = diagnose(evidence({ primaryLog: log('primary-no-role.txt'), primaryLogSinceAttempt: true, client: undefined, user: 'nosuch' }));
    assert.equal(missing?.cause, 'the role nosuch does not exist on pg1');
  });

  it("refused: listen_addresses when it leaves out the primary's address, a stopped server, else a firewall that rejects", () => {
    const refused = text('basebackup-refused.txt');
    assert.match(diagnose(evidence({ clientError: refused, primary: { ...evidence().primary, listenAddresses: 'localhost' } }))?.cause ?? '', /^pg1 does not listen on 198\.51\.100\.11: listen_addresses is 'localhost', so 198\.51\.100\.11:5432 refused the connection$/);
    assert.equal(diagnose(evidence({ clientError: refused, primary: { ...evidence().primary, running: false } }))?.fix, 'start it (service: state: started)');
    assert.match(diagnose(evidence({ clientError: refused }))?.cause ?? '', /refused the connection from pg3: a firewall rejects it/);
    assert.deepEqual([listensOn('*', '10.0.0.1'), listensOn('localhost', '10.0.0.1'), listensOn('10.0.0.1, localhost', '10.0.0.1'), listensOn('db1', '10.0.0.1')], [true, false, true, null]);
  });

  it("timed out: a firewall that drops, from pg_basebackup's words or the walreceiver's", () => {
    for (const e of [evidence({ clientError: text('basebackup-timeout.txt') }), evidence({ client: undefined, replicaLog: log('replica-timeout.txt') })]) {
      const d = diagnose(e);
      assert.match(d?.cause ?? '', /^no answer from 198\.51\.100\.11:5432 to pg3 \(timed out\): a firewall drops the connection/);
      assert.match(d?.fix ?? '', /^open TCP port 5432 on pg1 to 198\.51\.100\.13/);
    }
  });

  it('primary_conninfo pointing at another address: named whatever that address answers', () => {
    const d = diagnose(evidence({ client: undefined, replicaLog: log('replica-no-route.txt'), conninfo: { host: '198.51.100.99', port: 5432 } }));
    assert.equal(d?.cause, 'primary_conninfo on pg3 points at 198.51.100.99:5432, not at the primary pg1 (198.51.100.11:5432)');
    assert.match(d?.seen[0] ?? '', /No route to host/);
    // The right host: the conninfo is not the cause.
    assert.equal(diagnose(evidence({ client: undefined, replicaLog: [], conninfo: { host: '198.51.100.11', port: 5432 } })), null);
    const other = diagnose(evidence({ client: undefined, replicaLog: log('replica-other-system.txt'), conninfo: { host: '198.51.100.11' } }));
    assert.match(other?.cause ?? '', /leads to a server that is not its primary/);
  });

  it('standby.signal missing: the replica runs as a primary', () => {
    const d = diagnose(evidence({ inRecovery: false, standbySignal: false, dataDir: '/var/lib/postgresql/15/main' }));
    assert.equal(d?.cause, 'standby.signal is missing from /var/lib/postgresql/15/main: pg3 started as a primary (pg_is_in_recovery() is false)');
    assert.match(d?.fix ?? '', /^rebuild pg3 from pg1 \(basebackup with replace: any\); pg_rewind can also bring it back/);
  });

  it('WAL already removed: names the slot the replica uses, or wal_keep_size when it uses none', () => {
    const replicaLog = log('replica-wal-removed.txt');
    const primaryLog = log('primary-wal-removed.txt');
    const noSlot = diagnose(evidence({ client: undefined, replicaLog, primaryLog, slot: '' }));
    assert.match(noSlot?.cause ?? '', /^pg1 has already removed WAL that pg3 needs \(segment 0000000100000000000000\w\w\): with no replication slot, it fell more than wal_keep_size \(256MB\) behind$/);
    assert.match(noSlot?.fix ?? '', /give it a replication slot \(basebackup slot:\) or raise wal_keep_size on pg1/);
    const slot = diagnose(evidence({ client: undefined, replicaLog, primaryLog, slot: 'pg3' }));
    assert.match(slot?.cause ?? '', /though pg3 uses the slot pg3: the slot lost it \(max_slot_wal_keep_size\)$/);
    assert.equal(slot?.seen.length, 2);
  });

  it('too few WAL senders', () => {
    const d = diagnose(evidence({ client: undefined, replicaLog: log('replica-wal-senders.txt') }));
    assert.equal(d?.cause, 'pg1 has no free WAL sender (max_wal_senders is 2, all in use)');
  });

  it("what only the WAL receiver's words explain (a TLS failure): its meaning from wal-receiver-errors, and nothing once it streamed again", () => {
    const tls = '2026-12-01 22:10:00.000 UTC [4242] FATAL:  could not connect to the primary server: connection to server at "198.51.100.11", port 5432 failed: server certificate for "pg1.example" does not match host name "198.51.100.11"\n';
    assert.equal(
      said(evidence({ client: undefined, replicaLog: parseServerLog(tls) })),
      [
        "pg3 cannot stream from pg1: the primary's certificate is for another name: its subjectAltName does not hold the address the standby connects to. Fix: correct what pg3's log names below, then restart pg3",
        'seen in pg3\'s log: could not connect to the primary server: connection to server at "198.51.100.11", port 5432 failed: server certificate for "pg1.example" does not match host name "198.51.100.11"',
      ].join('\n'),
    );
    const streamedSince = `${tls}2026-12-01 22:10:05.000 UTC [4250] LOG:  started streaming WAL from primary at 0/5000000 on timeline 1\n`;
    assert.equal(diagnose(evidence({ client: undefined, replicaLog: parseServerLog(streamedSince) })), null);
  });

  it('words it does not know: no cause rather than a wrong one', () => {
    assert.equal(diagnose(evidence({ clientError: 'pg_basebackup: error: could not create directory "/x": Permission denied' })), null);
  });
});
