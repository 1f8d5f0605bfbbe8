// Where PostgreSQL lives on a host, from inventory variables with Debian-like defaults.
export interface PgSettings {
  version: string;
  binDir: string;
  dataDir: string;
  /** Directory of postgresql.conf and pg_hba.conf (Debian: /etc/postgresql/15/main; RHEL: the data directory). */
  configDir: string;
  port: number;
  socketDir: string;
  /** Address replicas and clients use to reach this server. */
  address: string;
  osUser: string;
  becomeMethod: 'sudo' | 'su';
  /** 'pg_ctl', 'pg_ctlcluster' (Debian's postgresql-common) or 'systemd:UNIT' */
  serviceControl: string;
  /** The cluster name pg_ctlcluster takes (Debian: /etc/postgresql/VERSION/NAME). */
  cluster: string;
  logFile: string;
}

function str(vars: Record<string, unknown>, key: string): string | undefined {
  const v = vars[key];
  return v === undefined || v === null || v === '' ? undefined : String(v);
}

/** NAME of a Debian configuration directory /etc/postgresql/VERSION/NAME, or undefined. */
export function clusterFromConfigDir(configDir: string | undefined): string | undefined {
  return configDir ? /^\/etc\/postgresql\/[^/]+\/([^/]+)\/?$/.exec(configDir)?.[1] : undefined;
}

export function pgSettingsFrom(vars: Record<string, unknown>): PgSettings {
  const version = str(vars, 'pg_version') ?? '15';
  const service = str(vars, 'pg_service') ?? 'pg_ctl';
  const cluster = str(vars, 'pg_cluster') ?? clusterFromConfigDir(str(vars, 'pg_config_dir')) ?? 'main';
  const dataDir = str(vars, 'pg_data_dir') ?? `/var/lib/postgresql/${version}/${cluster}`;
  const debian = service === 'pg_ctlcluster';
  const method = str(vars, 'become_method') ?? 'sudo';
  return {
    version,
    binDir: str(vars, 'pg_bin_dir') ?? `/usr/lib/postgresql/${version}/bin`,
    dataDir,
    configDir: str(vars, 'pg_config_dir') ?? (debian ? `/etc/postgresql/${version}/${cluster}` : dataDir),
    port: Number(str(vars, 'pg_port') ?? 5432),
    socketDir: str(vars, 'pg_socket_dir') ?? '/var/run/postgresql',
    address: str(vars, 'pg_address') ?? str(vars, 'ansible_host') ?? str(vars, 'address') ?? '127.0.0.1',
    osUser: str(vars, 'pg_os_user') ?? 'postgres',
    becomeMethod: method === 'su' ? 'su' : 'sudo',
    serviceControl: service,
    cluster,
    // pg_ctlcluster logs where postgresql-common puts each cluster's log.
    logFile: str(vars, 'pg_log_file') ?? (debian ? `/var/log/postgresql/postgresql-${version}-${cluster}.log` : `${dataDir}/pgplay-server.log`),
  };
}
