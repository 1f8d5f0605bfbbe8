// apt on Debian and Ubuntu: what dpkg says is installed, what apt-get would do (-s), its lock, and its errors
// turned into one line per package.
import type { RunResult } from '../../connection/types';
import type { TaskContext } from '../types';
import { outputLines, runWaitingForLock, type LockWait } from './common';

/** apt's messages are parsed: English, whatever the host's locale; never a question. */
export const APT_ENV = { DEBIAN_FRONTEND: 'noninteractive', LC_ALL: 'C' };

/** Touched after each update pgplay runs; Ubuntu's own apt hook and apt's daily job touch it too. */
export const APT_UPDATE_STAMP = '/var/lib/apt/periodic/update-success-stamp';
export const APT_LISTS_DIR = '/var/lib/apt/lists';

export interface SimulatedPackage {
  name: string;
  version: string;
  /** The version installed now, for an upgrade. */
  from?: string;
}

export interface AptSimulation {
  install: SimulatedPackage[];
  remove: SimulatedPackage[];
  /** What apt-get said was wrong, one line per package when it names one. */
  problems: string[];
}

const bare = (name: string) => name.replace(/:[a-z0-9_]+$/, '');

export function dpkgQueryArgv(names: string[]): string[] {
  return ['dpkg-query', '-W', '-f', '${Package}\t${db:Status-Status}\t${Version}\n', ...names.map(bare)];
}

/**
 * dpkg-query -W output: name -> installed version, or null when it is not installed (never was, removed with
 * its configuration files kept, or left half-installed by a failed run).
 */
export function parseDpkgQuery(stdout: string, names: string[]): Record<string, string | null> {
  const installed = new Map<string, string>();
  for (const line of stdout.split('\n')) {
    const [name, status, version] = line.split('\t');
    if (!name || !status) continue;
    if (status === 'installed' || status.startsWith('triggers-')) installed.set(name, version ?? '');
  }
  return Object.fromEntries(names.map((n) => [n, installed.get(bare(n)) ?? null]));
}

/** dpkg-query exits 1 when some names are unknown to dpkg; anything else is an error. */
export async function aptInstalled(ctx: TaskContext, names: string[]): Promise<Record<string, string | null>> {
  const r = await ctx.conn.run(dpkgQueryArgv(names), { env: APT_ENV, timeoutMs: 60_000 });
  if (r.exitCode !== 0 && r.exitCode !== 1) throw new Error(`dpkg-query on ${ctx.name} failed: ${outputLines(r).slice(-2).join(' | ')}`);
  return parseDpkgQuery(r.stdout, names);
}

export interface AptOptions {
  installRecommends: boolean;
}

export function aptInstallArgv(names: string[], options: AptOptions, simulate = false): string[] {
  return [
    'apt-get',
    'install',
    ...(simulate ? ['-s'] : ['-y']),
    '-q',
    // A changed configuration file keeps the host's version, and no question is asked about it.
    '-o',
    'Dpkg::Options::=--force-confdef',
    '-o',
    'Dpkg::Options::=--force-confold',
    ...(options.installRecommends ? [] : ['--no-install-recommends']),
    ...names,
  ];
}

export function aptRemoveArgv(names: string[], simulate = false): string[] {
  return ['apt-get', 'remove', simulate ? '-s' : '-y', '-q', ...names];
}

/** apt-get -s: "Inst NAME [OLD] (NEW ...)" and "Remv NAME [VERSION]" lines; its errors as problems. */
export function parseAptSimulation(r: RunResult, names: string[]): AptSimulation {
  const install: SimulatedPackage[] = [];
  const remove: SimulatedPackage[] = [];
  for (const line of r.stdout.split('\n')) {
    const inst = /^Inst (\S+)(?: \[([^\]]+)\])? \((\S+)/.exec(line);
    if (inst) install.push({ name: inst[1], version: inst[3], ...(inst[2] ? { from: inst[2] } : {}) });
    const remv = /^Remv (\S+)(?: \[([^\]]+)\])?/.exec(line);
    if (remv) remove.push({ name: remv[1], version: remv[2] ?? '' });
  }
  return { install, remove, problems: r.failed ? aptProblems(r, names) : [] };
}

/** When apt was refused because another process holds its lock: which lock, and who holds it. */
export function aptLockHolder(r: RunResult): string | null {
  const text = `${r.stdout}\n${r.stderr}`;
  const held = /Could not get lock (\/\S+?)\.?\s+It is held by process (\d+)(?: \(([^)]*)\))?/.exec(text);
  if (held) return `${held[1]} is held by process ${held[2]}${held[3] ? ` (${held[3]})` : ''}`;
  const lock = /Could not get lock (\/\S+?)[.\s-]/.exec(text) ?? /Unable to acquire the dpkg frontend lock \((\/\S+)\)/.exec(text) ?? /Unable to lock (?:the )?(?:administration |download )?directory \(?(\/\S+?)\)?[,.\s]/.exec(text);
  return lock ? `${lock[1]} is held by another process` : null;
}

