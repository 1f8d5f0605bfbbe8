// OpenSSH's ssh_config (~/.ssh/config, /etc/ssh/ssh_config, or a file given with -F or ssh_config_file), parsed by
// the `ssh-config` package and applied as ssh applies it: for each keyword the first value that applies to the host
// wins (IdentityFile adds up), Host and Match blocks by their patterns, Include in place. The package's own compute()
// is not used: it runs Match exec commands and nslookup, and keeps no line numbers for messages.
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { homedir, userInfo } from 'node:os';
import { dirname, isAbsolute, join } from 'node:path';
import type { SourceRef } from '../config/types';

// eslint-disable-next-line @typescript-eslint/no-require-imports
const SSHConfig = (require('ssh-config') as typeof import('ssh-config')).default;

type Line = ReturnType<typeof SSHConfig.parse>[number];
type Values = string | Array<{ val: string }>;

export interface ConfigValue {
  value: string;
  source: SourceRef;
}

export class SshConfigError extends Error {
  constructor(
    message: string,
    readonly source: SourceRef,
  ) {
    super(message);
  }
}

interface ParsedLine {
  param: string; // lower case
  values: string[];
  source: SourceRef;
  /** Host or Match block: the lines under it. */
  body?: ParsedLine[];
  criteria?: Record<string, string>;
}

const parsedFiles = new Map<string, { mtimeMs: number; lines: ParsedLine[] }>();

/** One config file's lines with their places; throws SshConfigError when the file cannot be read. */
function parseFile(file: string): ParsedLine[] {
  let mtimeMs: number;
  let text: string;
  try {
    mtimeMs = statSync(file).mtimeMs;
    const cached = parsedFiles.get(file);
    if (cached && cached.mtimeMs === mtimeMs) return cached.lines;
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new SshConfigError(`cannot read this ssh_config (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`, { file, line: 1, col: 1 });
  }
  let config;
  try {
    config = SSHConfig.parse(text);
  } catch (err) {
    throw new SshConfigError(`cannot read this ssh_config: ${(err as Error).message}`, { file, line: unclosedQuoteLine(text), col: 1 });
  }
  let line = 1;
  const convert = (nodes: Iterable<Line>): ParsedLine[] => {
    const out: ParsedLine[] = [];
    for (const node of nodes) {
      const before = (node as { before?: string }).before ?? '';
      line += (before.match(/\n/g) ?? []).length;
      const source: SourceRef = { file, line, col: before.length - (before.lastIndexOf('\n') + 1) + 1 };
      line += (((node as { after?: string }).after ?? '').match(/\n/g) ?? []).length;
      if (node.type !== SSHConfig.DIRECTIVE) continue;
      const d = node as { param: string; value: Values; config?: Iterable<Line>; criteria?: Record<string, Values> };
      const values = typeof d.value === 'string' ? [d.value] : d.value.map((v) => v.val);
      const parsed: ParsedLine = { param: d.param.toLowerCase(), values, source };
      if (d.criteria) parsed.criteria = Object.fromEntries(Object.entries(d.criteria).map(([k, v]) => [k.toLowerCase(), typeof v === 'string' ? v : v.map((x) => x.val).join(',')]));
      if (d.config) parsed.body = convert(d.config);
      out.push(parsed);
    }
    return out;
  };
  const lines = convert(config);
  parsedFiles.set(file, { mtimeMs, lines });
  return lines;
}

