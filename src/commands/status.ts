// pgplay status: what the servers say about themselves: roles, timelines, LSNs, lag, slots, TLS. One connection and one
// query per host (through the host pool and its agent), all hosts at once; no lock, nothing written.
import type { StatusOptions } from '../cli';
import { BadOptionsError, ExitCode, InvalidInputError } from '../errors';
import { resolvePattern } from '../config/patterns';
import { buildScope } from '../config/vars';
import type { Inventory } from '../config/types';
import { connectionFor } from '../connection/connect';
import { dropEarlySockets } from '../connection/early-dial';
import { openSqlSession } from '../facts/sql-session';
import { HostPool } from '../executor/host-pool';
import { planHostSettings } from '../executor/host-settings';
import { slotName } from '../modules/pg/slots';
import { redact, redactValue } from '../secrets';
import { buildReport, type StatusHostInput, type StatusReport } from '../status/model';
import { readHost } from '../status/read-host';
import { renderStatus } from '../status/render';
import { dialHostsEarly, requireInventory } from './common';

export async function statusCommand(o: StatusOptions): Promise<number> {
  const inventory = requireInventory(o.inventory);
  let names = [...inventory.hosts.keys()];
  if (o.limit) {
    try {
      names = resolvePattern(o.limit, inventory);
    } catch (err) {
      throw new BadOptionsError(`--limit '${o.limit}': ${err instanceof Error ? err.message : String(err)}`);
    }
    if (names.length === 0) throw new BadOptionsError(`--limit '${o.limit}': matches no host`);
  }
  const cli = { acceptNewHostKeys: o.acceptNewHostKeys, knownHostsFile: o.knownHosts };
  const plays = [{ play: { vars: {}, varSources: {} }, hosts: names }];
  const settings = planHostSettings({ inventory, extraVars: {}, cli }, plays);
  if (settings.errors.length > 0) throw new InvalidInputError(settings.errors);
  dialHostsEarly(plays, settings);
  const hosts = names.map((name) => describeHost(inventory, name, settings.get(name, 0).pg));
  // The one query checks the data directory itself: no extra round for it.
  const pool = new HostPool(inventory, (host) => settings.get(host, 0), connectionFor, (conn, handle) => openSqlSession(conn, handle.pg, { checkDataDir: false }));
  const bounds = { maxLagBytes: o.maxLagBytes, maxLagSeconds: o.maxLagSeconds };
  const round = async (): Promise<StatusReport> => {
    const readings = await Promise.all(hosts.map((h) => readHost(pool.handle(h.name, 0))));
    return buildReport(hosts.map((h, i) => ({ ...h, reading: readings[i] })), bounds);
  };
  const print = (report: StatusReport) => {
    if (o.json) process.stdout.write(`${JSON.stringify(redactValue(report.hosts), null, o.watch ? undefined : 2)}\n`);
    else process.stdout.write(redact(renderStatus(report)));
  };
  try {
    if (!o.watch) {
      const report = await round();
      print(report);
      return report.exitCode;
    }
    return await watch(o.watch, o.json, round, print);
  } finally {
    dropEarlySockets();
    await pool.closeAll({ wait: false });
  }
}

/** Every `seconds`, a new reading of every host over the connections already open, until Ctrl-C; exits with the last code. */
async function watch(seconds: number, json: boolean, round: () => Promise<StatusReport>, print: (r: StatusReport) => void): Promise<number> {
  let stop = false;
  let wake: (() => void) | null = null;
  const onSignal = () => {
    stop = true;
    wake?.();
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  // A reader that went away (status --watch | head) ends the watch, like Ctrl-C; no stack trace.
  const onOutputError = () => onSignal();
  process.stdout.on('error', onOutputError);
  let code: number = ExitCode.ok;
  try {
    while (!stop) {
      const report = await round();
      code = report.exitCode;
      if (!json && process.stdout.isTTY) process.stdout.write('\x1b[H\x1b[2J');
      if (!json) process.stdout.write(`${new Date().toISOString()}, every ${seconds} s (Ctrl-C to stop)\n`);
      print(report);
      if (stop) break;
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, seconds * 1000);
        wake = () => {
          clearTimeout(t);
          resolve();
        };
      });
    }
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    process.stdout.off('error', onOutputError);
  }
  return code;
}

/** What status needs of a host from the inventory: its addresses, its group, its slot name. */
function describeHost(inventory: Inventory, name: string, pg: { address: string; dataDir: string }): Omit<StatusHostInput, 'reading'> {
  const scope = buildScope({ inventory, hostName: name });
  const read = (key: string): unknown => {
    try {
      return scope[key];
    } catch {
      return undefined;
    }
  };
  const addresses = [pg.address, read('pg_client_address'), read('ansible_host')].filter((a): a is string => typeof a === 'string' && a !== '');
  const groups = inventory.hosts.get(name)?.groups ?? [];
  const slot = read('replication_slot');
  return {
    name,
    addresses: [...new Set(addresses)],
    inventoryRole: groups.includes('primary') ? 'primary' : groups.includes('replicas') ? 'replica' : null,
    slot: typeof slot === 'string' && slot ? slot : slotName(name),
    dataDir: pg.dataDir,
  };
}
