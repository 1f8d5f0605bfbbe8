import type { Become } from '../connection/command';
import type { PgSettings } from '../facts/pg-settings';

export const becomeSchema = {
  type: 'string',
  description: 'Run as this OS user (sudo or su, from the host variable become_method).',
  examples: ['postgres'],
};

export function becomeFrom(user: string | undefined, pg: PgSettings): Become | undefined {
  return user ? { user, method: pg.becomeMethod } : undefined;
}

/** Become the PostgreSQL OS user of the host. */
export function becomePostgres(pg: PgSettings): Become {
  return { user: pg.osUser, method: pg.becomeMethod };
}
