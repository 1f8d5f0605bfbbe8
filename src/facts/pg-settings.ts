// Where PostgreSQL lives on a host, read from the host's rendered scope (pgplay's defaults are variables there,
// see config/vars.ts), each value checked: a wrong one is a SettingError naming its variable.
import { SettingError } from '../config/setting-error';
import { variableOrigin } from '../config/vars';

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

function text(vars: Record<string, unknown>, key: string, fallback?: string): string {
  const v = vars[key];
  if (v === undefined || v === null || v === '') {
    if (fallback !== undefined) return fallback;
    throw new SettingError(`${key} is not set`, key);
  }
  if (typeof v === 'object') throw new SettingError(`${key} must be a single value, not ${Array.isArray(v) ? 'a list' : 'a mapping'}`, key);
  return String(v);
}

/** A value the scope holds only because pgplay's defaults put it there (or a plain object without origins). */
function isDefault(vars: Record<string, unknown>, key: string): boolean {
  const origin = variableOrigin(vars, key);
  return origin ? origin.kind === 'default' : vars[key] === undefined;
}

/** PostgreSQL settings from a host's scope (vars holds pgplay's defaults, so a missing name is a scope without them). */
export function pgSettingsFrom(vars: Record<string, unknown>): PgSettings {
  const version = text(vars, 'pg_version', '15');
  const portText = text(vars, 'pg_port', '5432');
  const port = Number(portText);
  if (!/^\s*\d+\s*$/.test(portText) || port < 1 || port > 65535) throw new SettingError(`pg_port must be a whole number from 1 to 65535, not ${JSON.stringify(vars.pg_port)}`, 'pg_port');
  const service = text(vars, 'pg_service', 'pg_ctl');
  if (!/^(pg_ctl|pg_ctlcluster|systemd:.+)$/.test(service)) throw new SettingError(`pg_service must be pg_ctl, pg_ctlcluster or systemd:UNIT, not ${JSON.stringify(service)}`, 'pg_service');
  const debian = service === 'pg_ctlcluster';
  const givenConfigDir = isDefault(vars, 'pg_config_dir') ? undefined : text(vars, 'pg_config_dir');
  const cluster = text(vars, 'pg_cluster', /^\/etc\/postgresql\/[^/]+\/([^/]+)\/?$/.exec(givenConfigDir ?? '')?.[1] ?? 'main');
  // Debian's layout when pg_ctlcluster runs the cluster: /var/lib/postgresql/V/NAME and /etc/postgresql/V/NAME.
  const dataDir = debian && isDefault(vars, 'pg_data_dir') ? `/var/lib/postgresql/${version}/${cluster}` : text(vars, 'pg_data_dir', `/var/lib/postgresql/${version}/main`);
  const configDir = givenConfigDir ?? (debian ? `/etc/postgresql/${version}/${cluster}` : text(vars, 'pg_config_dir', dataDir));
  const logFileSet = !isDefault(vars, 'pg_log_file');
  return {
    version,
    binDir: text(vars, 'pg_bin_dir', `/usr/lib/postgresql/${version}/bin`),
    dataDir,
    configDir,
    port,
    socketDir: text(vars, 'pg_socket_dir', '/var/run/postgresql'),
    address: text(vars, 'pg_address', String(vars.ansible_host ?? vars.address ?? '127.0.0.1')),
    osUser: text(vars, 'pg_os_user', 'postgres'),
    serviceControl: service,
    cluster,
    logFile: logFileSet ? text(vars, 'pg_log_file') : debian ? `/var/log/postgresql/postgresql-${version}-${cluster}.log` : `${dataDir}/pgplay-server.log`,
    logFileSet,
  };
}