function unclosedQuoteLine(text: string): number {
  const index = text.split('\n').findIndex((l) => ((l.split('#')[0] ?? '').match(/"/g) ?? []).length % 2 === 1);
  return index >= 0 ? index + 1 : 1;
}

/** Keyword (lower case) to the values that apply to a host, first one first. */
export type ResolvedConfig = Map<string, ConfigValue[]>;

/** Keywords whose values add up instead of the first one winning. */
const CUMULATIVE = new Set(['identityfile', 'certificatefile', 'localforward', 'remoteforward', 'dynamicforward', 'sendenv']);

export interface ResolveContext {
  /** The host name as given (ansible_host, or the inventory name). */
  host: string;
  /** The remote user when the inventory sets one (Match user). */
  user?: string;
}

/** What the config files say for a host; files that do not exist are skipped, as ssh skips them. */
export function resolveSshConfig(files: Array<{ path: string; system?: boolean }>, context: ResolveContext): ResolvedConfig {
  const out: ResolvedConfig = new Map();
  const localUser = safeUserName();
  const state = { hostName: context.host, user: context.user ?? localUser };
  const set = (param: string, value: ConfigValue) => {
    const list = out.get(param) ?? [];
    if (list.length > 0 && !CUMULATIVE.has(param)) return;
    list.push(value);
    out.set(param, list);
    if (param === 'hostname' && list.length === 1) state.hostName = value.value.replace(/%h/g, context.host);
    if (param === 'user' && list.length === 1 && !context.user) state.user = value.value;
  };
  const apply = (lines: ParsedLine[], base: string, depth: number) => {
    for (const line of lines) {
      if (line.param === 'host') {
        if (hostMatches(line.values, context.host)) apply(line.body ?? [], base, depth);
      } else if (line.param === 'match') {
        if (matchApplies(line, { ...state, originalHost: context.host, localUser })) apply(line.body ?? [], base, depth);
      } else if (line.param === 'include') {
        if (depth >= 16) throw new SshConfigError('Include nests more than 16 files deep', line.source);
        for (const pattern of line.values) for (const file of includedFiles(pattern, base)) apply(parseFile(file), base, depth + 1);
      } else set(line.param, { value: line.values.join(' '), source: line.source });
    }
  };
  for (const f of files) {
    if (!existsSync(f.path)) continue;
    apply(parseFile(f.path), f.system ? dirname(f.path) : join(homedir(), '.ssh'), 0);
  }
  return out;
}

function safeUserName(): string {
  try {
    return userInfo().username;
  } catch {
    return process.env.USER ?? '';
  }
}

/** OpenSSH's pattern lists: *, ?, and !negation, which wins. */
export function hostMatches(patterns: string[], name: string): boolean {
  let matched = false;
  for (const raw of patterns.flatMap((p) => p.split(','))) {
    const negated = raw.startsWith('!');
    const pattern = negated ? raw.slice(1) : raw;
    if (!wildcard(pattern, name)) continue;
    if (negated) return false;
    matched = true;
  }
  return matched;
}

function wildcard(pattern: string, name: string): boolean {
  const re = pattern
    .toLowerCase()
    .replace(/[.+^${}()|[\]\\]/g, '\\$&')
    .replace(/\*/g, '.*')
    .replace(/\?/g, '.');
  return new RegExp(`^${re}$`).test(name.toLowerCase());
}

function matchApplies(line: ParsedLine, s: { hostName: string; user: string; originalHost: string; localUser: string }): boolean {
  const criteria = line.criteria ?? {};
  const entries = Object.entries(criteria);
  let dependsOnExec = false;
  for (const [rawKey, value] of entries) {
    const negated = rawKey.startsWith('!');
    const key = negated ? rawKey.slice(1) : rawKey;
    let result: boolean;
    switch (key) {
      case 'all':
      case 'final':
      case 'canonical':
        result = true;
        break;
      case 'host':
        result = hostMatches([value], s.hostName);
        break;
      case 'originalhost':
        result = hostMatches([value], s.originalHost);
        break;
      case 'user':
        result = hostMatches([value], s.user);
        break;
      case 'localuser':
        result = hostMatches([value], s.localUser);
        break;
      case 'exec':
      case 'localnetwork':
      case 'tagged':
        dependsOnExec = true;
        continue;
      default:
        throw new SshConfigError(`Match ${key} is not a criterion pgplay knows (all, host, originalhost, user, localuser)`, line.source);
    }
    if (result === negated) return false;
  }
  if (dependsOnExec) {
    throw new SshConfigError('this Match block depends on exec, localnetwork or tagged, which pgplay does not evaluate: put these settings under a Host block for the host, or set them in the inventory', line.source);
  }
  return true;
}

/** Files an Include names: ~ expanded, relative to ~/.ssh (or /etc/ssh), * and ? in the last part, sorted. */
function includedFiles(pattern: string, base: string): string[] {
  const expanded = pattern.startsWith('~/') ? join(homedir(), pattern.slice(2)) : pattern;
  const path = isAbsolute(expanded) ? expanded : join(base, expanded);
  const dir = dirname(path);
  const last = path.slice(dir.length + 1);
  if (!/[*?]/.test(last)) return existsSync(path) ? [path] : [];
  if (!existsSync(dir)) return [];
  return readdirSync(dir)
    .filter((entry) => wildcard(last, entry) && !entry.startsWith('.'))
    .sort()
    .map((entry) => join(dir, entry))
    .filter((p) => statSync(p).isFile());
}
