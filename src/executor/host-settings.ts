// Every setting of a host (how to connect, how to become, where PostgreSQL lives, its run lock) read from one
// place: the host's rendered scope. Play vars may change them, so they are read per play; all of them are read
// before anything connects, and a wrong one is reported at the file:line:col of the value that made it.
import { formatDiagnostic, TaskFailedError, type Diagnostic } from '../errors';
import { SettingError } from '../config/setting-error';
import type { Inventory, Play } from '../config/types';
import { buildScope, variableOrigin, VariableError, type Scope } from '../config/vars';
import { userInfo } from 'node:os';
import { becomeSettingsFrom, type BecomeSettings } from '../connection/become-settings';
import type { Become } from '../connection/command';
import { sshOptionsFrom, type SshCliOptions, type SshOptions } from '../connection/ssh-options';
import { pgSettingsFrom, type PgSettings } from '../facts/pg-settings';
import { TemplateError } from '../templates/expressions';

export interface HostSettings {
  name: string;
  connection: 'local' | 'ssh';
  /** How to reach the host, when connection is ssh. */
  ssh?: SshOptions;
  become: BecomeSettings;
  /** The host agent's one become per run: to root (or ansible_become_user), unless the login user already is it. */
  agentBecome?: Become;
  /** The user command and template tasks that name none run as: ansible_become_user with ansible_become, else the login user. */
  taskUser: string;
  pg: PgSettings;
  /** A bare name lives in the agent's root-only lock directory; a path is used as it is. */
  lock: { file: string; waitSeconds: number };
}

export interface SettingsContext {
  inventory: Inventory;
  extraVars: Record<string, unknown>;
  cli: SshCliOptions;
  env?: NodeJS.ProcessEnv;
}

/** The settings of one host in a scope; throws SettingError or a template error, to be told with settingsProblem. */
export function hostSettingsFrom(name: string, scope: Scope, ctx: SettingsContext): HostSettings {
  const env = ctx.env ?? process.env;
  const host = ctx.inventory.hosts.get(name);
  const templated = (variable: string) => {
    const origin = variableOrigin(scope, variable);
    const raw = origin?.kind === 'inventory' ? host?.vars[variable] : undefined;
    return typeof raw === 'string' && raw.includes('{{');
  };
  const kindName = scope.ansible_connection !== undefined && scope.ansible_connection !== null ? 'ansible_connection' : 'connection';
  const kind = String(scope[kindName] ?? 'ssh');
  if (!['ssh', 'local', 'smart'].includes(kind)) throw new SettingError(`${kindName} must be ssh or local, not ${JSON.stringify(kind)}`, kindName);
  const connection = kind === 'local' ? 'local' : 'ssh';
  const become = becomeSettingsFrom(scope, templated, env);
  const pg = pgSettingsFrom(scope);
  const ssh = connection === 'ssh' ? sshOptionsFrom(name, scope, ctx.cli, env) : undefined;
  const loginUser = ssh?.user ?? userInfo().username;
  const lockFile = scope.pgplay_lock_file;
  const wait = Number(scope.pgplay_lock_wait ?? 60);
  if (!Number.isFinite(wait) || wait < 0) throw new SettingError(`pgplay_lock_wait must be a number of seconds, not ${JSON.stringify(scope.pgplay_lock_wait)}`, 'pgplay_lock_wait');
  return {
    name,
    connection,
    ssh,
    become,
    agentBecome: agentBecome(scope.ansible_become, become, loginUser),
    taskUser: become.enabled ? become.user : loginUser,
    pg,
    lock: { file: typeof lockFile === 'string' && lockFile ? lockFile : `host-${name.replace(/[^A-Za-z0-9_.-]/g, '_')}.lock`, waitSeconds: wait },
  };
}

/**
 * pgplay works as root on the host (files under /etc, the server as its OS user, the service), so its agent becomes
 * root once per run whatever ansible_become says; ansible_become_user, when given with ansible_become, is the user
 * it becomes instead; ansible_become: false keeps it the login user (who must then be the PostgreSQL OS user).
 */
export function agentBecome(ansibleBecome: unknown, become: BecomeSettings, loginUser: string): Become | undefined {
  if (ansibleBecome === false || (typeof ansibleBecome === 'string' && /^(no|false|off|0|n|f)$/i.test(ansibleBecome.trim()))) return undefined;
  const user = become.enabled ? become.user : 'root';
  if (user === loginUser) return undefined;
  return { user, method: become.method, password: become.password };
}

/** What went wrong with a host's settings, at the place of the value at fault. */
export function settingsProblem(err: unknown, scope: Scope, hostName: string): Diagnostic {
  if (err instanceof VariableError) {
    const at = err.source ?? { file: '-e', line: 1, col: 1 };
    return { ...at, message: `host ${hostName}: ${err.variable}: ${err.detail}` };
  }
  if (err instanceof SettingError) {
    if (err.source) return { ...err.source, message: err.message };
    const origin = err.variable ? variableOrigin(scope, err.variable) : undefined;
    const s = origin?.source;
    if (s) {
      const col = err.offset !== undefined && s.textCol !== undefined ? s.textCol + err.offset : s.col;
      return { file: s.file, line: s.line, col, message: err.message };
    }
    const from = origin?.kind === 'extra' ? `-e ${err.variable}` : origin?.kind === 'default' ? `pgplay's default ${err.variable}` : '-e';
    return { file: from, line: 1, col: 1, message: err.message };
  }
  if (err instanceof TemplateError) return { file: '-e', line: 1, col: 1, message: `host ${hostName}: ${err.message}` };
  throw err;
}

export interface SettingsPlan {
  /** The settings of a host in a play (null: without play vars, as another host's tasks see it). */
  get(host: string, play: number | null): HostSettings;
  errors: Diagnostic[];
}

/** Read the settings of every host for every play it is in; collect every problem. */
export function planHostSettings(ctx: SettingsContext, plays: Array<{ play: Pick<Play, 'vars' | 'varSources'>; hosts: string[] }>): SettingsPlan {
  const settings = new Map<string, HostSettings>();
  const errors: Diagnostic[] = [];
  const seen = new Set<string>();
  const compute = (host: string, play: number | null): HostSettings | undefined => {
    const key = `${play}:${host}`;
    const known = settings.get(key);
    if (known) return known;
    const p = play === null ? null : plays[play].play;
    const scope = buildScope({ inventory: ctx.inventory, hostName: host, playVars: p?.vars, playVarSources: p?.varSources, extraVars: ctx.extraVars });
    try {
      const s = hostSettingsFrom(host, scope, ctx);
      settings.set(key, s);
      return s;
    } catch (err) {
      const d = settingsProblem(err, scope, host);
      const id = `${d.file}:${d.line}:${d.col}:${d.message}`;
      if (!seen.has(id)) errors.push(d);
      seen.add(id);
      return undefined;
    }
  };
  plays.forEach((p, i) => p.hosts.forEach((h) => compute(h, i)));
  const reported = errors.length;
  return {
    errors: errors.slice(0, reported),
    get(host, play) {
      // Without play vars (another host's tasks reading this one) the settings are read when first needed.
      const before = errors.length;
      const s = compute(host, play);
      if (!s) throw new TaskFailedError(errors.slice(before).map(formatDiagnostic).join('; ') || `the settings of host ${host} could not be read`);
      return s;
    },
  };
}

