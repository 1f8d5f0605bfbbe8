// The lab's network: a network namespace per host, a bridge kept in a namespace of its own, and one veth
// for the control machine. Every name carries the lab's prefix (pgplay-ID), so several labs never collide.
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { isAlive, stopProcess } from './processes';

const run = promisify(execFile);

/** The documentation ranges (RFC 5737): never routed on the Internet, so lab traffic cannot reach a real host. */
export const DOCUMENTATION_RANGES = ['192.0.2.0/24', '198.51.100.0/24', '203.0.113.0/24'];

export interface NetnsPort {
  /** Inventory name of the host (pg1, ...): also the name of its port on the bridge. */
  name: string;
  netns: string;
  address: string;
}

export interface LabNetwork {
  id: string;
  /** pgplay-ID: the name of the control machine's veth, and the start of every namespace name. */
  prefix: string;
  subnet: string;
  /** The namespace holding the bridge. */
  switchNs: string;
  control: { link: string; address: string };
  hosts: NetnsPort[];
}

export function checkLabId(id: string): string {
  // Linux link names hold at most 15 characters: "pgplay-" and 8 more.
  if (!/^[a-z0-9]{1,8}$/.test(id)) throw new Error(`a lab id is 1 to 8 lower-case letters or digits, not '${id}'`);
  return id;
}

export function labPrefix(id: string): string {
  return `pgplay-${checkLabId(id)}`;
}

interface Cidr {
  network: number;
  length: number;
}

function ipToInt(ip: string): number {
  const parts = ip.split('.').map(Number);
  if (parts.length !== 4 || parts.some((p) => !Number.isInteger(p) || p < 0 || p > 255)) throw new Error(`'${ip}' is not an IPv4 address`);
  return ((parts[0] << 24) | (parts[1] << 16) | (parts[2] << 8) | parts[3]) >>> 0;
}

export function intToIp(n: number): string {
  return [n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255].join('.');
}

function mask(length: number): number {
  return length === 0 ? 0 : (0xffffffff << (32 - length)) >>> 0;
}

export function parseCidr(text: string): Cidr {
  const [ip, len] = text.includes('/') ? text.split('/') : [text, '32'];
  const length = Number(len);
  if (!Number.isInteger(length) || length < 0 || length > 32) throw new Error(`'${text}' is not an IPv4 network`);
  return { network: (ipToInt(ip) & mask(length)) >>> 0, length };
}

export function overlaps(a: string, b: string): boolean {
  const x = parseCidr(a);
  const y = parseCidr(b);
  const length = Math.min(x.length, y.length);
  return ((x.network & mask(length)) >>> 0) === ((y.network & mask(length)) >>> 0);
}

/** The control machine takes the first address of the subnet; pgN takes the tenth after it plus N. */
export function networkLayout(id: string, names: string[], subnet: string): LabNetwork {
  const prefix = labPrefix(id);
  const { network, length } = parseCidr(subnet);
  if (!DOCUMENTATION_RANGES.some((range) => overlaps(range, subnet) && parseCidr(range).length <= length)) {
    throw new Error(`the lab subnet must lie in a documentation range (${DOCUMENTATION_RANGES.join(', ')}), not ${subnet}`);
  }
  const size = 2 ** (32 - length);
  if (10 + names.length >= size - 1) throw new Error(`${subnet} has no room for ${names.length} hosts (they start at its 11th address)`);
  return {
    id,
    prefix,
    subnet: `${intToIp(network)}/${length}`,
    switchNs: `${prefix}-sw`,
    control: { link: prefix, address: intToIp(network + 1) },
    hosts: names.map((name, i) => ({ name, netns: `${prefix}-${name}`, address: intToIp(network + 11 + i) })),
  };
}

/** Networks this machine already has (addresses and routes of the root namespace), each with where it was seen. */
async function networksInUse(): Promise<Array<{ cidr: string; where: string }>> {
  const out: Array<{ cidr: string; where: string }> = [];
  const addrs = JSON.parse((await run('ip', ['-j', '-4', 'addr', 'show'])).stdout || '[]') as Array<{ ifname: string; addr_info?: Array<{ local: string; prefixlen: number }> }>;
  for (const link of addrs) for (const a of link.addr_info ?? []) out.push({ cidr: `${a.local}/${a.prefixlen}`, where: `address ${a.local}/${a.prefixlen} of ${link.ifname}` });
  const routes = JSON.parse((await run('ip', ['-j', '-4', 'route', 'show', 'table', 'all'])).stdout || '[]') as Array<{ dst: string; dev?: string }>;
  for (const r of routes) if (r.dst !== 'default' && /^\d/.test(r.dst)) out.push({ cidr: r.dst, where: `route ${r.dst}${r.dev ? ` via ${r.dev}` : ''}` });
  return out;
}

