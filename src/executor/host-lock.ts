// One pgplay run per host at a time: a flock held by a channel that lives as long as the run.
import type { Connection } from '../connection/types';
import { shellQuote } from '../connection/command';
import { TaskFailedError } from '../errors';

export interface HostLock {
  release(): Promise<void>;
}

/** Where the lock lives on the host: per inventory host, so lab hosts sharing a machine do not collide. */
export function lockPath(hostName: string, vars: Record<string, unknown>): string {
  const given = vars.pgplay_lock_file;
  return typeof given === 'string' && given ? given : `/tmp/pgplay-${hostName.replace(/[^A-Za-z0-9_.-]/g, '_')}.lock`;
}

/**
 * Take the host's lock, waiting up to waitSeconds for another run to finish. The lock is released when
 * the channel ends: on release, when the connection closes, or when pgplay dies.
 */
export async function acquireHostLock(conn: Connection, hostName: string, path: string, waitSeconds: number): Promise<HostLock> {
  const script = [
    `exec 9>>${shellQuote(path)}`,
    `if ! flock -w ${Math.max(0, Math.floor(waitSeconds))} 9; then echo BUSY; exit 75; fi`,
    'echo LOCKED',
    'cat >/dev/null', // holds the lock until stdin closes
  ].join('\n');
  const channel = await conn.open({ argv: ['sh', '-c', script] });
  const answer = await new Promise<string>((resolve) => {
    let text = '';
    channel.stdout.setEncoding('utf8');
    channel.stdout.on('data', (c: string) => {
      text += c;
      if (text.includes('\n')) resolve(text.trim());
    });
    channel.exited.then(() => resolve(text.trim() || 'EXITED'));
  });
  if (answer !== 'LOCKED') {
    channel.kill();
    const why = answer === 'BUSY' ? `another pgplay run holds ${path} (waited ${waitSeconds} s)` : `could not take ${path}`;
    throw new TaskFailedError(`host ${hostName} is busy: ${why}`);
  }
  return {
    async release() {
      channel.stdin.end();
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([channel.exited, new Promise((r) => (timer = setTimeout(r, 2000)))]);
      clearTimeout(timer);
    },
  };
}
