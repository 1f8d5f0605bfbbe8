// How to reach a host over ssh, from its rendered variables, as Ansible and OpenSSH would: the inventory's
// connection variables first (ansible_port, ansible_user, the key: Ansible passes them as -o options before its own
// arguments), then ansible_ssh_common_args and ansible_ssh_extra_args, then ssh_config; for each setting the first
// one given wins, as in OpenSSH. pgplay's own names (ssh_port, ssh_user, ...) stand beside Ansible's.
import { existsSync } from 'node:fs';
import { homedir, hostname as localHostName, userInfo } from 'node:os';
import { join } from 'node:path';
import { SettingError } from '../config/setting-error';
import type { SourceRef } from '../config/types';
import { Secret } from '../secrets';
import { parseSshArgs, spell, SshArgError, type SshArg } from './ssh-args';
import { resolveSshConfig, SshConfigError, type ResolvedConfig } from './ssh-config-file';

export interface SshOptions {
  /** Where to connect: ssh_config's HostName, else ansible_host, else the inventory name. */
  address: string;
  port: number;
  user: string;
  /** The key to log in with: the first identity file given, or the first of ssh's defaults that exists. */
  privateKeyFile?: string;
  /** Every identity file given, in order (ssh tries them all; pgplay uses the first). */
  identityFiles: string[];
  /** ssh-agent socket: IdentityAgent, else SSH_AUTH_SOCK; none with IdentitiesOnly=yes. */
  agent?: string;
  /** Read from the environment variable the inventory names; never from the inventory itself. */
  password?: Secret;
  /** The variable named by ssh_password_env, to say which one is missing. */
  passwordEnv?: string;
  /** known_hosts where a new key is recorded (the first user file). */
  knownHostsFile: string;
  /** Every known_hosts file a key is looked up in: UserKnownHostsFile, then GlobalKnownHostsFile. */
  knownHostsFiles: string[];
  /** yes: only known keys; accept-new: record the key of a host seen for the first time. A changed key is always refused. */
  strictHostKeyChecking: 'yes' | 'accept-new';
  acceptNewHostKeys: boolean;
  /** The name the host key is looked up under instead of the address (HostKeyAlias). */
  hostKeyAlias?: string;
  /** The run is in check mode: a new host key is trusted for the run but not recorded. */
  checkMode?: boolean;
  /** HashKnownHosts: a new host's key is recorded under a hashed name. */
  hashKnownHosts?: boolean;
  connectTimeoutMs: number;
  keepaliveIntervalMs: number;
  keepaliveCountMax: number;
  compression: boolean;
  addressFamily?: 'inet' | 'inet6';
  /** Bastions to go through, first to last, each with its own options (ProxyJump). */
  proxyJump: SshOptions[];
  /**
   * ControlPersist (with ControlMaster), or ssh_control_persist: the connection is kept by the user's keeper process
   * between runs, for this many idle seconds after the last run let go of it (0: until the keeper is stopped).
   */
  persistSeconds?: number;
}

export interface SshCliOptions {
  acceptNewHostKeys: boolean;
  knownHostsFile?: string;
  /** pgplay run --check: nothing is written, known_hosts included. */
  checkMode?: boolean;
}

export function expandHome(path: string, home = homedir()): string {
  return path === '~' ? home : path.startsWith('~/') ? join(home, path.slice(2)) : path;
}

/** A setting's value and who gave it, for messages. */
interface Given {
  value: string;
  /** The variable it came from (an inventory variable or an ssh arguments variable), or the ssh_config line. */
  variable?: string;
  offset?: number;
  source?: SourceRef;
}

type Vars = Record<string, unknown>;

function present(v: unknown): boolean {
  return v !== undefined && v !== null && v !== '';
}