/**
 * The subnet for a new lab: the one asked for, or the first documentation range this machine does not use
 * (a machine may sit on 192.0.2.0/24 itself; a lab there would take its gateway's place).
 */
export async function freeSubnet(wanted?: string): Promise<string> {
  const inUse = await networksInUse();
  for (const candidate of wanted ? [wanted] : DOCUMENTATION_RANGES) {
    const clash = inUse.find((n) => overlaps(n.cidr, candidate));
    if (!clash) return candidate;
    if (wanted) throw new Error(`the lab subnet ${wanted} overlaps this machine's ${clash.where}: pick another`);
  }
  throw new Error(`every documentation range is in use on this machine (${DOCUMENTATION_RANGES.join(', ')}): pass a subnet`);
}

function ip(...args: string[]): Promise<unknown> {
  return run('ip', args).catch((err: Error & { stderr?: string }) => {
    throw new Error(`ip ${args.join(' ')}: ${(err.stderr ?? err.message).trim()}`);
  });
}

/** Build the namespaces, the bridge and the veth pairs; the hosts reach each other and the control machine only. */
export async function createNetwork(net: LabNetwork): Promise<void> {
  const len = parseCidr(net.subnet).length;
  const sw = net.switchNs;
  await ip('netns', 'add', sw);
  await ip('-n', sw, 'link', 'add', 'br0', 'type', 'bridge');
  await ip('-n', sw, 'link', 'set', 'br0', 'up');
  await ip('link', 'add', net.control.link, 'type', 'veth', 'peer', 'name', 'control', 'netns', sw);
  await ip('-n', sw, 'link', 'set', 'control', 'master', 'br0', 'up');
  await ip('addr', 'add', `${net.control.address}/${len}`, 'dev', net.control.link);
  await ip('link', 'set', net.control.link, 'up');
  await Promise.all(
    net.hosts.map(async (h) => {
      await ip('netns', 'add', h.netns);
      await ip('-n', h.netns, 'link', 'set', 'lo', 'up');
      await ip('-n', sw, 'link', 'add', h.name, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', h.netns);
      await ip('-n', sw, 'link', 'set', h.name, 'master', 'br0', 'up');
      await ip('-n', h.netns, 'addr', 'add', `${h.address}/${len}`, 'dev', 'eth0');
      await ip('-n', h.netns, 'link', 'set', 'eth0', 'up');
    }),
  );
}

/** Namespaces whose name starts with prefix + '-'. */
export async function labNamespaces(prefix: string): Promise<string[]> {
  const { stdout } = await run('ip', ['netns', 'list']);
  return stdout
    .split('\n')
    .map((line) => line.split(' ')[0])
    .filter((name) => name.startsWith(`${prefix}-`));
}

/** Processes living in a namespace (all of them started there by the lab or by runs against it). */
export async function namespacePids(netns: string): Promise<number[]> {
  const r = await run('ip', ['netns', 'pids', netns]).catch(() => ({ stdout: '' }));
  return r.stdout
    .split('\n')
    .map(Number)
    .filter((pid) => Number.isInteger(pid) && pid > 1);
}

/** Stop every process left in the lab's namespaces, then remove the control veth and the namespaces. */
export async function destroyNetwork(prefix: string): Promise<void> {
  const namespaces = await labNamespaces(prefix);
  const pids = (await Promise.all(namespaces.map(namespacePids))).flat().filter(isAlive);
  await Promise.all(pids.map((pid) => stopProcess(pid, 'SIGTERM', 3000)));
  // Removing a namespace frees its links only later, in the kernel's own time: the control veth goes now.
  await run('ip', ['link', 'del', prefix]).catch(() => undefined);
  for (const ns of namespaces) await ip('netns', 'del', ns);
}

/** argv run inside a host's namespace. */
export function inNamespace(netns: string, argv: string[]): string[] {
  return ['ip', 'netns', 'exec', netns, ...argv];
}

/** Take the host's port on the bridge down (or up): the host is cut off from every other host and from the control machine. */
export async function setHostLink(net: LabNetwork, name: string, up: boolean): Promise<void> {
  if (!net.hosts.some((h) => h.name === name)) throw new Error(`no host ${name} in lab ${net.id}`);
  await ip('-n', net.switchNs, 'link', 'set', name, up ? 'up' : 'down');
}
