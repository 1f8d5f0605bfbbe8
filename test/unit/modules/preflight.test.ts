import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { rowsFromHbaText } from '../../../src/facts/hba-match';
import { evaluatePreflight, formatBytes, needsCopy, settingBytes, type PreflightArgs, type PreflightFacts, type PrimaryState, type ReplicaState } from '../../../src/modules/pg/preflight-findings';
import type { ReplicaProbe } from '../../../src/modules/pg/replica-probe';
import { preflightModule } from '../../../src/modules/preflight';

const SYSID = '7714434833989119574';
const RULES = ['host replication replicator 10.0.0.12/32 scram-sha-256', 'host replication replicator 10.0.0.13/32 scram-sha-256'].join('\n');

function primary(over: Partial<PrimaryState> = {}): PrimaryState {
  return {
    name: 'pg1',
    address: '10.0.0.11',
    port: 5432,
    running: true,
    versionNum: 150006,
    settings: { wal_level: 'replica', max_wal_senders: '10', max_replication_slots: '10', listen_addresses: '*', port: '5432', ssl: 'off' },
    systemId: SYSID,
    walSenders: 0,
    slots: 0,
    role: { login: true, replication: true, memberOf: [] },
    hba: { rows: rowsFromHbaText(RULES) },
    size: 30 * 1024 * 1024,
    ...over,
  };
}

/** A replica as a fresh package install leaves it: its own cluster, reachable, the login working. */
function probe(over: Partial<ReplicaProbe> = {}): ReplicaProbe {
  return { tcp: 'connected', login: { ok: true, output: SYSID }, major: 15, versionText: 'postgres (PostgreSQL) 15.6', versionFrom: 'binaries', systemId: '7700000000000000001', standbySignal: false, dataDirExists: true, ...over };
}

function replica(n: number, over: Partial<ReplicaState> = {}, p: Partial<ReplicaProbe> = {}): ReplicaState {
  const address = `10.0.0.${10 + n}`;
  return { name: `pg${n}`, address, dataDir: `/var/lib/postgresql/15/main`, binDir: '/usr/lib/postgresql/15/bin', probe: probe({ localAddress: address, ...p }), free: { bytes: 10 * 1024 ** 3, dir: '/var/lib/postgresql/15/main' }, ...over };
}

const args: PreflightArgs = { replicas: ['pg2', 'pg3'], user: 'replicator', password: 'secret-pass', connect_timeout: 2 };
const judge = (facts: PreflightFacts, a: PreflightArgs = args) => evaluatePreflight(a, facts);
const lines = (facts: PreflightFacts, a: PreflightArgs = args) => judge(facts, a).findings.map((f) => `${f.host}: ${f.problem}. Fix: ${f.fix}`);

