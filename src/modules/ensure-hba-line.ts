import { bytesToText, displayText, fromUtf8, textToBytes } from '../facts/bytes';
import { addressProblem, ensureHbaRule, HBA_METHODS, HBA_TYPES, hbaFieldFromArg, hbaOptionsFromArg, isHostName, parseHba, renderHba, type HbaRule, type HbaType } from '../facts/hba';
import { probeServer, sleep } from './pg/server';
import { fail, noop, type ModuleDefinition, type TaskContext } from './types';

export interface EnsureHbaLineArgs {
  type: HbaType;
  database: string;
  user: string;
  address?: string;
  /** Default scram-sha-256. */
  method?: string;
  options?: string | string[];
  state?: 'present' | 'absent';
}

export interface EnsureHbaFacts {
  running: boolean;
  path: string;
  /** The file as one byte per character (bytes survive as they are), or null when there is none. */
  current: string | null;
  /**
   * Running server: when the file last changed (whole seconds, as pg_stat_file gives it) and when the server last
   * loaded its configuration (pg_conf_load_time()), both as Unix seconds. A file newer than the load is not in use.
   */
  loaded?: { fileTime: number | null; loadTime: number | null };
  /** Running server: the errors pg_hba_file_rules finds in the file on disk. */
  serverErrors?: string[];
}

/** The rule the arguments ask for; call after validateHbaArgs found nothing wrong. */
function wantedRule(args: EnsureHbaLineArgs): HbaRule {
  const options = args.options === undefined ? [] : (hbaOptionsFromArg(args.options).options ?? []);
  const field = (text: string) => hbaFieldFromArg(text).field ?? text;
  return { type: args.type, database: field(args.database), user: field(args.user), address: args.type === 'local' ? undefined : args.address, method: args.method ?? 'scram-sha-256', options };
}