/** The options to reach hostName; throws SettingError naming the variable or ssh_config line at fault. */
export function sshOptionsFrom(hostName: string, vars: Vars, cli: SshCliOptions, env: NodeJS.ProcessEnv = process.env): SshOptions {
  const fail = (message: string, given?: Given): never => {
    throw new SettingError(`host ${hostName}: ${message}`, given?.variable, given?.offset, given?.source);
  };
  const name = String(firstVar(vars, 'ansible_host', 'address')?.value ?? hostName);
  const command = commandLine(vars, fail);
  const configFile = command.get('configfile')?.[0] ?? varGiven(vars, 'ssh_config_file');
  const files = configFile ? [{ path: expandHome(configFile.value) }] : [{ path: join(homedir(), '.ssh', 'config') }, { path: '/etc/ssh/ssh_config', system: true }];
  if (configFile && !existsSync(expandHome(configFile.value))) fail(`ssh config file ${configFile.value} not found`, configFile);
  let config: ResolvedConfig;
  try {
    config = resolveSshConfig(files, { host: name, user: command.get('user')?.[0]?.value });
  } catch (err) {
    if (err instanceof SshConfigError) return fail(err.message, { value: '', source: err.source });
    throw err;
  }
  const options = resolveOptions(name, command, config, cli, env, fail);
  const hops = command.get('proxyjump')?.[0] ?? fromConfig(config, 'proxyjump');
  options.proxyJump = hops && hops.value.toLowerCase() !== 'none' ? jumpHosts(hostName, hops, files, cli, env, fail, 0) : [];
  return options;
}

/** One hop of ProxyJump: its options come from ssh_config and the defaults, as `ssh -W` to it would read them. */
function jumpHosts(hostName: string, hops: Given, files: Array<{ path: string; system?: boolean }>, cli: SshCliOptions, env: NodeJS.ProcessEnv, fail: (m: string, g?: Given) => never, depth: number): SshOptions[] {
  if (depth > 8) fail('ProxyJump hops lead to each other more than 8 times', hops);
  const out: SshOptions[] = [];
  const list = hops.value.split(',').map((h) => h.trim());
  for (const [index, hop] of list.entries()) {
    const m = /^(?:ssh:\/\/)?(?:([^@]+)@)?(\[[^\]]+\]|[^:@/]+)(?::(\d+))?\/?$/.exec(hop);
    if (!m) fail(`ProxyJump hop '${hop}' is not [user@]host[:port]`, hops);
    const [, user, rawHost, port] = m as RegExpExecArray;
    const host = rawHost.replace(/^\[(.*)\]$/, '$1');
    const command = new Map<string, Given[]>();
    if (user) command.set('user', [{ ...hops, value: user }]);
    if (port) command.set('port', [{ ...hops, value: port }]);
    let config: ResolvedConfig;
    try {
      config = resolveSshConfig(files, { host, user });
    } catch (err) {
      if (err instanceof SshConfigError) return fail(err.message, { value: '', source: err.source });
      throw err;
    }
    const options = resolveOptions(host, command, config, cli, env, fail);
    // The first hop is reached the way ssh reaches it alone, through its own ProxyJump when ssh_config gives one.
    const own = index === 0 ? fromConfig(config, 'proxyjump') : undefined;
    if (own && own.value.toLowerCase() !== 'none') out.push(...jumpHosts(hostName, own, files, cli, env, fail, depth + 1));
    out.push(options);
  }
  return out;
}

