import assert from 'node:assert/strict';
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { parseInventory } from '../../../src/config/inventory';
import type { Inventory, Task } from '../../../src/config/types';
import { buildScope } from '../../../src/config/vars';
import { LocalConnection } from '../../../src/connection/local';
import { pgSettingsFrom } from '../../../src/facts/pg-settings';
import { NO_LOG_NOTE, runTask, type TaskEnv } from '../../../src/executor/task-runner';
import type { HostHandle } from '../../../src/modules/types';
import type { RunEvent } from '../../../src/reporters/events';

// A value only the environment holds: once a template reads it, it is a secret everywhere.
const SECRET = 'env-only-secret-7f3a9c';
process.env.PGPLAY_TEST_ENV_SECRET = SECRET;

const inventory = parseInventory('inv.yml', 'all:\n  hosts:\n    alpha: {connection: local}\n').value as Inventory;
const conn = new LocalConnection('alpha');
after(() => conn.close());

const handle: HostHandle = {
  name: 'alpha',
  host: inventory.hosts.get('alpha')!,
  conn,
  pg: pgSettingsFrom({}),
  sql: () => Promise.reject(new Error('no server in this test')),
  dropSql: async () => undefined,
};

function task(over: Partial<Task>): Task {
  return { name: 't', module: 'command', args: {}, tags: [], ignoreErrors: false, noLog: false, source: { file: 'p.yml', line: 1, col: 1 }, argSources: {}, ...over };
}

async function run(t: Task): Promise<{ events: RunEvent[]; registered: Record<string, unknown>; status: string }> {
  const events: RunEvent[] = [];
  const env: TaskEnv = {
    play: 'p',
    taskIndex: 0,
    handle,
    otherHost: async () => handle,
    outOfRun: () => null,
    scope: buildScope({ inventory, hostName: 'alpha' }),
    checkMode: false,
    showDiff: true,
    playbookDir: '/tmp',
    emit: (e) => events.push(e),
    signal: new AbortController().signal,
  };
  const outcome = await runTask(t, env);
  return { events, registered: outcome.registered, status: outcome.status };
}

const results = (events: RunEvent[]) => events.filter((e): e is Extract<RunEvent, { kind: 'task_result' }> => e.kind === 'task_result');

describe('values read from env.* are secrets in every argument', () => {
  it('a command argument built from env.* is masked in the result event', async () => {
    const r = await run(task({ args: { argv: ['echo', 'token={{ env.PGPLAY_TEST_ENV_SECRET }}'] } }));
    assert.equal(r.status, 'changed');
    const [result] = results(r.events);
    assert.equal(result.message, 'run echo token=********');
    assert.equal(JSON.stringify(r.events).includes(SECRET), false);
  });
  it('an error message holding it is masked too', async () => {
    const r = await run(task({ module: 'assert', args: { that: 'false', fail_msg: 'bad {{ env.PGPLAY_TEST_ENV_SECRET }}' } }));
    assert.equal(results(r.events)[0].message, 'bad ********');
  });
});

describe('no_log', () => {
  it('hides the message, the loop items and the registered output; the status still shows', async () => {
    const r = await run(task({ noLog: true, args: { argv: ['echo', '{{ item }}'] }, loop: ['visible-item-one', 'visible-item-two'] }));
    assert.equal(r.status, 'changed');
    const shown = results(r.events);
    assert.deepEqual(shown.map((e) => [e.status, e.message, e.item]), [
      ['changed', NO_LOG_NOTE, 'hidden by no_log'],
      ['changed', NO_LOG_NOTE, 'hidden by no_log'],
    ]);
    assert.equal(JSON.stringify(r.events).includes('visible-item'), false);
    assert.equal(JSON.stringify(r.registered).includes('visible-item'), false);
    assert.deepEqual(r.registered.results, [{ status: 'changed', msg: NO_LOG_NOTE }, { status: 'changed', msg: NO_LOG_NOTE }]);
    assert.equal(r.registered.changed, true);
  });
  it('hides a failure message and the command output it holds', async () => {
    const r = await run(task({ noLog: true, args: { cmd: 'echo private-output-5521 >&2; exit 3' } }));
    assert.equal(r.status, 'failed');
    assert.equal(results(r.events)[0].message, NO_LOG_NOTE);
    assert.equal(JSON.stringify(r).includes('private-output-5521'), false);
    assert.deepEqual(r.registered, { changed: false, failed: true, skipped: false, msg: NO_LOG_NOTE, censored: NO_LOG_NOTE });
  });
  it('without it the same output is shown, so the test above could fail', async () => {
    const r = await run(task({ args: { cmd: 'echo private-output-5521 >&2; exit 3' } }));
    assert.match(results(r.events)[0].message ?? '', /private-output-5521/);
    assert.equal((r.registered as { stderr?: string }).stderr, 'private-output-5521');
  });
});

