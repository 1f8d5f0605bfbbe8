// The steps of ensure_conf, each with its undo: ALTER SYSTEM, a write into a configuration file, and the reload
// that must be seen to take effect.
import { textToBytes } from '../../facts/bytes';
import { LIST_QUOTED, listItems } from '../../facts/conf-values';
import type { SqlSession } from '../../facts/sql';
import { quoteIdent, quoteLiteral } from '../../facts/sql-session';
import { runUnlogged } from '../../facts/unlogged-statement';
import { holdsSecret } from '../../secrets';
import type { Step, TaskContext } from '../types';
import { sleep } from './server';

/** Settings whose values may carry a password or a key: ALTER SYSTEM for them is kept out of every statement record. */
const CREDENTIAL_SETTINGS = new Set(['primary_conninfo', 'ssl_passphrase_command', 'archive_command', 'restore_command', 'archive_cleanup_command', 'recovery_end_command']);

export function mayHoldCredentials(name: string, value: string): boolean {
  return CREDENTIAL_SETTINGS.has(name) || /password|passphrase|conninfo|secret/.test(name) || holdsSecret(value);
}

/** ALTER SYSTEM SET for one value; a quoted-list setting gets one literal per item, which the server quotes itself. */
export function alterSystemStatement(name: string, value: string): string {
  const target = name.split('.').map(quoteIdent).join('.');
  const kind = LIST_QUOTED[name];
  if (!kind) return `ALTER SYSTEM SET ${target} TO ${quoteLiteral(value)}`;
  const items = listItems(value, kind);
  if (!items) throw new Error(`${name}: '${value}' is not a list PostgreSQL can read`);
  return `ALTER SYSTEM SET ${target} TO ${items.length > 0 ? items.map(quoteLiteral).join(', ') : "''"}`;
}

async function alterSystem(sql: SqlSession, name: string, value: string | null): Promise<void> {
  const statement = value === null ? `ALTER SYSTEM RESET ${name.split('.').map(quoteIdent).join('.')}` : alterSystemStatement(name, value);
  if (value !== null && mayHoldCredentials(name, value)) await runUnlogged(sql, statement, { transaction: false });
  else await sql.query(statement);
}

/**
 * ALTER SYSTEM SET each value. Undo: each name back to what postgresql.auto.conf held (`previous`; null: no line,
 * so RESET), then a reload, so the server uses what it used before.
 */
export function alterSystemStep(write: Record<string, string>, previous: Record<string, string | null>): Step {
  const done: string[] = [];
  return {
    description: `ALTER SYSTEM SET ${Object.keys(write).join(', ')}`,
    async apply(ctx) {
      const sql = await ctx.sql();
      for (const [name, value] of Object.entries(write)) {
        await alterSystem(sql, name, value);
        done.push(name);
      }
    },
    async undo(ctx) {
      const sql = await ctx.sql();
      for (const name of [...done].reverse()) await alterSystem(sql, name, previous[name] ?? null);
      await reloadAndWait(sql);
      return `postgresql.auto.conf holds ${done.map((n) => (previous[n] == null ? `no ${n}` : `${n} as before`)).join(', ')} again, reloaded`;
    },
  };
}

/**
 * Write a configuration file. On a running server, check that the server reads the file and that no later file
 * sets the same names again (pg_file_settings). Undo: the file as it was (or no file), reloaded when the server runs.
 */
