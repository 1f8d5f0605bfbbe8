// grant_rewind: the functions pg_rewind calls on its source server, granted to the replication role, so a former
// primary can be rewound from any host without a superuser login.
import { quoteIdent } from '../facts/sql-session';
import { probeServer } from './pg/server';
import { fail, noop, type ModuleDefinition } from './types';

export interface GrantRewindArgs {
  role: string;
}

export interface GrantRewindFacts {
  checkMode?: boolean;
  running: boolean;
  exists: boolean;
  superuser: boolean;
  missing: string[];
}

export const REWIND_FUNCTIONS = [
  'pg_catalog.pg_ls_dir(text, boolean, boolean)',
  'pg_catalog.pg_stat_file(text, boolean)',
  'pg_catalog.pg_read_binary_file(text)',
  'pg_catalog.pg_read_binary_file(text, bigint, bigint, boolean)',
];

export const grantRewindModule: ModuleDefinition<GrantRewindArgs, GrantRewindFacts> = {
  name: 'grant_rewind',
  readsServer: true,
  summary: 'Grant a role EXECUTE on the functions pg_rewind needs on its source (pg_ls_dir, pg_stat_file, pg_read_binary_file).',
  schema: {
    type: 'object',
    description:
      "Run on the primary (the grants reach the standbys through WAL). Compares has_function_privilege for each function pg_rewind calls and grants only what is missing; a superuser needs none. pg_rewind also connects to a database: pg_hba.conf must let the role into `postgres` from the hosts that may be rewound.",
    properties: {
      role: { type: 'string', minLength: 1, description: 'The role pg_rewind connects as.', examples: ['{{ replication_user }}'] },
    },
    required: ['role'],
    additionalProperties: false,
    examples: [{ role: 'replicator' }],
  },
  async check(ctx, args) {
    const { sql } = await probeServer(ctx);
    if (!sql) return { running: false, exists: false, superuser: false, missing: REWIND_FUNCTIONS };
    const roles = await sql.query<{ rolsuper: boolean }>('SELECT rolsuper FROM pg_roles WHERE rolname = $1', [args.role]);
    if (roles.length === 0) return { checkMode: ctx.checkMode, running: true, exists: false, superuser: false, missing: REWIND_FUNCTIONS };
    const rows = await sql.query<{ fn: string; ok: boolean }>("SELECT f AS fn, has_function_privilege($1, f, 'EXECUTE') AS ok FROM unnest($2::text[]) AS f", [args.role, REWIND_FUNCTIONS]);
    return { running: true, exists: true, superuser: roles[0].rolsuper, missing: rows.filter((r) => !r.ok).map((r) => r.fn) };
  },
  plan(args, facts) {
    if (facts.running && facts.exists && (facts.superuser || facts.missing.length === 0)) return noop(`${args.role} may run what pg_rewind needs${facts.superuser ? ' (superuser)' : ''}`);
    // In --check the task that creates the role has not run: the grants follow it.
    if (facts.running && !facts.exists && !facts.checkMode) return fail(`there is no role ${args.role}: create it first (ensure_role)`);
    return {
      kind: 'change',
      summary: `grant ${args.role} EXECUTE on ${facts.missing.length} function(s) pg_rewind needs${!facts.running ? ' once the server runs' : !facts.exists ? ' once the role exists' : ''}`,
      diffs: [{ path: `grants of ${args.role}`, before: '', after: facts.missing.map((f) => `EXECUTE ON FUNCTION ${f}\n`).join('') }],
      steps: [
        {
          description: `grant ${args.role} what pg_rewind needs`,
          async apply(ctx) {
            const sql = await ctx.sql();
            for (const fn of facts.missing) await sql.query(`GRANT EXECUTE ON FUNCTION ${fn} TO ${quoteIdent(args.role)}`);
          },
        },
      ],
    };
  },
};
