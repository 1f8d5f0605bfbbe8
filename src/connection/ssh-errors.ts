// ssh2's errors, told for people: what failed when reaching which host, never a stack trace or a secret.
import { UnreachableError } from '../errors';
import { redact } from '../secrets';

export interface SshTarget {
  hostName: string;
  address: string;
  port: number;
  user: string;
}

export function sshPrefix(t: SshTarget): string {
  return `ssh to ${t.hostName} (${t.address}:${t.port})`;
}

export function unreachable(t: SshTarget, what: string, cause?: unknown): UnreachableError {
  return new UnreachableError(redact(`${sshPrefix(t)}: ${what}`), { cause });
}

/** Why connecting failed, from ssh2's error (its level and code) and the methods that were tried. */
export function connectFailure(t: SshTarget, err: unknown, context: { timeoutMs: number; methods: string[]; unsetPassword?: string }): string {
  const e = err as { code?: string; level?: string; message?: string };
  switch (e.code) {
    case 'ECONNREFUSED':
      return 'connection refused';
    case 'EHOSTUNREACH':
    case 'ENETUNREACH':
      return 'no route to host';
    case 'ETIMEDOUT':
      return 'connection timed out';
    case 'ECONNRESET':
    case 'EPIPE':
      return 'the server closed the connection during the handshake';
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
      return `cannot resolve ${t.address}`;
  }
  if (e.level === 'client-timeout') return `no answer within ${context.timeoutMs / 1000} s (ssh_connect_timeout)`;
  if (e.level === 'client-authentication') {
    const tried = context.methods.length > 0 ? context.methods.join(', ') : 'no method: give ansible_ssh_private_key_file, an ssh-agent or ssh_password_env';
    const unset = context.unsetPassword ? `; ssh_password_env names ${context.unsetPassword}, which is not set` : '';
    return `authentication as ${t.user} failed (tried ${tried}${unset})`;
  }
  return `connection failed: ${e.message ?? String(err)}`;
}
