import { bytesToText, displayText, fromUtf8 } from '../facts/bytes';
import { readConfChain, valuesInForce, walkConfChain, type ConfSnapshot } from '../facts/conf-chain';
import { AUTO_CONF_HEADER, confValueProblem, setConfValues } from '../facts/conf-file';
import { canonicalValue, displaySetting, sameValue, toConfText, type SettingInfo, type ValueInfo } from '../facts/conf-values';
import { HostOpError } from '../connection/types';
import { holdsSecret } from '../secrets';
import { alterSystemStep, fileStep, reloadStep } from './pg/conf-steps';
import { describeConfig, serverForm, type ServerForm } from './pg/describe-config';
import { probeServer } from './pg/server';
import { fail, noop, type ModuleDefinition, type Step, type TaskContext } from './types';

export { mayHoldCredentials } from './pg/conf-steps';

export interface EnsureConfArgs {
  settings: Record<string, string | number | boolean | string[]>;
  /** postgresql.auto.conf (default: ALTER SYSTEM), or a file under the configuration directory. */
  file?: string;
}

type Info = Pick<SettingInfo, 'vartype' | 'unit' | 'context'> & {
  /** Running server: this session's value (pg_settings.setting) and how people write it. */
  active?: string;
  display?: string;
  /** Running server: where this session's value comes from (pg_settings.source). */
  source?: string;
  /** Running server: the built-in default (pg_settings.boot_val), in force when no file or command line sets the name. */
  bootVal?: string;
};

/** A line of the configuration files that sets a name: the last one the server reads is in force. */
export interface FileSetting {
  /** As written (unquoted). */
  value: string;
  file: string;
  line: number;
  /** Running server: the error pg_file_settings reports for it ("setting could not be applied": waits for a restart). */
  error?: string | null;
}

export interface EnsureConfFacts {
  running: boolean;
  /** What the server knows of each wanted name (lower case); missing: no such setting. */
  info: Record<string, Info>;
  /** The line in force in the configuration files for each name that one sets. */
  inFiles: Record<string, FileSetting>;
  /** Stopped server: the value in force of names no file sets (the built-in default), as `postgres -C` prints it. */
  defaults?: Record<string, string>;
  /** Running server: when this session last read the files, and when each file holding a wanted line changed (Unix seconds, whole). */
  loaded?: { loadTime: number; fileTimes: Record<string, number | null> };
  /** The server's own reading of texts the plain comparison could not match (enum aliases, rounding): name -> text -> form. */
  forms?: Record<string, Record<string, ServerForm>>;
  /** Running server: what postgresql.auto.conf holds for each wanted name (null: no line), to undo ALTER SYSTEM. */
  autoConf?: Record<string, string | null>;
  /** Stopped server: its configuration files as read, to tell what a write to a file would leave in force. */
  chain?: { configFile: string; autoFile: string; snapshot: ConfSnapshot; problems: string[] };
  /** The file pgplay edits itself (stopped server, or a file other than postgresql.auto.conf), as one byte per character; null text: no file. */
  file: { path: string; text: string | null } | null;
  useAlterSystem: boolean;
}

