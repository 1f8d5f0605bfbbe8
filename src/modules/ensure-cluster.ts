// ensure_cluster: a PostgreSQL cluster in the host's data directory, made only when there is none. Debian's
// postgresql-common makes it with pg_createcluster; elsewhere the service's setup command (RHEL) or initdb does.
// A directory that holds a cluster, or anything else, is never initialised again.
import { bytesToText, textToBytes } from '../facts/bytes';
import { confValues, setConfValues } from '../facts/conf-file';
import type { PgSettings } from '../facts/pg-settings';
import { lastLine } from './pg/server';
import { fail, noop, type ModuleDefinition, type Plan, type Step, type TaskContext } from './types';

export interface EnsureClusterArgs {
  checksums?: boolean;
  initdb_options?: string[];
  setup_command?: boolean;
}

export interface SetupCommand {
  argv: string[];
  /** The data directory the service's unit names (PGDATA): the setup command initialises that one. */
  unitDataDir: string | null;
}

export interface EnsureClusterFacts {
  host: string;
  /** debian: postgresql-common runs the cluster (pg_service pg_ctlcluster); initdb: any other layout. */
  layout: 'debian' | 'initdb';
  version: string;
  cluster: string;
  dataDir: string;
  configDir: string;
  /** Entries of the data directory, null when it does not exist. */
  entries: string[] | null;
  /** PG_VERSION of the cluster in the data directory. */
  pgVersion: string | null;
  /** Debian: postgresql.conf of the cluster in /etc/postgresql/VERSION/NAME exists. */
  debianConfig: boolean;
  /** The program that makes the cluster is installed (pg_createcluster, or initdb in pg_bin_dir). */
  toolPresent: boolean;
  /** RHEL: the service's setup command (postgresql-15-setup, postgresql-setup) when installed and pg_service names a unit. */
  setup: SetupCommand | null;
}

const AUTH = ['--auth-local=peer', '--auth-host=scram-sha-256'];

export function initdbOptions(args: EnsureClusterArgs): string[] {
  return [...AUTH, ...(args.checksums === false ? [] : ['--data-checksums']), ...(args.initdb_options ?? [])];
}

function optionProblems(args: EnsureClusterArgs): string[] {
  return (args.initdb_options ?? [])
    .filter((o) => typeof o === 'string' && !o.includes('{{'))
    .flatMap((o) => (!/^--[a-z]/.test(o) ? [`'${o}' is not a long option (--name or --name=value)`] : /^--pgdata\b/.test(o) ? ['the data directory is pg_data_dir: --pgdata cannot be given'] : []));
}

export const ensureClusterModule: ModuleDefinition<EnsureClusterArgs, EnsureClusterFacts> = {
  name: 'ensure_cluster',
  summary: "Create the host's PostgreSQL cluster when there is none: pg_createcluster on Debian, the service's setup command or initdb elsewhere.",
  schema: {
    type: 'object',
    description: [
      'Makes sure a cluster exists in pg_data_dir; one that exists is left as it is, whatever its settings (a data directory that holds a cluster is never initialised again, and one that holds other files is refused).',
      "On Debian and Ubuntu (pg_service pg_ctlcluster, or pg_config_dir /etc/postgresql/VERSION/NAME): the package made and started a cluster; when there is none, pg_createcluster makes it with the host's port and socket directory.",
      "Otherwise (RHEL's package leaves no cluster): the service's setup command when it is installed and its systemd unit (pg_service systemd:UNIT) names pg_data_dir as PGDATA (postgresql-VERSION-setup initdb, postgresql-setup --initdb), else initdb as the PostgreSQL OS user; then the host's pg_port and pg_socket_dir are written to postgresql.conf where the defaults differ.",
      'Every way runs initdb with --auth-local=peer --auth-host=scram-sha-256 and data checksums (unless checksums is false). The new cluster is left stopped: the service module starts it.',
    ].join(' '),
    properties: {
      checksums: { type: 'boolean', default: true, description: 'initdb --data-checksums: PostgreSQL checks every page it reads.' },
      initdb_options: { type: 'array', items: { type: 'string', pattern: '^--[a-z]', patternErrorMessage: 'a long option: --name or --name=value' }, description: 'More initdb options, e.g. the locale and encoding.', examples: [['--locale=C.UTF-8', '--encoding=UTF8']] },
      setup_command: { type: 'boolean', default: true, description: "RHEL: use the service's setup command when it is installed (false: always initdb)." },
    },
    additionalProperties: false,
    examples: [{}, { initdb_options: ['--locale=C.UTF-8'] }],
  },
  validate(args) {
    return optionProblems(args ?? {}).map((message) => ({ arg: 'initdb_options', message }));
  },
  async check(ctx, args) {
    const { conn, pg } = ctx;
    const debian = isDebianLayout(pg);
    const [entries, version, conf] = await Promise.all([conn.list(pg.dataDir), conn.readFile(`${pg.dataDir}/PG_VERSION`), debian ? conn.stat(`${pg.configDir}/postgresql.conf`) : null]);
    const facts: EnsureClusterFacts = {
      host: ctx.name,
      layout: debian ? 'debian' : 'initdb',
      version: pg.version,
      cluster: pg.cluster,
      dataDir: pg.dataDir,
      configDir: pg.configDir,
      entries,
      pgVersion: version ? bytesToText(version.content).trim() : null,
      debianConfig: conf !== null,
      toolPresent: false,
      setup: null,
    };
    if (facts.pgVersion !== null || (debian && facts.debianConfig)) return facts;
    facts.toolPresent = (await conn.stat(debian ? '/usr/bin/pg_createcluster' : `${pg.binDir}/initdb`)) !== null;
    if (!debian && args?.setup_command !== false) facts.setup = await findSetupCommand(ctx);
    return facts;
  },
  plan(args, facts) {
    const problems = optionProblems(args ?? {});
    if (problems.length > 0) return fail(problems.join('; '));
    const where = facts.layout === 'debian' ? `${facts.version}/${facts.cluster} (${facts.dataDir})` : facts.dataDir;
    if (facts.pgVersion !== null) {
      if (facts.pgVersion !== facts.version) return fail(`${facts.dataDir} holds a PostgreSQL ${facts.pgVersion} cluster, not ${facts.version} (pg_version): it is left as it is`);
      if (facts.layout === 'debian' && !facts.debianConfig) {
        return fail(`${facts.dataDir} holds a cluster that postgresql-common does not know (no ${facts.configDir}/postgresql.conf): it is not initialised again; pg_createcluster can adopt it, or set pg_service`);
      }
      return noop(`a PostgreSQL ${facts.pgVersion} cluster exists in ${facts.dataDir}`);
    }
    if (facts.layout === 'debian' && facts.debianConfig) {
      return fail(`the cluster ${facts.version}/${facts.cluster} has its configuration in ${facts.configDir} but no cluster in ${facts.dataDir}: pgplay does not make it again (restore the data directory, or pg_dropcluster ${facts.version} ${facts.cluster} first)`);
    }
    const files = facts.entries ?? [];
    if (files.length > 0) return fail(`${facts.dataDir} holds ${files.length} file(s) but no cluster (${files.slice(0, 3).join(', ')}${files.length > 3 ? ', ...' : ''}): refusing to initialise over them`);
    return createPlan(args ?? {}, facts, where);
  },
};

