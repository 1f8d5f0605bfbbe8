// The network-namespace lab: hosts pg1..pgN, each in its own namespace with its own address, its own sshd on
// port 22 and its own PostgreSQL 15 on port 5432, laid out as a Debian or a RHEL package install leaves a host.
//   debian: pg_createcluster 15 NAME --port 5432 (config in /etc/postgresql/15/NAME), running, run by pg_ctlcluster
//   rhel:   initdb's layout (config inside the data directory), initialised but stopped; or, for the hosts named
//           in withoutCluster, binaries only (an empty data directory), as the RHEL package leaves a host
// Hosts may get their own copies of entries of /etc (privateEtc: ufw keeps its rules and state in /etc/ufw and
// /etc/default/ufw): `ip netns exec` binds /etc/netns/NAMESPACE/ENTRY over /etc/ENTRY for sshd and all it runs.
import { execFile } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { netnsInventory, sshdOnlyInventory } from './inventory';
import { createNetwork, destroyNetwork, freeSubnet, inNamespace, labPrefix, networkLayout, setHostLink, type LabNetwork } from './netns';
import { PG_BIN, PG_PORT, postmasterPidFiles, psql as psqlOn, stopPostmaster, type ClusterDirs } from './postgres';
import { readPidFile } from './processes';
import * as sshd from './sshd';

const run = promisify(execFile);
export const NETNS_DEFAULT_ROOT = join(__dirname, '..', '..', '..', '.lab-netns');
export const NETNS_DEFAULT_ID = 'lab';
/** Written first (the same marker as the loopback lab): labDown removes only a directory that carries it. */
const MARKER = '.pgplay-lab';
const ID_FILE = 'lab-id';
const PG_VERSION = '15';

export type HostLayout = 'debian' | 'rhel';

export interface NetnsLabHost extends ClusterDirs {
  name: string;
  role: 'primary' | 'replica';
  layout: HostLayout;
  netns: string;
  /** The Debian cluster name (pg_lsclusters), null on a RHEL host. */
  cluster: string | null;
  /** A RHEL host with the server binaries only: its data directory is empty. */
  binariesOnly?: boolean;
  lockFile: string;
  sshPort: number;
  sshd: sshd.SshdFiles;
  sshdLog: string;
}

export interface NetnsLab {
  kind: 'netns';
  id: string;
  root: string;
  inventory: string;
  knownHosts: string;
  key: string;
  network: LabNetwork;
  hosts: NetnsLabHost[];
}

export interface NetnsLabOptions {
  /** Lab id: namespaces are pgplay-ID-..., the control veth pgplay-ID, Debian clusters pgplay_ID_pgN. */
  id?: string;
  root?: string;
  /** One layout for all, 'mixed' (a Debian primary, replicas Debian and RHEL in turn), or one per host. */
  layout?: HostLayout | 'mixed' | HostLayout[];
  /** A subnet in a documentation range; default: the first such range this machine does not use. */
  subnet?: string;
  /** RHEL-layout hosts left with the binaries only (no initdb): their data directory exists, empty. */
  withoutCluster?: string[];
  /** Entries of /etc each host gets its own copy of (in /etc/netns/NAMESPACE), e.g. ['ufw', 'default']. */
  privateEtc?: string[];
  /** Hosts that are only an sshd (no PostgreSQL): many hosts cheaply, for runs that only read and write files. */
  sshdOnly?: boolean;
}

export function hostLayouts(n: number, layout: NetnsLabOptions['layout'] = 'debian'): HostLayout[] {
  if (Array.isArray(layout)) {
    if (layout.length !== n) throw new Error(`${layout.length} layouts for ${n} hosts`);
    return layout;
  }
  if (layout === 'mixed') return Array.from({ length: n }, (_, i) => (i === 0 || i % 2 === 1 ? 'debian' : 'rhel'));
  if (layout !== 'debian' && layout !== 'rhel') throw new Error(`a layout is debian, rhel or mixed, not ${String(layout)}`);
  return Array.from({ length: n }, () => layout);
}

/** Layouts from the command line: debian, rhel, mixed, or a comma-separated list with one per host. */
export function parseLayout(text: string): NetnsLabOptions['layout'] {
  if (text.includes(',')) return text.split(',').map((l) => l.trim()) as HostLayout[];
  return text as NetnsLabOptions['layout'];
}

