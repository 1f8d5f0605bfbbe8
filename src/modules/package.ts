// The package module: apt on Debian and Ubuntu, dnf on RHEL and its kin, chosen from the host's /etc/os-release.
// Check reads dpkg-query or rpm -q (and what apt-get -s would do); plan is the gap; steps run the manager.
import { aptInstallArgv, aptInstalled, aptListsAge, aptLock, aptProblems, aptRemoveArgv, aptSimulate, aptUpdate, APT_ENV, type AptSimulation } from './packages/apt';
import { describeOs, managerForOs, PACKAGE_NAME, runWaitingForLock, type ManagerName, type PackageState } from './packages/common';
import { dnfArgv, dnfCheckUpdateArgv, dnfInstalled, dnfLock, dnfProblems, DNF_ENV, parseCheckUpdate } from './packages/dnf';
import { fail, noop, type Diff, type ModuleDefinition, type Plan, type Step, type TaskContext } from './types';

type Names = string | string[];

export interface PackageArgs {
  /** Names, or names per manager ({apt: [...], dnf: [...]}) for a play that runs on both families. */
  name: Names | Partial<Record<ManagerName, Names>>;
  state?: PackageState;
  manager?: 'auto' | ManagerName;
  cache_valid_time?: number;
  lock_timeout?: number;
  install_recommends?: boolean;
  timeout?: number;
}

export interface PackageFacts {
  manager: ManagerName | null;
  os: string;
  names: string[];
  /** name -> installed version, or null when it is not installed. */
  installed: Record<string, string | null>;
  /** apt, when something is to be installed: seconds since the package lists were refreshed (null: never). */
  listsAge?: number | null;
  /** apt: what apt-get -s says the install (or removal) would do. */
  simulation?: AptSimulation;
  /** dnf, state latest: installed packages with a newer version in the repositories. */
  upgradable?: string[];
}

const DEFAULTS = { state: 'present' as PackageState, cache_valid_time: 3600, lock_timeout: 120, install_recommends: true, timeout: 1800 };

const nameList = (n: Names): string[] => (Array.isArray(n) ? n : [n]);

/** The names for this manager: the list itself, or its entry in a per-manager mapping (null when it has none). */
export function namesFor(name: PackageArgs['name'], manager: ManagerName): string[] | null {
  if (typeof name === 'string' || Array.isArray(name)) return nameList(name);
  const own = name[manager];
  return own === undefined ? null : nameList(own);
}

function nameProblems(name: unknown): string[] {
  const all = typeof name === 'string' || Array.isArray(name) ? nameList(name as Names) : Object.values((name ?? {}) as Record<string, Names>).flatMap(nameList);
  return all.filter((n) => typeof n === 'string' && !n.includes('{{') && !PACKAGE_NAME.test(n)).map((n) => `'${n}' is not a package name (letters, digits, + . _ - and an optional :arch)`);
}

const NAMES_SCHEMA = {
  anyOf: [
    { type: 'string', pattern: PACKAGE_NAME.source, patternErrorMessage: 'a package name: letters, digits, + . _ - and an optional :arch' },
    { type: 'array', minItems: 1, items: { type: 'string', pattern: PACKAGE_NAME.source, patternErrorMessage: 'a package name: letters, digits, + . _ - and an optional :arch' } },
  ],
};