export const ensureHbaLineModule: ModuleDefinition<EnsureHbaLineArgs, EnsureHbaFacts> = {
  name: 'ensure_hba_line',
  readsServer: true,
  checkIgnoresArguments: true,
  summary: 'Ensure one pg_hba.conf rule, placed where no earlier rule shadows it; checked by the server before reload.',
  schema: {
    type: 'object',
    description:
      'A rule is identified by (type, database, user, address): the same key with another method or options is updated in place. A new rule goes before the first existing rule that would match all its connections (which would make it dead), else at the end; a rule already there but behind such a rule is moved before it. Comments and order are kept. The file is read as PostgreSQL reads it; a file pgplay cannot read so (continuation lines, include directives, errors) is not edited. On a running server pg_hba_file_rules is checked before the reload; on errors the old file is put back; a rule on disk that the server has not loaded yet is reloaded.',
    properties: {
      type: { type: 'string', enum: HBA_TYPES, description: 'Connection type.', examples: ['host'] },
      database: { type: 'string', minLength: 1, description: 'Database name(s), comma separated (`db1, db2` is written `db1,db2`); `replication` for streaming replication (not matched by `all`). Quote a name with a space or #: `"my db"`.', examples: ['replication', 'all'] },
      user: { type: 'string', minLength: 1, description: 'Role name(s), comma separated, or all.', examples: ['replicator'] },
      address: { type: 'string', description: 'CIDR network (10.0.0.12/32), all, samehost, samenet, or a host name. Not used for local.', examples: ['10.0.0.12/32'] },
      method: { type: 'string', enum: HBA_METHODS, default: 'scram-sha-256', description: 'Authentication method; scram-sha-256 unless said (md5, password and trust get a warning).', examples: ['scram-sha-256'] },
      options: { type: ['string', 'array'], items: { type: 'string' }, description: 'Method options (name=value).', examples: ['clientcert=verify-full'] },
      state: { type: 'string', enum: ['present', 'absent'], default: 'present', description: 'absent removes the rule with this key.' },
    },
    required: ['type', 'database', 'user'],
    additionalProperties: false,
    examples: [{ type: 'host', database: 'replication', user: 'replicator', address: '10.0.0.12/32', method: 'scram-sha-256' }],
  },
  validate: validateHbaArgs,
  async check(ctx) {
    const { sql } = await probeServer(ctx);
    if (!sql) {
      const path = `${ctx.pg.configDir}/pg_hba.conf`;
      const file = await ctx.conn.readFile(path);
      return { running: false, path, current: file ? bytesToText(file.content) : null };
    }
    // The running server names its file and reads it for us: no command on the host (owner and mode are read when writing).
    const [row] = await sql.query<{ path: string; content: Buffer | null; file_time: number | null; load_time: number | null; errors: string[] | null }>(
      `SELECT current_setting('hba_file') AS path, pg_read_binary_file(current_setting('hba_file'), 0, 104857600, true) AS content,
              extract(epoch FROM (pg_stat_file(current_setting('hba_file'), true)).modification)::float8 AS file_time,
              extract(epoch FROM pg_conf_load_time())::float8 AS load_time,
              (SELECT array_agg(format('line %s: %s', line_number, error) ORDER BY line_number) FROM pg_hba_file_rules WHERE error IS NOT NULL) AS errors`,
    );
    const current = row.content === null ? null : bytesToText(row.content);
    return { running: true, path: row.path, current, loaded: { fileTime: row.file_time, loadTime: row.load_time }, serverErrors: row.errors ?? [] };
  },
  plan(args, facts) {
    const problems = validateHbaArgs(args);
    if (problems.length > 0) return fail(problems.map((p) => p.message).join('; '));
    if (facts.current === null) return fail(`${facts.path} does not exist`);
    const shown = wantedRule(args);
    // The rule in the file's own form (its UTF-8 bytes, one per character), so it compares with what is there.
    const wanted: HbaRule = { ...shown, database: fromUtf8(shown.database), user: fromUtf8(shown.user), address: shown.address === undefined ? undefined : fromUtf8(shown.address), options: shown.options.map(fromUtf8) };
    const parsed = parseHba(facts.current);
    // A file read otherwise than PostgreSQL reads it could be written back wrong: say where, change nothing.
    const unreadable = [...parsed.errors, ...(facts.serverErrors ?? []).filter((e) => !parsed.errors.some((p) => p.startsWith(`${e.split(':')[0]}:`)))];
    if (unreadable.length > 0) return fail(`${facts.path}: pgplay does not edit a file it cannot read as PostgreSQL does: ${unreadable.join('; ')}`);
    const { file, edit } = ensureHbaRule(parsed, wanted, args.state ?? 'present');
    const what = `${shown.type} ${shown.database} ${shown.user}${shown.address ? ` ${shown.address}` : ''}`;
    if (edit.kind === 'none') {
      const stale = notLoaded(facts);
      if (!stale) return noop(args.state === 'absent' ? `no rule for ${what}` : `rule ${what} ${wanted.method} is present`);
      return {
        kind: 'change',
        summary: `${args.state === 'absent' ? `no rule for ${what} in ${facts.path}` : `rule ${what} ${wanted.method} is in ${facts.path}`}, but the server has not loaded the file since it changed (${stale}): reload`,
        steps: [{ description: `check pg_hba_file_rules, reload`, apply: (ctx) => reloadHba(ctx, facts.path) }],
      };
    }
    const warnings: string[] = [];
    if (args.state !== 'absent') {
      if (wanted.address === '0.0.0.0/0' || wanted.address === '::/0' || wanted.address === 'all') warnings.push(`rule ${what} admits every address`);
      if (wanted.method === 'trust') warnings.push(`rule ${what} uses trust: no password is asked`);
      if (wanted.method === 'md5') warnings.push(`rule ${what} uses md5: prefer scram-sha-256`);
      if (wanted.method === 'password') warnings.push(`rule ${what} uses password: the password travels in clear text`);
      if (wanted.address && isHostName(wanted.address)) warnings.push(`address ${wanted.address} is a host name: PostgreSQL checks it by reverse and forward DNS on every connection`);
    }
    const content = renderHba(file);
    const old = facts.current;
    const describeRule = (r: HbaRule) => displayText(`${r.type} ${r.database} ${r.user} ${r.address ?? ''}`.trimEnd());
    let summary: string;
    if (edit.kind === 'move') {
      summary = `move rule ${what} ${wanted.method} in ${facts.path} before line ${edit.line} (${describeRule(edit.before)} ${edit.before.method}), which matches all its connections first: behind it the rule was never used${edit.changed ? `; method ${edit.changed.method} -> ${wanted.method}` : ''}`;
    } else {
      const verb = { update: 'update', insert: 'insert', append: 'add', remove: 'remove' }[edit.kind];
      const where = edit.kind === 'insert' && edit.before ? ` before line ${edit.line} (${describeRule(edit.before)} ${edit.before.method}), which would match all its connections first` : '';
      summary = `${verb} rule ${what} ${wanted.method} in ${facts.path}${where}`;
    }
    return {
      kind: 'change',
      summary,
      diffs: [{ path: facts.path, before: displayText(old), after: displayText(content) }],
      warnings: warnings.length ? warnings : undefined,
      steps: [
        {
          description: `write ${facts.path}, check pg_hba_file_rules, reload`,
          async apply(ctx) {
            // The file keeps its owner and mode; every byte outside the rule is written back as it was.
            await ctx.conn.writeFile(facts.path, textToBytes(content));
            if (!facts.running) return;
            try {
              await reloadHba(ctx, facts.path);
            } catch (err) {
              if (!(err instanceof HbaRejected)) throw err;
              await ctx.conn.writeFile(facts.path, textToBytes(old));
              throw new Error(`PostgreSQL rejects the new ${facts.path} (${err.message}); the old file is back`);
            }
          },
        },
      ],
    };
  },
};

