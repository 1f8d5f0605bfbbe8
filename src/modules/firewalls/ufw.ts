// ufw: active or not (ufw status verbose), the rules it keeps (the "### tuple ###" lines of /etc/ufw/user.rules
// and user6.rules, comments hex-encoded), and the ufw commands that add or delete one rule.
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

export async function readUfw(ctx: TaskContext, program: string): Promise<{ status: UfwStatus; tuples: UfwTuple[] }> {
  const r = await ctx.conn.run([program, 'status', 'verbose'], { env: { LC_ALL: 'C' }, timeoutMs: 60_000 });
  if (r.failed) throw new Error(`ufw status on ${ctx.name} failed: ${(r.stderr.trim() || r.stdout.trim()).split('\n').pop()}`);
  const status = parseUfwStatus(r.stdout);
  if (!status.active) return { status, tuples: [] };
  const files = await Promise.all(UFW_RULE_FILES.map((f) => ctx.conn.readFile(f)));
  return { status, tuples: files.flatMap((f) => (f ? parseUfwRules(f.content.toString('utf8')) : [])) };
}