/** postgresql-common's layout: run by pg_ctlcluster, or its configuration in /etc/postgresql/VERSION/NAME. */
export function isDebianLayout(pg: PgSettings): boolean {
  return pg.serviceControl === 'pg_ctlcluster' || /^\/etc\/postgresql\/[^/]+\/[^/]+\/?$/.test(pg.configDir);
}

/** The RHEL setup command of this host's unit, when installed and its unit names pg_data_dir. */
async function findSetupCommand(ctx: TaskContext): Promise<SetupCommand | null> {
  const { conn, pg } = ctx;
  if (!pg.serviceControl.startsWith('systemd:')) return null;
  const unit = pg.serviceControl.slice('systemd:'.length).replace(/\.service$/, '');
  const pgdg = `${pg.binDir}/postgresql-${pg.version}-setup`;
  const candidates: Array<[string, string[]]> = [
    [pgdg, [pgdg, 'initdb', unit]],
    ['/usr/bin/postgresql-setup', ['/usr/bin/postgresql-setup', '--initdb', '--unit', unit]],
  ];
  for (const [path, argv] of candidates) {
    if (!(await conn.stat(path))) continue;
    const shown = await conn.run(['systemctl', 'show', '--property=Environment', '--value', `${unit}.service`], { timeoutMs: 30_000 });
    return { argv, unitDataDir: shown.failed ? null : unitPgdata(shown.stdout) };
  }
  return null;
}

/** PGDATA from `systemctl show --property=Environment --value`: space-separated NAME=VALUE words. */
export function unitPgdata(environment: string): string | null {
  const m = /(?:^|\s)PGDATA=(\S+)/.exec(environment);
  return m ? m[1].replace(/\/+$/, '') : null;
}

export function createClusterArgv(pg: PgSettings, options: string[]): string[] {
  const argv = ['pg_createcluster', pg.version, pg.cluster, '--port', String(pg.port)];
  if (pg.dataDir !== `/var/lib/postgresql/${pg.version}/${pg.cluster}`) argv.push('--datadir', pg.dataDir);
  if (pg.socketDir.replace(/\/+$/, '') !== '/var/run/postgresql') argv.push('--socketdir', pg.socketDir);
  if (pg.logFileSet) argv.push('--logfile', pg.logFile);
  return [...argv, '--', ...options];
}

