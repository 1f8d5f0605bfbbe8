// The lab's inventory in Ansible's YAML layout: what pgplay, Ansible and bench/lab.ts read.
import { stringify } from 'yaml';
import { PG_BIN, PG_PORT } from './postgres';

export interface InventoryHost {
  name: string;
  address: string;
  dataDir: string;
  configDir: string;
  socketDir: string;
  logFile: string;
}

export function labInventory(hosts: InventoryHost[], ssh: { key: string; knownHosts: string }): string {
  const entry = (h: InventoryHost) => ({
    ansible_host: h.address,
    pg_address: h.address,
    // On loopback every connection leaves from 127.0.0.1, whatever address it goes to.
    pg_client_address: '127.0.0.1',
    pg_data_dir: h.dataDir,
    pg_config_dir: h.configDir,
    pg_socket_dir: h.socketDir,
    pg_log_file: h.logFile,
  });
  const group = (list: InventoryHost[]) => ({ hosts: Object.fromEntries(list.map((h) => [h.name, entry(h)])) });
  const doc = {
    all: {
      vars: {
        ansible_user: 'root',
        ansible_ssh_private_key_file: ssh.key,
        ssh_known_hosts_file: ssh.knownHosts,
        become_method: 'sudo',
        replication_user: 'replicator',
        pg_version: 15,
        pg_bin_dir: PG_BIN,
        pg_port: PG_PORT,
        pg_service: 'pg_ctl',
        // Every loopback host is this machine: its firewall is not the lab's to open.
        pg_manage_firewall: false,
      },
      children: { primary: group(hosts.slice(0, 1)), replicas: group(hosts.slice(1)) },
    },
  };
  return `# The test lab's inventory, written by test/lab (lab up): one sshd and one PostgreSQL 15 per loopback address.\n${stringify(doc)}`;
}

export interface NetnsInventoryHost extends InventoryHost {
  layout: 'debian' | 'rhel';
  /** Debian cluster name, null on a RHEL host. */
  cluster: string | null;
  lockFile: string;
}

/** Options of the netns lab's inventory: without pgplay_lock_file, for a test whose group_vars name the lock. */
export interface NetnsInventoryOptions {
  lockFiles?: boolean;
}

function netnsHostVars(h: NetnsInventoryHost, options: NetnsInventoryOptions): Record<string, string> {
  return {
    ansible_host: h.address,
    pg_address: h.address,
    lab_layout: h.layout,
    ...(h.cluster ? { pg_service: 'pg_ctlcluster', pg_cluster: h.cluster } : { pg_service: 'pg_ctl' }),
    pg_data_dir: h.dataDir,
    pg_config_dir: h.configDir,
    pg_socket_dir: h.socketDir,
    pg_log_file: h.logFile,
    // /tmp is one directory for every lab host: each keeps its run lock in its own.
    ...(options.lockFiles === false ? {} : { pgplay_lock_file: h.lockFile }),
  };
}

/** The network-namespace lab's inventory in Ansible's INI layout: one line per host, the shared variables under [all:vars]. */
export function netnsInventoryIni(hosts: NetnsInventoryHost[], ssh: { key: string; knownHosts: string }, options: NetnsInventoryOptions = {}): string {
  const line = (h: NetnsInventoryHost) => [h.name, ...Object.entries(netnsHostVars(h, options)).map(([k, v]) => `${k}=${v}`)].join(' ');
  return [
    "# The network-namespace lab's inventory in Ansible's INI layout.",
    '[primary]',
    ...hosts.slice(0, 1).map(line),
    '',
    '[replicas]',
    ...hosts.slice(1).map(line),
    '',
    '[all:vars]',
    'ansible_user=root',
    `ansible_ssh_private_key_file=${ssh.key}`,
    `ssh_known_hosts_file=${ssh.knownHosts}`,
    'become_method=sudo',
    'replication_user=replicator',
    'pg_version=15',
    `pg_bin_dir=${PG_BIN}`,
    `pg_port=${PG_PORT}`,
    "pg_listen_addresses='*'",
    '',
  ].join('\n');
}

/**
 * The network-namespace lab's inventory: real addresses (no pg_client_address), listen_addresses '*' as the
 * guides write it, and per host the paths of its layout; Debian hosts are run with pg_ctlcluster.
 */
export function netnsInventory(hosts: NetnsInventoryHost[], ssh: { key: string; knownHosts: string }, options: NetnsInventoryOptions = {}): string {
  const entry = (h: NetnsInventoryHost) => netnsHostVars(h, options);
  const group = (list: NetnsInventoryHost[]) => ({ hosts: Object.fromEntries(list.map((h) => [h.name, entry(h)])) });
  const doc = {
    all: {
      vars: {
        ansible_user: 'root',
        ansible_ssh_private_key_file: ssh.key,
        ssh_known_hosts_file: ssh.knownHosts,
        become_method: 'sudo',
        replication_user: 'replicator',
        pg_version: 15,
        pg_bin_dir: PG_BIN,
        pg_port: PG_PORT,
        pg_listen_addresses: '*',
      },
      children: { primary: group(hosts.slice(0, 1)), replicas: group(hosts.slice(1)) },
    },
  };
  return `# The network-namespace lab's inventory, written by test/lab (lab up --netns): one namespace, sshd and PostgreSQL 15 per host.\n${stringify(doc)}`;
}

/** Hosts that are only an sshd: every host in group `all`, with its address and the lab's ssh settings. */
export function sshdOnlyInventory(hosts: Array<{ name: string; address: string }>, ssh: { key: string; knownHosts: string }): string {
  const doc = {
    all: {
      vars: { ansible_user: 'root', ansible_ssh_private_key_file: ssh.key, ssh_known_hosts_file: ssh.knownHosts },
      hosts: Object.fromEntries(hosts.map((h) => [h.name, { ansible_host: h.address }])),
    },
  };
  return `# A lab of sshd-only hosts, written by test/lab (lab up --netns --sshd-only): one namespace and sshd per host.\n${stringify(doc)}`;
}
