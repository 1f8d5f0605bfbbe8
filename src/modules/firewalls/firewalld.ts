// firewalld: a task's sources live in an ipset of its own (named from its comment, port and protocol), let in by
// one rich rule in the zone; entries come and go with the inventory. Permanent configuration, then a reload.
import type { TaskContext } from '../types';
import { canonicalSource, sourceFamily, type PortRule } from './common';

export interface FirewalldIpset {
  name: string;
  family: 4 | 6;
  exists: boolean;
  entries: string[];
  /** The zone's rich rule that accepts the port from this ipset. */
  ruleExists: boolean;
}

export interface FirewalldFacts {
  zone: string;
  ipsets: FirewalldIpset[];
  /** Sources the zone already lets in on the port by other means ('any' for a port or service open to all). */
  others: string[];
}

/** ipset names hold at most 31 characters: the comment's slug (20 at most), the port and the protocol. */
export function ipsetName(rule: PortRule, family: 4 | 6): string {
  const slug = rule.comment.toLowerCase().replace(/[^a-z0-9]+/g, '-').replace(/^-|-$/g, '');
  return `${slug}-${rule.port}-${rule.proto}${family === 6 ? '6' : ''}`;
}

export function richRule(name: string, family: 4 | 6, rule: PortRule): string {
  return `rule family="${family === 6 ? 'ipv6' : 'ipv4'}" source ipset="${name}" port port="${rule.port}" protocol="${rule.proto}" accept`;
}

/** `firewall-cmd --info-ipset` output: its "entries:" line. */
export function parseIpsetEntries(stdout: string): string[] {
  const line = /^\s*entries:(.*)$/m.exec(stdout)?.[1] ?? '';
  return line.split(/\s+/).filter(Boolean).map((e) => canonicalSource(e) ?? e);
}

/** Sources let in on the port by the zone's own ports, services (postgresql) and rich rules with a source address. */
export function parseZoneOthers(zone: { ports: string; services: string; richRules: string }, rule: PortRule): string[] {
  const out = new Set<string>();
  if (zone.ports.split(/\s+/).includes(`${rule.port}/${rule.proto}`)) out.add('any');
  if (rule.port === 5432 && rule.proto === 'tcp' && zone.services.split(/\s+/).includes('postgresql')) out.add('any');
  for (const line of zone.richRules.split('\n')) {
    if (!new RegExp(`port port="?${rule.port}"? protocol="?${rule.proto}"?`).test(line) || !/\baccept\b/.test(line)) continue;
    const address = /source address="?([^"\s]+)"?/.exec(line)?.[1];
    if (address && !/\bnot\b/.test(line)) out.add(canonicalSource(address) ?? address);
  }
  return [...out];
}

async function fc(ctx: TaskContext, program: string, args: string[]): Promise<{ ok: boolean; out: string }> {
  const r = await ctx.conn.run([program, ...args], { env: { LC_ALL: 'C' }, timeoutMs: 120_000 });
  return { ok: !r.failed, out: r.failed ? (r.stderr.trim() || r.stdout.trim()) : r.stdout };
}

export async function readFirewalld(ctx: TaskContext, program: string, rule: PortRule, zoneArg?: string): Promise<FirewalldFacts> {
  const zone = zoneArg ?? (await fc(ctx, program, ['--get-default-zone'])).out.trim();
  const must = async (args: string[]) => {
    const r = await fc(ctx, program, args);
    if (!r.ok) throw new Error(`firewall-cmd ${args.join(' ')} on ${ctx.name} failed: ${r.out}`);
    return r.out;
  };
  const [ports, services, richRules] = await Promise.all([
    must(['--permanent', `--zone=${zone}`, '--list-ports']),
    must(['--permanent', `--zone=${zone}`, '--list-services']),
    must(['--permanent', `--zone=${zone}`, '--list-rich-rules']),
  ]);
  const ipsets: FirewalldIpset[] = [];
  for (const family of [4, 6] as const) {
    const name = ipsetName(rule, family);
    const info = await fc(ctx, program, ['--permanent', `--info-ipset=${name}`]);
    ipsets.push({ name, family, exists: info.ok, entries: info.ok ? parseIpsetEntries(info.out) : [], ruleExists: richRules.split('\n').some((l) => l.trim() === richRule(name, family, rule)) });
  }
  return { zone, ipsets, others: parseZoneOthers({ ports, services, richRules }, rule) };
}

/** The firewall-cmd argument lists that take the ipsets from what they hold to the wanted sources. */
export function firewalldCommands(facts: FirewalldFacts, rule: PortRule, add: string[], remove: string[]): string[][] {
  const out: string[][] = [];
  for (const set of facts.ipsets) {
    const adds = add.filter((s) => sourceFamily(s) === set.family);
    const removes = remove.filter((s) => sourceFamily(s) === set.family);
    if (adds.length > 0 && !set.exists) out.push(['--permanent', `--new-ipset=${set.name}`, '--type=hash:net', ...(set.family === 6 ? ['--option=family=inet6'] : [])]);
    for (const s of adds) out.push(['--permanent', `--ipset=${set.name}`, `--add-entry=${s}`]);
    for (const s of removes) out.push(['--permanent', `--ipset=${set.name}`, `--remove-entry=${s}`]);
    if (adds.length > 0 && !set.ruleExists) out.push(['--permanent', `--zone=${facts.zone}`, `--add-rich-rule=${richRule(set.name, set.family, rule)}`]);
  }
  return out;
}