/** "file changed at X, configuration loaded at Y" when the file on disk is newer than what the server loaded. */
export function notLoaded(facts: EnsureHbaFacts): string | null {
  const { fileTime, loadTime } = facts.loaded ?? {};
  // pg_stat_file gives whole seconds: only a file changed in a later second than the load is surely newer.
  // TODO(lead, host agent): with the agent's typed stat, compare the file's exact mtime and catch an edit made in the same second as the load.
  if (!facts.running || fileTime == null || loadTime == null || fileTime <= loadTime) return null;
  const at = (t: number) => new Date(t * 1000).toISOString().replace('.000Z', 'Z');
  return `file changed at ${at(fileTime)}, configuration loaded at ${at(loadTime)}`;
}

class HbaRejected extends Error {}

/** Reload when pg_hba_file_rules finds no error, then wait until the session sees the reload. */
async function reloadHba(ctx: TaskContext, path: string): Promise<void> {
  const sql = await ctx.sql();
  const errors = await sql.query<{ line_number: number; error: string }>('SELECT line_number, error FROM pg_hba_file_rules WHERE error IS NOT NULL ORDER BY line_number');
  if (errors.length > 0) throw new HbaRejected(errors.map((e) => `line ${e.line_number}: ${e.error}`).join('; '));
  const loadTime = async () => (await sql.query<{ t: number }>('SELECT extract(epoch FROM pg_conf_load_time())::float8 AS t'))[0].t;
  const before = await loadTime();
  await sql.query('SELECT pg_reload_conf()');
  // The reload is asynchronous: this session reads the files again once the server has, before its next query.
  // The postmaster passes it on within a few milliseconds: look soon, then every 20 ms (5 s in all).
  for (let waited = 0, step = 2; waited < 5000; waited += step, step = Math.min(20, step * 2)) {
    await sleep(step);
    if ((await loadTime()) > before) return;
  }
  throw new Error(`PostgreSQL did not reload its configuration within 5 s after pg_reload_conf(); ${path} may not be in use`);
}

/** Checks that need no host; values still holding {{ }} are checked after rendering, in plan. */
export function validateHbaArgs(raw: EnsureHbaLineArgs): Array<{ arg: string; message: string }> {
  const out: Array<{ arg: string; message: string }> = [];
  const args = Object.fromEntries(Object.entries(raw).filter(([, v]) => !(typeof v === 'string' && v.includes('{{')))) as EnsureHbaLineArgs;
  if (args.type !== undefined && !HBA_TYPES.includes(args.type)) out.push({ arg: 'type', message: `unknown type ${args.type}: use one of ${HBA_TYPES.join(', ')}` });
  if (args.method !== undefined && !HBA_METHODS.includes(args.method)) out.push({ arg: 'method', message: `unknown method ${args.method}: use one of ${HBA_METHODS.join(', ')}` });
  if (args.type === 'local' && args.address !== undefined) out.push({ arg: 'address', message: 'a local rule has no address' });
  if (args.type !== 'local' && args.type !== undefined && raw.address === args.address) {
    if (args.address === undefined || args.address === '') out.push({ arg: 'address', message: `a ${args.type} rule needs an address, like 10.0.0.12/32` });
    else {
      const problem = addressProblem(args.address);
      if (problem) out.push({ arg: 'address', message: problem });
    }
  }
  for (const key of ['database', 'user'] as const) {
    const problem = typeof args[key] === 'string' ? hbaFieldFromArg(args[key]).problem : undefined;
    if (problem) out.push({ arg: key, message: `${key} ${problem}` });
  }
  // Options are checked one by one: some may still be templates.
  const options = raw.options === undefined ? [] : (Array.isArray(raw.options) ? raw.options : [raw.options]).filter((o) => typeof o === 'string' && !o.includes('{{'));
  const problem = options.length > 0 ? hbaOptionsFromArg(options).problem : undefined;
  if (problem) out.push({ arg: 'options', message: problem });
  return out;
}
