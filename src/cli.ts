// Argument parsing, the commands, and the one place that turns errors into exit codes.
import { statSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { pgplayCacheDir } from './bundle-start';
import { didYouMean } from './config/suggest';
import { keepParsedYaml } from './config/yaml-cache';
import { BadOptionsError, ExitCode, InvalidInputError, PgplayError, errorMessage } from './errors';
import { redact } from './secrets';

const USAGE = `Usage:
  pgplay run PLAYBOOK [-i INVENTORY] [--check] [--diff] [--limit PATTERN] [--tags T] [--skip-tags T]
                      [--forks N] [-e key=value | -e @file.yml] [--output human|plain|json] [--junit FILE]
                      [--start-at-task NAME] [--accept-new-host-keys]
  pgplay validate PATH... [-i INVENTORY] [-e K=V] [--format text|github]  parse + schema + semantic checks, no connection
  pgplay inventory [-i INVENTORY] [--graph] [--host NAME]            resolved hosts, groups and variables
  pgplay status [-i INVENTORY] [--limit P] [--json] [--watch S] [--max-lag-bytes N] [--max-lag-seconds S]
                                                                     roles, timelines, LSNs, lag, slots, TLS, from the servers
  pgplay init [DIR] --primary NAME=ADDRESS --replica NAME=ADDRESS... [--ini] [--force]
                                                                     write a starting project
  pgplay --version | --help | COMMAND --help

Exit codes: 0 ok, 1 error, 2 a host failed, 3 a host unreachable, 4 invalid input, 5 bad options, 99 interrupted.`;

const COMMAND_HELP: Record<string, string> = {
  run: `pgplay run PLAYBOOK [options]
Run a playbook against the inventory's hosts, in parallel.

  -i, --inventory FILE      inventory (default: ./inventory.yml)
  -C, --check               read state and report what would change; change nothing
  -D, --diff                show before/after of files, settings, pg_hba rules and roles (secrets masked)
  -l, --limit PATTERN       only these hosts (a pattern such as replicas:!pg3)
  -t, --tags T[,T]          only tasks with these tags
      --skip-tags T[,T]     skip tasks with these tags
  -f, --forks N             hosts at once (default 10)
  -e, --extra-vars K=V|@F   extra variables (highest precedence), repeatable
  -o, --output FORMAT       human (live tree on a terminal), plain (one line per result), json (NDJSON events)
      --junit FILE          also write a JUnit XML report
      --start-at-task NAME  start at the task with this name
      --accept-new-host-keys  record first-contact SSH host keys (like StrictHostKeyChecking=accept-new)
      --known-hosts FILE    known_hosts file to verify host keys against`,
  validate: `pgplay validate PATH... [-i INVENTORY] [-e K=V|@F] [--format text|github]
Check playbooks (files, or directories searched for *.yml/*.yaml playbooks) without connecting.
Prints file:line:col: message for every problem; exit 4 when any is found.

  -i, --inventory FILE      also check host patterns and variables against this inventory
  -e, --extra-vars K=V|@F   variables the playbooks take at run time (switchover.yml's new_primary), repeatable
      --format FORMAT       text (file:line:col: message, on stderr), or github (::error file=...,line=...,col=...::message
                            on stdout: GitHub Actions shows each as an annotation of the pull request)`,
  inventory: `pgplay inventory [-i INVENTORY] [--graph] [--host NAME]
Print the resolved hosts, groups and variables (as JSON), or the group tree with --graph.`,
  status: `pgplay status [-i INVENTORY] [--limit PATTERN] [--json] [--watch SECONDS] [--max-lag-bytes N] [--max-lag-seconds S]
Ask every server what it is: one table per cluster with each host's role (primary, standby of X, stopped,
unreachable, from the servers themselves, not the inventory), timeline, LSNs (current, sent, write, flush,
replay), lag in bytes and seconds, sync state, slot (active, WAL kept) and TLS. One SSH connection and one
query per host; nothing is written and no lock is taken.

  -i, --inventory FILE      inventory (default: ./inventory.yml)
  -l, --limit PATTERN       only these hosts
      --json                one JSON object per host (an array; one line per round with --watch)
      --watch SECONDS       read again every SECONDS until Ctrl-C (exits with the last round's code)
      --max-lag-bytes N     degraded when a standby is more than N bytes of WAL behind
      --max-lag-seconds S   degraded when a standby's replay lag is over S seconds
      --accept-new-host-keys, --known-hosts FILE   as for run

Exit codes: 0 healthy; 2 degraded (a standby not streaming, a lag bound exceeded, an inactive slot, a server
stopped, two primaries, roles that disagree with the inventory); 3 a host unreachable; 4 an invalid inventory;
5 bad options.`,
  init: `pgplay init [DIR] --primary NAME=ADDRESS --replica NAME=ADDRESS [--replica ...] [--ini] [--force]
Write a starting project into DIR (default: the current directory) that validates at once:
  inventory.yml (or inventory.ini)  the hosts: the group primary (one host) and the group replicas
  group_vars/all.yml                variables of every host, with Debian's PostgreSQL 15 layout
  site.yml                          a copy of the playbook that sets up and verifies streaming replication
  README.md                         the next three commands
No secret is written: site.yml reads the replication password from PGPLAY_REPLICATION_PASSWORD.

      --primary NAME=ADDRESS  the primary server (an IP address or a DNS name)
      --replica NAME=ADDRESS  a replica (an IPv4 address), repeatable
      --ini                 write the inventory in Ansible's INI layout
      --force               overwrite those files when they exist (nothing else is touched)`,
};

export async function main(argv: string[]): Promise<number> {
  try {
    return await dispatch(argv);
  } catch (err) {
    return report(err);
  }
}

async function dispatch(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  // The keeper of kept ssh connections (ControlPersist), started by a run: not a command for people.
  if (command === '__keep-connections' && rest.length === 1) return (await import('./connection/keeper')).keepConnections(rest[0]);
  if (command === undefined || command === '--help' || command === '-h' || command === 'help') {
    process.stdout.write(`${USAGE}\n`);
    return command === undefined ? ExitCode.badOptions : ExitCode.ok;
  }
  if (rest.includes('--help') || rest.includes('-h')) {
    const help = COMMAND_HELP[command];
    if (!help) throw new BadOptionsError(`unknown command '${command}'`);
    process.stdout.write(`${help}\n`);
    return ExitCode.ok;
  }
  // The commands that reach hosts start sooner with the YAML files the last one parsed (config/yaml-cache.ts).
  if (command === 'run' || command === 'status') keepParsedYaml(pgplayCacheDir());
  switch (command) {
    case 'run':
      return (await import('./commands/run')).runCommand(parseRunOptions(rest));
    case 'validate':
      return (await import('./commands/validate')).validateCommand(parseValidateOptions(rest));
    case 'inventory':
      return (await import('./commands/inventory')).inventoryCommand(parseInventoryOptions(rest));
    case 'status':
      return (await import('./commands/status')).statusCommand(parseStatusOptions(rest));
    case 'init': {
      const init = await import('./commands/init');
      return init.initCommand(parseInitOptions(rest, init.parseHost));
    }
    default:
      throw new BadOptionsError(`unknown command '${command}' (expected run, validate, inventory, status or init)`);
  }
}

type OptionSpec = Record<string, { type: 'string' | 'boolean'; short?: string; multiple?: boolean }>;

function parse(args: string[], options: OptionSpec): { values: Record<string, unknown>; positionals: string[] } {
  try {
    return parseArgs({ args, options, allowPositionals: true, strict: true }) as { values: Record<string, unknown>; positionals: string[] };
  } catch (err) {
    const message = errorMessage(err).replace(/\. To specify a positional argument.*$/s, '');
    const unknown = /^Unknown option '(-[^']*)'$/.exec(message);
    if (unknown) throw new BadOptionsError(`unknown option '${unknown[1]}'${didYouMean(unknown[1], Object.keys(options).map((o) => `--${o}`))}`);
    const noValue = /^Option '(?:-\w, )?(--[\w-]+) <value>' argument missing$/.exec(message);
    if (noValue) throw new BadOptionsError(`${noValue[1]} needs a value`);
    throw new BadOptionsError(`${message.charAt(0).toLowerCase()}${message.slice(1)}`);
  }
}