function createPlan(args: EnsureClusterArgs, facts: EnsureClusterFacts, where: string): Plan {
  const options = initdbOptions(args);
  const setup = facts.setup && facts.setup.unitDataDir === facts.dataDir.replace(/\/+$/, '') ? facts.setup : null;
  const how = facts.layout === 'debian' ? 'pg_createcluster' : setup ? setup.argv.slice(0, 2).map((a) => a.split('/').pop()).join(' ') : 'initdb';
  const warnings: string[] = [];
  if (facts.setup && !setup) warnings.push(`${facts.setup.argv[0]} initialises ${facts.setup.unitDataDir ?? "its unit's own PGDATA"}, not ${facts.dataDir}: initdb is run instead`);
  if (!facts.toolPresent) warnings.push(`${facts.layout === 'debian' ? 'pg_createcluster' : 'initdb'} is not installed yet: the server package must be installed first`);
  const state: { created?: boolean; dirMade?: boolean } = {};
  const steps: Step[] = [
    {
      description: `initialise ${where} with ${how}`,
      async apply(ctx) {
        // Read again right before: a cluster that appeared since the check is never initialised over.
        const entries = await ctx.conn.list(ctx.pg.dataDir);
        if ((entries ?? []).length > 0) throw new Error(`${ctx.pg.dataDir} is no longer empty (${(entries ?? []).slice(0, 3).join(', ')}): nothing was initialised`);
        ctx.progress(`${how} ${ctx.pg.dataDir}`);
        if (facts.layout === 'debian') await run(ctx, createClusterArgv(ctx.pg, options), {});
        else if (setup) await run(ctx, setup.argv, { env: { PGSETUP_INITDB_OPTIONS: options.join(' ') } });
        else {
          if (entries === null) {
            await ctx.conn.mkdir(ctx.pg.dataDir, { owner: ctx.pg.osUser, mode: '0700' });
            state.dirMade = true;
          }
          await run(ctx, [`${ctx.pg.binDir}/initdb`, '-D', ctx.pg.dataDir, ...options], { as: ctx.pg.osUser });
        }
        state.created = true;
        const made = await ctx.conn.readFile(`${ctx.pg.dataDir}/PG_VERSION`);
        if (!made) throw new Error(`${how} succeeded but ${ctx.pg.dataDir} holds no cluster`);
        return { data_dir: ctx.pg.dataDir, created_with: how };
      },
      async undo(ctx) {
        if (!state.created) return;
        if (facts.layout === 'debian') {
          await run(ctx, ['pg_dropcluster', ctx.pg.version, ctx.pg.cluster], {});
          return `the new cluster ${ctx.pg.version}/${ctx.pg.cluster} dropped again`;
        }
        if (state.dirMade) await ctx.conn.remove(ctx.pg.dataDir, { recursive: true });
        else for (const name of (await ctx.conn.list(ctx.pg.dataDir)) ?? []) await ctx.conn.remove(`${ctx.pg.dataDir}/${name}`, { recursive: true });
        return `${ctx.pg.dataDir} is ${state.dirMade ? 'gone' : 'empty'} again, as before`;
      },
    },
  ];
  if (facts.layout === 'initdb') steps.push({ description: 'port and socket directory of this host', apply: (ctx) => writeHostSettings(ctx) });
  return {
    kind: 'change',
    summary: `create the PostgreSQL ${facts.version} cluster ${where} with ${how}`,
    warnings: warnings.length > 0 ? warnings : undefined,
    diffs: [{ path: facts.dataDir, before: facts.entries === null ? 'no directory\n' : 'empty\n', after: `PostgreSQL ${facts.version} cluster (${options.join(' ')}), stopped\n` }],
    steps,
  };
}

async function run(ctx: TaskContext, argv: string[], options: { as?: string; env?: Record<string, string> }): Promise<void> {
  const r = await ctx.conn.run(argv, { ...options, env: { LC_ALL: 'C', ...options.env }, timeoutMs: 600_000, signal: ctx.signal });
  if (r.failed) throw new Error(`${argv[0].split('/').pop()} on ${ctx.name} failed: ${lastLine(r)}`);
}

/** The port and socket directory the inventory gives this host, where the new cluster's own defaults differ. */
async function writeHostSettings(ctx: TaskContext): Promise<Record<string, unknown> | void> {
  const { conn, pg } = ctx;
  const wanted: Record<string, string> = { port: String(pg.port), unix_socket_directories: pg.socketDir };
  const changed: Record<string, string> = {};
  for (const [name, value] of Object.entries(wanted)) {
    const r = await conn.run([`${pg.binDir}/postgres`, '-C', name, '-D', pg.dataDir], { as: pg.osUser, timeoutMs: 60_000 });
    if (r.failed) throw new Error(`postgres -C ${name} on ${ctx.name} failed: ${lastLine(r)}`);
    if (r.stdout.trim() !== value) changed[name] = value;
  }
  if (Object.keys(changed).length === 0) return;
  const path = `${pg.dataDir}/postgresql.conf`;
  const file = await conn.readFile(path);
  if (!file) throw new Error(`${path} does not exist after initdb`);
  const text = bytesToText(file.content);
  await conn.writeFile(path, textToBytes(setConfValues(text, changed)), { owner: file.owner, group: file.group, mode: file.mode });
  const after = confValues(setConfValues(text, changed));
  return { settings: Object.fromEntries(Object.keys(changed).map((k) => [k, after.get(k)])) };
}
