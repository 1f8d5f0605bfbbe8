import { bytesToText, displayText, fromUtf8, textToBytes } from '../facts/bytes';
import { addressProblem, ensureHbaRule, HBA_METHODS, HBA_TYPES, isHostName, parseHba, renderHba, type HbaRule, type HbaType } from '../facts/hba';
import { probeServer } from './pg/server';
import { fail, noop, type ModuleDefinition } from './types';

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
}

function wantedRule(args: EnsureHbaLineArgs): HbaRule {
  const options = args.options === undefined ? [] : Array.isArray(args.options) ? args.options : args.options.split(/\s+/).filter(Boolean);
  return { type: args.type, database: args.database, user: args.user, address: args.type === 'local' ? undefined : args.address, method: args.method ?? 'scram-sha-256', options };
}

export const ensureHbaLineModule: ModuleDefinition<EnsureHbaLineArgs, EnsureHbaFacts> = {
  name: 'ensure_hba_line',
  readsServer: true,
  summary: 'Ensure one pg_hba.conf rule, placed where no earlier rule shadows it; checked by the server before reload.',
  schema: {
    type: 'object',
    description:
      'A rule is identified by (type, database, user, address): the same key with another method or options is updated in place. A new rule goes before the first existing rule that would match all its connections (which would make it dead), else at the end. Comments and order are kept. On a running server pg_hba_file_rules is checked before the reload; on errors the old file is put back.',
    properties: {
      type: { type: 'string', enum: HBA_TYPES, description: 'Connection type.', examples: ['host'] },
      database: { type: 'string', minLength: 1, description: 'Database name(s), comma separated; `replication` for streaming replication (not matched by `all`).', examples: ['replication', 'all'] },
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
    // The running server names its file and reads it for us, as bytes: no request to the host.
    const [row] = await sql.query<{ path: string; content: Buffer | null }>(
      "SELECT current_setting('hba_file') AS path, pg_read_binary_file(current_setting('hba_file'), 0, 104857600, true) AS content",
    );
    return { running: true, path: row.path, current: row.content === null ? null : bytesToText(row.content) };
  },
  plan(args, facts) {
    const problems = validateHbaArgs(args);
    if (problems.length > 0) return fail(problems.map((p) => p.message).join('; '));
    if (facts.current === null) return fail(`${facts.path} does not exist`);
    const shown = wantedRule(args);
    // The rule in the file's own form (its UTF-8 bytes, one per character), so it compares with what is there.
    const wanted: HbaRule = { ...shown, database: fromUtf8(shown.database), user: fromUtf8(shown.user), address: shown.address === undefined ? undefined : fromUtf8(shown.address), options: shown.options.map(fromUtf8) };
    const parsed = parseHba(facts.current);
    const { file, edit } = ensureHbaRule(parsed, wanted, args.state ?? 'present');
    const what = `${shown.type} ${shown.database} ${shown.user}${shown.address ? ` ${shown.address}` : ''}`;
    if (edit.kind === 'none') return noop(args.state === 'absent' ? `no rule for ${what}` : `rule ${what} ${wanted.method} is present`);
    const warnings = parsed.errors.map((e) => `${facts.path} ${e}`);
    if (args.state !== 'absent') {
      if (wanted.address === '0.0.0.0/0' || wanted.address === '::/0' || wanted.address === 'all') warnings.push(`rule ${what} admits every address`);
      if (wanted.method === 'trust') warnings.push(`rule ${what} uses trust: no password is asked`);
      if (wanted.method === 'md5') warnings.push(`rule ${what} uses md5: prefer scram-sha-256`);
      if (wanted.method === 'password') warnings.push(`rule ${what} uses password: the password travels in clear text`);
      if (wanted.address && isHostName(wanted.address)) warnings.push(`address ${wanted.address} is a host name: PostgreSQL checks it by reverse and forward DNS on every connection`);
    }
    const content = renderHba(file);
    const old = facts.current;
    const verb = { update: 'update', insert: 'insert', append: 'add', remove: 'remove' }[edit.kind];
    const where = edit.kind === 'insert' && edit.before ? displayText(` before ${edit.before.type} ${edit.before.database} ${edit.before.user} ${edit.before.address ?? ''}`.trimEnd()) : '';
    return {
      kind: 'change',
      summary: `${verb} rule ${what} ${wanted.method} in ${facts.path}${where}`,
      diffs: [{ path: facts.path, before: displayText(old), after: displayText(content) }],
      warnings: warnings.length ? warnings : undefined,
      steps: [
        {
          description: `write ${facts.path}, check pg_hba_file_rules, reload`,
          async apply(ctx) {
            // The file keeps its owner and mode; every byte outside the rule is written back as it was.
            await ctx.conn.writeFile(facts.path, textToBytes(content));
            if (!facts.running) return;
            const sql = await ctx.sql();
            const errors = await sql.query<{ line_number: number; error: string }>('SELECT line_number, error FROM pg_hba_file_rules WHERE error IS NOT NULL ORDER BY line_number');
            if (errors.length > 0) {
              await ctx.conn.writeFile(facts.path, textToBytes(old));
              throw new Error(`PostgreSQL rejects the new ${facts.path} (${errors.map((e) => `line ${e.line_number}: ${e.error}`).join('; ')}); the old file is back`);
            }
            await sql.query('SELECT pg_reload_conf()');
          },
        },
      ],
    };
  },
};

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
  for (const key of ['database', 'user'] as const) if (/\s/.test(args[key] ?? '') && !/^".*"$/.test(args[key] ?? '')) out.push({ arg: key, message: `${key} holds a space: quote the name in double quotes` });
  return out;
}