export function debianClusterName(id: string, host: string): string {
  return `pgplay_${id}_${host}`;
}

export function netnsLabLayout(n: number, options: NetnsLabOptions & { subnet: string }): NetnsLab {
  if (!Number.isInteger(n) || n < 1) throw new Error(`a lab has 1 or more hosts, not ${n}`);
  const id = options.id ?? NETNS_DEFAULT_ID;
  const root = resolve(options.root ?? NETNS_DEFAULT_ROOT); // sshd reads its files after moving to /
  const layouts = hostLayouts(n, options.layout);
  const names = layouts.map((_, i) => `pg${i + 1}`);
  const network = networkLayout(id, names, options.subnet);
  const ssh = `${root}/ssh`;
  const hosts = network.hosts.map((port, i): NetnsLabHost => {
    const dir = `${root}/${port.name}`;
    const files = sshd.sshdFiles(`${dir}/sshd`, port.address, `${ssh}/authorized_keys`, port.netns);
    const cluster = layouts[i] === 'debian' ? debianClusterName(id, port.name) : null;
    const dirs: ClusterDirs = cluster
      ? {
          address: port.address,
          dir,
          dataDir: `/var/lib/postgresql/${PG_VERSION}/${cluster}`,
          configDir: `/etc/postgresql/${PG_VERSION}/${cluster}`,
          // Unix sockets are files, seen from every namespace: each cluster gets its own directory.
          socketDir: `/var/run/postgresql/${cluster}`,
          logFile: `/var/log/postgresql/postgresql-${PG_VERSION}-${cluster}.log`,
        }
      : { address: port.address, dir, dataDir: `${dir}/data`, configDir: `${dir}/data`, socketDir: `${dir}/run`, logFile: `${dir}/server.log` };
    const bare = layouts[i] === 'rhel' && (options.withoutCluster ?? []).includes(port.name);
    return {
      name: port.name,
      role: i === 0 ? 'primary' : 'replica',
      layout: layouts[i],
      netns: port.netns,
      cluster,
      ...(bare ? { binariesOnly: true } : {}),
      lockFile: `${dir}/pgplay.lock`,
      ...dirs,
      sshPort: files.port,
      sshd: files,
      sshdLog: files.log,
    };
  });
  return { kind: 'netns', id, root, inventory: `${root}/inventory.yml`, knownHosts: `${ssh}/known_hosts`, key: `${ssh}/id_ed25519`, network, hosts };
}

/** Tear down whatever lab has this id or this root, then build n fresh hosts. */
export async function netnsLabUp(n: number, options: NetnsLabOptions = {}): Promise<NetnsLab> {
  const id = options.id ?? NETNS_DEFAULT_ID;
  labPrefix(id); // a bad id fails before anything is touched
  const root = resolve(options.root ?? NETNS_DEFAULT_ROOT);
  await netnsLabDown(root, id);
  const lab = netnsLabLayout(n, { ...options, id, root, subnet: await freeSubnet(options.subnet) });
  for (const name of options.withoutCluster ?? []) {
    const h = lab.hosts.find((x) => x.name === name);
    if (!h || h.layout !== 'rhel') throw new Error(`withoutCluster: ${name} is not a RHEL-layout host of this lab`);
  }
  mkdirSync(lab.root, { recursive: true, mode: 0o755 });
  writeFileSync(join(lab.root, MARKER), 'pgplay test lab: removed by `lab down`\n');
  writeFileSync(join(lab.root, ID_FILE), `${id}\n`);
  try {
    await createNetwork(lab.network);
    for (const h of lab.hosts) copyEtc(h.netns, options.privateEtc ?? []);
    mkdirSync(`${lab.root}/ssh`, { mode: 0o700 });
    await run('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', 'pgplay-lab', '-f', lab.key]);
    writeFileSync(`${lab.root}/ssh/authorized_keys`, readFileSync(`${lab.key}.pub`), { mode: 0o600 });
    // initdb is the CPU-bound part, a few at once; pg_ctlcluster start mostly waits (it polls every 0.5 s), so each
    // host's start goes on beside the next hosts' initdb.
    const started: Array<Promise<string>> = [];
    const created = await inParallel(lab.hosts, Math.max(2, cpus().length), async (h) => {
      if (options.sshdOnly) mkdirSync(h.dir, { recursive: true, mode: 0o755 });
      else await createCluster(h);
      started[lab.hosts.indexOf(h)] = startHost(h, !options.sshdOnly);
      started[lab.hosts.indexOf(h)].catch(() => undefined); // awaited below
    }).then(
      () => null,
      (err: unknown) => err,
    );
    if (created) {
      await Promise.allSettled(started.filter(Boolean)); // nothing still starting while the lab is taken down
      throw created;
    }
    const hostKeys = await Promise.all(started);
    const lines = hostKeys.map((pub, i) => `${lab.hosts[i].address} ${pub.split(' ').slice(0, 2).join(' ')}`);
    writeFileSync(lab.knownHosts, `${lines.join('\n')}\n`, { mode: 0o600 });
    const ssh = { key: lab.key, knownHosts: lab.knownHosts };
    writeFileSync(lab.inventory, options.sshdOnly ? sshdOnlyInventory(lab.hosts, ssh) : netnsInventory(lab.hosts, ssh));
    writeFileSync(`${lab.root}/lab.json`, `${JSON.stringify(lab, null, 2)}\n`);
    return lab;
  } catch (err) {
    await netnsLabDown(lab.root, id).catch(() => undefined);
    throw err;
  }
}

