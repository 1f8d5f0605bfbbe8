// ufw: active or not (its chains in iptables, as ufw status checks), the rules it keeps (the "### tuple ###" lines of
// /etc/ufw/user.rules and user6.rules, comments hex-encoded), and the ufw commands that add or delete one rule.
import type { TaskContext } from '../types';
import { canonicalSource, type PortRule, type Proto } from './common';

export const UFW_RULE_FILES = ['/etc/ufw/user.rules', '/etc/ufw/user6.rules'];

export interface UfwStatus {
  active: boolean;
  /** Default incoming policy: deny, reject or allow (null when ufw does not say). */
  incoming: string | null;
}

export function parseUfwStatus(stdout: string): UfwStatus {
  const active = /^Status: active\s*$/m.test(stdout);
  const incoming = /^Default: (\w+) \(incoming\)/m.exec(stdout)?.[1] ?? null;
  return { active, incoming };
}

export interface UfwTuple {
  action: string;
  proto: string;
  dport: string;
  dst: string;
  sport: string;
  /** Canonical source ('any' for 0.0.0.0/0 and ::/0). */
  src: string;
  direction: string;
  comment: string;
}

/** One "### tuple ### allow tcp 5432 0.0.0.0/0 any 10.0.0.12 in comment=6869" line, or null. */
export function parseUfwTuple(line: string): UfwTuple | null {
  const m = /^### tuple ### (.*)$/.exec(line.trim());
  if (!m) return null;
  const words = m[1].split(/\s+/);
  let comment = '';
  if (words[words.length - 1]?.startsWith('comment=')) comment = Buffer.from(words.pop()!.slice('comment='.length), 'hex').toString('utf8');
  // With application profiles the tuple carries two more fields (dapp, sapp) before the direction.
  if (words.length !== 7 && words.length !== 9) return null;
  const [action, proto, dport, dst, sport, src] = words;
  return { action, proto, dport, dst, sport, src: canonicalSource(src) ?? src, direction: words[words.length - 1], comment };
}

export function parseUfwRules(text: string): UfwTuple[] {
  return text.split('\n').map(parseUfwTuple).filter((t): t is UfwTuple => t !== null);
}

/** ufw writes "5432", "5432,5433" or "5000:6000". */
export function portCovers(field: string, port: number): boolean {
  if (field === 'any') return true;
  return field.split(',').some((part) => {
    const [from, to] = part.split(':').map(Number);
    return to === undefined ? from === port : from <= port && port <= to;
  });
}

const protoCovers = (field: string, proto: Proto) => field === proto || field === 'any';

/** The sources of the rules this task owns, and those other rules let in on the port. */
export function ufwSources(tuples: UfwTuple[], rule: PortRule): { owned: string[]; others: string[] } {
  const owned = new Set<string>();
  const others = new Set<string>();
  for (const t of tuples) {
    if (t.action !== 'allow' || !/^in(_|$)/.test(t.direction) || !protoCovers(t.proto, rule.proto) || !portCovers(t.dport, rule.port)) continue;
    const anyDestination = canonicalSource(t.dst) === 'any' && t.direction === 'in' && t.sport === 'any';
    if (t.comment === rule.comment && anyDestination && t.proto === rule.proto && t.dport === String(rule.port)) owned.add(t.src);
    else others.add(t.src);
  }
  return { owned: [...owned], others: [...others] };
}

export function ufwRuleArgv(verb: 'allow' | 'delete', source: string, rule: PortRule): string[] {
  const spec = ['proto', rule.proto, 'from', source, 'to', 'any', 'port', String(rule.port)];
  return verb === 'allow' ? ['ufw', 'allow', ...spec, 'comment', rule.comment] : ['ufw', 'delete', 'allow', ...spec];
}

/** The chains `ufw status` looks for in iptables: all there means ufw runs, a missing one that it does not. */
export const UFW_CHAINS = ['ufw-user-input', 'ufw-user-output', 'ufw-user-forward'];
/** The iptables ufw runs (its iptables_dir on Debian and Ubuntu). */
export const UFW_IPTABLES = '/usr/sbin/iptables';
/** Where ufw reads its default policies, the later file over the earlier. */
export const UFW_DEFAULTS_FILES = ['/etc/default/ufw', '/etc/ufw/ufw.conf'];

/**
 * Whether ufw runs, from the exit codes of `iptables -L CHAIN -n` for its chains in `ufw status`'s order (0: there, 1: no
 * such chain); null when one says something else (ufw itself then reports a problem).
 */
export function ufwRunning(exitCodes: Array<number | null>): boolean | null {
  for (const code of exitCodes) {
    if (code === 1) return false;
    if (code !== 0) return null;
  }
  return true;
}

/** The default incoming policy as `ufw status verbose` names it, from ufw's defaults files (KEY="VALUE" lines). */
export function ufwIncomingPolicy(files: string[]): string | null {
  let value: string | null = null;
  for (const text of files) {
    for (const line of text.split('\n')) {
      const m = /^\s*DEFAULT_INPUT_POLICY\s*=(.*)$/i.exec(line);
      if (m) value = m[1].trim().toLowerCase().replace(/^["']+|["']+$/g, '');
    }
  }
  if (value === null) return null;
  return value === 'accept' ? 'allow' : value === 'reject' ? 'reject' : 'deny';
}

/**
 * ufw's state as `ufw status verbose` reads it, without running that Python program (about 60 ms of CPU on each host,
 * every run): its chains in iptables, its defaults files, its rule files. Should iptables answer otherwise than ufw
 * expects, ufw itself is asked.
 */
export async function readUfw(ctx: TaskContext, program: string): Promise<{ status: UfwStatus; tuples: UfwTuple[] }> {
  const readText = (f: string) => ctx.conn.readFile(f).then((c) => (c ? c.content.toString('utf8') : null));
  // The rule files are read beside the rest, and matter (a read that fails too) only when ufw runs.
  const rules = Promise.all(UFW_RULE_FILES.map(readText));
  rules.catch(() => undefined);
  const [codes, defaults] = await Promise.all([
    Promise.all(UFW_CHAINS.map((chain) => ctx.conn.run([UFW_IPTABLES, '-L', chain, '-n'], { env: { LC_ALL: 'C' }, timeoutMs: 60_000 }).then((r) => r.exitCode, () => null))),
    Promise.all(UFW_DEFAULTS_FILES.map((f) => readText(f).catch(() => null))),
  ]);
  const running = ufwRunning(codes);
  const status = running === null ? await ufwStatusVerbose(ctx, program) : { active: running, incoming: running ? ufwIncomingPolicy(defaults.filter((t): t is string => t !== null)) : null };
  return { status, tuples: status.active ? (await rules).flatMap((text) => (text ? parseUfwRules(text) : [])) : [] };
}

/** ufw's state from `ufw status verbose` itself. */
async function ufwStatusVerbose(ctx: TaskContext, program: string): Promise<UfwStatus> {
  const r = await ctx.conn.run([program, 'status', 'verbose'], { env: { LC_ALL: 'C' }, timeoutMs: 60_000 });
  if (r.failed) throw new Error(`ufw status on ${ctx.name} failed: ${(r.stderr.trim() || r.stdout.trim()).split('\n').pop()}`);
  return parseUfwStatus(r.stdout);
}
