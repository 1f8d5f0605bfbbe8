// What a stopped server would accept: `postgres --describe-config` lists every setting with its context and type.
import type { Connection } from '../../connection/types';
import type { PgSettings } from '../../facts/pg-settings';

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
  const r = await conn.run([`${pg.binDir}/postgres`, '--describe-config'], { as: pg.osUser, env: { LC_ALL: 'C' } });
  if (r.failed) throw new Error(`postgres --describe-config on ${conn.hostName} failed: ${r.stderr.trim().split('\n').pop()}`);
  return parseDescribeConfig(r.stdout);
}

/** What the server makes of a setting: its value in force, or the value a text gives it, or why it refuses the text. */
export interface ServerForm {
  /** As `postgres -C` prints it: an enum's canonical name (hot_standby is replica), a whole number in the setting's unit, on/off. */
  value?: string;
  /** The server's own words when it refuses the text for this setting ("... is outside the valid range ..."). */
  refused?: string;
}

/**
 * Ask the server binary itself: `postgres -D CONFIG_DIR -C NAME [-c NAME=TEXT]` reads the whole configuration (and the
 * text given) and prints the value in force; it works beside a running server. Only for values that hold no secret:
 * the text is on a command line. Null when the binary could not read the configuration (no cluster yet, say).
 */
export async function serverForm(conn: Connection, pg: PgSettings, name: string, text?: string): Promise<ServerForm | null> {
  const argv = [`${pg.binDir}/postgres`, '-D', pg.configDir, '-C', name, ...(text === undefined ? [] : ['-c', `${name}=${text}`])];
  const r = await conn.run(argv, { as: pg.osUser, env: { LC_ALL: 'C' }, timeoutMs: 30_000 });
  if (!r.failed) return { value: r.stdout.replace(/\n$/, '') };
  const fatal = /(?:FATAL|ERROR):\s+(.*)/.exec(r.stderr)?.[1]?.trim();
  const hint = /HINT:\s+(.*)/.exec(r.stderr)?.[1]?.trim();
  // Only a refusal of this very setting's value speaks about the text; anything else is the configuration's problem.
  if (text !== undefined && fatal && fatal.includes(`"${name}"`)) return { refused: `${fatal}${hint ? ` (${hint})` : ''}` };
  return null;
}
