// WAL positions and timeline histories, and the decision a rejoin rests on: has this host written (or replayed)
// WAL past the point where the primary's timeline forked off its own? Read from the servers, never guessed.

/** An LSN as PostgreSQL prints it (X/Y, hexadecimal), as a number of bytes. */
export function parseLsn(text: string): bigint {
  const m = /^\s*([0-9A-Fa-f]{1,8})\/([0-9A-Fa-f]{1,8})\s*$/.exec(text);
  if (!m) throw new Error(`'${text}' is not a WAL position (X/Y)`);
  return (BigInt(`0x${m[1]}`) << 32n) | BigInt(`0x${m[2]}`);
}

export function formatLsn(lsn: bigint): string {
  return `${(lsn >> 32n).toString(16).toUpperCase()}/${(lsn & 0xffffffffn).toString(16).toUpperCase()}`;
}

/** One line of a timeline history file: timeline `parent` ended at `switchpoint`, where the next one began. */
export interface HistoryEntry {
  parent: number;
  switchpoint: bigint;
  reason: string;
}

/** The lines of a NNNNNNNN.history file (parent timeline, switchpoint, reason); comments and blank lines skipped. */
export function parseHistory(text: string): HistoryEntry[] {
  const out: HistoryEntry[] = [];
  for (const line of text.split('\n')) {
    const trimmed = line.trim();
    if (trimmed === '' || trimmed.startsWith('#')) continue;
    const [tli, lsn, ...reason] = trimmed.split(/\s+/);
    if (!/^\d+$/.test(tli)) throw new Error(`a timeline history line starts with a timeline number, not '${trimmed}'`);
    out.push({ parent: Number(tli), switchpoint: parseLsn(lsn ?? ''), reason: reason.join(' ') });
  }
  return out;
}

/** The history file's name for a timeline: 00000002.history. */
export function historyFileName(tli: number): string {
  return `${tli.toString(16).toUpperCase().padStart(8, '0')}.history`;
}

/** The timeline of a WAL file name (its first 8 hex digits), as pg_walfile_name() gives it. */
export function timelineOfWalFile(name: string): number {
  if (!/^[0-9A-F]{24}$/.test(name)) throw new Error(`'${name}' is not a WAL file name`);
  return parseInt(name.slice(0, 8), 16);
}

/** What the host to rejoin holds, read from it. */
export type LocalPosition =
  /** A standby: the WAL it has replayed (running), or its minimum recovery point (stopped in recovery). */
  | { kind: 'standby'; timeline: number; lsn: bigint }
  /**
   * A former primary (stopped): its timeline, and whether its WAL holds any record at or after the switchpoint
   * (pg_waldump from there); null when the switchpoint is not known yet.
   */
  | { kind: 'primary'; timeline: number; recordsAfterSwitch: number | null };

export interface SourceTimeline {
  timeline: number;
  history: HistoryEntry[];
}

export type RejoinDecision =
  | { action: 'follow'; why: string; switchpoint: bigint | null }
  | { action: 'rewind'; why: string; switchpoint: bigint | null }
  | { action: 'refuse'; why: string };

/** Where the host's timeline ends in the source's history: null when it is the source's own timeline. */
export function switchpointFor(local: number, source: SourceTimeline): { switchpoint: bigint | null; ancestor: boolean } {
  if (local === source.timeline) return { switchpoint: null, ancestor: true };
  const entry = source.history.find((h) => h.parent === local);
  return entry ? { switchpoint: entry.switchpoint, ancestor: true } : { switchpoint: null, ancestor: false };
}

/**
 * Follow or rewind, as repmgr and Patroni decide it: the host may follow the new primary only when everything it
 * holds lies on the new primary's history, that is, when it wrote or replayed nothing past the switchpoint of its
 * timeline. A former primary is judged by its WAL (records at or after the switchpoint), a standby by its replay
 * position (Patroni's rule: a replay position equal to the switchpoint is still on the history).
 */
export function decideRejoin(local: LocalPosition, source: SourceTimeline): RejoinDecision {
  const fmt = (n: bigint) => formatLsn(n);
  if (local.timeline > source.timeline) {
    return { action: 'rewind', why: `it is on timeline ${local.timeline}, newer than the primary's ${source.timeline}`, switchpoint: null };
  }
  const { switchpoint, ancestor } = switchpointFor(local.timeline, source);
  if (!ancestor) {
    return { action: 'rewind', why: `its timeline ${local.timeline} is not in the history of the primary's timeline ${source.timeline}`, switchpoint: null };
  }
  if (switchpoint === null) {
    if (local.kind === 'primary') return { action: 'refuse', why: `it was a primary on the primary's own timeline ${local.timeline}: two servers wrote one timeline; refusing to choose between them` };
    return { action: 'follow', why: `it is on the primary's timeline ${local.timeline}`, switchpoint: null };
  }
  const at = `the primary's timeline ${source.timeline} forked off timeline ${local.timeline} at ${fmt(switchpoint)}`;
  if (local.kind === 'standby') {
    return local.lsn > switchpoint
      ? { action: 'rewind', why: `it replayed up to ${fmt(local.lsn)} on timeline ${local.timeline}, past where ${at}`, switchpoint }
      : { action: 'follow', why: `it replayed up to ${fmt(local.lsn)}, not past where ${at}`, switchpoint };
  }
  if (local.recordsAfterSwitch === null) return { action: 'refuse', why: `its WAL after ${fmt(switchpoint)} could not be read` };
  return local.recordsAfterSwitch > 0
    ? { action: 'rewind', why: `it wrote ${local.recordsAfterSwitch} WAL record(s) on timeline ${local.timeline} after ${fmt(switchpoint)}, where ${at}`, switchpoint }
    : { action: 'follow', why: `its WAL ends where ${at}`, switchpoint };
}
