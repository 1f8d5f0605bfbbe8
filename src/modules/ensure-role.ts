import { scramVerifier, verifierMatches } from '../facts/scram';
import { quoteIdent, quoteLiteral } from '../facts/sql-session';
import { runUnlogged } from '../facts/unlogged-statement';
import { rememberSecret, SECRET_MASK } from '../secrets';
import { probeServer } from './pg/server';
import { fail, noop, type ModuleDefinition, type Plan } from './types';

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
  /** Check mode on a server that is not running: its roles cannot be read until a run starts it. */
  serverDown?: 'stopped' | 'no-cluster';
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
    const { state, sql } = await probeServer(ctx);
    if (!sql) {
      const why = state === 'stopped' ? 'is stopped' : `has no cluster in ${ctx.pg.dataDir}`;
      if (ctx.checkMode) return { role: null, serverDown: state === 'stopped' ? 'stopped' : 'no-cluster' };
      throw new Error(`PostgreSQL on ${ctx.name} ${why}: roles are read and changed over SQL, so start it first (service: state: started)`);
    }
    const rows = await sql.query<RoleRow>(
      'SELECT rolcanlogin, rolreplication, rolsuper, rolcreatedb, rolcreaterole, rolconnlimit, rolpassword FROM pg_authid WHERE rolname = $1',
      [args.name],
    );
    return { role: rows[0] ?? null };
  },
  plan(args, facts) {
    const label = `role ${args.name}`;
    if (facts.serverDown) return planBlind(args, facts.serverDown);
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

/**
 * --check on a server that is not running yet (a stopped primary that the run would start first): its roles
 * cannot be read, so say what the run would do with them, and read them if this plan is ever applied.
 */
function planBlind(args: EnsureRoleArgs, down: 'stopped' | 'no-cluster'): Plan {
  const label = `role ${args.name}`;
  const why = down === 'stopped' ? 'PostgreSQL is stopped, so its roles cannot be read' : 'there is no cluster yet';
  const absent = args.state === 'absent';
  const wanted = ATTRS.filter(([arg]) => (arg === 'login' ? (args.login ?? true) : args[arg]) !== undefined).map(([arg]) => `${arg}: ${arg === 'login' ? (args.login ?? true) : args[arg]}`);
  if (args.password !== undefined) wanted.push(`password: ${SECRET_MASK}`);
  return {
    kind: 'change',
    summary: `${absent ? 'drop' : 'create or alter'} ${label} once the server runs (${why})`,
    diffs: [{ path: label, before: `unknown (${why})\n`, after: absent ? 'absent\n' : `${wanted.join('\n')}\n` }],
    steps: [
      {
        description: `${absent ? 'drop' : 'create or alter'} ${label} after reading it`,
        async apply(ctx) {
          const plan = ensureRoleModule.plan(args, await ensureRoleModule.check(ctx, args));
          if (plan.kind === 'fail') throw new Error(plan.message);
          if (plan.kind === 'change') for (const step of plan.steps) await step.apply(ctx);
        },
      },
    ],
  };
}

function describe(role: RoleRow): string {
  const lines = ATTRS.map(([arg, column]) => `${arg}: ${role[column]}`);
  lines.push(`connection_limit: ${role.rolconnlimit}`, `password: ${role.rolpassword ? SECRET_MASK : 'none'}`);
  return `${lines.join('\n')}\n`;
}