/** The playbook `run` was given must be a file that is there: anything else is a bad option, not a bad playbook. */
function requirePlaybookFile(path: string): string {
  let isFile: boolean;
  try {
    isFile = statSync(path).isFile();
  } catch {
    throw new BadOptionsError(`playbook ${path} not found`);
  }
  if (!isFile) throw new BadOptionsError(`${path} is not a file: run takes one playbook (validate also takes directories)`);
  return path;
}

export interface RunOptions {
  playbook: string;
  inventory?: string;
  check: boolean;
  diff: boolean;
  limit?: string;
  tags: string[];
  skipTags: string[];
  forks: number;
  extraVars: string[];
  output: 'human' | 'plain' | 'json';
  junit?: string;
  startAtTask?: string;
  acceptNewHostKeys: boolean;
  knownHosts?: string;
}

function parseRunOptions(args: string[]): RunOptions {
  const { values, positionals } = parse(args, {
    inventory: { type: 'string', short: 'i' },
    check: { type: 'boolean', short: 'C' },
    diff: { type: 'boolean', short: 'D' },
    limit: { type: 'string', short: 'l' },
    tags: { type: 'string', short: 't', multiple: true },
    'skip-tags': { type: 'string', multiple: true },
    forks: { type: 'string', short: 'f' },
    'extra-vars': { type: 'string', short: 'e', multiple: true },
    output: { type: 'string', short: 'o' },
    junit: { type: 'string' },
    'start-at-task': { type: 'string' },
    'accept-new-host-keys': { type: 'boolean' },
    'known-hosts': { type: 'string' },
  });
  if (positionals.length !== 1) throw new BadOptionsError(`run takes one playbook, got ${positionals.length === 0 ? 'none' : positionals.join(' ')}`);
  const forks = values.forks === undefined ? 10 : Number(values.forks);
  if (!Number.isInteger(forks) || forks < 1) throw new BadOptionsError(`--forks must be a whole number of at least 1, got '${values.forks}'`);
  const output = (values.output as string | undefined) ?? (process.stdout.isTTY && !process.env.CI ? 'human' : 'plain');
  if (output !== 'human' && output !== 'plain' && output !== 'json') throw new BadOptionsError(`--output must be human, plain or json, got '${output}'`);
  const list = (v: unknown) => ((v as string[] | undefined) ?? []).flatMap((t) => t.split(',')).map((t) => t.trim()).filter(Boolean);
  return {
    playbook: requirePlaybookFile(positionals[0]),
    inventory: values.inventory as string | undefined,
    check: Boolean(values.check),
    diff: Boolean(values.diff),
    limit: values.limit as string | undefined,
    tags: list(values.tags),
    skipTags: list(values['skip-tags']),
    forks,
    extraVars: (values['extra-vars'] as string[] | undefined) ?? [],
    output,
    junit: values.junit as string | undefined,
    startAtTask: values['start-at-task'] as string | undefined,
    acceptNewHostKeys: Boolean(values['accept-new-host-keys']),
    knownHosts: values['known-hosts'] as string | undefined,
  };
}

