// A TaskContext built by hand over LocalConnections, and a check -> plan -> apply runner shaped like the executor's.
import type { InventoryHost } from '../../src/config/types';
import { LocalConnection } from '../../src/connection/local';
import type { PgSettings } from '../../src/facts/pg-settings';
import type { SqlSession } from '../../src/facts/sql';
import { openSqlSession } from '../../src/facts/sql-session';
import { applySteps } from '../../src/executor/steps';
import type { HostHandle, ModuleDefinition, Plan, TaskContext } from '../../src/modules/types';

export interface TestHosts {
  handle(name: string): HostHandle;
  context(name: string, options?: { checkMode?: boolean; outOfRun?: Record<string, string> }): TaskContext;
  progress: string[];
  closeAll(): Promise<void>;
}

export function testHosts(settings: Record<string, PgSettings>): TestHosts {
  const handles = new Map<string, HostHandle>();
  const conns: LocalConnection[] = [];
  const progress: string[] = [];
  const handle = (name: string): HostHandle => {
    const existing = handles.get(name);
    if (existing) return existing;
    const pg = settings[name];
    if (!pg) throw new Error(`host ${name} is not in the test inventory`);
    const conn = new LocalConnection(name);
    conns.push(conn);
    let session: SqlSession | null = null;
    const host: InventoryHost = { name, vars: {}, varSources: {}, groups: ['all'], source: { file: 'test', line: 1, col: 1 } };
    const h: HostHandle = {
      name,
      host,
      conn,
      pg,
      async sql() {
        if (!session || session.closed) session = await openSqlSession(conn, pg);
        return session;
      },
      async dropSql() {
        const s = session;
        session = null;
        await s?.close();
      },
    };
    handles.set(name, h);
    return h;
  };
  return {
    handle,
    progress,
    context(name, options = {}) {
      return {
        ...handle(name),
        checkMode: options.checkMode ?? false,
        playbookDir: '/tmp',
        vars: {},
        otherHost: async (other) => handle(other),
        outOfRun: (other) => options.outOfRun?.[other] ?? null,
        progress: (message) => progress.push(`${name}: ${message}`),
        signal: new AbortController().signal,
      };
    },
    async closeAll() {
      for (const h of handles.values()) await h.dropSql().catch(() => undefined);
      for (const c of conns) await c.close();
    },
  };
}

export interface ModuleRun {
  plan: Plan;
  result: Record<string, unknown>;
}

/** check, plan and (unless check mode) apply every step, as the executor does. */
export async function runModule<A>(module: ModuleDefinition<A>, ctx: TaskContext, args: A): Promise<ModuleRun> {
  const facts = await module.check(ctx, args);
  const plan = module.plan(args, facts);
  const result: Record<string, unknown> = { ...(plan.result ?? {}) };
  if (plan.kind === 'change' && !ctx.checkMode) Object.assign(result, await applySteps(plan.steps, ctx));
  return { plan, result };
}
