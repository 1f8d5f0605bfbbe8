import type { Become } from '../connection/command';
import { becomeAs, type PgSettings } from '../facts/pg-settings';

export const becomeSchema = {
  type: 'string',
  description: 'Run as this OS user (sudo or su, from the host variable become_method).',
  examples: ['postgres'],
};

/** The user a task's command runs as: its become argument, else the host's ansible_become user, else the login user. */
export function becomeFrom(user: string | undefined, pg: PgSettings): Become | undefined {
  const who = user ?? pg.taskBecomeUser;
  return who ? becomeAs(who, pg) : undefined;
}

/** Become the PostgreSQL OS user of the host. */
export function becomePostgres(pg: PgSettings): Become {
  return becomeAs(pg.osUser, pg);
}
