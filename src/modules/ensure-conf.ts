import { bytesToText, displayText, fromUtf8, textToBytes } from '../facts/bytes';
import { AUTO_CONF_HEADER, confValueProblem, confValues, setConfValues } from '../facts/conf-file';
import { canonicalValue, displaySetting, LIST_QUOTED, sameValue, toConfText, type SettingInfo } from '../facts/conf-values';
import { quoteIdent, quoteLiteral } from '../facts/sql-session';
import { runUnlogged } from '../facts/unlogged-statement';
import { holdsSecret } from '../secrets';
import { describeConfig } from './pg/describe-config';
import { probeServer, sleep } from './pg/server';
import { fail, noop, type ModuleDefinition, type Step, type TaskContext } from './types';

export interface EnsureConfArgs {
  settings: Record<string, string | number | boolean | string[]>;
  /** postgresql.auto.conf (default: ALTER SYSTEM), or a file under the configuration directory. */
  file?: string;
}

type Info = Pick<SettingInfo, 'vartype' | 'unit' | 'context'> & { active?: string; display?: string };

export interface EnsureConfFacts {
  running: boolean;
  /** What the server knows of each wanted name (lower case); missing: no such setting. */
  info: Record<string, Info>;
  /** The value written in the configuration files for each name, when one is. */
  inFiles: Record<string, string>;
  /** The file pgplay edits itself (stopped server, or a file other than postgresql.auto.conf), as one byte per character; null text: no file. */
  file: { path: string; text: string | null } | null;
  useAlterSystem: boolean;
}

const AUTO = 'postgresql.auto.conf';

function targetPath(ctx: TaskContext, file: string | undefined): string {
  if (!file || file === AUTO) return `${ctx.pg.dataDir}/${AUTO}`;
  return file.startsWith('/') ? file : `${ctx.pg.configDir}/${file}`;
}

