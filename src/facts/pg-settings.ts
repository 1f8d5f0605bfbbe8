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
  /** 'pg_ctl', 'pg_ctlcluster' (Debian) or 'systemd:UNIT' */
  serviceControl: string;
  /** Debian's cluster name (pg_ctlcluster VERSION NAME): pg_cluster, else the last part of /etc/postgresql/VERSION/NAME. */
  cluster: string;
  logFile: string;
  /** The inventory named the log file (else pg_ctlcluster's own log is read). */
  logFileSet: boolean;
}

function str(vars: Record<string, unknown>, key: string): string | undefined {
  const v = vars[key];
  return v === undefined || v === null || v === '' ? undefined : String(v);
}

export function pgSettingsFrom(vars: Record<string, unknown>): PgSettings {
  const version = str(vars, 'pg_version') ?? '15';
  const dataDir = str(vars, 'pg_data_dir') ?? `/var/lib/postgresql/${version}/main`;
  const configDir = str(vars, 'pg_config_dir') ?? dataDir;
  const debianName = /^\/etc\/postgresql\/[^/]+\/([^/]+)\/?$/.exec(configDir)?.[1];
  return {
    version,
    binDir: str(vars, 'pg_bin_dir') ?? `/usr/lib/postgresql/${version}/bin`,
    dataDir,
    configDir,
    port: Number(str(vars, 'pg_port') ?? 5432),
    socketDir: str(vars, 'pg_socket_dir') ?? '/var/run/postgresql',
    address: str(vars, 'pg_address') ?? str(vars, 'ansible_host') ?? str(vars, 'address') ?? '127.0.0.1',
    osUser: str(vars, 'pg_os_user') ?? 'postgres',
    serviceControl: str(vars, 'pg_service') ?? 'pg_ctl',
    cluster: str(vars, 'pg_cluster') ?? debianName ?? 'main',
    logFile: str(vars, 'pg_log_file') ?? `${dataDir}/pgplay-server.log`,
    logFileSet: str(vars, 'pg_log_file') !== undefined,
  };
}