export interface ValidateOptions {
  paths: string[];
  inventory?: string;
  extraVars: string[];
  format: 'text' | 'github';
}

function parseValidateOptions(args: string[]): ValidateOptions {
  const { values, positionals } = parse(args, {
    inventory: { type: 'string', short: 'i' },
    'extra-vars': { type: 'string', short: 'e', multiple: true },
    format: { type: 'string' },
  });
  if (positionals.length === 0) throw new BadOptionsError('validate takes at least one playbook file or directory');
  const format = (values.format as string | undefined) ?? 'text';
  if (format !== 'text' && format !== 'github') throw new BadOptionsError(`--format must be text or github, got '${format}'`);
  return { paths: positionals, inventory: values.inventory as string | undefined, extraVars: (values['extra-vars'] as string[] | undefined) ?? [], format };
}

export interface InventoryOptions {
  inventory?: string;
  graph: boolean;
  host?: string;
}

function parseInventoryOptions(args: string[]): InventoryOptions {
  const { values, positionals } = parse(args, {
    inventory: { type: 'string', short: 'i' },
    graph: { type: 'boolean' },
    host: { type: 'string' },
  });
  if (positionals.length > 0) throw new BadOptionsError(`inventory takes no positional arguments, got ${positionals.join(' ')}`);
  return { inventory: values.inventory as string | undefined, graph: Boolean(values.graph), host: values.host as string | undefined };
}

export interface StatusOptions {
  inventory?: string;
  limit?: string;
  json: boolean;
  watch?: number;
  maxLagBytes?: number;
  maxLagSeconds?: number;
  acceptNewHostKeys: boolean;
  knownHosts?: string;
}

