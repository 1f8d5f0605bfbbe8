// Real PostgreSQL 15 clusters for end-to-end tests, Debian layout (conf dir apart from the data dir), run as postgres.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import type { PgSettings } from '../../src/facts/pg-settings';
import { debianLayout } from '../lab/postgres';

export const PG_BIN = '/usr/lib/postgresql/15/bin';
export const TEST_PORT = 5441;

export interface TestCluster {
  name: string;
  root: string;
  pg: PgSettings;
}

function asPostgres(argv: string[], input?: string): string {
  return execFileSync('runuser', ['-u', 'postgres', '--', ...argv], { encoding: 'utf8', input, stdio: ['pipe', 'pipe', 'pipe'] });
}

export function clusterSettings(name: string, address: string): TestCluster {
  const root = `/tmp/pgplay-pgtest-${name}`;
  return {
    name,
    root,
    pg: {
      version: '15',
      binDir: PG_BIN,
      dataDir: `${root}/data`,
      configDir: `${root}/conf`,
      port: TEST_PORT,
      socketDir: `${root}/sock`,
      address,
      osUser: 'postgres',
      becomeMethod: 'sudo',
      serviceControl: 'pg_ctl',
      cluster: 'main',
      logFile: `${root}/server.log`,
    },
  };
}

/** A fresh cluster under /tmp/pgplay-pgtest-NAME (any old one there is stopped and removed first). */
export function createCluster(name: string, address: string, options: { start?: boolean; extraConf?: string } = {}): TestCluster {
  const cluster = clusterSettings(name, address);
  destroyCluster(cluster);
  const { root, pg } = cluster;
  for (const dir of [root, pg.dataDir, pg.configDir, pg.socketDir]) mkdirSync(dir, { recursive: true });
  execFileSync('chown', ['-R', 'postgres:postgres', root]);
  execFileSync('chmod', ['0700', pg.dataDir]);
  asPostgres([`${PG_BIN}/initdb`, '-D', pg.dataDir, '-U', 'postgres', '--auth-local=peer', '--auth-host=scram-sha-256', '-E', 'UTF8', '--locale=C']);
  debianLayout({ ...pg, address }, pg.port, ['# pgplay test cluster', 'shared_buffers = 16MB', 'max_connections = 20', options.extraConf ?? '']);
  execFileSync('chown', ['-R', 'postgres:postgres', root]);
  if (options.start !== false) startCluster(cluster);
  return cluster;
}

export function startCluster(cluster: TestCluster): void {
  const { pg } = cluster;
  asPostgres([`${PG_BIN}/pg_ctl`, '-D', pg.configDir, '-l', pg.logFile, '-w', '-t', '60', 'start']);
}

export function isRunning(cluster: TestCluster): boolean {
  try {
    asPostgres([`${PG_BIN}/pg_ctl`, '-D', cluster.pg.dataDir, 'status']);
    return true;
  } catch {
    return false;
  }
}

export function stopCluster(cluster: TestCluster): void {
  if (existsSync(`${cluster.pg.dataDir}/postmaster.pid`)) {
    try {
      asPostgres([`${PG_BIN}/pg_ctl`, '-D', cluster.pg.dataDir, '-m', 'fast', '-w', 'stop']);
    } catch {
      /* not running */
    }
  }
}

/** Stop the cluster and every directory the tests made beside it (moved-aside copies included). */
export function destroyCluster(cluster: TestCluster): void {
  const parent = '/tmp';
  const prefix = `pgplay-pgtest-${cluster.name}`;
  for (const entry of require('node:fs').readdirSync(parent) as string[]) {
    if (entry !== prefix && !entry.startsWith(`${prefix}.`)) continue;
    const dataDir = `${parent}/${entry}/data`;
    if (existsSync(`${dataDir}/postmaster.pid`)) {
      try {
        asPostgres([`${PG_BIN}/pg_ctl`, '-D', dataDir, '-m', 'immediate', '-w', 'stop']);
      } catch {
        /* already down */
      }
    }
    rmSync(`${parent}/${entry}`, { recursive: true, force: true });
  }
}

/** Run SQL through psql as postgres over the unix socket (test set-up and assertions only). */
export function psql(cluster: TestCluster, sql: string, database = 'postgres'): string {
  return asPostgres([`${PG_BIN}/psql`, '-X', '-A', '-t', '-v', 'ON_ERROR_STOP=1', '-h', cluster.pg.socketDir, '-p', String(cluster.pg.port), '-d', database, '-c', sql]).trim();
}

export function readText(path: string): string {
  return readFileSync(path, 'utf8');
}

export function writeText(path: string, text: string): void {
  writeFileSync(path, text);
}
