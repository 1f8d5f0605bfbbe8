// The loopback lab: N hosts pg1..pgN at 127.0.0.11.., each with its own sshd and PostgreSQL 15, for tests and the benchmark.
import { execFile } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { labInventory } from './inventory';
import { clusterDirs, createCluster, postmasterPidFiles, psql as psqlOn, stopPostmaster, type ClusterDirs } from './postgres';
import * as sshd from './sshd';

const run = promisify(execFile);
export const DEFAULT_ROOT = join(__dirname, '..', '..', '..', '.lab');
/** Written first: labDown removes only a directory that carries it. */
const MARKER = '.pgplay-lab';

export interface LabHost extends ClusterDirs {
  name: string;
  role: 'primary' | 'replica';
  sshPort: number;
  sshd: sshd.SshdFiles;
  sshdLog: string;
}

export interface Lab {
  root: string;
  inventory: string;
  knownHosts: string;
  key: string;
  hosts: LabHost[];
}

export interface LabOptions {
  root?: string;
  /** pgN listens on 127.0.0.(base+N); tests pick another base so they can run beside the default lab. */
  base?: number;
}

export function hostAddress(index: number, base = 10): string {
  return `127.0.0.${base + index}`;
}

export function labLayout(n: number, rootDir = DEFAULT_ROOT, base = 10): Lab {
  if (!Number.isInteger(n) || n < 1 || base < 1 || base + n > 254) throw new Error(`lab size must be 1..${254 - base} hosts from base ${base}, not ${n}`);
  const root = resolve(rootDir); // sshd reads its files after moving to /
  const ssh = `${root}/ssh`;
  const hosts = Array.from({ length: n }, (_, i): LabHost => {
    const name = `pg${i + 1}`;
    const address = hostAddress(i + 1, base);
    const files = sshd.sshdFiles(`${root}/${name}/sshd`, address, `${ssh}/authorized_keys`);
    return { name, role: i === 0 ? 'primary' : 'replica', ...clusterDirs(`${root}/${name}`, address), sshPort: files.port, sshd: files, sshdLog: files.log };
  });
  return { root, inventory: `${root}/inventory.yml`, knownHosts: `${ssh}/known_hosts`, key: `${ssh}/id_ed25519`, hosts };
}

/** Tear down whatever is at root, then build n fresh hosts in parallel (initdb is the slow part). */
export async function labUp(n: number, options: LabOptions = {}): Promise<Lab> {
  const lab = labLayout(n, options.root ?? DEFAULT_ROOT, options.base);
  await labDown(lab.root);
  mkdirSync(lab.root, { recursive: true, mode: 0o755 });
  writeFileSync(join(lab.root, MARKER), 'pgplay test lab: removed by `lab down`\n');
  mkdirSync(`${lab.root}/ssh`, { mode: 0o700 });
  await run('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', 'pgplay-lab', '-f', lab.key]);
  writeFileSync(`${lab.root}/ssh/authorized_keys`, readFileSync(`${lab.key}.pub`), { mode: 0o600 });
  const hostKeys = await inParallel(lab.hosts, Math.max(2, cpus().length), async (h) => {
    await createCluster(h);
    const publicKey = await sshd.prepareSshd(h.sshd);
    await sshd.startSshd(h.sshd);
    return publicKey;
  });
  // What OpenSSH's ssh records for port 22: the bare address, key type, key.
  const lines = hostKeys.map((pub, i) => `${lab.hosts[i].address} ${pub.split(' ').slice(0, 2).join(' ')}`);
  writeFileSync(lab.knownHosts, `${lines.join('\n')}\n`, { mode: 0o600 });
  writeFileSync(lab.inventory, labInventory(lab.hosts, { key: lab.key, knownHosts: lab.knownHosts }));
  writeFileSync(`${lab.root}/lab.json`, `${JSON.stringify(lab, null, 2)}\n`);
  return lab;
}

/** The lab built at root, or null. */
export function readLab(root = DEFAULT_ROOT): Lab | null {
  const file = `${root}/lab.json`;
  return existsSync(file) ? (JSON.parse(readFileSync(file, 'utf8')) as Lab) : null;
}

/** Stop every sshd and postmaster under root by pid (moved-aside data directories too), then remove root. */
export async function labDown(root = DEFAULT_ROOT): Promise<void> {
  if (!existsSync(root)) return;
  if (!existsSync(join(root, MARKER))) throw new Error(`${root} is not a pgplay lab (no ${MARKER}); not removing it`);
  const sshds = readdirSync(root)
    .map((entry) => join(root, entry, 'sshd'))
    .filter((dir) => existsSync(`${dir}/sshd.pid`));
  await Promise.all(sshds.map((dir) => sshd.stopSshd(sshd.sshdFiles(dir, '', ''), { dropSessions: true })));
  await Promise.all(postmasterPidFiles(root).map(stopPostmaster));
  rmSync(root, { recursive: true, force: true });
}

export function stopSshd(host: LabHost, options: { dropSessions?: boolean } = {}): Promise<void> {
  return sshd.stopSshd(host.sshd, options);
}

export async function startSshd(host: LabHost): Promise<void> {
  await sshd.startSshd(host.sshd);
}

/** Connections this host's sshd accepted so far (one "Accepted publickey" log line each). */
export function acceptedConnections(host: LabHost): number {
  return sshd.acceptedConnections(host.sshd);
}

/** Sessions (exec channels) this host's sshd started so far. */
export function sessionsStarted(host: LabHost): number {
  return sshd.sessionsStarted(host.sshd);
}

/** SQL through psql as postgres over the host's unix socket: for assertions, not for pgplay's work. */
export function psql(host: LabHost, sql: string, database = 'postgres'): string {
  return psqlOn(host, sql, database);
}

async function inParallel<T, R>(items: T[], limit: number, work: (item: T) => Promise<R>): Promise<R[]> {
  const results = new Array<R>(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const i = next++;
      results[i] = await work(items[i]);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return results;
}