export const ensureConfModule: ModuleDefinition<EnsureConfArgs, EnsureConfFacts> = {
  name: 'ensure_conf',
  readsServer: true,
  summary: 'Set PostgreSQL settings (GUCs); reports whether a restart or a reload is needed.',
  schema: {
    type: 'object',
    description:
      'Set settings by name. Values are compared as the server reads them (64MB = 65536kB, on = true), so only the gap is written. On a running server with the default file this is ALTER SYSTEM SET then pg_reload_conf(); on a stopped server postgresql.auto.conf (or `file`) is edited directly. The result needs a restart when a changed setting has context postmaster, else a reload.',
    properties: {
      settings: {
        type: 'object',
        description: 'Setting name to wanted value.',
        minProperties: 1,
        additionalProperties: { type: ['string', 'number', 'boolean', 'array'], items: { type: 'string' } },
        examples: [{ wal_level: 'replica', max_wal_senders: 10, wal_keep_size: '256MB', hot_standby: 'on' }],
      },
      file: {
        type: 'string',
        description: 'Where the values go: postgresql.auto.conf (default, via ALTER SYSTEM when the server runs), or a file relative to the configuration directory that postgresql.conf includes.',
        default: AUTO,
        examples: [AUTO, 'conf.d/replication.conf'],
      },
    },
    required: ['settings'],
    additionalProperties: false,
    examples: [{ settings: { listen_addresses: '10.0.0.11', wal_level: 'replica' } }],
  },
  validate(args) {
    const out: Array<{ arg: string | string[]; message: string }> = [];
    for (const name of Object.keys(args.settings ?? {})) {
      if (!/^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)?$/.test(name)) out.push({ arg: 'settings', message: `'${name}' is not a setting name` });
    }
    // Values still holding {{ }} are checked once rendered, in plan.
    for (const [name, value] of Object.entries(args.settings ?? {})) {
      const texts = (Array.isArray(value) ? value : [value]).filter((v): v is string => typeof v === 'string' && !v.includes('{{'));
      const problem = texts.map(confValueProblem).find(Boolean);
      if (problem) out.push({ arg: ['settings', name], message: `${name} ${problem}` });
    }
    return out;
  },
  async check(ctx, args) {
    const names = Object.keys(args.settings).map((n) => n.toLowerCase());
    const useDefault = !args.file || args.file === AUTO;
    const { sql } = await probeServer(ctx);
    const running = sql !== null;
    const info: Record<string, Info> = {};
    const inFiles: Record<string, string> = {};
    let file: EnsureConfFacts['file'] = null;
    if (sql) {
      // Both views in one query: one round trip to the server instead of two.
      const [both] = await sql.query<{ settings: Array<SettingInfo & { pending_restart: boolean }>; files: Array<{ name: string; setting: string }> }>(
        `SELECT (SELECT coalesce(json_agg(json_build_object('name', name, 'setting', setting, 'unit', unit, 'vartype', vartype,
                                                           'context', context, 'pending_restart', pending_restart)), '[]')
                   FROM pg_settings WHERE lower(name) = ANY($1)) AS settings,
                -- Rows with an error are kept: a postmaster setting waiting for a restart says "could not be applied".
                (SELECT coalesce(json_agg(json_build_object('name', name, 'setting', setting) ORDER BY seqno), '[]')
                   FROM pg_file_settings WHERE lower(name) = ANY($1) AND setting IS NOT NULL) AS files`,
        [names],
      );
      for (const r of both.settings) info[r.name.toLowerCase()] = { vartype: r.vartype, unit: r.unit, context: r.context, active: r.setting, display: displaySetting(r) };
      for (const r of both.files) inFiles[r.name.toLowerCase()] = r.setting;
    } else {
      const described = await describeConfig(ctx.conn, ctx.pg);
      for (const name of names) {
        const d = described.get(name);
        if (d) info[name] = { ...d, unit: null };
      }
    }
    if (!running || !useDefault) {
      const path = targetPath(ctx, args.file);
      const current = await ctx.conn.readFile(path);
      file = { path, text: current ? bytesToText(current.content) : null };
      if (!running && file.text !== null) for (const [name, value] of confValues(file.text)) if (names.includes(name)) inFiles[name] = displayText(value);
    }
    return { running, info, inFiles, file, useAlterSystem: running && useDefault };
  },
  plan(args, facts) {
    const write: Record<string, string> = {};
    const gap: Record<string, string> = {};
    const before: string[] = [];
    const after: string[] = [];
    let restart = false;
    let reload = false;
    const warnings: string[] = [];
    for (const [rawName, rawValue] of Object.entries(args.settings)) {
      const name = rawName.toLowerCase();
      const wanted = toConfText(rawValue);
      const unsafe = confValueProblem(wanted);
      if (unsafe) return fail(`${rawName} ${unsafe}`);
      const custom = name.includes('.');
      const info: Info | undefined = facts.info[name] ?? (custom ? { vartype: 'string', unit: null, context: 'user' } : undefined);
      if (!info) return fail(`PostgreSQL has no setting named ${rawName}`);
      if (info.context === 'internal') return fail(`${rawName} is fixed when the cluster is created and cannot be set`);
      const bad = canonicalValue(wanted, info).error;
      if (bad) return fail(`${rawName}: ${bad}`);
      const fileValue = facts.inFiles[name];
      const inFile = fileValue !== undefined ? sameValue(fileValue, wanted, info) : info.active !== undefined && sameValue(info.active, wanted, info);
      const active = !facts.running || (info.active !== undefined && sameValue(info.active, wanted, info));
      if (inFile && active) continue;
      if (!inFile) write[name] = wanted;
      gap[name] = wanted;
      if (facts.running) {
        if (info.context === 'postmaster') restart = true;
        else reload = true;
      }
      // The server itself logs a reloaded setting's new value ("parameter ... changed to ..."): a password would reach its log.
      if (facts.running && holdsPassword(name, wanted)) {
        return fail(`refusing to set ${rawName} with a password in it on a running server: PostgreSQL writes the new value to its log when it reloads ("parameter changed to ..."); give the password through a passfile (passfile=... in the conninfo, as basebackup writes it)`);
      }
      before.push(`${name} = ${info.display ?? fileValue ?? '(default)'}`);
      after.push(`${name} = ${wanted}${inFile ? ' (written, not yet in use)' : ''}`);
    }
    const changed = Object.keys(write);
    if (before.length === 0) return noop(`${Object.keys(args.settings).length} setting(s) already as wanted`);
    const needs = restart ? 'restart' : reload ? 'reload' : undefined;
    const steps: Step[] = [];
    if (changed.length > 0) steps.push(facts.useAlterSystem ? alterSystemStep(write) : fileStep(facts, write));
    if (facts.running) steps.push(reloadStep(gap, facts.info));
    const pendingOnly = changed.length === 0;
    const where = facts.useAlterSystem ? 'ALTER SYSTEM' : (facts.file?.path ?? '');
    return {
      kind: 'change',
      summary: pendingOnly
        ? `${before.length} setting(s) written but not in use: ${needs === 'restart' ? 'the server needs a restart' : 'reloading'}`
        : `${changed.join(', ')} set via ${where}${needs ? `; needs ${needs}` : '; takes effect when the server starts'}`,
      steps,
      diffs: [{ path: facts.useAlterSystem ? 'settings' : (facts.file?.path ?? 'settings'), before: `${before.join('\n')}\n`, after: `${after.join('\n')}\n` }],
      needs,
      warnings: warnings.length > 0 ? warnings : undefined,
      result: { settings: changed, needs: needs ?? null },
    };
  },
};