const AUTO = 'postgresql.auto.conf';
/** pg_settings.source values that are the cluster's own; the others (user, database, ...) hold for some sessions only. */
const CLUSTER_SOURCES = new Set(['default', 'environment variable', 'configuration file', 'command line', 'override']);
const overridden = (source: string | undefined) => source !== undefined && !CLUSTER_SOURCES.has(source);
/** Types whose texts the server binary is asked to read (never strings: they may hold a secret, and reach a command line). */
const ASK_SERVER = new Set(['bool', 'integer', 'real', 'enum']);

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
      "Set settings by name. Values are compared as the server reads them (64MB = 65536kB, on = true; enum aliases such as `hot_standby` and rounding to the setting's unit as the server binary itself reads them, which also refuses a value out of range in its own words), against the value in effect for the cluster (a per-role or per-database value is not the cluster's), so only the gap is written. On a running server with the default file this is ALTER SYSTEM SET then pg_reload_conf(); a value the server does not use after the reload is a failure, and the change is undone. On a stopped server the whole configuration is read in PostgreSQL's order (postgresql.conf, its include, include_if_exists and include_dir files, then postgresql.auto.conf) and postgresql.auto.conf (or `file`) is edited directly; a write into a file that a later file overrides is refused. Lists such as `search_path: '\"$user\", public'` keep their quoted items. The result needs a restart when a changed setting has context postmaster, else a reload.",
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
    const facts: EnsureConfFacts = { running: sql !== null, info: {}, inFiles: {}, file: null, useAlterSystem: sql !== null && useDefault };
    if (sql) {
      // One round trip: the settings; every line of a file that sets a wanted name, in the order the server reads
      // them, rows with an error kept (a postmaster setting waiting for a restart "could not be applied"); when the
      // configuration was loaded and when each of those files last changed.
      const [row] = await sql.query<{
        settings: Array<SettingInfo & { source: string; boot_val: string | null }> | null;
        lines: Array<{ name: string; setting: string; sourcefile: string; sourceline: number; error: string | null; auto: boolean }> | null;
        load: number;
        file_times: Record<string, number | null> | null;
      }>(
        `WITH wanted AS (SELECT lower(name) AS name, setting, sourcefile, sourceline, error, seqno,
                                sourcefile = current_setting('data_directory') || '/postgresql.auto.conf' AS auto
                           FROM pg_file_settings WHERE lower(name) = ANY($1) AND setting IS NOT NULL)
         SELECT (SELECT json_agg(s) FROM (SELECT name, setting, unit, vartype, context, source, boot_val
                                            FROM pg_settings WHERE lower(name) = ANY($1)) s) AS settings,
                (SELECT json_agg(w ORDER BY w.seqno) FROM wanted w) AS lines,
                extract(epoch FROM pg_conf_load_time())::float8 AS load,
                (SELECT json_object_agg(f, extract(epoch FROM (pg_stat_file(f, true)).modification)::float8)
                   FROM (SELECT DISTINCT sourcefile AS f FROM wanted) files) AS file_times`,
        [names],
      );
      for (const r of row.settings ?? []) {
        facts.info[r.name.toLowerCase()] = { vartype: r.vartype, unit: r.unit, context: r.context, active: r.setting, display: displaySetting(r), source: r.source, bootVal: r.boot_val ?? undefined };
      }
      facts.autoConf = Object.fromEntries(names.map((n) => [n, null]));
      for (const r of row.lines ?? []) {
        facts.inFiles[r.name] = { value: r.setting, file: r.sourcefile, line: r.sourceline, error: r.error };
        if (r.auto) facts.autoConf[r.name] = r.setting;
      }
      facts.loaded = { loadTime: row.load, fileTimes: row.file_times ?? {} };
    } else {
      const described = await describeConfig(ctx.conn, ctx.pg);
      for (const name of names) {
        const d = described.get(name);
        if (d) facts.info[name] = { ...d, unit: null };
      }
      // The whole chain the server would read when it starts: postgresql.conf and its includes, then postgresql.auto.conf.
      const configFile = `${ctx.pg.configDir}/postgresql.conf`;
      const autoFile = `${ctx.pg.dataDir}/${AUTO}`;
      const { chain, snapshot } = await readConfChain(configFile, autoFile, {
        read: async (path) => {
          try {
            const f = await ctx.conn.readFile(path);
            return f ? bytesToText(f.content) : null;
          } catch (err) {
            // A directory among the files of an include_dir is skipped, as the server skips it.
            if (err instanceof HostOpError && err.code === 'EISDIR') return null;
            throw err;
          }
        },
        list: (dir) => ctx.conn.list(dir),
      });
      facts.chain = { configFile, autoFile, snapshot, problems: chain.problems };
      for (const [name, entry] of valuesInForce(chain)) {
        if (names.includes(name)) facts.inFiles[name] = { value: displayText(entry.value), file: entry.file, line: entry.line };
      }
      // A name no file sets has its built-in default: the server binary says which.
      facts.defaults = {};
      const unset = names.filter((n) => facts.info[n] && !facts.inFiles[n]);
      const forms = await Promise.all(unset.map((n) => serverForm(ctx.conn, ctx.pg, n)));
      unset.forEach((n, i) => {
        if (forms[i]?.value !== undefined) facts.defaults![n] = forms[i]!.value!;
      });
    }
    if (!facts.running || !useDefault) {
      const path = targetPath(ctx, args.file);
      const known = facts.chain?.snapshot.files.get(path);
      const current = known !== undefined ? known : await ctx.conn.readFile(path).then((f) => (f ? bytesToText(f.content) : null));
      facts.file = { path, text: current };
    }
    facts.forms = await askServer(ctx, args, facts);
    return facts;
  },
  plan(args, facts) {
    const write: Record<string, string> = {};
    const reloadable: string[] = [];
    const before: string[] = [];
    const after: string[] = [];
    let restart = false;
    let reload = false;
    const warnings = (facts.chain?.problems ?? []).map((p) => `the server could not start with its configuration as it is: ${p}`);
    for (const [rawName, rawValue] of Object.entries(args.settings)) {
      const name = rawName.toLowerCase();
      const wanted = toConfText(rawValue);
      const unsafe = confValueProblem(wanted);
      if (unsafe) return fail(`${rawName} ${unsafe}`);
      const custom = name.includes('.');
      const info: Info | undefined = facts.info[name] ?? (custom ? { vartype: 'string', unit: null, context: 'user' } : undefined);
      if (!info) return fail(`PostgreSQL has no setting named ${rawName}`);
      if (info.context === 'internal') return fail(`${rawName} is fixed when the cluster is created and cannot be set`);
      const form = facts.forms?.[name]?.[wanted];
      if (form?.refused) return fail(`${rawName}: PostgreSQL refuses '${wanted}': ${form.refused}`);
      const bad = canonicalValue(wanted, { ...info, name }).error;
      if (bad && form?.value === undefined) return fail(`${rawName}: ${bad}`);
      const same = (text: string) => holdsValue(facts, name, info, text, wanted);
      const current = currentValue(facts, name, info);
      const fileLine = facts.inFiles[name];
      const inFile = fileLine ? same(fileLine.value) : current.value !== undefined && same(current.value);
      const inUse = !facts.running || (current.value !== undefined && same(current.value));
      if (inFile && inUse) continue;
      if (facts.running && info.source === 'command line') {
        return fail(`${rawName} is set on the server's command line (${current.display}), which wins over every configuration file: change it where the server is started`);
      }
      if (!inFile) write[name] = wanted;
      if (facts.running) {
        if (info.context === 'postmaster') restart = true;
        else {
          reload = true;
          reloadable.push(name);
        }
      }
      // The server itself logs a reloaded setting's new value ("parameter ... changed to ..."): a password would reach its log.
      if (facts.running && holdsPassword(name, wanted)) {
        return fail(`refusing to set ${rawName} with a password in it on a running server: PostgreSQL writes the new value to its log when it reloads ("parameter changed to ..."); give the password through a passfile (passfile=... in the conninfo, as basebackup writes it)`);
      }
      before.push(`${name} = ${current.display}`);
      after.push(`${name} = ${wanted}${inFile ? ` (written, not yet in use${current.why ? `: ${current.why}` : ''})` : ''}`);
    }
    const changed = Object.keys(write);
    if (before.length === 0) return noop(`${Object.keys(args.settings).length} setting(s) already as wanted`);
    const needs = restart ? 'restart' : reload ? 'reload' : undefined;
    const steps: Step[] = [];
    if (changed.length > 0) {
      if (facts.useAlterSystem) steps.push(alterSystemStep(write, facts.autoConf ?? {}));
      else {
        const file = facts.file;
        if (!file) return fail('no file to edit');
        const base = file.text ?? (file.path.endsWith(`/${AUTO}`) ? AUTO_CONF_HEADER : '');
        let content: string;
        try {
          content = setConfValues(base, Object.fromEntries(Object.entries(write).map(([name, value]) => [name, fromUtf8(value)])));
        } catch (err) {
          return fail((err as Error).message);
        }
        const lost = facts.chain ? overriddenAfterWrite(facts.chain, file.path, content, write) : null;
        if (lost) return fail(lost);
        steps.push(fileStep(file.path, file.text, content, changed, facts.running));
      }
    }
    if (facts.running) {
      steps.push(
        reloadStep(reloadable, {
          holds: (name, text) => holdsValue(facts, name, facts.info[name] ?? { vartype: 'string', unit: null, context: 'user' }, text, toConfText(wantedOf(args, name))),
          overridden,
        }),
      );
    }
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

function wantedOf(args: EnsureConfArgs, name: string): EnsureConfArgs['settings'][string] {
  const key = Object.keys(args.settings).find((k) => k.toLowerCase() === name);
  return key === undefined ? '' : args.settings[key];
}

/** Does this text (a server value or a line of a file) give the wanted value? As compared here, or as the server reads both. */
function holdsValue(facts: EnsureConfFacts, name: string, info: Pick<Info, 'vartype' | 'unit'>, text: string, wanted: string): boolean {
  if (sameValue(text, wanted, { ...info, name } as ValueInfo)) return true;
  // A text the server was not asked about is taken as it is: pg_settings values already are in the server's form.
  const forms = facts.forms?.[name];
  const b = forms?.[wanted]?.value;
  return b !== undefined && (forms?.[text]?.value ?? text) === b;
}

/**
 * The value the cluster uses (what a session without per-role or per-database settings gets), and how to show it.
 * Running: pg_settings when this session's value is the cluster's; else the line in force in the files once the
 * server has read them, or the built-in default. Stopped: the line in force in the files, or the built-in default.
 */
function currentValue(facts: EnsureConfFacts, name: string, info: Info): { value?: string; display: string; why?: string } {
  const line = facts.inFiles[name];
  const at = line ? ` (${line.file} line ${line.line})` : '';
  if (!facts.running) {
    if (line) return { value: line.value, display: `${line.value}${at}` };
    const d = facts.defaults?.[name];
    return d !== undefined ? { value: d, display: `${d} (default)` } : { display: '(default)' };
  }
  if (!overridden(info.source)) return { value: info.active, display: info.display ?? info.active ?? '(default)' };
  // This session has a per-role or per-database value: the cluster's is not in pg_settings.
  const forSessions = `; ${info.display} for this session (${info.source})`;
  if (!line) {
    const boot = info.bootVal;
    return boot !== undefined ? { value: boot, display: `${displaySetting({ name, setting: boot, unit: info.unit, vartype: info.vartype, context: info.context })} (default)${forSessions}` } : { display: `(default)${forSessions}` };
  }
  if (line.error) return { display: `${line.value}${at}, which the server refuses: ${line.error}${forSessions}`, why: line.error };
  const changedAt = facts.loaded?.fileTimes[line.file];
  if (changedAt != null && facts.loaded && changedAt > facts.loaded.loadTime) {
    const why = `${line.file} changed after the server last read its configuration`;
    return { display: `${line.value}${at}, not loaded yet${forSessions}`, why };
  }
  return { value: line.value, display: `${line.value}${at}${forSessions}` };
}

/**
 * Texts the plain comparison cannot match go to the server binary (postgres -C), which reads them as the server
 * will: enum aliases (wal_level hot_standby is replica), rounding to the setting's unit (100.1MB is 12813 8kB pages),
 * and values it refuses, with its own words. Values already in the server's own form are kept as they are.
 */
async function askServer(ctx: TaskContext, args: EnsureConfArgs, facts: EnsureConfFacts): Promise<Record<string, Record<string, ServerForm>>> {
  const forms: Record<string, Record<string, ServerForm>> = {};
  const asks: Array<{ name: string; text: string }> = [];
  for (const [rawName, rawValue] of Object.entries(args.settings)) {
    const name = rawName.toLowerCase();
    const info = facts.info[name];
    const wanted = toConfText(rawValue);
    if (!info || !ASK_SERVER.has(info.vartype) || holdsSecret(wanted) || confValueProblem(wanted)) continue;
    const own = forms[name] ?? (forms[name] = {});
    // The server's own values: pg_settings, its default, what postgres -C printed.
    for (const v of [facts.running && !overridden(info.source) ? info.active : undefined, info.bootVal, facts.defaults?.[name]]) if (v !== undefined) own[v] = { value: v };
    const line = facts.inFiles[name]?.value;
    const current = currentValue(facts, name, info).value;
    const differs = [line, current].filter((t): t is string => t !== undefined && !sameValue(t, wanted, { ...info, name }));
    const unreadable = canonicalValue(wanted, { ...info, name }).error !== undefined;
    if (differs.length === 0 && !unreadable) continue;
    for (const text of [wanted, ...differs]) if (!own[text] && !asks.some((a) => a.name === name && a.text === text)) asks.push({ name, text });
  }
  const answers = await Promise.all(asks.map((a) => serverForm(ctx.conn, ctx.pg, a.name, a.text)));
  asks.forEach((a, i) => {
    const answer = answers[i];
    if (answer) forms[a.name][a.text] = answer;
  });
  return forms;
}

/** Why a write into a file other than postgresql.auto.conf would not be in force when the server starts, or null. */
function overriddenAfterWrite(chain: NonNullable<EnsureConfFacts['chain']>, path: string, content: string, write: Record<string, string>): string | null {
  const after = walkConfChain(chain.configFile, chain.autoFile, chain.snapshot, new Map([[path, content]]));
  if (!after.files.includes(path)) return `${path} is not read by PostgreSQL: include it from ${chain.configFile} (include, include_if_exists or include_dir)`;
  const inForce = valuesInForce(after);
  const lost = Object.keys(write)
    .map((name) => inForce.get(name))
    .filter((e) => e && e.file !== path)
    .map((e) => `${e!.name} is set again in ${e!.file} line ${e!.line}, which PostgreSQL reads after ${path}`);
  return lost.length > 0 ? `${lost.join('; ')}: the value written would not be in force` : null;
}

/** A value with a password in it: a known secret, or a conninfo with a password keyword. */
function holdsPassword(name: string, value: string): boolean {
  return holdsSecret(value) || (/conninfo$/.test(name) && /(^|\s)password\s*=/.test(value));
}
