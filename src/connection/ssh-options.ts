// How to reach a host over ssh, from its inventory variables: Ansible's names work, and so do pgplay's own.
import { homedir, userInfo } from 'node:os';
import { join } from 'node:path';
import { Secret } from '../secrets';
import type { Become } from './command';

export interface SshOptions {
  address: string;
  port: number;
  user: string;
  privateKeyFile?: string;
  /** ssh-agent socket; by default SSH_AUTH_SOCK when no key file is given. */
  agent?: string;
  /** Read from the environment variable the inventory names; never from the inventory itself. */
  password?: Secret;
  /** The variable named by ssh_password_env, to say which one is missing. */
  passwordEnv?: string;
  knownHostsFile: string;
  acceptNewHostKeys: boolean;
  connectTimeoutMs: number;
  keepaliveIntervalMs: number;
  /** How the agent gets root (or the become user) once per run; none when the login user is root. */
  become?: Become;
}

export interface SshCliOptions {
  acceptNewHostKeys: boolean;
  knownHostsFile?: string;
}

/** The first variable of names that is set (Ansible's name first, then pgplay's), with its name. */
function pickNamed(vars: Record<string, unknown>, ...names: string[]): [string, unknown] {
  for (const name of names) {
    const v = vars[name];
    if (v !== undefined && v !== null && v !== '') return [name, v];
  }
  return [names[0], undefined];
}

function pick(vars: Record<string, unknown>, ...names: string[]): unknown {
  return pickNamed(vars, ...names)[1];
}

export function expandHome(path: string, home = homedir()): string {
  return path === '~' ? home : path.startsWith('~/') ? join(home, path.slice(2)) : path;
}

function number(hostName: string, [name, value]: [string, unknown], fallback: number, min: number, max: number): number {
  if (value === undefined) return fallback;
  const n = typeof value === 'number' ? value : Number(String(value).trim());
  if (!Number.isFinite(n) || n < min || n > max) throw new Error(`host ${hostName}: ${name} must be a number from ${min} to ${max}, not ${JSON.stringify(value)}`);
  return n;
}

function flag(hostName: string, name: string, value: unknown): boolean {
  if (value === undefined || typeof value === 'boolean') return value === true;
  const text = String(value).trim().toLowerCase();
  if (['yes', 'true', 'on', '1'].includes(text)) return true;
  if (['no', 'false', 'off', '0'].includes(text)) return false;
  throw new Error(`host ${hostName}: ${name} must be true or false, not ${JSON.stringify(value)}`);
}

export function sshOptionsFrom(hostName: string, vars: Record<string, unknown>, cli: SshCliOptions, env: NodeJS.ProcessEnv = process.env): SshOptions {
  const keyFile = pick(vars, 'ansible_ssh_private_key_file', 'ssh_private_key_file');
  const passwordEnv = pick(vars, 'ssh_password_env');
  const password = passwordEnv === undefined ? undefined : env[String(passwordEnv)];
  const knownHosts = cli.knownHostsFile ?? pick(vars, 'ssh_known_hosts_file') ?? '~/.ssh/known_hosts';
  return {
    address: String(pick(vars, 'ansible_host', 'address') ?? hostName),
    port: number(hostName, pickNamed(vars, 'ansible_port', 'ssh_port'), 22, 1, 65535),
    user: String(pick(vars, 'ansible_user', 'ssh_user') ?? userInfo().username),
    privateKeyFile: keyFile === undefined ? undefined : expandHome(String(keyFile)),
    agent: keyFile === undefined ? env.SSH_AUTH_SOCK || undefined : undefined,
    password: password ? new Secret(password) : undefined,
    passwordEnv: passwordEnv === undefined ? undefined : String(passwordEnv),
    knownHostsFile: expandHome(String(knownHosts)),
    acceptNewHostKeys: cli.acceptNewHostKeys || flag(hostName, 'ssh_accept_new_host_keys', vars.ssh_accept_new_host_keys),
    connectTimeoutMs: number(hostName, pickNamed(vars, 'ssh_connect_timeout'), 10, 1, 3600) * 1000,
    keepaliveIntervalMs: number(hostName, pickNamed(vars, 'ssh_keepalive_interval'), 15, 0, 3600) * 1000,
    become: becomeFrom(hostName, vars, String(pick(vars, 'ansible_user', 'ssh_user') ?? userInfo().username), env),
  };
}

/** The agent's one become: to root (or ansible_become_user) unless the login user already is it, or become is off. */
export function becomeFrom(hostName: string, vars: Record<string, unknown>, loginUser: string, env: NodeJS.ProcessEnv = process.env): Become | undefined {
  const enabled = vars.ansible_become === undefined ? true : flag(hostName, 'ansible_become', vars.ansible_become);
  const user = String(pick(vars, 'ansible_become_user', 'become_user') ?? 'root');
  if (!enabled || user === loginUser) return undefined;
  const method = String(pick(vars, 'ansible_become_method', 'become_method') ?? 'sudo');
  if (method !== 'sudo' && method !== 'su') throw new Error(`host ${hostName}: become method ${method} is not supported (sudo or su)`);
  const passwordEnv = pick(vars, 'become_password_env');
  const password = passwordEnv === undefined ? undefined : env[String(passwordEnv)];
  return { user, method, password: password ? new Secret(password) : undefined };
}