function resolveOptions(name: string, command: Map<string, Given[]>, config: ResolvedConfig, cli: SshCliOptions, env: NodeJS.ProcessEnv, fail: (m: string, g?: Given) => never): SshOptions {
  const get = (keyword: string): Given | undefined => command.get(keyword)?.[0] ?? fromConfig(config, keyword);
  const all = (keyword: string): Given[] => [...(command.get(keyword) ?? []), ...(config.get(keyword) ?? []).map((c) => ({ value: c.value, source: c.source }))];
  const number = (keyword: string, fallback: number, min: number, max: number): number => {
    const given = get(keyword);
    if (!given) return fallback;
    const n = Number(given.value.trim());
    if (given.value.trim() === '' || !Number.isFinite(n) || n < min || n > max) fail(`${label(keyword, given)} must be a number from ${min} to ${max}, not ${JSON.stringify(given.value)}`, given);
    return n;
  };
  const yesNo = (keyword: string, fallback: boolean): boolean => {
    const given = get(keyword);
    if (!given) return fallback;
    const v = given.value.trim().toLowerCase();
    if (['yes', 'true', 'on', '1'].includes(v)) return true;
    if (['no', 'false', 'off', '0'].includes(v)) return false;
    return fail(`${label(keyword, given)} must be yes or no, not ${JSON.stringify(given.value)}`, given);
  };

  // ssh_config settings that would change how the host is reached, which pgplay cannot honour: refused, not ignored.
  for (const keyword of ['proxycommand', 'knownhostscommand']) {
    const given = fromConfig(config, keyword);
    if (given && given.value.toLowerCase() !== 'none') fail(keyword === 'proxycommand' ? 'ProxyCommand is not supported: reach the host through a bastion with ProxyJump' : 'KnownHostsCommand is not supported: list the host keys in a known_hosts file', given);
  }
  const port = number('port', 22, 1, 65535);
  const userGiven = get('user');
  const user = userGiven?.value ?? localUser();
  const hostNameGiven = get('hostname');
  const address = hostNameGiven ? hostNameGiven.value.replace(/%h/g, name).replace(/%%/g, '%') : name;
  const alias = get('hostkeyalias')?.value;
  const tokens = (text: string, given: Given) => expandTokens(text, { h: address, p: String(port), r: user, n: name, k: alias ?? name }, (t) => fail(`%${t} in ${label('', given)} is not a token pgplay expands (%%, %d, %h, %i, %k, %l, %L, %n, %p, %r, %u)`, given));
  const path = (given: Given) => expandHome(tokens(given.value, given));

  const pubkey = yesNo('pubkeyauthentication', true);
  const identityGiven = pubkey ? all('identityfile') : [];
  const identityFiles = identityGiven.map(path);
  const defaults = ['id_rsa', 'id_ecdsa', 'id_ecdsa_sk', 'id_ed25519', 'id_ed25519_sk', 'id_xmss', 'id_dsa'].map((f) => join(homedir(), '.ssh', f));
  const privateKeyFile = !pubkey ? undefined : identityFiles.length > 0 ? (identityFiles.find(existsSync) ?? identityFiles[0]) : defaults.find(existsSync);
  const identitiesOnly = yesNo('identitiesonly', false);
  const agentGiven = get('identityagent');
  const agentPath = agentGiven ? (agentGiven.value === 'SSH_AUTH_SOCK' ? env.SSH_AUTH_SOCK : agentGiven.value.toLowerCase() === 'none' ? undefined : path(agentGiven)) : env.SSH_AUTH_SOCK;
  const agent = pubkey && !identitiesOnly && agentPath ? agentPath : undefined;

  const passwordAllowed = yesNo('passwordauthentication', true);
  const passwordEnv = command.get('passwordenv')?.[0]?.value;
  const password = passwordAllowed && passwordEnv !== undefined ? env[passwordEnv] : undefined;

  const userFilesGiven = cli.knownHostsFile ? { value: cli.knownHostsFile } : get('userknownhostsfile');
  const userFiles = userFilesGiven ? splitFiles(userFilesGiven.value).map((f) => expandHome(tokens(f, userFilesGiven))) : [join(homedir(), '.ssh', 'known_hosts'), join(homedir(), '.ssh', 'known_hosts2')];
  const globalGiven = get('globalknownhostsfile');
  const globalFiles = globalGiven ? splitFiles(globalGiven.value).map((f) => expandHome(tokens(f, globalGiven))) : ['/etc/ssh/ssh_known_hosts', '/etc/ssh/ssh_known_hosts2'];
  const knownUser = userFiles.filter((f) => f.toLowerCase() !== 'none');

  const strictGiven = get('stricthostkeychecking');
  let strict: SshOptions['strictHostKeyChecking'] = 'yes';
  if (cli.acceptNewHostKeys) strict = 'accept-new';
  else if (strictGiven) {
    const v = strictGiven.value.trim().toLowerCase();
    if (['yes', 'true', 'ask'].includes(v)) strict = 'yes';
    else if (v === 'accept-new') strict = 'accept-new';
    else if (['no', 'off', 'false'].includes(v)) {
      // pgplay verifies host keys: "no" records a new host's key as accept-new does, and still refuses a changed one.
      if (knownUser.length === 0 || knownUser.every((f) => f === '/dev/null')) {
        fail('StrictHostKeyChecking=no with UserKnownHostsFile=/dev/null would accept any host key on every run; pgplay verifies host keys: give UserKnownHostsFile a file (with StrictHostKeyChecking=accept-new it records each host on first contact)', strictGiven);
      }
      strict = 'accept-new';
    } else fail(`${label('stricthostkeychecking', strictGiven)} must be yes, accept-new or no, not ${JSON.stringify(strictGiven.value)}`, strictGiven);
  }

  const family = get('addressfamily');
  const addressFamily = family && family.value !== 'any' ? (family.value === 'inet' || family.value === 'inet6' ? family.value : fail(`AddressFamily must be any, inet or inet6, not ${JSON.stringify(family.value)}`, family)) : undefined;
  const knownHostsFiles = [...knownUser, ...globalFiles.filter((f) => f.toLowerCase() !== 'none')];
  return {
    address,
    port,
    user,
    privateKeyFile,
    identityFiles,
    agent,
    password: password ? new Secret(password) : undefined,
    passwordEnv,
    knownHostsFile: knownUser[0] ?? '/dev/null',
    knownHostsFiles,
    strictHostKeyChecking: strict,
    acceptNewHostKeys: strict === 'accept-new',
    hostKeyAlias: alias,
    ...(cli.checkMode ? { checkMode: true } : {}),
    ...(yesNo('hashknownhosts', false) ? { hashKnownHosts: true } : {}),
    connectTimeoutMs: number('connecttimeout', 10, 1, 3600) * 1000,
    keepaliveIntervalMs: number('serveraliveinterval', 15, 0, 3600) * 1000,
    keepaliveCountMax: number('serveralivecountmax', 3, 1, 1000),
    compression: yesNo('compression', false),
    addressFamily: addressFamily as SshOptions['addressFamily'],
    proxyJump: [],
    ...persistence(get, fail),
  };
}