export const packageModule: ModuleDefinition<PackageArgs, PackageFacts> = {
  name: 'package',
  summary: "Install, upgrade or remove OS packages: apt on Debian/Ubuntu, dnf on RHEL-like hosts, chosen from the host's /etc/os-release.",
  schema: {
    type: 'object',
    description: [
      "Packages through the host's own manager: apt-get on Debian and Ubuntu, dnf on RHEL, Rocky, Alma, CentOS and Fedora (from /etc/os-release; `manager` overrides it).",
      'What is installed is read with dpkg-query or rpm -q, so a re-run changes nothing; `--check` says which packages would be installed, dependencies included on apt (apt-get -s).',
      'apt-get update runs before an install only when the package lists are older than `cache_valid_time` (dnf: its metadata_expire).',
      "When another process holds the manager's lock, pgplay waits up to `lock_timeout` seconds, then fails saying which process holds it.",
      "A failed install says which package failed and why, in apt's or dnf's words. apt runs non-interactively and keeps the host's version of a changed configuration file.",
    ].join(' '),
    properties: {
      name: {
        description: 'A package name or a list of them; or a mapping with the names for each manager (`apt:`, `dnf:`), for hosts of both families.',
        anyOf: [
          ...NAMES_SCHEMA.anyOf,
          {
            type: 'object',
            properties: { apt: { ...NAMES_SCHEMA, description: 'The names on hosts where apt runs (Debian, Ubuntu).' }, dnf: { ...NAMES_SCHEMA, description: 'The names on hosts where dnf runs (RHEL and its kin).' } },
            additionalProperties: false,
            minProperties: 1,
          },
        ],
        examples: ['postgresql-15', ['postgresql-15', 'postgresql-contrib'], { apt: ['postgresql-15'], dnf: ['postgresql15-server'] }],
      },
      state: { type: 'string', enum: ['present', 'absent', 'latest'], default: 'present', description: 'present: installed (any version); latest: the newest version the repositories have; absent: removed (configuration files kept).' },
      manager: { type: 'string', enum: ['auto', 'apt', 'dnf'], default: 'auto', description: "The package manager; auto picks it from the host's /etc/os-release (ID and ID_LIKE)." },
      cache_valid_time: { type: 'integer', minimum: 0, default: 3600, description: 'Seconds the package lists stay fresh: apt-get update runs before an install only when they are older (dnf: metadata_expire).' },
      lock_timeout: { type: 'integer', minimum: 0, default: 120, description: "Seconds to wait while another process holds the package manager's lock." },
      install_recommends: { type: 'boolean', default: true, description: 'apt: install recommended packages too (--no-install-recommends when false).' },
      timeout: { type: 'integer', minimum: 10, default: 1800, description: 'Seconds one apt-get or dnf command may take.' },
    },
    required: ['name'],
    additionalProperties: false,
    examples: [{ name: 'postgresql-15' }, { name: { apt: ['postgresql-15'], dnf: ['postgresql15-server'] }, state: 'present' }],
  },
  validate(args) {
    return nameProblems(args.name).map((message) => ({ arg: 'name', message }));
  },
  async check(ctx, args) {
    const host = await ctx.conn.facts();
    const os = describeOs(host.os);
    const manager = args.manager && args.manager !== 'auto' ? args.manager : managerForOs(host.os);
    if (!manager) return { manager: null, os, names: [], installed: {} };
    const names = namesFor(args.name, manager) ?? [];
    if (names.length === 0) return { manager, os, names, installed: {} };
    const state = args.state ?? DEFAULTS.state;
    const installed = manager === 'apt' ? await aptInstalled(ctx, names) : await dnfInstalled(ctx, names);
    const facts: PackageFacts = { manager, os, names, installed };
    const missing = names.filter((n) => installed[n] === null);
    const present = names.filter((n) => installed[n] !== null);
    if (manager === 'apt') {
      if (state === 'absent' && present.length > 0) facts.simulation = await aptSimulate(ctx, aptRemoveArgv(present, true), present);
      if (state !== 'absent' && (missing.length > 0 || state === 'latest')) {
        const wanted = state === 'latest' ? names : missing;
        facts.listsAge = await aptListsAge(ctx);
        facts.simulation = await aptSimulate(ctx, aptInstallArgv(wanted, { installRecommends: args.install_recommends ?? DEFAULTS.install_recommends }, true), wanted);
      }
    } else if (state === 'latest' && present.length > 0) {
      const cache = args.cache_valid_time ?? DEFAULTS.cache_valid_time;
      const r = await runWaitingForLock(ctx, dnfCheckUpdateArgv(present, cache), { env: DNF_ENV, timeoutMs: 600_000 }, dnfLock(args.lock_timeout ?? DEFAULTS.lock_timeout));
      facts.upgradable = parseCheckUpdate(r, present);
    }
    return facts;
  },
  plan(args, facts) {
    const problems = nameProblems(args.name);
    if (problems.length > 0) return fail(problems.join('; '));
    if (!facts.manager) return fail(`no package manager pgplay knows on ${facts.os} (apt on Debian and Ubuntu, dnf on RHEL-like hosts): set manager`);
    if (facts.names.length === 0) return fail(`name gives no package names for ${facts.manager}`);
    const o = { ...DEFAULTS, ...withoutUndefined(args) };
    const shown = (n: string) => `${n} ${facts.installed[n]}`;
    const missing = facts.names.filter((n) => facts.installed[n] === null);
    const present = facts.names.filter((n) => facts.installed[n] !== null);
    if (o.state === 'absent') {
      if (present.length === 0) return noop(`not installed: ${facts.names.join(', ')}`);
      return removePlan(facts, present, o);
    }
    if (facts.manager === 'dnf') {
      const upgrade = o.state === 'latest' ? (facts.upgradable ?? []) : [];
      if (missing.length === 0 && upgrade.length === 0) return noop(`${o.state === 'latest' ? 'newest versions ' : ''}installed: ${present.map(shown).join(', ')}`);
      return dnfPlan(facts, missing, upgrade, o);
    }
    const stale = facts.listsAge === null || (facts.listsAge ?? 0) > o.cache_valid_time;
    const sim = facts.simulation ?? { install: [], remove: [], problems: [] };
    const named = new Set(facts.names.map((n) => n.replace(/:[a-z0-9_]+$/, '')));
    const upgrades = sim.install.filter((p) => named.has(p.name) && p.from !== undefined);
    if (missing.length === 0 && (o.state !== 'latest' || (!stale && upgrades.length === 0))) {
      return noop(`${o.state === 'latest' ? 'newest versions ' : ''}installed: ${present.map(shown).join(', ')}`);
    }
    // Fresh lists that do not know a package: the install cannot work, so nothing is tried.
    if (!stale && sim.problems.length > 0) return fail(`apt-get cannot install ${sim.problems.join('; ')}`);
    const plan = aptPlan(facts, o.state === 'latest' ? facts.names : missing, stale, sim, o);
    // Stale lists may not know a package yet: the update comes first, and the install says if they still do not.
    if (sim.problems.length > 0 && plan.kind === 'change') plan.warnings = sim.problems.map((p) => `${p}; the lists are refreshed first`);
    return plan;
  },
};