describe('rendering errors are task failures', () => {
  it('a loop over items with a variable that cannot be rendered elsewhere in scope still runs', async () => {
    const inv = parseInventory('inv.yml', 'all:\n  hosts:\n    alpha: {connection: local, broken: "{{ x | regex_replace(\'a\', \'b\') }}"}\n').value as Inventory;
    const events: RunEvent[] = [];
    const outcome = await runTask(task({ args: { argv: ['true', '{{ item }}'] }, loop: [1] }), {
      play: 'p', taskIndex: 0, handle, otherHost: async () => handle, outOfRun: () => null,
      scope: buildScope({ inventory: inv, hostName: 'alpha' }), checkMode: false, showDiff: false, playbookDir: '/tmp',
      emit: (e) => events.push(e), signal: new AbortController().signal,
    });
    assert.equal(outcome.status, 'changed');
    const failing = await runTask(task({ args: { argv: ['echo', '{{ broken }}'] }, loop: [1] }), {
      play: 'p', taskIndex: 0, handle, otherHost: async () => handle, outOfRun: () => null,
      scope: buildScope({ inventory: inv, hostName: 'alpha' }), checkMode: false, showDiff: false, playbookDir: '/tmp',
      emit: (e) => events.push(e), signal: new AbortController().signal,
    });
    assert.equal(failing.status, 'failed');
    const msg = String(failing.registered.results && (failing.registered.results as Array<{ msg: string }>)[0].msg);
    assert.match(msg, /broken/);
    assert.match(msg, /regex_replace/);
  });
});

describe('a loop whose module reads the host only (ensure_hba_line)', () => {
  /** pg_hba.conf in a directory of its own (no cluster there: the module reads the file, not a server). */
  function hbaHost(rules: string[]) {
    const dir = mkdtempSync(join(tmpdir(), 'pgplay-loop-'));
    chmodSync(dir, 0o755); // pg_ctl status looks in it as the PostgreSQL user
    writeFileSync(join(dir, 'pg_hba.conf'), `local all postgres peer\n${rules.map((a) => `host replication replicator ${a} scram-sha-256\n`).join('')}`);
    let reads = 0;
    const counted = new Proxy(conn, {
      get(target, prop, receiver) {
        if (prop === 'readFile') return (path: string, ...rest: unknown[]) => (path.endsWith('pg_hba.conf') && reads++, target.readFile(path, ...(rest as [])));
        const value = Reflect.get(target, prop, receiver) as unknown;
        return typeof value === 'function' ? value.bind(target) : value;
      },
    });
    const h: HostHandle = { ...handle, conn: counted, pg: pgSettingsFrom({ pg_config_dir: dir, pg_data_dir: dir }) };
    return { dir, h, reads: () => reads, file: () => readFileSync(join(dir, 'pg_hba.conf'), 'utf8') };
  }

  async function loop(h: HostHandle, addresses: string[]) {
    const events: RunEvent[] = [];
    const t = task({ module: 'ensure_hba_line', args: { type: 'host', database: 'replication', user: 'replicator', address: '{{ item }}', method: 'scram-sha-256' }, loop: addresses });
    const env: TaskEnv = {
      play: 'p', taskIndex: 0, handle: h, otherHost: async () => h, outOfRun: () => null,
      scope: buildScope({ inventory, hostName: 'alpha' }), checkMode: false, showDiff: false, playbookDir: '/tmp',
      emit: (e) => events.push(e), signal: new AbortController().signal,
    };
    const outcome = await runTask(t, env);
    return { status: outcome.status, items: results(events).map((e) => e.status) };
  }

  it('reads the file once for all items while none changes it', async () => {
    const host = hbaHost(['10.0.0.1/32', '10.0.0.2/32', '10.0.0.3/32']);
    try {
      const r = await loop(host.h, ['10.0.0.1/32', '10.0.0.2/32', '10.0.0.3/32']);
      assert.deepEqual(r.items, ['ok', 'ok', 'ok']);
      assert.equal(host.reads(), 1);
    } finally {
      rmSync(host.dir, { recursive: true, force: true });
    }
  });

  it('reads it again after an item changed it: no item writes over another one', async () => {
    const host = hbaHost(['10.0.0.1/32']);
    try {
      const r = await loop(host.h, ['10.0.0.4/32', '10.0.0.1/32', '10.0.0.5/32', '10.0.0.6/32']);
      assert.deepEqual(r.items, ['changed', 'ok', 'changed', 'changed']);
      const file = host.file();
      for (const a of ['10.0.0.1/32', '10.0.0.4/32', '10.0.0.5/32', '10.0.0.6/32']) assert.match(file, new RegExp(`replicator\\s+${a.replace(/\./g, '\\.')}\\s`));
      // The first read, one after the first change (shared by the unchanged item and the next), one after the third.
      assert.equal(host.reads(), 3);
    } finally {
      rmSync(host.dir, { recursive: true, force: true });
    }
  });
});