/**
 * How long the connection is kept between runs, as OpenSSH reads ControlMaster and ControlPersist: kept when
 * ControlMaster is yes, auto, ask or autoask and ControlPersist is yes, 0 (both: until stopped) or a time (60, 60s,
 * 10m, 1h30m: idle seconds). ControlPersist=no, or no ControlMaster, keeps nothing: one connection per run.
 */
function persistence(get: (keyword: string) => Given | undefined, fail: (m: string, g?: Given) => never): { persistSeconds?: number } {
  const master = get('controlmaster');
  const persist = get('controlpersist');
  if (master) {
    const v = master.value.trim().toLowerCase();
    if (!['yes', 'no', 'ask', 'auto', 'autoask'].includes(v)) fail(`${label('controlmaster', master)} must be yes, no, ask, auto or autoask, not ${JSON.stringify(master.value)}`, master);
    if (v === 'no') return {};
  }
  if (!persist) return {};
  const v = persist.value.trim().toLowerCase();
  if (v === 'no' || v === 'false') return {};
  const seconds = v === 'yes' || v === 'true' ? 0 : sshTime(v);
  if (seconds === null) fail(`${label('controlpersist', persist)} must be yes, no or a time (60, 60s, 10m, 1h30m), not ${JSON.stringify(persist.value)}`, persist);
  // ControlPersist alone does nothing in OpenSSH: ControlMaster says that a connection is shared at all.
  return master ? { persistSeconds: seconds as number } : {};
}

const TIME_UNITS: Record<string, number> = { '': 1, s: 1, m: 60, h: 3600, d: 86400, w: 604800 };

/** A time as sshd_config(5) writes it: a number of seconds, or parts such as 1h30m; null when it is not one. */
export function sshTime(text: string): number | null {
  if (!/^(?:\d+[smhdw]?)+$/i.test(text)) return null;
  let total = 0;
  for (const [, n, unit] of text.matchAll(/(\d+)([smhdw]?)/gi)) total += Number(n) * TIME_UNITS[unit.toLowerCase()];
  return Number.isSafeInteger(total) ? total : null;
}

/**
 * What the inventory puts on ssh's command line, by keyword, first given first: Ansible's connection variables
 * (as Ansible passes them), pgplay's names for the same, then ansible_ssh_common_args, then ansible_ssh_extra_args.
 */