type Options = typeof DEFAULTS;

function withoutUndefined<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}

function age(seconds: number | null | undefined): string {
  if (seconds === null || seconds === undefined) return 'never refreshed';
  if (seconds < 120) return `${seconds} s old`;
  if (seconds < 7200) return `${Math.round(seconds / 60)} min old`;
  return `${Math.round(seconds / 3600)} h old`;
}

function packagesDiff(manager: ManagerName, before: string[], after: string[]): Diff {
  return { path: `packages (${manager})`, before: before.length > 0 ? `${before.join('\n')}\n` : '', after: after.length > 0 ? `${after.join('\n')}\n` : '' };
}

function aptPlan(facts: PackageFacts, wanted: string[], stale: boolean, sim: AptSimulation, o: Options): Plan {
  const named = new Set(wanted.map((n) => n.replace(/:[a-z0-9_]+$/, '')));
  const extra = sim.install.filter((p) => !named.has(p.name));
  const shownSim = sim.install.map((p) => `${p.name} ${p.from ? `${p.from} -> ` : ''}${p.version}`);
  const verb = facts.names.every((n) => facts.installed[n] !== null) ? 'upgrade' : 'install';
  const summary = [
    `${verb} ${wanted.join(', ')}`,
    extra.length > 0 ? ` (with ${extra.length} more: ${extra.map((p) => p.name).join(', ')})` : '',
    stale ? `; the package lists are ${age(facts.listsAge)}: apt-get update first` : '',
  ].join('');
  const steps: Step[] = [];
  if (stale) steps.push({ description: 'apt-get update', apply: (ctx) => aptUpdate(ctx, o.lock_timeout) });
  steps.push({
    description: `apt-get install ${wanted.join(' ')}`,
    async apply(ctx) {
      ctx.progress(`apt-get install ${wanted.join(' ')}`);
      const r = await runWaitingForLock(ctx, aptInstallArgv(wanted, { installRecommends: o.install_recommends }), { env: APT_ENV, timeoutMs: o.timeout * 1000, onOutput: lastLineProgress(ctx) }, aptLock(o.lock_timeout));
      if (r.failed) throw new Error(`apt-get install on ${ctx.name} failed: ${aptProblems(r, wanted).join('; ')}`);
      return { installed: await expectInstalled(ctx, 'apt', wanted) };
    },
  });
  return {
    kind: 'change',
    summary,
    steps,
    diffs: [packagesDiff('apt', wanted.map((n) => `${n}: ${facts.installed[n] ?? 'not installed'}`), shownSim.length > 0 ? shownSim : wanted.map((n) => `${n}: the newest version`))],
    result: { manager: 'apt', packages: shownSim.length > 0 ? shownSim : wanted },
  };
}