/** A value with a password in it: a known secret, or a conninfo with a password keyword. */
function holdsPassword(name: string, value: string): boolean {
  return holdsSecret(value) || (/conninfo$/.test(name) && /(^|\s)password\s*=/.test(value));
}

/** Settings whose values may carry a password or a key: ALTER SYSTEM for them is kept out of every statement record. */
const CREDENTIAL_SETTINGS = new Set(['primary_conninfo', 'ssl_passphrase_command', 'archive_command', 'restore_command', 'archive_cleanup_command', 'recovery_end_command']);

export function mayHoldCredentials(name: string, value: string): boolean {
  return CREDENTIAL_SETTINGS.has(name) || /password|passphrase|conninfo|secret/.test(name) || holdsSecret(value);
}

function alterSystemStep(write: Record<string, string>): Step {
  return {
    description: `ALTER SYSTEM SET ${Object.keys(write).join(', ')}`,
    async apply(ctx) {
      const sql = await ctx.sql();
      for (const [name, value] of Object.entries(write)) {
        const target = name.split('.').map(quoteIdent).join('.');
        const literals = LIST_QUOTED.has(name) ? value.split(',').map((v) => quoteLiteral(v.trim())) : [quoteLiteral(value)];
        const statement = `ALTER SYSTEM SET ${target} TO ${literals.join(', ')}`;
        if (mayHoldCredentials(name, value)) await runUnlogged(sql, statement, { transaction: false });
        else await sql.query(statement);
      }
    },
  };
}

function fileStep(facts: EnsureConfFacts, write: Record<string, string>): Step {
  const file = facts.file;
  if (!file) throw new Error('no file to edit');
  const base = file.text ?? (file.path.endsWith(AUTO) ? AUTO_CONF_HEADER : '');
  const content = setConfValues(base, Object.fromEntries(Object.entries(write).map(([name, value]) => [name, fromUtf8(value)])));
  return {
    description: `write ${Object.keys(write).join(', ')} to ${file.path}`,
    async apply(ctx) {
      // A new file is the PostgreSQL OS user's, 0600; an existing one keeps its owner and mode.
      await ctx.conn.writeFile(file.path, textToBytes(content), file.text === null ? { owner: ctx.pg.osUser, mode: '0600' } : {});
      if (!facts.running) return;
      // A file postgresql.conf does not include would be written on every run and never used.
      const names = Object.keys(write);
      const rows = await (await ctx.sql()).query('SELECT 1 FROM pg_file_settings WHERE sourcefile = $1 AND lower(name) = ANY($2)', [file.path, names]);
      if (rows.length === 0) throw new Error(`${file.path} is not read by the server: include it from postgresql.conf (include or include_dir)`);
    },
  };
}

/** Reload, then wait until the server uses the reloadable values (the reload is asynchronous). */
function reloadStep(expect: Record<string, string>, info: Record<string, Info>): Step {
  return {
    description: 'SELECT pg_reload_conf()',
    async apply(ctx) {
      const sql = await ctx.sql();
      await sql.query('SELECT pg_reload_conf()');
      const names = Object.keys(expect).filter((n) => info[n] && info[n].context !== 'postmaster');
      for (let i = 0; i < 250 && names.length > 0; i++) {
        await sleep(20);
        const rows = await sql.query<{ name: string; setting: string }>('SELECT lower(name) AS name, setting FROM pg_settings WHERE lower(name) = ANY($1)', [names]);
        if (rows.every((r) => sameValue(r.setting, expect[r.name], info[r.name]))) return;
      }
    },
  };
}
