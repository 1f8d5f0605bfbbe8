// A PostgreSQL server's log: which files it writes, how far they reach now, and the messages written since.
import type { Connection } from '../connection/types';
import type { PgSettings } from './pg-settings';
import type { SqlSession } from './sql';

/** One message of the log, with the DETAIL and HINT lines that follow it. */
export interface LogEntry {
  severity: string;
  message: string;
  detail?: string;
  hint?: string;
  /** The line as written (prefix included), for quoting. */
  line: string;
}

/** How long each log file was at a moment: what is written after it is what an attempt caused. */
export type LogMark = Record<string, number>;

/** Severity words of PostgreSQL's log lines (lc_messages C or English), after whatever log_line_prefix wrote. */
const SEVERITY = /(?:^|\s)(DEBUG[1-5]?|LOG|INFO|NOTICE|WARNING|ERROR|FATAL|PANIC|DETAIL|HINT|CONTEXT|STATEMENT|QUERY|LOCATION):\s+(.*)$/;
const ATTACHED = new Set(['DETAIL', 'HINT', 'CONTEXT', 'STATEMENT', 'QUERY', 'LOCATION']);

/** The messages of a stretch of log text; a line that continues a message (a tab first) joins it. */
export function parseServerLog(text: string): LogEntry[] {
  const entries: LogEntry[] = [];
  let last: LogEntry | null = null;
  let lastKey: 'message' | 'detail' | 'hint' | null = null;
  for (const raw of text.split('\n')) {
    const line = raw.replace(/\r$/, '');
    if (line.trim() === '') continue;
    if (/^\t/.test(line) && last && lastKey) {
      last[lastKey] = `${last[lastKey] ?? ''} ${line.trim()}`;
      continue;
    }
    const m = SEVERITY.exec(line);
    if (!m) {
      last = null;
      lastKey = null;
      continue;
    }
    const [, severity, message] = m;
    if (ATTACHED.has(severity)) {
      if (last && (severity === 'DETAIL' || severity === 'HINT')) {
        lastKey = severity === 'DETAIL' ? 'detail' : 'hint';
        last[lastKey] = message.trim();
      }
      continue;
    }
    last = { severity, message: message.trim(), line };
    lastKey = 'message';
    entries.push(last);
  }
  return entries;
}

/**
 * The files the server writes its messages to: the file its start command sends output to (pg_ctl -l, Debian's
 * /var/log/postgresql/...) and, with logging_collector on (RHEL's default), pg_current_logfile().
 */
export async function serverLogPaths(pg: PgSettings, sql: SqlSession | null): Promise<string[]> {
  const paths = [pg.logFile];
  if (sql) {
    try {
      const [row] = await sql.query<{ file: string | null }>('SELECT pg_current_logfile() AS file');
      if (row?.file) paths.push(row.file.startsWith('/') ? row.file : `${pg.dataDir}/${row.file}`);
    } catch {
      // A server that cannot say: the start command's file is still read.
    }
  }
  return [...new Set(paths)];
}

/** The length of each log file now. */
export async function markServerLog(conn: Connection, paths: string[]): Promise<LogMark> {
  const mark: LogMark = {};
  await Promise.all(
    paths.map(async (path) => {
      const st = await conn.stat(path).catch(() => null);
      mark[path] = st?.size ?? 0;
    }),
  );
  return mark;
}

/** Reads at most MAX bytes from OFFSET ('' for the last MAX bytes); a file shorter than OFFSET was rotated: read its end. */
const READ_PART = 'my ($p, $o, $m) = @ARGV; open(my $f, "<", $p) or exit 2; binmode $f; my $s = -s $f; $o = ($o eq "" || $o > $s) ? ($s > $m ? $s - $m : 0) : $o; seek($f, $o, 0); read($f, my $b, $m); binmode STDOUT; print $b;';

/** What the log files say: since the mark when there is one (what an attempt caused), else their last bytes. */
export async function readServerLog(conn: Connection, pg: PgSettings, paths: string[], since?: LogMark, maxBytes = 256 * 1024): Promise<LogEntry[]> {
  const parts = await Promise.all(
    paths.map(async (path) => {
      const offset = since && path in since ? String(since[path]) : '';
      const r = await conn.run(['perl', '-e', READ_PART, path, offset, String(maxBytes)], { as: pg.osUser, timeoutMs: 15_000 }).catch(() => null);
      return r && !r.failed ? parseServerLog(r.stdout) : [];
    }),
  );
  return parts.flat();
}
