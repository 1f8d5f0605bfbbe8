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
  /** 'pg_ctl' or 'systemd:UNIT' */
  serviceControl: string;
  logFile: string;
}

function str(vars: Record<string, unknown>, key: string): string | undefined {
  const v = vars[key];
  return v === undefined || v === null || v === '' ? undefined : String(v);
}

export function pgSettingsFrom(vars: Record<string, unknown>): PgSettings {
  const version = str(vars, 'pg_version') ?? '15';
  const dataDir = str(vars, 'pg_data_dir') ?? `/var/lib/postgresql/${version}/main`;
  const method = str(vars, 'become_method') ?? 'sudo';
  return {
    version,
    binDir: str(vars, 'pg_bin_dir') ?? `/usr/lib/postgresql/${version}/bin`,
    dataDir,
    configDir: str(vars, 'pg_config_dir') ?? dataDir,
    port: Number(str(vars, 'pg_port') ?? 5432),
    socketDir: str(vars, 'pg_socket_dir') ?? '/var/run/postgresql',
    address: str(vars, 'pg_address') ?? str(vars, 'ansible_host') ?? str(vars, 'address') ?? '127.0.0.1',
    osUser: str(vars, 'pg_os_user') ?? 'postgres',
    becomeMethod: method === 'su' ? 'su' : 'sudo',
    serviceControl: str(vars, 'pg_service') ?? 'pg_ctl',
    logFile: str(vars, 'pg_log_file') ?? `${dataDir}/pgplay-server.log`,
  };
}
