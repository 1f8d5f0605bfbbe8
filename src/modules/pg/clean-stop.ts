// A clean stop that returns as soon as the server is gone: pg_ctl's fast shutdown (sessions end, a shutdown
// checkpoint is written), without pg_ctl's own 100 ms polling; the host's service manager when it owns the server.
import type { HostHandle } from '../types';
import { controlServer, lastLine, runPg, sleep } from './server';

export async function stopCleanly(handle: HostHandle, timeoutMs = 120_000): Promise<void> {
  const { conn, pg } = handle;
  await handle.dropSql();
  if (pg.serviceControl.startsWith('systemd:')) {
    await controlServer(conn, pg, 'stop');
    return;
  }
  const pidFile = `${pg.dataDir}/postmaster.pid`;
  const r = await runPg(conn, pg, 'pg_ctl', ['stop', '-D', pg.dataDir, '-m', 'fast', '-W']);
  if (r.failed && (await conn.stat(pidFile))) throw new Error(`stop of PostgreSQL on ${conn.hostName} failed: ${lastLine(r)}`);
  const deadline = Date.now() + timeoutMs;
  while (await conn.stat(pidFile)) {
    if (Date.now() > deadline) throw new Error(`PostgreSQL on ${conn.hostName} is still running ${Math.round(timeoutMs / 1000)} s after a fast shutdown began`);
    await sleep(10);
  }
}

/**
 * Start and return once the server accepts connections. Debian's pg_ctlcluster probes three times, 0.5 s apart,
 * after its first 0.5 s wait (2 s at least); pg_ctl on the configuration directory starts the same cluster with
 * the same files and log, and waits by the postmaster's own status, so a switchover's rejoin is not held up.
 */
export async function startServer(handle: HostHandle, signal?: AbortSignal): Promise<void> {
  const { conn, pg } = handle;
  if (pg.serviceControl !== 'pg_ctlcluster') {
    await controlServer(conn, pg, 'start', signal);
    return;
  }
  const r = await runPg(conn, pg, 'pg_ctl', ['start', '-D', pg.configDir, '-l', pg.logFile, '-w', '-t', '60', '-s'], { timeoutMs: 90_000, signal });
  if (r.failed) {
    const log = await conn.readFile(pg.logFile).catch(() => null);
    const tail = log ? log.content.toString('utf8').trimEnd().split('\n').slice(-5).join('\n') : '';
    throw new Error(`start of PostgreSQL on ${conn.hostName} failed: ${lastLine(r)}${tail ? `\nlast lines of ${pg.logFile}:\n${tail}` : ''}`);
  }
}