/**
 * What went wrong, from apt-get's and dpkg's own words: one line per package when the output names it (not found,
 * no candidate, unmet dependencies, a maintainer script that failed, a download that failed), else apt's E: lines.
 */
export function aptProblems(r: RunResult, names: string[]): string[] {
  if (r.timedOut) return [`timed out after ${Math.round(r.durationMs / 1000)} s`];
  const lines = outputLines(r);
  const out: string[] = [];
  const add = (line: string) => {
    if (!out.includes(line)) out.push(line);
  };
  let unmet = false;
  let owner = '';
  lines.forEach((line, i) => {
    let m: RegExpExecArray | null;
    if ((m = /^E: Unable to locate package (\S+)/.exec(line))) add(`${m[1]}: not in the package lists (apt-get: Unable to locate package ${m[1]})`);
    else if ((m = /^E: Package '([^']+)' has no installation candidate/.exec(line))) add(`${m[1]}: no installation candidate (it is only referred to by other packages, or obsolete)`);
    else if ((m = /^E: Version '([^']+)' for '([^']+)' was not found/.exec(line))) add(`${m[2]}: version ${m[1]} not found`);
    else if (/^The following packages have unmet dependencies:/.test(line)) unmet = true;
    else if (unmet && (m = /^\s*(\S+) : ((?:Pre-)?Depends|Breaks|Conflicts|Recommends): (.*)$/.exec(line))) {
      owner = m[1];
      add(`${owner}: ${m[2]}: ${m[3].trim()}`);
    } else if (unmet && owner && (m = /^\s+((?:Pre-)?Depends|Breaks|Conflicts|Recommends): (.*)$/.exec(line))) add(`${owner}: ${m[1]}: ${m[2].trim()}`);
    else if ((m = /^dpkg: error processing (?:package|archive) (\S+?)(?::[a-z0-9_]+)? \(([^)]*)\):?$/.exec(line))) {
      const why = lines[i + 1]?.trim();
      add(`${m[1]}: dpkg ${m[2]}: ${why ?? 'failed'}`);
    } else if ((m = /^E: Failed to fetch \S*\/([^/_\s]+)_[^/\s]*\.deb\s+(.*)$/.exec(line))) add(`${decodeURIComponent(m[1])}: download failed: ${m[2].trim()}`);
  });
  if (out.length === 0) {
    const errors = lines.filter((l) => /^E: /.test(l));
    const said = errors.length > 0 ? errors.join(' ') : lines.slice(-2).join(' | ') || `exit code ${r.exitCode}`;
    add(names.length > 0 ? `${names.join(', ')}: ${said}` : said);
  }
  return out;
}

export function aptLock(seconds: number): LockWait {
  return { seconds, heldBy: aptLockHolder };
}

/** Seconds since the package lists were last refreshed, as the host's clock counts; null when never. */
export async function aptListsAge(ctx: TaskContext): Promise<number | null> {
  const [stamp, dir, lists, clock] = await Promise.all([
    ctx.conn.stat(APT_UPDATE_STAMP),
    ctx.conn.stat(APT_LISTS_DIR),
    ctx.conn.list(APT_LISTS_DIR),
    ctx.conn.run(['date', '+%s'], { timeoutMs: 10_000 }),
  ]);
  // A lists directory without any list (a fresh container) was never refreshed, whatever its date.
  if (!lists?.some((n) => /_(In)?Release$|_Packages(\.\w+)?$/.test(n))) return null;
  const newest = Math.max(stamp?.mtimeMs ?? 0, dir?.mtimeMs ?? 0);
  const hostNow = Number(clock.stdout.trim()) * 1000;
  const now = Number.isFinite(hostNow) && hostNow > 0 ? hostNow : Date.now();
  return Math.max(0, Math.round((now - newest) / 1000));
}

export async function aptSimulate(ctx: TaskContext, argv: string[], names: string[]): Promise<AptSimulation> {
  const r = await ctx.conn.run(argv, { env: APT_ENV, timeoutMs: 120_000 });
  return parseAptSimulation(r, names);
}

/** apt-get update, then the stamp that says when; a failure says what apt said. */
export async function aptUpdate(ctx: TaskContext, lockSeconds: number): Promise<void> {
  ctx.progress('apt-get update');
  const r = await runWaitingForLock(ctx, ['apt-get', 'update', '-q'], { env: APT_ENV, timeoutMs: 600_000 }, aptLock(lockSeconds));
  if (r.failed) throw new Error(`apt-get update on ${ctx.name} failed: ${aptProblems(r, []).join('; ')}`);
  await ctx.conn.mkdir('/var/lib/apt/periodic', { mode: '0755' });
  await ctx.conn.writeFile(APT_UPDATE_STAMP, '', { mode: '0644' });
}
