// What a stopped server would accept: `postgres --describe-config` lists every setting with its context and type.
import type { Connection } from '../../connection/types';
import { becomeAs, type PgSettings } from '../../facts/pg-settings';

export interface SettingDescription {
  context: string;
  vartype: 'bool' | 'integer' | 'real' | 'string' | 'enum';
}

export function parseDescribeConfig(text: string): Map<string, SettingDescription> {
  const out = new Map<string, SettingDescription>();
  for (const line of text.split('\n')) {
    const cols = line.split('\t');
    if (cols.length < 4) continue;
    const vartype = cols[3].toLowerCase() === 'boolean' ? 'bool' : (cols[3].toLowerCase() as SettingDescription['vartype']);
    out.set(cols[0].toLowerCase(), { context: cols[1], vartype });
  }
  return out;
}

export async function describeConfig(conn: Connection, pg: PgSettings): Promise<Map<string, SettingDescription>> {
  const r = await conn.run({ argv: [`${pg.binDir}/postgres`, '--describe-config'], become: becomeAs(pg.osUser, pg), env: { LC_ALL: 'C' } });
  if (r.failed) throw new Error(`postgres --describe-config on ${conn.hostName} failed: ${r.stderr.trim().split('\n').pop()}`);
  return parseDescribeConfig(r.stdout);
}