function parseStatusOptions(args: string[]): StatusOptions {
  const { values, positionals } = parse(args, {
    inventory: { type: 'string', short: 'i' },
    limit: { type: 'string', short: 'l' },
    json: { type: 'boolean' },
    watch: { type: 'string' },
    'max-lag-bytes': { type: 'string' },
    'max-lag-seconds': { type: 'string' },
    'accept-new-host-keys': { type: 'boolean' },
    'known-hosts': { type: 'string' },
  });
  if (positionals.length > 0) throw new BadOptionsError(`status takes no positional arguments, got ${positionals.join(' ')}`);
  const number = (name: string, integer: boolean, min: number): number | undefined => {
    const raw = values[name] as string | undefined;
    if (raw === undefined) return undefined;
    const n = Number(raw);
    if (raw.trim() === '' || !Number.isFinite(n) || n < min || (integer && !Number.isInteger(n))) {
      throw new BadOptionsError(`--${name} must be ${integer ? 'a whole number' : 'a number'} of at least ${min}, got '${raw}'`);
    }
    return n;
  };
  return {
    inventory: values.inventory as string | undefined,
    limit: values.limit as string | undefined,
    json: Boolean(values.json),
    watch: number('watch', false, 0.1),
    maxLagBytes: number('max-lag-bytes', true, 0),
    maxLagSeconds: number('max-lag-seconds', false, 0),
    acceptNewHostKeys: Boolean(values['accept-new-host-keys']),
    knownHosts: values['known-hosts'] as string | undefined,
  };
}

export interface InitOptions {
  dir: string;
  primary: { name: string; address: string };
  replicas: Array<{ name: string; address: string }>;
  ini: boolean;
  force: boolean;
}

function parseInitOptions(args: string[], parseHost: (option: '--primary' | '--replica', spec: string) => { name: string; address: string }): InitOptions {
  const { values, positionals } = parse(args, {
    primary: { type: 'string', multiple: true },
    replica: { type: 'string', multiple: true },
    ini: { type: 'boolean' },
    force: { type: 'boolean' },
  });
  if (positionals.length > 1) throw new BadOptionsError(`init takes one directory, got ${positionals.join(' ')}`);
  const primaries = (values.primary as string[] | undefined) ?? [];
  const replicaSpecs = (values.replica as string[] | undefined) ?? [];
  if (primaries.length !== 1) {
    throw new BadOptionsError(primaries.length === 0 ? 'init needs --primary NAME=ADDRESS, as in --primary pg1=10.0.0.11' : `init takes one --primary, got ${primaries.length}`);
  }
  if (replicaSpecs.length === 0) throw new BadOptionsError('init needs at least one --replica NAME=ADDRESS, as in --replica pg2=10.0.0.12');
  const primary = parseHost('--primary', primaries[0]);
  const replicas = replicaSpecs.map((r) => parseHost('--replica', r));
  const hosts = [primary, ...replicas];
  for (const [i, h] of hosts.entries()) {
    const other = hosts.slice(0, i).find((o) => o.name === h.name || o.address === h.address);
    if (other) throw new BadOptionsError(`two hosts with the ${other.name === h.name ? `name ${h.name}` : `address ${h.address}`}: each host has its own name and address`);
  }
  return { dir: positionals[0] ?? '.', primary, replicas, ini: Boolean(values.ini), force: Boolean(values.force) };
}

/** The one top-level catch: errors become messages and exit codes, never stack traces. */
function report(err: unknown): number {
  if (err instanceof InvalidInputError) {
    process.stderr.write(`${redact(err.message)}\n`);
    const n = err.diagnostics.length;
    process.stderr.write(`pgplay: ${n} error${n === 1 ? '' : 's'} found; nothing was run\n`);
    return err.exitCode;
  }
  if (err instanceof BadOptionsError) {
    process.stderr.write(`pgplay: ${redact(err.message)}\nRun 'pgplay --help' for usage.\n`);
    return err.exitCode;
  }
  if (err instanceof PgplayError) {
    process.stderr.write(`pgplay: ${redact(err.message)}\n`);
    return err.exitCode;
  }
  process.stderr.write(`pgplay: internal error: ${redact(errorMessage(err))}\n`);
  if (process.env.PGPLAY_DEBUG && err instanceof Error && err.stack) process.stderr.write(`${redact(err.stack)}\n`);
  return ExitCode.error;
}