describe('preflight findings', () => {
  it('size settings in bytes, as PostgreSQL writes them', () => {
    assert.deepEqual(['8GB', '256MB', '1024', '-1', '64kB', 'lots', undefined].map((v) => settingBytes(v)), [8 * 1024 ** 3, 256 * 1024 ** 2, 1024 ** 3, -1, 64 * 1024, null, null]);
  });

  it('a primary and replicas ready to clone: no finding', () => {
    const v = judge({ primary: primary(), replicas: [replica(2), replica(3)] });
    assert.deepEqual(v.findings, []);
    assert.ok(v.checks >= 12, `${v.checks} checks`);
  });

  it('every problem at once, each with its fix, in order: the primary first, then each replica', () => {
    const facts: PreflightFacts = {
      primary: primary({ settings: { ...primary().settings, wal_level: 'minimal', max_wal_senders: '3' }, size: 200 * 1024 ** 2 }),
      replicas: [
        replica(2, {}, { login: { ok: false, output: 'password authentication failed for user "replicator"' } }),
        replica(3, { free: { bytes: 1024 * 1024, dir: '/srv' } }, { tcp: 'timeout', tcpError: 'Connection timed out', login: undefined, major: 16, versionText: 'postgres (PostgreSQL) 16.2' }),
      ],
    };
    assert.deepEqual(lines(facts), [
      'pg1: wal_level is minimal: replicas need replica (or logical). Fix: set wal_level = replica on pg1 (ensure_conf) and restart it',
      'pg1: max_wal_senders is 3: 0 WAL sender(s) run now and 2 base backup(s) would run at once, taking two each: 4 needed. Fix: set max_wal_senders to at least 4 on pg1 (ensure_conf) and restart it',
      'pg2: the password given does not log in as replicator on pg1 from pg2 (password authentication failed for user "replicator"). Fix: give the playbook and the role the same password (ensure_role with password:)',
      'pg3: no answer from 10.0.0.11:5432 to pg3 within 2 s (timed out): a firewall drops the connection, or the address is wrong. Fix: open TCP port 5432 on pg1 to 10.0.0.13 (firewall-cmd, ufw, nft or iptables, and any firewall between them), and check pg_address of pg1',
      'pg3: pg3 has PostgreSQL 16 (/usr/lib/postgresql/15/bin), pg1 runs 15: a replica needs the same major version. Fix: install PostgreSQL 15 on pg3 and point pg_bin_dir at it',
      'pg3: pg3 has 1.0 MB free in /srv (where /var/lib/postgresql/15/main goes); a copy of pg1 needs about 220.0 MB (its databases: 200.0 MB, plus 10%). Fix: free space there, or give pg3 a pg_data_dir on a larger file system',
    ]);
  });

  it('refused: listen_addresses named once for every replica; else a firewall that rejects; a stopped primary once', () => {
    const refused = { tcp: 'refused' as const, tcpError: 'Connection refused', login: undefined };
    const local = primary({ settings: { ...primary().settings, listen_addresses: 'localhost' } });
    assert.deepEqual(lines({ primary: local, replicas: [replica(2, {}, refused), replica(3, {}, refused)] }), [
      "pg1: pg1 does not listen on 10.0.0.11: listen_addresses is 'localhost', so 10.0.0.11:5432 refused pg2, pg3. Fix: set listen_addresses = '*' (or add 10.0.0.11) on pg1 (ensure_conf) and restart it",
    ]);
    assert.deepEqual(lines({ primary: primary(), replicas: [replica(2, {}, refused)] }, { ...args, replicas: ['pg2'] }), [
      'pg2: 10.0.0.11:5432 refused the connection from pg2 (10.0.0.12): a firewall rejects it. Fix: open TCP port 5432 on pg1 to 10.0.0.12 (firewall-cmd, ufw, nft or iptables)',
    ]);
    const stopped = primary({ running: false, role: undefined });
    assert.deepEqual(lines({ primary: stopped, replicas: [replica(2, {}, refused)] }, { ...args, replicas: ['pg2'] }), [
      'pg1: PostgreSQL on pg1 is stopped: nothing can be cloned from it. Fix: start it (service: state: started) before the replicas are cloned',
    ]);
  });

  it("pg_hba.conf: the replica's real address, in file order; an earlier reject names its line", () => {
    const noRule = primary({ hba: { rows: rowsFromHbaText('host replication replicator 10.0.0.12/32 scram-sha-256') } });
    const denied = { login: { ok: false, output: 'no pg_hba.conf entry for replication connection from host "10.0.0.13", user "replicator", no encryption' } };
    assert.deepEqual(lines({ primary: noRule, replicas: [replica(2), replica(3, {}, denied)] }), [
      'pg3: no rule in pg1\'s pg_hba.conf admits replication connections from pg3 (10.0.0.13, user replicator). Fix: add "host replication replicator 10.0.0.13/32 scram-sha-256" to pg1\'s pg_hba.conf and reload it (ensure_hba_line)',
    ]);
    const reject = primary({ hba: { rows: rowsFromHbaText(`host replication all 10.0.0.0/24 reject\n${RULES}`) } });
    assert.match(lines({ primary: reject, replicas: [replica(2)] }, { ...args, replicas: ['pg2'] })[0], /^pg2: line 1 of pg1's pg_hba\.conf \(host replication all 10\.0\.0\.0\/24 reject\) rejects replication connections from pg2 \(10\.0\.0\.12\)\. Fix: put "host replication replicator 10\.0\.0\.12\/32 scram-sha-256" before it/);
    // The file admits it but the server refused the login: the file was not loaded.
    const notLoaded = { login: { ok: false, output: 'no pg_hba.conf entry for replication connection from host "10.0.0.12", user "replicator", no encryption' } };
    assert.match(lines({ primary: primary(), replicas: [replica(2, {}, notLoaded)] }, { ...args, replicas: ['pg2'] })[0], /the server has not loaded the file\. Fix: reload pg1/);
  });

  it('what later tasks set up is noted, not found; what they cannot fix still is', () => {
    const fresh = primary({ role: null, hba: { rows: [] }, settings: { ...primary().settings, listen_addresses: 'localhost', max_wal_senders: '3' } });
    const refused = { tcp: 'refused' as const, tcpError: 'Connection refused', login: undefined };
    const planned: PreflightArgs = { ...args, planned: { started: true, role: true, hba: true, settings: { listen_addresses: '*', max_wal_senders: 32 } } };
    const v = judge({ primary: fresh, replicas: [replica(2, {}, refused), replica(3, {}, refused)] }, planned);
    assert.deepEqual(v.findings, []);
    assert.ok(v.notes.some((n) => /the role replicator does not exist on pg1; a later task sets it up/.test(n)), v.notes.join('\n'));
    // A replica whose connections leave from another address than the rule site.yml adds for it.
    const natted = replica(2, {}, { localAddress: '192.168.5.2' });
    assert.deepEqual(lines({ primary: fresh, replicas: [natted] }, { ...planned, replicas: ['pg2'] }), [
      'pg2: pg2 connects to pg1 from 192.168.5.2, but the rule a later task adds is for 10.0.0.12/32. Fix: set pg_client_address: 192.168.5.2 for pg2',
    ]);
    // A firewall that drops is no setting a later task changes.
    assert.equal(lines({ primary: fresh, replicas: [replica(2, {}, { tcp: 'timeout', login: undefined })] }, { ...planned, replicas: ['pg2'] }).length, 1);
  });

  it("a later task that installs the server or opens the primary's own firewall: those gaps are noted, not found", () => {
    const bare = primary({ running: true, error: 'connect ENOENT /var/run/postgresql/.s.PGSQL.5432', versionNum: null, settings: {}, role: undefined, hba: { error: 'no file' } });
    const dropped = { tcp: 'timeout' as const, tcpError: 'Connection timed out', login: undefined, major: null, versionText: 'not found', systemId: undefined, dataDirExists: false };
    const refused = { tcp: 'refused' as const, tcpError: 'Connection refused', login: undefined };
    const planned: PreflightArgs = { ...args, planned: { started: true, role: true, hba: true, packages: true, firewall: true, settings: { listen_addresses: '*' } } };
    const v = judge({ primary: bare, replicas: [replica(2, {}, dropped), replica(3, {}, refused)] }, planned);
    assert.deepEqual(v.findings, []);
    assert.ok(v.notes.some((n) => /^pg1's server cannot be read now .*; a later task installs it and makes its cluster$/.test(n)), v.notes.join('\n'));
    assert.ok(v.notes.some((n) => /^no answer from 10\.0\.0\.11:5432 to pg2 now; a later task opens port 5432 on pg1's firewall to it/.test(n)), v.notes.join('\n'));
    assert.ok(v.notes.some((n) => /^PostgreSQL's programs do not run on pg2 now; a later task installs them$/.test(n)), v.notes.join('\n'));
    // Without them, the same hosts are findings.
    const unplanned: PreflightArgs = { ...planned, planned: { ...planned.planned, packages: false, firewall: false } };
    const found = lines({ primary: bare, replicas: [replica(2, {}, dropped), replica(3, {}, refused)] }, unplanned);
    assert.ok(found.some((l) => /^pg1: its settings cannot be read/.test(l)), found.join('\n'));
    assert.ok(found.some((l) => /^pg2: no answer from 10\.0\.0\.11:5432 to pg2 within 2 s \(timed out\)/.test(l)), found.join('\n'));
    assert.ok(found.some((l) => /^pg2: PostgreSQL's programs do not run on pg2/.test(l)), found.join('\n'));
    assert.ok(found.some((l) => /^pg3: 10\.0\.0\.11:5432 refused the connection from pg3/.test(l)), found.join('\n'));
  });

  it('the room under pg_wal for what the slots may keep: a note from slotWalRoomRisk, not a finding', () => {
    const walSettings = { max_slot_wal_keep_size: '-1', max_wal_size: '1024', wal_keep_size: '0' };
    const small = primary({ settings: { ...primary().settings, ...walSettings }, walFree: 2 * 1024 ** 3 });
    const withSlots: PreflightArgs = { ...args, slots: true };
    const v = judge({ primary: small, replicas: [replica(2), replica(3)] }, withSlots);
    assert.deepEqual(v.findings, []);
    assert.ok(v.notes.some((n) => /^pg1: max_slot_wal_keep_size is unlimited \(-1\): a replication slot whose standby is gone keeps WAL until the disk under pg_wal \(2\.0 GB free\) is full/.test(n)), v.notes.join('\n'));
    // The bound site.yml sets (8GB, in the playbook's words) against 2 GB free: still too little; against 20 GB, room enough.
    const bounded: PreflightArgs = { ...withSlots, planned: { settings: { max_slot_wal_keep_size: '8GB', wal_keep_size: '256MB' } } };
    assert.ok(judge({ primary: small, replicas: [replica(2)] }, { ...bounded, replicas: ['pg2'] }).notes.some((n) => /less than max_slot_wal_keep_size \(8\.0 GB\)/.test(n)));
    const roomy = primary({ settings: { ...primary().settings, ...walSettings }, walFree: 20 * 1024 ** 3 });
    assert.deepEqual(judge({ primary: roomy, replicas: [replica(2)] }, { ...bounded, replicas: ['pg2'] }).notes.filter((n) => /pg_wal/.test(n)), []);
    // No slot now and none asked for: nothing to say.
    assert.deepEqual(judge({ primary: small, replicas: [replica(2)] }, { ...args, replicas: ['pg2'] }).notes.filter((n) => /pg_wal/.test(n)), []);
  });

  it('WAL senders and slots count what streams now and two senders and one slot per copy; a standby of this primary needs no copy', () => {
    const streaming = replica(2, {}, { systemId: SYSID, standbySignal: true, versionFrom: 'data directory' });
    assert.equal(needsCopy(primary(), streaming), false);
    assert.equal(needsCopy(primary(), replica(3)), true);
    // 7 + 2 senders and 9 + 1 slots fit in 10 each; one more of either does not.
    assert.deepEqual(lines({ primary: primary({ walSenders: 7, slots: 9 }), replicas: [streaming, replica(3)] }), []);
    const tight = primary({ walSenders: 9, slots: 10 });
    assert.deepEqual(lines({ primary: tight, replicas: [streaming, replica(3)] }), [
      'pg1: max_wal_senders is 10: 9 WAL sender(s) run now and 1 base backup(s) would run at once, taking two each: 11 needed. Fix: set max_wal_senders to at least 11 on pg1 (ensure_conf) and restart it',
      'pg1: max_replication_slots is 10: 10 slot(s) exist and each of 1 base backup(s) holds one while it copies: 11 needed. Fix: set max_replication_slots to at least 11 on pg1 (ensure_conf) and restart it',
    ]);
  });

  it('a replica out of reach over ssh is noted (its own tasks report it; the others go on); one that cannot be probed is a finding', () => {
    const v = judge({ primary: primary(), replicas: [replica(2, { probe: undefined, unreachable: 'ssh to pg2 (10.0.0.12:22): connection refused' }), replica(3)] });
    assert.deepEqual([v.findings, v.notes], [[], ['pg2 not checked: ssh to pg2 (10.0.0.12:22): connection refused']]);
    assert.deepEqual(lines({ primary: primary(), replicas: [replica(2, { probe: undefined, error: 'the agent on pg2 was closed' })] }, { ...args, replicas: ['pg2'] }), [
      "pg2: cannot be checked: the agent on pg2 was closed. Fix: make pg2 reachable over ssh, with perl (pgplay's agent needs it)",
    ]);
  });

  it('the plan fails with a count and one line per finding, or passes saying what it checked', () => {
    const bad = preflightModule.plan(args, { primary: primary({ role: null }), replicas: [replica(2), replica(3)] });
    assert.equal(bad.kind === 'fail' && bad.message.split('\n')[0], '1 problem would keep replicas from cloning or streaming:');
    const good = preflightModule.plan(args, { primary: primary(), replicas: [replica(2), replica(3)] });
    assert.match(good.kind === 'noop' ? good.reason : '', /^\d+ checks passed for pg2, pg3$/);
    assert.equal(formatBytes(1536), '1.5 kB');
  });
});
