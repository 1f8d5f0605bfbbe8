// A statement whose text holds a secret (a SCRAM verifier, a conninfo with a password) runs with every setting
// that would record its text turned off for it: the server log, pg_stat_statements and pgaudit.
import type { SqlSession } from './sql';

/** Each setting that records statement text, and the value that stops it. Only those the server has are set. */
const RECORDERS: Array<[name: string, off: string]> = [
  ['log_statement', 'none'],
  ['log_min_error_statement', 'panic'],
  ['log_min_duration_statement', '-1'],
  ['log_min_duration_sample', '-1'],
  ['log_transaction_sample_rate', '0'],
  ['pg_stat_statements.track', 'none'],
  ['pgaudit.log', 'none'],
];

/** The recorders this server knows (an extension's settings exist only while it is loaded). */
async function recorders(sql: SqlSession): Promise<Array<[string, string]>> {
  const rows = await sql.query<{ name: string }>('SELECT name FROM pg_settings WHERE name = ANY($1)', [RECORDERS.map(([name]) => name)]);
  const present = new Set(rows.map((r) => r.name));
  return RECORDERS.filter(([name]) => present.has(name));
}

/**
 * Run the statement with its text recorded nowhere. In a transaction with SET LOCAL (so even a lost session
 * leaves nothing set); ALTER SYSTEM cannot run in a transaction, so there the settings are SET and RESET around it.
 */
export async function runUnlogged(sql: SqlSession, statement: string, options: { transaction: boolean }): Promise<void> {
  const off = await recorders(sql);
  if (options.transaction) {
    await sql.query('BEGIN');
    try {
      for (const [name, value] of off) await sql.query(`SET LOCAL ${name} = '${value}'`);
      // A role change must not wait for synchronous standbys: with one down it would hang the run.
      await sql.query('SET LOCAL synchronous_commit = local');
      await sql.query(statement);
      await sql.query('COMMIT');
    } catch (err) {
      await sql.query('ROLLBACK').catch(() => undefined);
      throw err;
    }
    return;
  }
  for (const [name, value] of off) await sql.query(`SET ${name} = '${value}'`);
  try {
    await sql.query(statement);
  } finally {
    for (const [name] of off) await sql.query(`RESET ${name}`).catch(() => undefined);
  }
}
