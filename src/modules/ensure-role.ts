import { scramVerifier, verifierMatches } from '../facts/scram';
import { quoteIdent, quoteLiteral } from '../facts/sql-session';
import { runUnlogged } from '../facts/unlogged-statement';
import { rememberSecret, SECRET_MASK } from '../secrets';
import { fail, noop, type ModuleDefinition } from './types';

export interface EnsureRoleArgs {
  name: string;
  password?: string;
  login?: boolean;
  replication?: boolean;
  superuser?: boolean;
  createdb?: boolean;
  createrole?: boolean;
  connection_limit?: number;
  state?: 'present' | 'absent';
}

interface RoleRow {
  rolcanlogin: boolean;
  rolreplication: boolean;
  rolsuper: boolean;
  rolcreatedb: boolean;
  rolcreaterole: boolean;
  rolconnlimit: number;
  rolpassword: string | null;
}

export interface EnsureRoleFacts {
  role: RoleRow | null;
}

const ATTRS = [
  ['login', 'rolcanlogin', 'LOGIN'],
  ['replication', 'rolreplication', 'REPLICATION'],
  ['superuser', 'rolsuper', 'SUPERUSER'],
  ['createdb', 'rolcreatedb', 'CREATEDB'],
  ['createrole', 'rolcreaterole', 'CREATEROLE'],
] as const;

export const ensureRoleModule: ModuleDefinition<EnsureRoleArgs, EnsureRoleFacts> = {
  name: 'ensure_role',
  readsServer: true,
  summary: 'Create, alter or drop a role; the password is set as a SCRAM-SHA-256 verifier made on the control machine.',
  secretArgs: ['password'],
  schema: {
    type: 'object',
    description:
      'Ensure a role with these attributes. The password never reaches the server in clear: pgplay sends a SCRAM-SHA-256 verifier, and compares by recomputing it with the salt and iteration count already stored, so a re-run does not rotate it. Attributes left out are not changed on an existing role.',
    properties: {
      name: { type: 'string', minLength: 1, description: 'Role name.', examples: ['replicator'] },
      password: { type: 'string', minLength: 4, description: 'Password (secret: take it from the environment). Left out: the password is not touched.', examples: ['{{ env.PGPLAY_REPLICATION_PASSWORD }}'] },
      login: { type: 'boolean', description: 'LOGIN attribute. Left out: a new role gets LOGIN, an existing role keeps what it has.' },
      replication: { type: 'boolean', description: 'REPLICATION attribute (streaming replication and pg_basebackup).', examples: [true] },
      superuser: { type: 'boolean', description: 'SUPERUSER attribute.' },
      createdb: { type: 'boolean', description: 'CREATEDB attribute.' },
      createrole: { type: 'boolean', description: 'CREATEROLE attribute.' },
      connection_limit: { type: 'integer', minimum: -1, description: 'CONNECTION LIMIT (-1: none).', examples: [5] },
      state: { type: 'string', enum: ['present', 'absent'], default: 'present', description: 'absent drops the role.' },
    },
    required: ['name'],
    additionalProperties: false,
    examples: [{ name: 'replicator', password: '{{ env.PGPLAY_REPLICATION_PASSWORD }}', login: true, replication: true }],
  },
  validate(args) {
    if (typeof args.password === 'string' && !args.password.includes('{{') && args.password.length < 4) return [{ arg: 'password', message: 'a password needs at least 4 characters' }];
    return [];
  },
  async check(ctx, args) {
    const sql = await ctx.sql();
    const rows = await sql.query<RoleRow>(
      'SELECT rolcanlogin, rolreplication, rolsuper, rolcreatedb, rolcreaterole, rolconnlimit, rolpassword FROM pg_authid WHERE rolname = $1',
      [args.name],
    );
    return { role: rows[0] ?? null };
  },
  plan(args, facts) {
    const label = `role ${args.name}`;
    const { role } = facts;
    if (args.state === 'absent') {
      if (!role) return noop(`${label} does not exist`);
      return {
        kind: 'change',
        summary: `drop ${label}`,
        diffs: [{ path: label, before: describe(role), after: 'absent\n' }],
        steps: [{ description: `DROP ROLE ${args.name}`, apply: async (ctx) => void (await (await ctx.sql()).query(`DROP ROLE ${quoteIdent(args.name)}`)) }],
      };
    }
    // LOGIN by default only when the role is created: on an existing role an attribute left out is left alone.
    const wanted = { ...args, login: args.login ?? (role ? undefined : true) };
    const clauses: string[] = [];
    const after: Record<string, string> = {};
    for (const [arg, column, keyword] of ATTRS) {
      const want = wanted[arg];
      const have = role ? role[column] : false;
      if (want !== undefined && (want !== have || !role)) clauses.push(want ? keyword : `NO${keyword}`);
      after[arg] = String(want ?? have);
    }
    if (args.connection_limit !== undefined && (!role || role.rolconnlimit !== args.connection_limit)) clauses.push(`CONNECTION LIMIT ${Number(args.connection_limit)}`);
    after.connection_limit = String(args.connection_limit ?? role?.rolconnlimit ?? -1);
    const password = args.password;
    const passwordChanged = password !== undefined && !verifierMatches(role?.rolpassword, password);
    after.password = password === undefined ? (role?.rolpassword ? SECRET_MASK : 'none') : `${SECRET_MASK} (${passwordChanged ? 'changed' : 'unchanged'})`;
    if (role && clauses.length === 0 && !passwordChanged) return noop(`${label} is as wanted`);
    const what = [...clauses.map((c) => c.toLowerCase()), ...(passwordChanged ? ['password'] : [])].join(', ');
    return {
      kind: 'change',
      summary: role ? `alter ${label}: ${what}` : `create ${label}`,
      diffs: [{ path: label, before: role ? describe(role) : 'absent\n', after: Object.entries(after).map(([k, v]) => `${k}: ${v}`).join('\n') + '\n' }],
      result: { role: args.name, password_changed: passwordChanged },
      steps: [
        {
          description: `${role ? 'ALTER' : 'CREATE'} ROLE ${args.name}${passwordChanged ? ' (password as SCRAM verifier)' : ''}`,
          async apply(ctx) {
            let statement = `${role ? 'ALTER' : 'CREATE'} ROLE ${quoteIdent(args.name)} WITH ${clauses.join(' ')}`;
            if (passwordChanged && password !== undefined) {
              const verifier = scramVerifier(password);
              rememberSecret(verifier);
              statement += ` PASSWORD ${quoteLiteral(verifier)}`;
            }
            const sql = await ctx.sql();
            // The statement holds the verifier: keep it out of the server log, pg_stat_statements and pgaudit, even when it fails.
            try {
              await runUnlogged(sql, statement, { transaction: true });
            } catch (err) {
              const code = (err as { code?: string }).code;
              throw new Error(`${role ? 'altering' : 'creating'} ${label} failed: ${(err as Error).message}${code ? ` (SQLSTATE ${code})` : ''}`);
            }
          },
        },
      ],
    };
  },
};

function describe(role: RoleRow): string {
  const lines = ATTRS.map(([arg, column]) => `${arg}: ${role[column]}`);
  lines.push(`connection_limit: ${role.rolconnlimit}`, `password: ${role.rolpassword ? SECRET_MASK : 'none'}`);
  return `${lines.join('\n')}\n`;
}