function dnfPlan(facts: PackageFacts, missing: string[], upgrade: string[], o: Options): Plan {
  const steps: Step[] = [];
  const command = (kind: 'install' | 'upgrade', names: string[]): Step => ({
    description: `dnf ${kind} ${names.join(' ')}`,
    async apply(ctx) {
      ctx.progress(`dnf ${kind} ${names.join(' ')}`);
      const r = await runWaitingForLock(ctx, dnfArgv(kind, names, o.cache_valid_time), { env: DNF_ENV, timeoutMs: o.timeout * 1000, onOutput: lastLineProgress(ctx) }, dnfLock(o.lock_timeout));
      if (r.failed) throw new Error(`dnf ${kind} on ${ctx.name} failed: ${dnfProblems(r, names).join('; ')}`);
      return { installed: await expectInstalled(ctx, 'dnf', names) };
    },
  });
  if (missing.length > 0) steps.push(command('install', missing));
  if (upgrade.length > 0) steps.push(command('upgrade', upgrade));
  const summary = [missing.length > 0 ? `install ${missing.join(', ')}` : '', upgrade.length > 0 ? `upgrade ${upgrade.join(', ')}` : ''].filter(Boolean).join('; ');
  const touched = [...missing, ...upgrade];
  return {
    kind: 'change',
    summary,
    steps,
    diffs: [packagesDiff('dnf', touched.map((n) => `${n}: ${facts.installed[n] ?? 'not installed'}`), touched.map((n) => `${n}: the newest version`))],
    result: { manager: 'dnf', packages: touched },
  };
}

function removePlan(facts: PackageFacts, present: string[], o: Options): Plan {
  const manager = facts.manager as ManagerName;
  const named = new Set(present.map((n) => n.replace(/:[a-z0-9_]+$/, '')));
  const extra = (facts.simulation?.remove ?? []).filter((p) => !named.has(p.name)).map((p) => p.name);
  return {
    kind: 'change',
    summary: `remove ${present.join(', ')}`,
    warnings: extra.length > 0 ? [`removing ${present.join(', ')} also removes ${extra.join(', ')} (they depend on it)`] : undefined,
    diffs: [packagesDiff(manager, present.map((n) => `${n}: ${facts.installed[n]}`), [...present, ...extra].map((n) => `${n}: not installed`))],
    result: { manager, packages: present },
    steps: [
      {
        description: `${manager === 'apt' ? 'apt-get' : 'dnf'} remove ${present.join(' ')}`,
        async apply(ctx) {
          ctx.progress(`removing ${present.join(' ')}`);
          const r =
            manager === 'apt'
              ? await runWaitingForLock(ctx, aptRemoveArgv(present), { env: APT_ENV, timeoutMs: o.timeout * 1000 }, aptLock(o.lock_timeout))
              : await runWaitingForLock(ctx, dnfArgv('remove', present, o.cache_valid_time), { env: DNF_ENV, timeoutMs: o.timeout * 1000 }, dnfLock(o.lock_timeout));
          if (r.failed) throw new Error(`removing ${present.join(', ')} on ${ctx.name} failed: ${(manager === 'apt' ? aptProblems(r, present) : dnfProblems(r, present)).join('; ')}`);
          const after = manager === 'apt' ? await aptInstalled(ctx, present) : await dnfInstalled(ctx, present);
          const left = present.filter((n) => after[n] !== null);
          if (left.length > 0) throw new Error(`still installed after the removal: ${left.join(', ')}`);
          return { removed: present };
        },
      },
    ],
  };
}

/** The manager said it succeeded: each package must now be installed, else that is the failure. */
async function expectInstalled(ctx: TaskContext, manager: ManagerName, names: string[]): Promise<Record<string, string>> {
  const now = manager === 'apt' ? await aptInstalled(ctx, names) : await dnfInstalled(ctx, names);
  const missing = names.filter((n) => now[n] === null);
  if (missing.length > 0) throw new Error(`${missing.join(', ')}: not installed after ${manager === 'apt' ? 'apt-get' : 'dnf'} said it succeeded`);
  return now as Record<string, string>;
}

function lastLineProgress(ctx: TaskContext): (chunk: string) => void {
  let last = 0;
  return (chunk) => {
    const line = chunk.split(/\r?\n/).filter((l) => l.trim()).pop();
    if (!line || Date.now() - last < 1000) return;
    last = Date.now();
    ctx.progress(line.trim().slice(0, 120));
  };
}
