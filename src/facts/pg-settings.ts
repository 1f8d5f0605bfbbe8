// Where PostgreSQL lives on a host, read from the host's rendered scope (pgplay's defaults are variables there,
// see config/vars.ts), each value checked: a wrong one is a SettingError naming its variable.
import { SettingError } from '../config/setting-error';
import type { Become } from '../connection/command';
import type { Secret } from '../secrets';

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
  /** The login user's sudo password, from the environment (ansible_become_password, become_password_env). */
  becomePassword?: Secret;
  /** ansible_become: the user commands of tasks that name none run as (command, template). */
  taskBecomeUser?: string;
  /** 'pg_ctl' or 'systemd:UNIT' */
  serviceControl: string;
  logFile: string;
}

export interface BecomeParts {
  method: 'sudo' | 'su';
  password?: Secret;
  taskUser?: string;
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

/** PostgreSQL settings from a host's scope (vars holds pgplay's defaults, so a missing name is a scope without them). */
export function pgSettingsFrom(vars: Record<string, unknown>, become: BecomeParts = { method: vars.become_method === 'su' ? 'su' : 'sudo' }): PgSettings {
  const version = text(vars, 'pg_version', '15');
  const dataDir = text(vars, 'pg_data_dir', `/var/lib/postgresql/${version}/main`);
  const portText = text(vars, 'pg_port', '5432');
  const port = Number(portText);
  if (!/^\s*\d+\s*$/.test(portText) || port < 1 || port > 65535) throw new SettingError(`pg_port must be a whole number from 1 to 65535, not ${JSON.stringify(vars.pg_port)}`, 'pg_port');
  const service = text(vars, 'pg_service', 'pg_ctl');
  if (!/^(pg_ctl|systemd:.+)$/.test(service)) throw new SettingError(`pg_service must be pg_ctl or systemd:UNIT, not ${JSON.stringify(service)}`, 'pg_service');
  return {
    version,
    binDir: text(vars, 'pg_bin_dir', `/usr/lib/postgresql/${version}/bin`),
    dataDir,
    configDir: text(vars, 'pg_config_dir', dataDir),
    port,
    socketDir: text(vars, 'pg_socket_dir', '/var/run/postgresql'),
    address: text(vars, 'pg_address', String(vars.ansible_host ?? vars.address ?? '127.0.0.1')),
    osUser: text(vars, 'pg_os_user', 'postgres'),
    becomeMethod: become.method,
    becomePassword: become.password,
    taskBecomeUser: become.taskUser,
    serviceControl: service,
    logFile: text(vars, 'pg_log_file', `${dataDir}/pgplay-server.log`),
  };
}

/** Become a user the way the host's settings say (sudo or su, with the sudo password when one is given). */
export function becomeAs(user: string, pg: PgSettings): Become {
  return pg.becomePassword ? { user, method: pg.becomeMethod, password: pg.becomePassword } : { user, method: pg.becomeMethod };
}
