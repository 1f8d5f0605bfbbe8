// ssh2's connect settings for a host or a bastion, from its options: where, who, which keys, the host key check.
import { readFileSync } from 'node:fs';
import type { Duplex } from 'node:stream';
import { Client, type AuthenticationType, type ConnectConfig, type ServerHostKeyAlgorithm } from 'ssh2';
import { decideHostKey, hostKeyAlgorithms } from './host-key-policy';
import { connectFailure, type SshTarget } from './ssh-errors';
import type { SshOptions } from './ssh-options';

export type ConnectSettings = { config: ConnectConfig; methods: AuthenticationType[] } | { problem: string; cause: unknown };

/** The settings, or why they cannot be made (an unreadable key); a refused host key is told through onHostKeyProblem. */
export function sshConnectConfig(o: SshOptions, sock: Duplex | undefined, onHostKeyProblem: (reason: string) => void): ConnectSettings {
  const methods: AuthenticationType[] = [];
  const config: ConnectConfig = {
    host: o.address,
    port: o.port,
    username: o.user,
    readyTimeout: o.connectTimeoutMs,
    keepaliveInterval: o.keepaliveIntervalMs,
    keepaliveCountMax: o.keepaliveCountMax,
    algorithms: { serverHostKey: hostKeyAlgorithms(o.address, o.port, o) as ServerHostKeyAlgorithm[], ...(o.compression ? { compress: ['zlib@openssh.com', 'zlib', 'none'] } : {}) },
    ...(o.addressFamily ? { [o.addressFamily === 'inet' ? 'forceIPv4' : 'forceIPv6']: true } : {}),
    ...(sock ? { sock } : {}),
    hostVerifier: (key: Buffer) => {
      const decision = decideHostKey(o.address, o.port, key, o);
      if (!decision.trusted) onHostKeyProblem(decision.reason);
      return decision.trusted;
    },
  };
  if (o.privateKeyFile) {
    try {
      config.privateKey = readFileSync(o.privateKeyFile);
    } catch (err) {
      return { problem: `cannot read private key ${o.privateKeyFile} (${(err as NodeJS.ErrnoException).code ?? 'error'})`, cause: err };
    }
    methods.push('publickey');
  }
  if (o.agent) {
    config.agent = o.agent;
    methods.push('agent');
  }
  if (o.password) {
    config.password = o.password.reveal();
    methods.push('password');
  }
  config.authHandler = methods;
  return { config, methods };
}

/** Why ssh2 would not take the key (connect throws before any network traffic). */
export function keyProblem(o: SshOptions, err: unknown): string {
  const message = (err as Error).message;
  return /encrypted|passphrase/i.test(message) ? `private key ${o.privateKeyFile} is encrypted: load it into ssh-agent instead` : `cannot use the private key: ${message}`;
}

/** How one connection attempt reports: to a host or to a bastion. */
export interface DialReport {
  target: SshTarget;
  /** What a connection closed before it was ready says. */
  closedEarly: string;
  /** The environment variable named for the password that is not set, when that may be why. */
  unsetPassword?: string;
  /** The error the attempt fails with. */
  failure: (what: string, cause?: unknown) => Error;
  /** The connection closed, ready or not. */
  onClose?: (client: Client) => void;
}

/** Open one ssh connection (over sock when it goes through bastions): the host key checked first, one clear failure. */
export function dialSsh(o: SshOptions, sock: Duplex | undefined, report: DialReport): Promise<Client> {
  return new Promise((resolve, reject) => {
    const client = new Client();
    let settled = false;
    let hostKeyProblem: string | null = null;
    const fail = (what: string, cause?: unknown) => {
      if (settled) return;
      settled = true;
      client.destroy();
      reject(report.failure(what, cause));
    };
    const made = sshConnectConfig(o, sock, (reason) => (hostKeyProblem = reason));
    if ('problem' in made) return fail(made.problem, made.cause);
    client.once('ready', () => {
      settled = true;
      resolve(client);
    });
    const context = { timeoutMs: o.connectTimeoutMs, methods: made.methods, unsetPassword: report.unsetPassword };
    client.on('error', (err) => fail(hostKeyProblem ?? connectFailure(report.target, err, context), err));
    client.on('close', () => {
      report.onClose?.(client);
      fail(hostKeyProblem ?? report.closedEarly);
    });
    try {
      client.connect(made.config);
      // Small writes (the handshake's service request, a SQL query's Parse, Bind, Execute) must not wait 40 ms for a
      // delayed ACK: without this, every connection and every parameterised query stalled. (A channel through a
      // bastion has no such setting; ssh2 then does nothing.)
      client.setNoDelay(true);
    } catch (err) {
      fail(keyProblem(o, err), err);
    }
  });
}
