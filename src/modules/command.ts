import { noop, type ModuleDefinition } from './types';

export interface CommandArgs {
  argv?: Array<string | number>;
  cmd?: string;
  creates?: string;
  removes?: string;
  chdir?: string;
  become?: string;
  stdin?: string;
}

interface CommandFacts {
  createsExists?: boolean;
  removesExists?: boolean;
}

export const commandModule: ModuleDefinition<CommandArgs, CommandFacts> = {
  name: 'command',
  summary: 'Run a program on the host; `creates`/`removes` make it idempotent.',
  checkMode: 'skip',
  schema: {
    type: 'object',
    description: 'Run a program with arguments (argv) or a shell line (cmd). Reports changed when it runs.',
    properties: {
      argv: { type: 'array', items: { type: ['string', 'number'] }, minItems: 1, description: 'Program and arguments, run without a shell (numbers are passed as text).', examples: [['pg_lsclusters']] },
      cmd: { type: 'string', description: 'A line for /bin/sh.', examples: ['psql -c "select 1"'] },
      creates: { type: 'string', description: 'Skip the command when this path exists.', examples: ['/var/lib/postgresql/15/main/PG_VERSION'] },
      removes: { type: 'string', description: 'Skip the command unless this path exists.' },
      chdir: { type: 'string', description: 'Directory to run the command in.' },
      become: { type: 'string', description: 'Run as this OS user (the host agent switches to it). Default: ansible_become_user when ansible_become is on, else the login user.', examples: ['postgres'] },
      stdin: { type: 'string', description: 'Text given to the command on standard input.' },
    },
    oneOf: [{ required: ['argv'] }, { required: ['cmd'] }],
    additionalProperties: false,
    examples: [{ argv: ['pg_controldata', '/var/lib/postgresql/15/main'], become: 'postgres' }],
  },
  validate(args) {
    if (args.argv && args.cmd) return [{ arg: 'cmd', message: "give either 'argv' or 'cmd', not both" }];
    return [];
  },
  async check(ctx, args) {
    const facts: CommandFacts = {};
    for (const key of ['creates', 'removes'] as const) {
      const path = args[key];
      if (!path) continue;
      // Absent is an answer; a path that cannot be looked at is an error, never read as absent.
      const found = await ctx.conn.stat(path);
      facts[key === 'creates' ? 'createsExists' : 'removesExists'] = found !== null;
    }
    return facts;
  },
  plan(args, facts) {
    if (args.creates && facts.createsExists) return noop(`${args.creates} exists`);
    if (args.removes && facts.removesExists === false) return noop(`${args.removes} does not exist`);
    const argv = args.argv?.map(String) ?? ['sh', '-c', args.cmd ?? ''];
    return {
      kind: 'change',
      summary: `run ${args.cmd ?? argv.join(' ')}`,
      steps: [
        {
          description: `run ${argv.join(' ')}`,
          async apply(ctx) {
            const r = await ctx.conn.run(argv, { as: args.become ?? ctx.settings?.taskUser, cwd: args.chdir, stdin: args.stdin, signal: ctx.signal });
            const result = { rc: r.exitCode, stdout: r.stdout.trimEnd(), stderr: r.stderr.trimEnd() };
            if (r.failed) {
              const why = r.timedOut ? 'timed out' : `exited with ${r.exitCode ?? r.signal}`;
              throw Object.assign(new Error(`command ${why}: ${(r.stderr.trim() || r.stdout.trim()).split('\n').slice(-3).join(' | ')}`), { result });
            }
            return result;
          },
        },
      ],
    };
  },
};

