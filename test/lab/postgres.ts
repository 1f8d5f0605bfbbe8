// A fresh PostgreSQL 15 cluster per lab host, Debian layout (conf apart from data), run as the postgres OS user.
import { execFile, execFileSync } from 'node:child_process';
import { appendFileSync, existsSync, mkdirSync, readFileSync, readdirSync, renameSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { commandLine, isAlive, readPidFile, stopProcess } from './processes';

const run = promisify(execFile);
export const PG_BIN = '/usr/lib/postgresql/15/bin';
export const PG_PORT = 5432;

export interface ClusterDirs {
  address: string;
  dir: string;
  dataDir: string;
  configDir: string;
  socketDir: string;
  logFile: string;
}

export function clusterDirs(dir: string, address: string): ClusterDirs {
  return { address, dir, dataDir: `${dir}/data`, configDir: `${dir}/conf`, socketDir: `${dir}/run`, logFile: `${dir}/server.log` };
}

function asPostgres(argv: string[]): Promise<{ stdout: string }> {
  return run('runuser', ['-u', 'postgres', '--', ...argv], { encoding: 'utf8' });
}

/** initdb (without fsync: lab clusters are throwaway), Debian-style conf dir, then start it. */
export async function createCluster(c: ClusterDirs): Promise<void> {
  for (const d of [c.dir, c.dataDir, c.configDir, c.socketDir]) mkdirSync(d, { recursive: true });
  execFileSync('chown', ['-R', 'postgres:postgres', c.dir]);
  execFileSync('chmod', ['0700', c.dataDir]);
  await asPostgres([`${PG_BIN}/initdb`, '--no-sync', '-D', c.dataDir, '-U', 'postgres', '--auth-local=peer', '--auth-host=scram-sha-256', '-E', 'UTF8', '--locale=C']);
  debianLayout(c, PG_PORT, ['# pgplay lab host', 'shared_buffers = 32MB']);
  dropLoopbackReplicationRules(`${c.configDir}/pg_hba.conf`);
  execFileSync('chown', ['-R', 'postgres:postgres', c.dir]);
  try {
    await asPostgres([`${PG_BIN}/pg_ctl`, '-D', c.configDir, '-l', c.logFile, '-w', '-t', '60', 'start']);
  } catch (err) {
    const log = existsSync(c.logFile) ? readFileSync(c.logFile, 'utf8').trim().split('\n').slice(-2).join(' | ') : 'no log';
    throw new Error(`PostgreSQL on ${c.address} did not start: ${log}`, { cause: err });
  }
}

/** Debian's layout: the configuration files in their own directory, pointing back at the data directory. */
export function debianLayout(c: Omit<ClusterDirs, 'dir' | 'logFile'>, port: number, extra: string[]): void {
  for (const file of ['postgresql.conf', 'pg_hba.conf', 'pg_ident.conf']) renameSync(`${c.dataDir}/${file}`, `${c.configDir}/${file}`);
  const lines = [
    `data_directory = '${c.dataDir}'`,
    `hba_file = '${c.configDir}/pg_hba.conf'`,
    `ident_file = '${c.configDir}/pg_ident.conf'`,
    `listen_addresses = '${c.address}'`,
    `port = ${port}`,
    `unix_socket_directories = '${c.socketDir}'`,
  ];
  appendFileSync(`${c.configDir}/postgresql.conf`, ['', ...lines, ...extra, ''].join('\n'));
}

/**
 * initdb lets every role stream from 127.0.0.1; in the lab all hosts connect from there, so that rule would
 * make the playbook's own pg_hba rule untested. Without it, replicas stream only through what pgplay adds.
 */
export function dropLoopbackReplicationRules(hbaFile: string): void {
  const kept = readFileSync(hbaFile, 'utf8')
    .split('\n')
    .filter((line) => !/^host\s+replication\s+all\s+(127\.0\.0\.1\/32|::1\/128)\s/.test(line));
  writeFileSync(hbaFile, kept.join('\n'));
}

/** Every postmaster.pid under root (data dirs moved aside by basebackup included), at most three levels down. */
export function postmasterPidFiles(root: string, depth = 3): string[] {
  if (depth < 0 || !existsSync(root)) return [];
  const out: string[] = [];
  for (const entry of readdirSync(root)) {
    const path = join(root, entry);
    if (entry === 'postmaster.pid') out.push(path);
    else if (safeIsDir(path)) out.push(...postmasterPidFiles(path, depth - 1));
  }
  return out;
}

/** Immediate shutdown (SIGQUIT) of the postmaster named in a pid file, when it is a live postgres. */
export async function stopPostmaster(pidFile: string): Promise<void> {
  const pid = readPidFile(pidFile);
  if (!pid || !isAlive(pid) || !commandLine(pid).includes('postgres')) return;
  await stopProcess(pid, 'SIGQUIT');
}

export function psql(c: ClusterDirs, sql: string, database = 'postgres'): string {
  const argv = [`${PG_BIN}/psql`, '-X', '-A', '-t', '-v', 'ON_ERROR_STOP=1', '-h', c.socketDir, '-p', String(PG_PORT), '-d', database, '-c', sql];
  return execFileSync('runuser', ['-u', 'postgres', '--', ...argv], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] }).trim();
}

function safeIsDir(path: string): boolean {
  try {
    return statSync(path).isDirectory();
  } catch {
    return false;
  }
}