function commandLine(vars: Vars, fail: (m: string, g?: Given) => never): Map<string, Given[]> {
  const out = new Map<string, Given[]>();
  const add = (keyword: string, given: Given | undefined) => {
    if (given) out.set(keyword, [...(out.get(keyword) ?? []), given]);
  };
  add('port', firstVar(vars, 'ansible_port', 'ansible_ssh_port', 'ssh_port'));
  add('user', firstVar(vars, 'ansible_user', 'ansible_ssh_user', 'remote_user', 'ssh_user'));
  add('identityfile', firstVar(vars, 'ansible_ssh_private_key_file', 'ansible_private_key_file', 'ssh_private_key_file'));
  add('userknownhostsfile', firstVar(vars, 'ssh_known_hosts_file'));
  add('connecttimeout', firstVar(vars, 'ansible_ssh_timeout', 'ansible_timeout', 'ssh_connect_timeout'));
  add('serveraliveinterval', firstVar(vars, 'ssh_keepalive_interval'));
  add('passwordenv', firstVar(vars, 'ssh_password_env'));
  const persist = firstVar(vars, 'ssh_control_persist');
  if (persist) {
    add('controlmaster', { ...persist, value: 'auto' });
    add('controlpersist', persist);
  }
  const accept = varGiven(vars, 'ssh_accept_new_host_keys');
  if (accept) {
    const v = accept.value.trim().toLowerCase();
    if (['yes', 'true', 'on', '1'].includes(v)) add('stricthostkeychecking', { ...accept, value: 'accept-new' });
    else if (!['no', 'false', 'off', '0'].includes(v)) fail(`ssh_accept_new_host_keys must be true or false, not ${JSON.stringify(vars.ssh_accept_new_host_keys)}`, accept);
  }
  for (const variable of ['ansible_password', 'ansible_ssh_pass', 'ansible_ssh_password']) {
    if (present(vars[variable])) fail(`${variable} is not read by pgplay: name the environment variable that holds the SSH password with ssh_password_env (a password never sits in an inventory)`, { value: '', variable });
  }
  for (const variable of ['ansible_ssh_common_args', 'ansible_ssh_extra_args']) {
    const text = vars[variable];
    if (!present(text)) continue;
    if (typeof text !== 'string') fail(`${variable} must be a string of ssh options, got ${typeof text}`, { value: '', variable });
    let args: SshArg[];
    try {
      args = parseSshArgs(text as string);
    } catch (err) {
      if (err instanceof SshArgError) return fail(`${variable}: ${err.message}`, { value: '', variable, offset: err.offset });
      throw err;
    }
    for (const a of args) add(a.keyword, { value: a.value, variable, offset: a.offset });
  }
  return out;
}

function firstVar(vars: Vars, ...names: string[]): Given | undefined {
  for (const name of names) {
    const given = varGiven(vars, name);
    if (given) return given;
  }
  return undefined;
}

function varGiven(vars: Vars, name: string): Given | undefined {
  const v = vars[name];
  if (!present(v)) return undefined;
  if (typeof v === 'object') throw new SettingError(`${name} must be a single value, not ${Array.isArray(v) ? 'a list' : 'a mapping'}`, name);
  return { value: String(v), variable: name };
}

function fromConfig(config: ResolvedConfig, keyword: string): Given | undefined {
  const c = config.get(keyword)?.[0];
  return c ? { value: c.value, source: c.source } : undefined;
}

function label(keyword: string, given: Given): string {
  if (given.variable && !given.variable.startsWith('ansible_ssh_') && given.offset === undefined) return given.variable;
  return spell(keyword) || 'this value';
}

function splitFiles(value: string): string[] {
  return value.split(/\s+/).filter(Boolean);
}

function localUser(): string {
  try {
    return userInfo().username;
  } catch {
    return process.env.USER ?? 'root';
  }
}

/** OpenSSH's % tokens in paths; an unknown one is refused rather than left in a path. */
export function expandTokens(text: string, values: Record<string, string>, unknown: (token: string) => never): string {
  return text.replace(/%(.)/g, (_, t: string) => {
    if (t === '%') return '%';
    if (t in values) return values[t];
    if (t === 'd') return homedir();
    if (t === 'u') return localUser();
    if (t === 'i') return String(process.getuid?.() ?? 0);
    if (t === 'l') return localHostName();
    if (t === 'L') return localHostName().split('.')[0];
    return unknown(t);
  }).replace(/\$\{([A-Za-z_][A-Za-z0-9_]*)\}/g, (m, name: string) => process.env[name] ?? m);
}
