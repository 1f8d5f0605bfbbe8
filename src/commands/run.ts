import { setMaxListeners } from 'node:events';
import { dirname, resolve } from 'node:path';
import { BadOptionsError, InvalidInputError, ExitCode } from '../errors';
import type { RunOptions } from '../cli';
import { loadPlaybook } from '../config/playbook';
import { resolvePattern } from '../config/patterns';
import { connectionFor } from '../connection/connect';
import { dropEarlySockets } from '../connection/early-dial';
import { loadPgDriver, openSqlSession } from '../facts/sql-session';
import { HostPool } from '../executor/host-pool';
import { runPlaybook } from '../executor/run';
import { dispatch, type RunEvent } from '../reporters/events';
import { createReporters } from '../reporters';
import { planHostSettings } from '../executor/host-settings';
import { dialHostsEarly, loadExtraVars, playHostsOf, requireInventory } from './common';

export async function runCommand(o: RunOptions): Promise<number> {
  const extra = loadExtraVars(o.extraVars);
  const inventory = requireInventory(o.inventory, o.playbook);
  const loaded = loadPlaybook(o.playbook, { inventory, extraVars: extra.vars, environment: process.env });
  const errors = [...extra.errors, ...loaded.errors];
  if (errors.length > 0 || !loaded.value) throw new InvalidInputError(errors);
  const playbook = loaded.value;
  if (o.limit) {
    try {
      if (resolvePattern(o.limit, inventory).length === 0) throw new Error('matches no host');
    } catch (err) {
      throw new BadOptionsError(`--limit '${o.limit}': ${err instanceof Error ? err.message : String(err)}`);
    }
  }

  const cli = { acceptNewHostKeys: o.acceptNewHostKeys, knownHostsFile: o.knownHosts, checkMode: o.check };
  // Every host's settings, per play, before anything connects: a wrong one stops the run here (exit 4).
  const plays = playHostsOf(playbook, inventory, extra.vars, o.limit);
  const settings = planHostSettings({ inventory, extraVars: extra.vars, cli }, plays);
  if (settings.errors.length > 0) throw new InvalidInputError(settings.errors);
  dialHostsEarly(plays, settings);

  const reporters = createReporters({
    output: o.output,
    junitFile: o.junit,
    showDiff: o.diff,
    stream: process.stdout,
    errStream: process.stderr,
    isTTY: Boolean(process.stdout.isTTY),
    ci: Boolean(process.env.CI),
    color: Boolean(process.stdout.isTTY) && !process.env.NO_COLOR,
  });
  const emit = (event: RunEvent) => {
    for (const r of reporters) dispatch(r, event);
  };

  const controller = new AbortController();
  // Every host's commands and SQL session listen for the interrupt: at 1+16 hosts that is more than Node's 10, which
  // is no leak and must not print a warning in the middle of a run.
  setMaxListeners(0, controller.signal);
  const pool = new HostPool(inventory, settings.get, connectionFor, (conn, handle) => openSqlSession(conn, handle.pg, { signal: controller.signal }));
  // Ctrl-C or SIGTERM: stop starting tasks and stop running commands; the steps already made are undone, then the
  // connections close and pgplay exits 99. A second signal exits at once (each host's agent still stops its commands).
  let signals = 0;
  const onSignal = () => {
    signals++;
    if (signals > 1) process.exit(ExitCode.interrupted);
    controller.abort();
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  try {
    const outcome = await runPlaybook({
      playbook: { ...playbook, dir: resolve(dirname(o.playbook)) },
      inventory,
      pool,
      extraVars: extra.vars,
      checkMode: o.check,
      showDiff: o.diff,
      limit: o.limit,
      tags: o.tags,
      skipTags: o.skipTags,
      startAtTask: o.startAtTask,
      forks: o.forks,
      emit,
      signal: controller.signal,
      prepareSql: loadPgDriver,
      locksEndWithConnections: true,
    });
    return outcome.exitCode;
  } finally {
    // pgplay exits next: each host's idle agent ends by itself (its locks with it) without being waited for.
    await pool.closeAll({ wait: false });
    dropEarlySockets();
    for (const r of reporters) await r.finish?.();
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
}
