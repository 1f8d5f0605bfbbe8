// dnf on RHEL and its kin: what rpm says is installed, which installed packages have a newer version, dnf's own
// wait for its lock (bounded here), and its errors turned into one line per package.
import type { RunResult } from '../../connection/types';
import type { TaskContext } from '../types';
import { outputLines, type LockWait } from './common';

export const DNF_ENV = { LC_ALL: 'C' };

export function rpmQueryArgv(names: string[]): string[] {
  return ['rpm', '-q', '--qf', '%{NAME}\t%{VERSION}-%{RELEASE}.%{ARCH}\n', ...names];
}

/** rpm -q output: one tuple per installed package, "package X is not installed" for the others. */
export function parseRpmQuery(stdout: string, names: string[]): Record<string, string | null> {
  const installed = new Map<string, string>();
  for (const line of stdout.split('\n')) {
    const [name, version] = line.split('\t');
    if (name && version !== undefined && !/^package .* is not installed$/.test(line)) installed.set(name, version);
  }
  // A name may carry its architecture (postgresql15-server.x86_64): rpm names the package without it.
  return Object.fromEntries(names.map((n) => [n, installed.get(n) ?? installed.get(n.replace(/\.[a-z0-9_]+$/, '')) ?? null]));
}

export async function dnfInstalled(ctx: TaskContext, names: string[]): Promise<Record<string, string | null>> {
  const r = await ctx.conn.run(rpmQueryArgv(names), { env: DNF_ENV, timeoutMs: 60_000 });
  // rpm -q exits with the number of names that are not installed.
  if (r.exitCode === null || (r.failed && !/is not installed/.test(r.stdout))) throw new Error(`rpm -q on ${ctx.name} failed: ${outputLines(r).slice(-2).join(' | ')}`);
  return parseRpmQuery(r.stdout, names);
}

/** dnf's own bound on the age of its metadata: it refreshes older metadata itself, before it acts. */
export function metadataExpire(seconds: number): string {
  return `--setopt=metadata_expire=${seconds}`;
}

export function dnfCheckUpdateArgv(names: string[], cacheSeconds: number): string[] {
  return ['dnf', '-q', metadataExpire(cacheSeconds), 'check-update', ...names];
}

/** dnf check-update: exit 100 and "name.arch version repo" lines for each package with a newer version. */
export function parseCheckUpdate(r: RunResult, names: string[]): string[] {
  if (r.exitCode === 0) return [];
  if (r.exitCode !== 100) throw new Error(`dnf check-update failed: ${dnfProblems(r, names).join('; ')}`);
  const found = new Set<string>();
  for (const line of r.stdout.split('\n')) {
    const m = /^(\S+)\.[a-z0-9_]+\s+\S+\s+\S+\s*$/.exec(line);
    if (m) found.add(m[1]);
  }
  return names.filter((n) => found.has(n));
}

export function dnfArgv(command: 'install' | 'upgrade' | 'remove', names: string[], cacheSeconds: number): string[] {
  return ['dnf', command, '-y', metadataExpire(cacheSeconds), ...names];
}

/** "name-version-release.arch" (as dnf names a package in its messages) -> name. */
export function nameOfNevra(nevra: string): string {
  return nevra.replace(/\.(x86_64|aarch64|ppc64le|s390x|i686|noarch|src)$/, '').replace(/-[^-]+-[^-]+$/, '');
}

/** dnf waits for ever for another dnf: the line it prints then, and who it waits for. */
export function dnfWaiting(line: string): string | null {
  const pid = /Waiting for process with pid (\d+) to finish/i.exec(line);
  if (pid) return `process ${pid[1]} holds dnf's lock`;
  return /waiting .*lock/i.test(line) ? `dnf's lock is held (${line.trim()})` : null;
}

export function dnfLock(seconds: number): LockWait {
  return { seconds, heldBy: () => null, waiting: dnfWaiting };
}

/** What went wrong, from dnf's own words: one line per package when it names one, else its Error: lines. */
export function dnfProblems(r: RunResult, names: string[]): string[] {
  if (r.timedOut) return [`timed out after ${Math.round(r.durationMs / 1000)} s`];
  const lines = outputLines(r);
  const out: string[] = [];
  const add = (line: string) => {
    if (!out.includes(line)) out.push(line);
  };
  for (const line of lines) {
    let m: RegExpExecArray | null;
    if ((m = /^No match for argument: (\S+)/.exec(line))) add(`${m[1]}: no package of that name in the enabled repositories`);
    else if ((m = /^Error: Unable to find a match: (.+)$/.exec(line))) for (const n of m[1].trim().split(/\s+/)) add(`${n}: no package of that name in the enabled repositories`);
    else if ((m = /nothing provides (.+?) needed by (\S+)/.exec(line))) add(`${nameOfNevra(m[2])}: nothing provides ${m[1]}`);
    else if ((m = /package (\S+) requires (.+?), but none of the providers can be installed/.exec(line))) add(`${nameOfNevra(m[1])}: requires ${m[2]}, which cannot be installed`);
    else if ((m = /Error in (\S+) scriptlet in rpm package (\S+)/.exec(line))) add(`${m[2]}: its ${m[1]} scriptlet failed`);
    else if ((m = /^\s*(\S+): Cannot download/.exec(line))) add(`${nameOfNevra(m[1])}: download failed (${line.trim()})`);
  }
  if (out.length === 0) {
    const errors = lines.filter((l) => /^(Error|Problem)\b/.test(l.trim()));
    const said = errors.length > 0 ? errors.map((l) => l.trim()).join(' ') : lines.slice(-2).join(' | ') || `exit code ${r.exitCode}`;
    add(names.length > 0 ? `${names.join(', ')}: ${said}` : said);
  }
  return out;
}