async function createCluster(h: NetnsLabHost): Promise<void> {
  mkdirSync(h.dir, { recursive: true, mode: 0o755 });
  if (h.cluster) {
    // As apt leaves a Debian host, but with the address on '*' (every namespace has its own) and its own socket directory.
    await run('pg_createcluster', [PG_VERSION, h.cluster, '--port', String(PG_PORT), '-s', h.socketDir, '-o', 'listen_addresses=*', '-o', 'shared_buffers=32MB', '--', '--no-sync']);
    return;
  }
  for (const d of [h.dataDir, h.socketDir]) mkdirSync(d, { recursive: true });
  await run('chown', ['-R', 'postgres:postgres', h.dir]);
  await run('chmod', ['0700', h.dataDir]);
  if (h.binariesOnly) return; // as the RHEL package leaves a host: an empty data directory, nothing initialised
  await run('runuser', ['-u', 'postgres', '--', `${PG_BIN}/initdb`, '--no-sync', '-D', h.dataDir, '-U', 'postgres', '--auth-local=peer', '--auth-host=scram-sha-256', '-E', 'UTF8', '--locale=C']);
  const lines = ['', '# pgplay lab host (RHEL layout)', "listen_addresses = '*'", `port = ${PG_PORT}`, `unix_socket_directories = '${h.socketDir}'`, 'shared_buffers = 32MB', ''];
  writeFileSync(`${h.dataDir}/postgresql.conf`, readFileSync(`${h.dataDir}/postgresql.conf`, 'utf8') + lines.join('\n'));
  await run('chown', ['-R', 'postgres:postgres', h.dir]);
  // Left stopped, as a RHEL package install leaves it.
}

/** sshd, and the server of a Debian host (running, as apt leaves it); the public host key for known_hosts. */
async function startHost(h: NetnsLabHost, withPostgres: boolean): Promise<string> {
  const publicKey = await sshd.prepareSshd(h.sshd);
  await sshd.startSshd(h.sshd);
  if (withPostgres && h.layout === 'debian') await startDebianCluster(h);
  return publicKey;
}

async function startDebianCluster(h: NetnsLabHost): Promise<void> {
  const argv = inNamespace(h.netns, ['pg_ctlcluster', PG_VERSION, h.cluster as string, 'start']);
  try {
    await run(argv[0], argv.slice(1));
  } catch (err) {
    const log = existsSync(h.logFile) ? readFileSync(h.logFile, 'utf8').trim().split('\n').slice(-2).join(' | ') : 'no log';
    throw new Error(`PostgreSQL on ${h.name} (${h.address}) did not start: ${log}`, { cause: err });
  }
}

