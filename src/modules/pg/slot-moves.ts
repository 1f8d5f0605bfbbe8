// Physical replication slots across a switchover: the slots the old primary kept for its standbys are created on
// the new primary (moved), and dropped on the old one once it is a standby itself. Plain SQL, kept apart from the
// modules so the replication_slot module of site.yml and these steps agree on nothing but slot names.
import type { SqlSession } from '../../facts/sql';

/** A slot name made from a host name: lower case, [a-z0-9_], at most 63 characters. */
export function slotName(host: string): string {
  return host.toLowerCase().replace(/[^a-z0-9_]/g, '_').slice(0, 63);
}

/** Create on this (new) primary each slot not there yet, except `own` (the slot it streamed through itself). */
export async function moveSlots(sql: SqlSession, slots: string[], own: string | null): Promise<string[]> {
  const wanted = slots.filter((s) => s !== own);
  if (wanted.length === 0) return [];
  const rows = await sql.query<{ name: string }>("SELECT slot_name::text AS name FROM pg_replication_slots WHERE slot_name = ANY($1)", [wanted]);
  const have = new Set(rows.map((r) => r.name));
  const created: string[] = [];
  for (const name of wanted) {
    if (have.has(name)) continue;
    // Reserve WAL at once, so a standby that connects later finds it kept.
    await sql.query('SELECT pg_create_physical_replication_slot($1, true)', [name]);
    created.push(name);
  }
  return created;
}

/** Make sure one slot exists (for a standby about to stream through it); true when it was created. */
export async function ensureSlot(sql: SqlSession, name: string): Promise<boolean> {
  const rows = await sql.query<{ n: number }>('SELECT count(*)::int AS n FROM pg_replication_slots WHERE slot_name = $1', [name]);
  if (rows[0].n > 0) return false;
  await sql.query('SELECT pg_create_physical_replication_slot($1, true)', [name]);
  return true;
}

/** Drop the named physical slots that exist and are not in use; returns those dropped. */
export async function dropSlots(sql: SqlSession, names: string[]): Promise<string[]> {
  if (names.length === 0) return [];
  const rows = await sql.query<{ name: string }>("SELECT slot_name::text AS name FROM pg_replication_slots WHERE slot_name = ANY($1) AND slot_type = 'physical' AND NOT active", [names]);
  for (const r of rows) await sql.query('SELECT pg_drop_replication_slot($1)', [r.name]);
  return rows.map((r) => r.name);
}
