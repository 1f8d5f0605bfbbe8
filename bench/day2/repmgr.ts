// repmgr on the network-namespace lab, set up the way its documentation asks, over a cluster site.yml built:
// a superuser `repmgr` and its database, shared_preload_libraries, a repmgr.conf per node, the nodes registered,
// and SSH between the database hosts as postgres. The lab's hosts share one filesystem and one authorized_keys:
//  - each node sees its own /etc/repmgr.conf: `ip netns exec` binds /etc/netns/NS/repmgr.conf over it, for the
//    sshd of that host and every command started in it (the file must exist before the lab's sshd starts);
//  - postgres's key is in the lab's authorized_keys with a forced command that runs the command as postgres.
// pgplay needs none of this.
import { execFileSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync, appendFileSync, chownSync } from 'node:fs';
import { join } from 'node:path';
import { labPrefix } from '../../test/lab/netns';
import type { NetnsLab, NetnsLabHost } from '../../test/lab/netns-lab';
import { onHost, psql } from '../../test/lab/netns-lab';

export const REPMGR = '/usr/lib/postgresql/15/bin/repmgr';

const PLACEHOLDER = '# made by pgplay bench/day2 for its lab; removed when the bench ends\n';

/**
 * /etc/netns/NS/repmgr.conf for each host of a lab about to be made (ip netns exec binds what exists then, over a
 * file that must exist: an empty /etc/repmgr.conf is made when there is none, and removed afterwards).
 */
export function prepareNetnsEtc(id: string, hosts: number): string[] {
  if (!existsSync('/etc/repmgr.conf')) writeFileSync('/etc/repmgr.conf', PLACEHOLDER);
  const files: string[] = [];
  for (let i = 1; i <= hosts; i++) {
    const dir = `/etc/netns/${labPrefix(id)}-pg${i}`;
    mkdirSync(dir, { recursive: true });
    writeFileSync(`${dir}/repmgr.conf`, '# written by bench/day2 once the lab is up\n');
    files.push(`${dir}/repmgr.conf`);
  }
  return files;
}

export function removeNetnsEtc(id: string, hosts: number): void {
  for (let i = 1; i <= hosts; i++) rmSync(`/etc/netns/${labPrefix(id)}-pg${i}`, { recursive: true, force: true });
  if (existsSync('/etc/repmgr.conf') && readFileSync('/etc/repmgr.conf', 'utf8') === PLACEHOLDER) rmSync('/etc/repmgr.conf');
}

function asPostgresOn(h: NetnsLabHost, argv: string[]): string {
  const full = onHost(h, ['runuser', '-u', 'postgres', '--', ...argv]);
  return execFileSync(full[0], full.slice(1), { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}

/** Set repmgr up on a cluster whose primary is pg1; returns the directory of its files. */
export function setUpRepmgr(lab: NetnsLab, password: string): string {
  const dir = join(lab.root, 'repmgr');
  mkdirSync(dir, { recursive: true });
  chownSync(dir, uid('postgres'), gid('postgres'));
  const subnet = lab.network.subnet;
  const [primary] = lab.hosts;
  // The role, its database, the library; replication and repmgr's own connections from the lab's subnet.
  psql(primary, `CREATE ROLE repmgr SUPERUSER LOGIN REPLICATION PASSWORD '${password}'`);
  psql(primary, 'CREATE DATABASE repmgr OWNER repmgr');
  const passfile = join(dir, 'pgpass');
  writeFileSync(passfile, `*:5432:*:repmgr:${password}\n`, { mode: 0o600 });
  chownSync(passfile, uid('postgres'), gid('postgres'));
  for (const h of lab.hosts) {
    appendFileSync(`${h.configDir}/pg_hba.conf`, `host repmgr repmgr ${subnet} scram-sha-256\nhost replication repmgr ${subnet} scram-sha-256\n`);
    psql(h, "ALTER SYSTEM SET shared_preload_libraries = 'repmgr'");
    // repmgr writes primary_conninfo without a password: the server's WAL receiver reads it from the passfile that
    // repmgr's documentation puts in ~postgres/.pgpass; here Debian's per-cluster environment file names the lab's.
    appendFileSync(`${h.configDir}/environment`, `PGPASSFILE='${passfile}'\n`);
  }
  for (const h of lab.hosts) {
    const argv = onHost(h, ['pg_ctlcluster', '15', h.cluster as string, 'restart']);
    execFileSync(argv[0], argv.slice(1));
  }
  // postgres's own key, and the hosts' keys it must trust.
  const key = join(dir, 'id_ed25519');
  if (!existsSync(key)) execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', 'postgres-repmgr', '-f', key]);
  const knownHosts = join(dir, 'known_hosts');
  writeFileSync(knownHosts, readFileSync(lab.knownHosts));
  for (const f of [key, `${key}.pub`, knownHosts]) chownSync(f, uid('postgres'), gid('postgres'));
  chmodSync(key, 0o600);
  const wrapper = join(dir, 'as-postgres');
  writeFileSync(wrapper, '#!/bin/sh\n# The forced command of postgres\'s key: the command repmgr sent, run as postgres.\nexec runuser -u postgres -- /bin/sh -c "$SSH_ORIGINAL_COMMAND"\n', { mode: 0o755 });
  appendFileSync(`${lab.root}/ssh/authorized_keys`, `command="${wrapper}",no-port-forwarding,no-agent-forwarding,no-X11-forwarding ${readFileSync(`${key}.pub`, 'utf8').trim()}\n`);
  const ssh = `-q -o BatchMode=yes -o ConnectTimeout=5 -o StrictHostKeyChecking=yes -o UserKnownHostsFile=${knownHosts} -i ${key} -l root`;
  lab.hosts.forEach((h, i) => {
    const conf = [
      `node_id=${i + 1}`,
      `node_name='${h.name}'`,
      `conninfo='host=${h.address} port=5432 user=repmgr dbname=repmgr connect_timeout=2 passfile=${passfile}'`,
      `data_directory='${h.dataDir}'`,
      `config_directory='${h.configDir}'`,
      `pg_bindir='/usr/lib/postgresql/15/bin'`,
      `replication_user='repmgr'`,
      `use_replication_slots=false`,
      `service_start_command='pg_ctlcluster 15 ${h.cluster} start'`,
      `service_stop_command='pg_ctlcluster 15 ${h.cluster} stop'`,
      `service_restart_command='pg_ctlcluster 15 ${h.cluster} restart'`,
      `service_reload_command='pg_ctlcluster 15 ${h.cluster} reload'`,
      `ssh_options='${ssh}'`,
      `log_level='INFO'`,
      '',
    ].join('\n');
    writeFileSync(`/etc/netns/${h.netns}/repmgr.conf`, conf);
  });
  asPostgresOn(primary, [REPMGR, '-f', '/etc/repmgr.conf', 'primary', 'register']);
  for (const h of lab.hosts.slice(1)) asPostgresOn(h, [REPMGR, '-f', '/etc/repmgr.conf', 'standby', 'register', '--wait-sync=30']);
  return dir;
}

/** argv, run from the control machine, that makes `candidate` the primary with repmgr's own switchover. */
export function repmgrSwitchoverArgv(candidate: NetnsLabHost): string[] {
  return onHost(candidate, ['runuser', '-u', 'postgres', '--', REPMGR, '-f', '/etc/repmgr.conf', 'standby', 'switchover', '--siblings-follow']);
}

function uid(user: string): number {
  return Number(execFileSync('id', ['-u', user], { encoding: 'utf8' }).trim());
}

function gid(user: string): number {
  return Number(execFileSync('id', ['-g', user], { encoding: 'utf8' }).trim());
}