export function readNetnsLab(root = NETNS_DEFAULT_ROOT): NetnsLab | null {
  const file = `${root}/lab.json`;
  if (!existsSync(file)) return null;
  const lab = JSON.parse(readFileSync(file, 'utf8')) as NetnsLab;
  return lab.kind === 'netns' ? lab : null;
}

/**
 * Remove everything the lab with this id made: its processes, namespaces and control veth, its Debian clusters
 * (pg_dropcluster, and what pgplay left beside their data directories), and root. Other clusters are not touched.
 */
export async function netnsLabDown(root = NETNS_DEFAULT_ROOT, id?: string): Promise<void> {
  const rootExists = existsSync(root);
  if (rootExists && !existsSync(join(root, MARKER))) throw new Error(`${root} is not a pgplay lab (no ${MARKER}); not removing it`);
  const labId = id ?? (rootExists && existsSync(join(root, ID_FILE)) ? readFileSync(join(root, ID_FILE), 'utf8').trim() : null);
  if (labId) {
    const prefix = labPrefix(labId);
    const clusters = debianClusters(labId);
    if (rootExists) {
      const sshds = readdirSync(root)
        .map((entry) => join(root, entry, 'sshd'))
        .filter((dir) => existsSync(`${dir}/sshd.pid`));
      await Promise.all(sshds.map((dir) => sshd.stopSshd(sshd.sshdFiles(dir, '', ''), { dropSessions: true })));
    }
    const pidFiles = [...(rootExists ? postmasterPidFiles(root) : []), ...clusters.flatMap((c) => c.dataDirs.map((d) => `${d}/postmaster.pid`))];
    await Promise.all(pidFiles.filter((f) => readPidFile(f)).map(stopPostmaster));
    await destroyNetwork(prefix);
    removeEtcCopies(prefix);
    for (const c of clusters) await dropCluster(c);
  }
  if (rootExists) rmSync(root, { recursive: true, force: true });
}

interface DebianCluster {
  version: string;
  name: string;
  /** The data directory and any copies pgplay moved aside beside it. */
  dataDirs: string[];
  /** Everything of this cluster outside /etc: data directories, pgplay's lock and passfile, socket directory, logs. */
  leftovers: string[];
}

/** The lab's Debian clusters, found by name (pgplay_ID_pgN) so a lab that failed half-way is cleaned up too. */
function debianClusters(id: string): DebianCluster[] {
  const name = new RegExp(`^pgplay_${id}_pg\\d+$`);
  const out: DebianCluster[] = [];
  const versions = existsSync('/etc/postgresql') ? readdirSync('/etc/postgresql') : [];
  const names = new Map<string, Set<string>>();
  for (const v of versions) for (const c of safeList(`/etc/postgresql/${v}`)) if (name.test(c)) add(names, v, c);
  for (const v of safeList('/var/lib/postgresql')) for (const entry of safeList(`/var/lib/postgresql/${v}`)) {
    const c = entry.replace(/^\.pgpass-pgplay-/, '').replace(/\.pgplay-.*$/, '');
    if (name.test(c)) add(names, v, c);
  }
  for (const [version, set] of names) {
    for (const cluster of set) {
      const lib = `/var/lib/postgresql/${version}`;
      const besides = safeList(lib).filter((e) => e.startsWith(`${cluster}.pgplay-`) || e === `.pgpass-pgplay-${cluster}`);
      const logs = safeList('/var/log/postgresql').filter((e) => e === `postgresql-${version}-${cluster}.log` || e.startsWith(`postgresql-${version}-${cluster}.log.`));
      out.push({
        version,
        name: cluster,
        dataDirs: [`${lib}/${cluster}`, ...besides.filter((e) => e.startsWith(`${cluster}.pgplay-old-`)).map((e) => `${lib}/${e}`)],
        leftovers: [`${lib}/${cluster}`, ...besides.map((e) => `${lib}/${e}`), `/var/run/postgresql/${cluster}`, `/var/run/postgresql/${version}-${cluster}.pid`, ...logs.map((e) => `/var/log/postgresql/${e}`)],
      });
    }
  }
  return out;
}

