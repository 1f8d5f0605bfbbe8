// command's creates/removes looked at through the real host agent, run locally: "absent" is an answer, "could not
// look" is a failure, and the look is the agent's own, not the command's become user's.
import assert from 'node:assert/strict';
import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { LocalConnection } from '../../../src/connection/local';
import { commandModule } from '../../../src/modules/command';
import type { TaskContext } from '../../../src/modules/types';

function context(conn: LocalConnection): TaskContext {
  return { name: 'local', conn, checkMode: false, signal: new AbortController().signal, progress: () => undefined } as unknown as TaskContext;
}

describe('command: creates and removes', () => {
  let dir: string;
  let root: LocalConnection;
  let nobody: LocalConnection;
  before(() => {
    // Under /root: closed to everyone but root.
    mkdirSync('/root', { recursive: true });
    dir = mkdtempSync('/root/pgplay-command-test-');
    chmodSync(dir, 0o700);
    writeFileSync(join(dir, 'marker'), 'made\n');
    root = new LocalConnection('local');
    nobody = new LocalConnection('local', { method: 'sudo', user: 'nobody' });
  });
  after(async () => {
    await root.close();
    await nobody.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('a path that exists where the become user cannot look still counts: the agent looks, not the command', async () => {
    const args = { argv: ['touch', '/nonexistent/never-run'], creates: join(dir, 'marker'), become: 'nobody' };
    const plan = commandModule.plan(args, await commandModule.check(context(root), args));
    assert.deepEqual(plan, { kind: 'noop', reason: `${join(dir, 'marker')} exists`, result: undefined });
    const removes = { argv: ['true'], removes: join(dir, 'marker'), become: 'nobody' };
    assert.equal(commandModule.plan(removes, await commandModule.check(context(root), removes)).kind, 'change');
  });

  it('an absent path is an answer: creates runs the command, removes skips it', async () => {
    const absent = join(dir, 'not-there');
    assert.equal(commandModule.plan({ argv: ['true'], creates: absent }, await commandModule.check(context(root), { argv: ['true'], creates: absent })).kind, 'change');
    assert.deepEqual(commandModule.plan({ argv: ['true'], removes: absent }, await commandModule.check(context(root), { argv: ['true'], removes: absent })), { kind: 'noop', reason: `${absent} does not exist`, result: undefined });
  });

  it('a path the agent cannot look at is a failure, never "absent": the command is not run', async () => {
    for (const key of ['creates', 'removes'] as const) {
      const args = { argv: ['true'], [key]: join(dir, 'marker') };
      await assert.rejects(commandModule.check(context(nobody), args), (err: unknown) => {
        assert.match(String(err), new RegExp(`cannot stat ${join(dir, 'marker').replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}: Permission denied`));
        return true;
      });
    }
  });
});
