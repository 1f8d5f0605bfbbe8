// One OpenSSH sshd per lab host, listening on the host's own address (loopback, or inside its network namespace), logging each accepted connection.
import { execFile } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { promisify } from 'node:util';
import { childrenOf, isAlive, readPidFile, stopProcess } from './processes';

const run = promisify(execFile);
export const SSHD = '/usr/sbin/sshd';

export interface SshdFiles {
  address: string;
  port: number;
  dir: string;
  config: string;
  hostKey: string;
  pidFile: string;
  log: string;
  authorizedKeys: string;
  /** The login user's HOME on this host, so ssh commands run this host's dotfiles, not the control machine's. */
  home: string;
  /** The network namespace sshd runs in (netns lab); absent on the loopback lab. */
  netns?: string;
}

export function sshdFiles(dir: string, address: string, authorizedKeys: string, netns?: string): SshdFiles {
  return {
    ...(netns ? { netns } : {}),
    address,
    port: 22,
    dir,
    config: `${dir}/sshd_config`,
    hostKey: `${dir}/ssh_host_ed25519_key`,
    pidFile: `${dir}/sshd.pid`,
    log: `${dir}/sshd.log`,
    authorizedKeys,
    home: `${dir}/home`,
  };
}

/** MaxSessions stays at OpenSSH's default (10) on purpose: pgplay must queue its channels as it would on a real server. */
export function sshdConfig(f: SshdFiles): string {
  return [
    `ListenAddress ${f.address}:${f.port}`,
    `HostKey ${f.hostKey}`,
    `PidFile ${f.pidFile}`,
    `AuthorizedKeysFile ${f.authorizedKeys}`,
    'PermitRootLogin prohibit-password',
    'PasswordAuthentication no',
    'KbdInteractiveAuthentication no',
    'UsePAM no',
    'StrictModes no',
    'PrintMotd no',
    'LogLevel VERBOSE',
    'MaxStartups 64:30:128',
    'Subsystem sftp /usr/lib/openssh/sftp-server',
    // bash sources ~/.bashrc for every ssh command; this machine's /root/.bashrc (pyenv init) costs ~100 ms each.
    `SetEnv HOME=${f.home}`,
    '',
  ].join('\n');
}

/** Host key and config; the public host key line is returned for known_hosts. */
export async function prepareSshd(f: SshdFiles): Promise<string> {
  mkdirSync(f.dir, { recursive: true });
  if (!existsSync(f.hostKey)) await run('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', `lab-${f.address}`, '-f', f.hostKey]);
  writeFileSync(f.config, sshdConfig(f));
  mkdirSync(f.home, { recursive: true, mode: 0o700 });
  writeFileSync(`${f.home}/.bashrc`, "# root's ~/.bashrc on a lab host: like a fresh Debian server's, it runs nothing.\n");
  return readFileSync(`${f.hostKey}.pub`, 'utf8').trim();
}

/** Start sshd (it forks into the background) and wait for its pid file: it listens before writing it. */
export async function startSshd(f: SshdFiles): Promise<number> {
  mkdirSync('/run/sshd', { recursive: true, mode: 0o755 });
  const running = readPidFile(f.pidFile);
  if (running && isAlive(running)) return running;
  try {
    const argv = [SSHD, '-f', f.config, '-E', f.log];
    await (f.netns ? run('ip', ['netns', 'exec', f.netns, ...argv]) : run(argv[0], argv.slice(1)));
  } catch (err) {
    throw new Error(`sshd for ${f.address} did not start: ${logTail(f)}`, { cause: err });
  }
  const deadline = Date.now() + 10_000;
  for (;;) {
    const pid = readPidFile(f.pidFile);
    if (pid && isAlive(pid)) return pid;
    if (Date.now() > deadline) throw new Error(`sshd for ${f.address} wrote no pid file: ${logTail(f)}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** Stop the listening sshd and, with dropSessions, the per-connection processes it forked. */
export async function stopSshd(f: SshdFiles, options: { dropSessions?: boolean } = {}): Promise<void> {
  const pid = readPidFile(f.pidFile);
  if (!pid || !isAlive(pid)) return;
  const sessions = options.dropSessions ? childrenOf(pid) : [];
  await stopProcess(pid);
  await Promise.all(sessions.map((child) => stopProcess(child)));
}

/** How many lines of this sshd's log pass the test (none before it has a log). */
export function logLines(f: SshdFiles, test: (line: string) => boolean): number {
  if (!existsSync(f.log)) return 0;
  return readFileSync(f.log, 'utf8').split('\n').filter(test).length;
}

/** How many connections this sshd accepted ("Accepted publickey for ..." with LogLevel VERBOSE). */
export function acceptedConnections(f: SshdFiles): number {
  return logLines(f, (line) => line.includes('Accepted publickey'));
}

/** How many sessions (exec channels) this sshd started: "Starting session: command for ..." with LogLevel VERBOSE. */
export function sessionsStarted(f: SshdFiles): number {
  return logLines(f, (line) => line.includes('Starting session:'));
}

function logTail(f: SshdFiles): string {
  if (!existsSync(f.log)) return 'no log';
  return readFileSync(f.log, 'utf8').trim().split('\n').slice(-3).join(' | ');
}