async function dropCluster(c: DebianCluster): Promise<void> {
  if (existsSync(`/etc/postgresql/${c.version}/${c.name}`)) {
    try {
      await run('pg_dropcluster', [c.version, c.name]);
    } catch {
      // A cluster whose data directory is gone: pg_dropcluster gives up, its files go below.
      rmSync(`/etc/postgresql/${c.version}/${c.name}`, { recursive: true, force: true });
    }
  }
  for (const path of c.leftovers) rmSync(path, { recursive: true, force: true });
}

const ETC_NETNS = '/etc/netns';

/** The host's own copies of these /etc entries, which `ip netns exec` puts in place of the machine's. */
function copyEtc(netns: string, entries: string[]): void {
  if (entries.length === 0) return;
  const dir = `${ETC_NETNS}/${netns}`;
  mkdirSync(dir, { recursive: true });
  for (const entry of entries) {
    if (!/^[A-Za-z0-9._-]+$/.test(entry) || entry === 'netns') throw new Error(`privateEtc: '${entry}' is not an entry of /etc a host can have its own copy of`);
    cpSync(`/etc/${entry}`, `${dir}/${entry}`, { recursive: true, preserveTimestamps: true, verbatimSymlinks: true });
  }
}

/** The lab's /etc/netns/pgplay-ID-* directories (only the lab makes names with its prefix). */
function removeEtcCopies(prefix: string): void {
  const entries = safeList(ETC_NETNS);
  for (const entry of entries) if (entry.startsWith(`${prefix}-`)) rmSync(`${ETC_NETNS}/${entry}`, { recursive: true, force: true });
  // The directory too when the lab made it and nothing else is in it.
  if (entries.length > 0 && safeList(ETC_NETNS).length === 0) rmSync(ETC_NETNS, { recursive: true, force: true });
}

function add(map: Map<string, Set<string>>, version: string, cluster: string): void {
  if (!map.has(version)) map.set(version, new Set());
  map.get(version)?.add(cluster);
}

function safeList(dir: string): string[] {
  try {
    return readdirSync(dir);
  } catch {
    return [];
  }
}

/** Cut the host off the lab's bridge: no other host and not the control machine can reach it, nor it them. */
export function cutLink(lab: NetnsLab, name: string): Promise<void> {
  return setHostLink(lab.network, name, false);
}

export function restoreLink(lab: NetnsLab, name: string): Promise<void> {
  return setHostLink(lab.network, name, true);
}

export function stopSshd(host: NetnsLabHost, options: { dropSessions?: boolean } = {}): Promise<void> {
  return sshd.stopSshd(host.sshd, options);
}

export async function startSshd(host: NetnsLabHost): Promise<void> {
  await sshd.startSshd(host.sshd);
}

export function acceptedConnections(host: NetnsLabHost): number {
  return sshd.acceptedConnections(host.sshd);
}

/** SQL through psql as postgres over the host's unix socket (a file, reached from any namespace): for assertions. */
export function psql(host: NetnsLabHost, sql: string, database = 'postgres'): string {
  return psqlOn(host, sql, database);
}

/**
 * Open a TCP connection from a host's namespace (or from the control machine, with null) and read the first line
 * the server sends, if any within a second: ok when the connection opened.
 */
export async function tcpProbe(from: NetnsLabHost | null, address: string, port: number, timeoutMs = 3000): Promise<{ ok: boolean; detail: string }> {
  const script = 'exec 3<>"/dev/tcp/$1/$2" || exit 7; IFS= read -r -t 1 line <&3; printf "%s" "$line"';
  const argv = ['timeout', String(timeoutMs / 1000), 'bash', '-c', script, 'probe', address, String(port)];
  const full = from ? inNamespace(from.netns, argv) : argv;
  try {
    const { stdout } = await run(full[0], full.slice(1), { encoding: 'utf8' });
    return { ok: true, detail: stdout.trim() };
  } catch (err) {
    const e = err as { code?: number; stderr?: string };
    return { ok: false, detail: e.code === 124 ? `no answer within ${timeoutMs} ms` : (e.stderr ?? '').trim() || `exit ${e.code}` };
  }
}

/** argv run inside the host's namespace, as the host would run it. */
export function onHost(host: NetnsLabHost, argv: string[]): string[] {
  return inNamespace(host.netns, argv);
}

async function inParallel<T>(items: T[], limit: number, work: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < items.length) await work(items[next++]);
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
}
