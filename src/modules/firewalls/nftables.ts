// nftables: the ruleset as nft -j gives it; the base chains on the input hook that drop (those are the firewall);
// the rules that let a port in, read from their expressions; and the JSON commands that insert or delete rules.
// An accept in one base chain does not get a packet past a drop in another, so a rule goes into each such chain.
import { canonicalSource, sourceFamily, type PortRule } from './common';

type Json = Record<string, any>;

export interface NftChain {
  family: string;
  table: string;
  name: string;
  policy: string;
}

export interface NftPortRule {
  family: string;
  table: string;
  chain: string;
  handle: number;
  /** Canonical source, 'any' when the rule matches no source address. */
  source: string;
  comment: string;
}

export interface NftFacts {
  /** Base chains of type filter on the input hook that drop or reject: where a packet must be accepted. */
  chains: NftChain[];
  /** Accept rules in those chains for this port (pgplay's or not), with what they match. */
  rules: NftPortRule[];
}

const FAMILIES = ['ip', 'ip6', 'inet'];

function items(ruleset: Json): Json[] {
  return Array.isArray(ruleset?.nftables) ? ruleset.nftables : [];
}

const isDrop = (e: Json) => 'drop' in e || 'reject' in e;

/** The input chains that filter: policy drop, or a drop or reject anywhere in their table. */
export function filteringInputChains(ruleset: Json): NftChain[] {
  const all = items(ruleset);
  const dropsInTable = new Set<string>();
  for (const { rule } of all.filter((i) => i.rule)) if ((rule.expr ?? []).some(isDrop)) dropsInTable.add(`${rule.family} ${rule.table}`);
  return all
    .filter((i) => i.chain && i.chain.hook === 'input' && i.chain.type === 'filter' && FAMILIES.includes(i.chain.family))
    .map((i) => i.chain)
    .filter((c) => c.policy === 'drop' || dropsInTable.has(`${c.family} ${c.table}`))
    .map((c) => ({ family: c.family, table: c.table, name: c.name, policy: c.policy ?? 'accept' }));
}

function matchValue(right: unknown): string | null {
  if (typeof right === 'string') return canonicalSource(right);
  const prefix = (right as Json)?.prefix;
  if (prefix && typeof prefix.addr === 'string') return canonicalSource(`${prefix.addr}/${prefix.len}`);
  return null;
}

function portCovered(right: unknown, port: number): boolean {
  if (typeof right === 'number') return right === port;
  const r = right as Json;
  if (Array.isArray(r?.range)) return r.range[0] <= port && port <= r.range[1];
  if (r?.set) return (r.set as unknown[]).some((v) => portCovered(v, port));
  if (Array.isArray(r)) return r.some((v) => portCovered(v, port));
  return false;
}

/**
 * What an accept rule for the port matches: a source or none ('any'). A rule with any other condition (an
 * interface, a state, a set it names) is not read as letting the port in: it may not, for these sources.
 */
export function readPortRule(rule: Json, port: PortRule): NftPortRule | null {
  const expr: Json[] = rule.expr ?? [];
  let source = 'any';
  let portMatch = false;
  let accept = false;
  for (const e of expr) {
    if ('counter' in e || 'log' in e) continue;
    if ('accept' in e) {
      accept = true;
      continue;
    }
    const m = e.match;
    if (!m || m.op !== '==' && m.op !== 'in') return null;
    const payload = m.left?.payload;
    const meta = m.left?.meta;
    if (payload && (payload.protocol === 'ip' || payload.protocol === 'ip6') && payload.field === 'saddr' && m.op === '==') {
      const s = matchValue(m.right);
      if (!s) return null;
      source = s;
    } else if (payload && payload.field === 'dport' && (payload.protocol === port.proto || payload.protocol === 'th')) {
      portMatch = portCovered(m.right, port.port);
      if (!portMatch) return null;
    } else if (meta && meta.key === 'l4proto' && m.right === port.proto) {
      continue;
    } else return null;
  }
  if (!accept || !portMatch) return null;
  return { family: rule.family, table: rule.table, chain: rule.chain, handle: rule.handle, source, comment: rule.comment ?? '' };
}

export function readNft(ruleset: Json, port: PortRule): NftFacts {
  const chains = filteringInputChains(ruleset);
  const inChains = new Set(chains.map((c) => `${c.family} ${c.table} ${c.name}`));
  const rules = items(ruleset)
    .filter((i) => i.rule && inChains.has(`${i.rule.family} ${i.rule.table} ${i.rule.chain}`))
    .map((i) => readPortRule(i.rule, port))
    .filter((r): r is NftPortRule => r !== null);
  return { chains, rules };
}

/** Whether a chain of this family sees this source's packets: ip for IPv4, ip6 for IPv6, inet both. */
function chainTakes(chain: NftChain, source: string): boolean {
  const family = sourceFamily(source);
  return family === 'any' || chain.family === 'inet' || (chain.family === 'ip' ? family === 4 : family === 6);
}

function sourceMatch(source: string): Json[] {
  if (source === 'any') return [];
  const [addr, len] = source.split('/');
  const protocol = sourceFamily(source) === 6 ? 'ip6' : 'ip';
  const right = len === undefined ? addr : { prefix: { addr, len: Number(len) } };
  return [{ match: { op: '==', left: { payload: { protocol, field: 'saddr' } }, right } }];
}

/** nft -j commands: insert an accept rule for the source at the top of each filtering input chain. */
export function nftInsertCommands(chains: NftChain[], source: string, port: PortRule): Json[] {
  return chains
    .filter((c) => chainTakes(c, source))
    .map((c) => ({
      insert: {
        rule: {
          family: c.family,
          table: c.table,
          chain: c.name,
          comment: port.comment,
          expr: [...sourceMatch(source), { match: { op: '==', left: { payload: { protocol: port.proto, field: 'dport' } }, right: port.port } }, { accept: null }],
        },
      },
    }));
}

export function nftDeleteCommand(rule: NftPortRule): Json {
  return { delete: { rule: { family: rule.family, table: rule.table, chain: rule.chain, handle: rule.handle } } };
}

export function nftScript(commands: Json[]): string {
  return JSON.stringify({ nftables: [{ metainfo: { json_schema_version: 1 } }, ...commands] });
}