export function fileStep(path: string, before: string | null, content: string, names: string[], running: boolean): Step {
  return {
    description: `write ${names.join(', ')} to ${path}`,
    async apply(ctx) {
      // A new file is the PostgreSQL OS user's, 0600; an existing one keeps its owner and mode.
      await ctx.conn.writeFile(path, textToBytes(content), before === null ? { owner: ctx.pg.osUser, mode: '0600' } : {});
      if (!running) return;
      const rows = await (await ctx.sql()).query<{ name: string; sourcefile: string; sourceline: number }>(
        'SELECT DISTINCT ON (lower(name)) lower(name) AS name, sourcefile, sourceline FROM pg_file_settings WHERE lower(name) = ANY($1) ORDER BY lower(name), seqno DESC',
        [names],
      );
      const ours = rows.filter((r) => r.sourcefile === path);
      // A file postgresql.conf does not include would be written on every run and never used.
      if (ours.length === 0) throw new Error(`${path} is not read by the server: include it from postgresql.conf (include, include_if_exists or include_dir)`);
      const later = rows.filter((r) => r.sourcefile !== path);
      if (later.length > 0) throw new Error(later.map((r) => `${r.name} is set again in ${r.sourcefile} line ${r.sourceline}, which PostgreSQL reads after ${path}`).join('; '));
    },
    async undo(ctx) {
      if (before === null) await ctx.conn.remove(path);
      else await ctx.conn.writeFile(path, textToBytes(before));
      if (running) await reloadAndWait(await ctx.sql());
      return before === null ? `${path} removed again` : `${path} put back as it was`;
    },
  };
}

export interface Expected {
  /** Does the server's value (pg_settings.setting, or a configuration file's text) give the wanted value? */
  holds(name: string, value: string): boolean;
  /** The session's value is a per-role or per-database one: the cluster's is read from the files instead. */
  overridden(source: string): boolean;
}

/**
 * Reload, wait until this session has read the files again (pg_conf_load_time moves on), then check that the server
 * uses each value; one that it does not use is a failure that says why (the server's error, the command line).
 */
export function reloadStep(names: string[], expected: Expected): Step {
  return {
    description: 'SELECT pg_reload_conf()',
    async apply(ctx: TaskContext) {
      const sql = await ctx.sql();
      await reloadAndWait(sql);
      if (names.length === 0) return;
      const rows = await sql.query<{ name: string; setting: string; source: string; file_setting: string | null; file_error: string | null; sourcefile: string | null; sourceline: number | null }>(
        `SELECT lower(s.name) AS name, s.setting, s.source, f.setting AS file_setting, f.error AS file_error, f.sourcefile, f.sourceline
           FROM pg_settings s
           LEFT JOIN LATERAL (SELECT setting, error, sourcefile, sourceline FROM pg_file_settings WHERE lower(name) = lower(s.name) ORDER BY seqno DESC LIMIT 1) f ON true
          WHERE lower(s.name) = ANY($1)`,
        [names],
      );
      const problems: string[] = [];
      for (const r of rows) {
        const where = r.sourcefile ? ` (${r.sourcefile} line ${r.sourceline})` : '';
        if (r.file_error) problems.push(`${r.name}: the server says "${r.file_error}"${where}`);
        else if (expected.overridden(r.source)) {
          if (r.file_setting === null || !expected.holds(r.name, r.file_setting)) problems.push(`${r.name}: the configuration files give ${r.file_setting ?? 'nothing'}${where}`);
        } else if (!expected.holds(r.name, r.setting)) {
          problems.push(`${r.name} is still ${r.setting} (${r.source === 'command line' ? "set on the server's command line, which wins over the files" : `source: ${r.source}`})`);
        }
      }
      if (problems.length > 0) throw new Error(`after the reload the server does not use the new value: ${problems.join('; ')}`);
    },
  };
}

/** pg_reload_conf(), then wait until this session has read the files again (the reload is asynchronous). */
export async function reloadAndWait(sql: SqlSession, timeoutMs = 5000): Promise<void> {
  const loadTime = async () => (await sql.query<{ t: number }>('SELECT extract(epoch FROM pg_conf_load_time())::float8 AS t'))[0].t;
  const before = await loadTime();
  await sql.query('SELECT pg_reload_conf()');
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    await sleep(20);
    if ((await loadTime()) > before) return;
  }
  throw new Error(`PostgreSQL did not reload its configuration within ${timeoutMs / 1000} s after pg_reload_conf()`);
}
