import { controlServer, probeServer, serverState, type ServerAction, type ServerState } from './pg/server';
import { fail, noop, type ModuleDefinition, type Plan } from './types';

export interface ServiceArgs {
  state: 'started' | 'stopped' | 'restarted' | 'reloaded';
}

interface ServiceFacts {
  state: ServerState;
  dataDir: string;
}

const past: Record<ServerAction, string> = { start: 'started', stop: 'stopped', restart: 'restarted', reload: 'reloaded' };

export const serviceModule: ModuleDefinition<ServiceArgs, ServiceFacts> = {
  name: 'service',
  readsServer: true,
  summary: 'Start, stop, restart or reload PostgreSQL (pg_ctl as the PostgreSQL OS user; pg_ctlcluster or systemctl as root for pg_service pg_ctlcluster or systemd:UNIT).',
  schema: {
    type: 'object',
    description:
      'Control the server. started/stopped look at the state first and change nothing when it already holds; restarted and reloaded always act (reloaded does nothing on a stopped server). Start and restart wait until the server accepts connections.',
    properties: {
      state: { type: 'string', enum: ['started', 'stopped', 'restarted', 'reloaded'], description: 'The wanted state.', examples: ['started', 'restarted'] },
    },
    required: ['state'],
    additionalProperties: false,
    examples: [{ state: 'started' }, { state: 'restarted' }],
  },
  async check(ctx) {
    // An open session says "running" with no command; a server that refuses sessions can still be restarted.
    const state = await probeServer(ctx).then(
      (probe) => probe.state,
      () => serverState(ctx.conn, ctx.pg),
    );
    return { state, dataDir: ctx.pg.dataDir };
  },
  plan(args, facts) {
    if (facts.state === 'no-cluster') return fail(`there is no PostgreSQL cluster in ${facts.dataDir}`);
    const running = facts.state === 'running';
    switch (args.state) {
      case 'started':
        return running ? noop('PostgreSQL is running') : act('start');
      case 'stopped':
        return running ? act('stop') : noop('PostgreSQL is stopped');
      case 'restarted':
        return act(running ? 'restart' : 'start');
      case 'reloaded':
        return running ? act('reload') : noop('PostgreSQL is stopped: it reads its configuration when it starts');
      default:
        return fail(`unknown state ${String(args.state)}`);
    }
  },
};

function act(action: ServerAction): Plan {
  return {
    kind: 'change',
    summary: `PostgreSQL ${past[action]}`,
    steps: [
      {
        description: `${action} PostgreSQL`,
        async apply(ctx) {
          ctx.progress(`${action} PostgreSQL`);
          // A session on a stopped or restarted server is dead; the next task opens a new one.
          if (action === 'stop' || action === 'restart') await ctx.dropSql();
          await controlServer(ctx.conn, ctx.pg, action, ctx.signal);
          return { state: past[action] };
        },
      },
    ],
  };
}
