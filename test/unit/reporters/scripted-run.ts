// A scripted run for reporter tests: two plays, interleaved hosts, a diff, a loop, a skip, a failure, an unreachable host and a secret.
import { Writable } from 'node:stream';
import { Secret } from '../../../src/secrets';
import { dispatch, type Reporter, type RunEvent } from '../../../src/reporters/events';

export const SECRET = 's3cr3t-pass';
export const secret = new Secret(SECRET);

export class MemoryStream extends Writable {
  chunks: string[] = [];
  override _write(chunk: Buffer | string, _enc: BufferEncoding, done: () => void): void {
    this.chunks.push(chunk.toString());
    done();
  }
  get text(): string {
    return this.chunks.join('');
  }
}

export function scriptedRun(): RunEvent[] {
  let clock = Date.parse('2024-05-01T10:00:00.000Z');
  const at = (ms = 10) => new Date((clock += ms)).toISOString();
  const conf = (wal: string) => `# pgplay\nlisten_addresses = '*'\nmax_wal_senders = 10\nwal_level = ${wal}\nhot_standby = on\n`;
  return [
    { kind: 'run_start', time: at(), playbook: 'site.yml', inventory: 'inventory.yml', checkMode: false, hosts: ['pg1', 'pg2', 'pg3', 'pg4'] },
    { kind: 'play_start', time: at(), play: 'configure primary', index: 0, hosts: ['pg1'] },
    { kind: 'task_start', time: at(), play: 'configure primary', task: 'set replication settings', index: 0, host: 'pg1' },
    {
      kind: 'task_result', time: at(35), play: 'configure primary', task: 'set replication settings', index: 0, host: 'pg1', module: 'ensure_conf',
      status: 'changed', changed: true, durationMs: 35, message: 'wal_level: minimal -> replica (needs restart)',
      diffs: [{ path: '/etc/postgresql/15/main/conf.d/pgplay.conf', before: conf('minimal'), after: conf('replica') }],
    },
    { kind: 'handler_notified', time: at(), host: 'pg1', handler: 'restart postgresql' },
    { kind: 'task_start', time: at(), play: 'configure primary', task: 'create replication role', index: 1, host: 'pg1' },
    {
      kind: 'task_result', time: at(12), play: 'configure primary', task: 'create replication role', index: 1, host: 'pg1', module: 'ensure_role',
      status: 'changed', changed: true, durationMs: 12, message: `role replicator created with password ${SECRET}`,
      diffs: [{ path: 'role replicator', before: '', after: `LOGIN REPLICATION\npassword ${SECRET}\n` }],
    },
    { kind: 'task_start', time: at(), play: 'configure primary', task: 'restart postgresql', index: 2, host: 'pg1' },
    { kind: 'task_result', time: at(900), play: 'configure primary', task: 'restart postgresql', index: 2, host: 'pg1', module: 'service', status: 'changed', changed: true, durationMs: 900, message: 'restarted' },
    { kind: 'play_end', time: at(), play: 'configure primary', index: 0 },

    { kind: 'play_start', time: at(), play: 'make replicas', index: 1, hosts: ['pg2', 'pg3', 'pg4'] },
    { kind: 'task_start', time: at(), play: 'make replicas', task: 'stop replica', index: 0, host: 'pg2' },
    { kind: 'task_start', time: at(), play: 'make replicas', task: 'stop replica', index: 0, host: 'pg3' },
    { kind: 'task_start', time: at(), play: 'make replicas', task: 'stop replica', index: 0, host: 'pg4' },
    { kind: 'task_result', time: at(), play: 'make replicas', task: 'stop replica', index: 0, host: 'pg4', module: 'service', status: 'unreachable', changed: false, durationMs: 0, message: 'ssh: connect to host 127.0.0.9 port 22: Connection refused' },
    { kind: 'task_result', time: at(5), play: 'make replicas', task: 'stop replica', index: 0, host: 'pg3', module: 'service', status: 'skipped', changed: false, durationMs: 5, message: 'already stopped' },
    { kind: 'task_result', time: at(40), play: 'make replicas', task: 'stop replica', index: 0, host: 'pg2', module: 'service', status: 'ok', changed: false, durationMs: 40, message: 'stopped' },
    { kind: 'task_start', time: at(), play: 'make replicas', task: 'take base backup', index: 1, host: 'pg2' },
    { kind: 'task_start', time: at(), play: 'make replicas', task: 'write markers', index: 1, host: 'pg3' },
    { kind: 'task_progress', time: at(), task: 'take base backup', host: 'pg2', message: '10% (3 MB of 30 MB)' },
    { kind: 'task_result', time: at(3), play: 'make replicas', task: 'write markers', index: 1, host: 'pg3', module: 'command', status: 'changed', changed: true, durationMs: 3, item: 'alpha', message: 'wrote alpha' },
    { kind: 'task_progress', time: at(1000), task: 'take base backup', host: 'pg2', message: '55% (17 MB of 30 MB)' },
    { kind: 'task_result', time: at(4), play: 'make replicas', task: 'write markers', index: 1, host: 'pg3', module: 'command', status: 'ok', changed: false, durationMs: 4, item: { name: 'beta', password: SECRET }, message: 'beta was there' },
    { kind: 'task_progress', time: at(6000), task: 'take base backup', host: 'pg2', message: '90% (27 MB of 30 MB)' },
    {
      kind: 'task_result', time: at(20), play: 'make replicas', task: 'take base backup', index: 1, host: 'pg2', module: 'basebackup', status: 'failed', changed: false, durationMs: 7100,
      message: `pg_basebackup: error: connection to server failed\nFATAL:  password authentication failed for user "replicator" (password ${SECRET})`,
    },
    { kind: 'task_start', time: at(), play: 'make replicas', task: 'check lag', index: 2, host: 'pg3' },
    { kind: 'task_result', time: at(7), play: 'make replicas', task: 'check lag', index: 2, host: 'pg3', module: 'assert_streaming', status: 'failed', changed: false, durationMs: 7, message: 'lag 9 MB is over 1 MB', ignored: true, warnings: ['lag measured while the primary was busy'] },
    { kind: 'warning', time: at(), host: 'pg3', message: `conninfo mentions password=${SECRET}; use a passfile` },
    { kind: 'warning', time: at(), message: 'no replica is streaming yet' },
    { kind: 'play_end', time: at(), play: 'make replicas', index: 1 },
    {
      kind: 'recap', time: at(), durationMs: 8460, exitCode: 2, interrupted: false,
      hosts: {
        pg1: { ok: 0, changed: 3, failed: 0, skipped: 0, unreachable: 0, ignored: 0 },
        pg2: { ok: 1, changed: 0, failed: 1, skipped: 0, unreachable: 0, ignored: 0 },
        pg3: { ok: 0, changed: 1, failed: 0, skipped: 1, unreachable: 0, ignored: 1 },
        pg4: { ok: 0, changed: 0, failed: 0, skipped: 0, unreachable: 1, ignored: 0 },
      },
    },
  ];
}

/** Feed every event to the reporter, then finish it, as the run command does. */
export async function playInto(reporter: Reporter, events: RunEvent[] = scriptedRun()): Promise<void> {
  for (const e of events) dispatch(reporter, e);
  await reporter.finish?.();
}
