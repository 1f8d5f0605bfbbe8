// ssh2's connect settings for a host or a bastion, from its options: where, who, which keys, the host key check.
import { readFileSync } from 'node:fs';
import type { Duplex } from 'node:stream';
import type { AuthenticationType, ConnectConfig, ServerHostKeyAlgorithm } from 'ssh2';
import { decideHostKey, hostKeyAlgorithms } from './host-key-policy';
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
