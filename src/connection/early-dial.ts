// A run's TCP connections open as soon as its hosts' addresses are known, before pgplay loads ssh2 and reads its
// keys: meanwhile each host's sshd accepts, starts its side of the connection and sends its version line (on this
// machine's other core, or on the host). ssh2 then takes the connected socket; nothing but TCP happens before it does,
// so the host key is checked as before. This module does not load ssh2.
import { connect, type Socket } from 'node:net';
import type { SshOptions } from './ssh-options';

type Where = Pick<SshOptions, 'address' | 'port' | 'addressFamily' | 'proxyJump' | 'persistSeconds'>;

interface Early {
  sock: Socket;
  failed: boolean;
}

const waiting = new Map<string, Early>();

const keyOf = (o: Where) => `${o.address}\0${o.port}\0${o.addressFamily ?? ''}`;

/** Open the TCP connection to a host reached directly (not through bastions, not kept by the keeper), once per address. */
export function dialEarly(o: Where): void {
  if (o.proxyJump.length > 0 || o.persistSeconds !== undefined || waiting.has(keyOf(o))) return;
  const family = o.addressFamily === 'inet' ? 4 : o.addressFamily === 'inet6' ? 6 : 0;
  let sock: Socket;
  try {
    sock = connect({ host: o.address, port: o.port, family, noDelay: true });
  } catch {
    return; // ssh2 dials it then, and says what is wrong with the address
  }
  const early: Early = { sock, failed: false };
  // A refusal or an unreachable host before ssh2 takes the socket: ssh2 dials again and reports what it finds.
  sock.on('error', () => (early.failed = true));
  // Not taken (its host's connection never opened): it does not keep pgplay running.
  sock.unref();
  waiting.set(keyOf(o), early);
}

/** The socket dialEarly opened to this address (connected or still connecting), once; none when it failed. */
export function takeEarlySocket(o: Where): Socket | undefined {
  const early = waiting.get(keyOf(o));
  if (!early) return undefined;
  waiting.delete(keyOf(o));
  if (early.failed || early.sock.destroyed) {
    early.sock.destroy();
    return undefined;
  }
  early.sock.ref();
  return early.sock;
}

/** Close the sockets no connection took (a run that stopped before its hosts' connections opened). */
export function dropEarlySockets(): void {
  for (const early of waiting.values()) early.sock.destroy();
  waiting.clear();
}
