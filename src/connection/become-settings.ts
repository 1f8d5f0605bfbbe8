// Ansible's become variables, read from a host's rendered scope: ansible_become, ansible_become_user,
// ansible_become_method (sudo or su; pgplay's become_method too) and the sudo password, which comes from the
// environment only: become_password_env names the variable, or ansible_become_password is templated from it
// ("{{ lookup('env', 'NAME') }}"). A password written in a file is refused, with how to give it instead.
import { SettingError } from '../config/setting-error';
import { Secret } from '../secrets';

export interface BecomeSettings {
  /** ansible_become: commands of tasks that name no user run as `user`. */
  enabled: boolean;
  user: string;
  method: 'sudo' | 'su';
  password?: Secret;
  /** The environment variable the password was read from, when named. */
  passwordEnv?: string;
}

const TRUE = ['yes', 'true', 'on', '1', 'y', 't'];
const FALSE = ['no', 'false', 'off', '0', 'n', 'f', ''];

function boolean(name: string, value: unknown): boolean {
  if (value === undefined || value === null) return false;
  if (typeof value === 'boolean') return value;
  const v = String(value).trim().toLowerCase();
  if (TRUE.includes(v)) return true;
  if (FALSE.includes(v)) return false;
  throw new SettingError(`${name} must be true or false, not ${JSON.stringify(value)}`, name);
}

/**
 * @param templated whether a variable's value as written holds a template (a password written as it is sits in a file)
 */
export function becomeSettingsFrom(vars: Record<string, unknown>, templated: (name: string) => boolean, env: NodeJS.ProcessEnv = process.env): BecomeSettings {
  const enabled = boolean('ansible_become', vars.ansible_become);
  const user = vars.ansible_become_user === undefined || vars.ansible_become_user === null || vars.ansible_become_user === '' ? 'root' : String(vars.ansible_become_user);
  const methodName = vars.ansible_become_method !== undefined && vars.ansible_become_method !== null && vars.ansible_become_method !== '' ? 'ansible_become_method' : 'become_method';
  const methodValue = String(vars[methodName] ?? 'sudo');
  if (methodValue !== 'sudo' && methodValue !== 'su') {
    throw new SettingError(`${methodName} must be sudo or su, not ${JSON.stringify(methodValue)}: pgplay becomes other users with sudo or su`, methodName);
  }
  const method = methodValue;
  let password: Secret | undefined;
  let passwordEnv: string | undefined;
  const envName = vars.become_password_env;
  if (envName !== undefined && envName !== null && envName !== '') {
    passwordEnv = String(envName);
    if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(passwordEnv)) throw new SettingError(`become_password_env must name an environment variable, not ${JSON.stringify(envName)}`, 'become_password_env');
    const value = env[passwordEnv];
    if (value === undefined) throw new SettingError(`environment variable ${passwordEnv} (named by become_password_env) is not set`, 'become_password_env');
    password = new Secret(value);
  }
  for (const name of ['ansible_become_password', 'ansible_become_pass']) {
    const value = vars[name];
    if (value === undefined || value === null || value === '' || password) continue;
    const fromEnvironment = templated(name) && typeof value === 'string' && Object.values(env).includes(value);
    if (!fromEnvironment) {
      throw new SettingError(
        `${name} holds a password written in a file: pgplay reads it from the environment only: write ${name}: "{{ lookup('env', 'BECOME_PASSWORD') }}", or become_password_env: BECOME_PASSWORD, and export BECOME_PASSWORD`,
        name,
      );
    }
    password = new Secret(value as string);
  }
  if (password && method === 'su') {
    throw new SettingError(`su reads a password only from a terminal, which pgplay does not use: become with sudo (ansible_become_method: sudo), or log in as a user that needs no password`, methodName === 'ansible_become_method' ? methodName : 'become_method');
  }
  return { enabled, user, method, password, passwordEnv };
}
