// ssh2's connect settings for a host or a bastion, from its options: where, who, which keys, the host key check.
import { createPrivateKey, sign, type KeyObject } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { Duplex } from 'node:stream';
import { Client, utils, type AuthenticationType, type AuthMethod, type ConnectConfig, type PublicKeyAuthMethod, type ParsedKey, type ServerHostKeyAlgorithm } from 'ssh2';
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
  // What ssh2 tries, in order: a method's name (it takes the key, agent or password from config), or a publickey
  // attempt with a key already parsed.
  const attempts: Array<AuthenticationType | PublicKeyAuthMethod> = [];
  if (o.privateKeyFile) {
    let bytes: Buffer;
    try {
      bytes = readFileSync(o.privateKeyFile);
    } catch (err) {
      return { problem: `cannot read private key ${o.privateKeyFile} (${(err as NodeJS.ErrnoException).code ?? 'error'})`, cause: err };
    }
    const key = privateKey(bytes);
    if (Buffer.isBuffer(key)) {
      config.privateKey = key;
      attempts.push('publickey');
    } else attempts.push({ type: 'publickey', username: o.user, key });
    methods.push('publickey');
  }
  if (o.agent) {
    config.agent = o.agent;
    methods.push('agent');
    attempts.push('agent');
  }
  if (o.password) {
    config.password = o.password.reveal();
    methods.push('password');
    attempts.push('password');
  }
  config.authHandler = attempts as AuthMethod[];
  return { config, methods };
}

/** The last private key read, as ssh2 parsed it: every host of a run logs in with the same key. */
let lastKey: { bytes: Buffer; key: ParsedKey } | null = null;

/**
 * A private key for ssh2: parsed once for all the hosts that use it, and an Ed25519 key signing with a key object
 * OpenSSL holds decoded (ssh2 gives OpenSSL its PEM text at each signature: 0.6 ms against 0.05). A key ssh2 cannot
 * parse is handed over as it is: ssh2 then says why (keyProblem).
 */
export function privateKey(bytes: Buffer): ParsedKey | Buffer {
  if (lastKey?.bytes.equals(bytes)) return lastKey.key;
  const found = utils.parseKey(bytes) as ParsedKey | ParsedKey[] | Error;
  // A file in OpenSSH's format holds a list of keys (one, so far).
  const parsed = Array.isArray(found) ? found[0] : found;
  if (!parsed || parsed instanceof Error || !parsed.isPrivateKey()) return bytes;
  if (parsed.type === 'ssh-ed25519') {
    let decoded: KeyObject | null = null;
    const slow = parsed.sign.bind(parsed);
    parsed.sign = (data: Buffer | string) => {
      try {
        decoded ??= createPrivateKey(parsed.getPrivatePEM());
        return sign(null, Buffer.isBuffer(data) ? data : Buffer.from(data), decoded);
      } catch {
        return slow(data);
      }
    };
  }
  lastKey = { bytes, key: parsed };
  return parsed;
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
      ignoreHostKeyAnnouncement(client);
      signKeyAtOnce(client);
    } catch (err) {
      fail(keyProblem(o, err), err);
    }
  });
}

/**
 * After login OpenSSH announces all of the server's host keys (hostkeys-00@openssh.com) so that a client may learn
 * new ones; ssh2 answers by asking the server to prove each, which costs the host a signature per key (Debian has
 * three, RSA's the dearest) and pgplay a verification each. pgplay never learns host keys (UpdateHostKeys is refused),
 * so the announcement is let go unanswered, as OpenSSH's ssh does with UpdateHostKeys no. Other global requests keep
 * ssh2's answer. (ssh2 has no setting for it: its protocol's handler is wrapped; when a newer ssh2 has none, nothing
 * changes.)
 */
export function ignoreHostKeyAnnouncement(client: Client): void {
  type GlobalRequest = (protocol: { requestFailure(): void }, name: string, wantReply: boolean, data: unknown) => void;
  const handlers = (client as unknown as { _protocol?: { _handlers?: { GLOBAL_REQUEST?: GlobalRequest } } })._protocol?._handlers;
  const answer = handlers?.GLOBAL_REQUEST;
  if (!handlers || typeof answer !== 'function') return;
  handlers.GLOBAL_REQUEST = (protocol, name, wantReply, data) => {
    if (name !== 'hostkeys-00@openssh.com') return answer(protocol, name, wantReply, data);
    if (wantReply) protocol.requestFailure();
  };
}

/** The hash a public key signature algorithm signs with, for the keys whose type does not say it (RSA). */
const SIGNATURE_HASH: Record<string, string> = { 'rsa-sha2-256': 'sha256', 'rsa-sha2-512': 'sha512', 'ssh-rsa': 'sha1' };

/**
 * A private key read from a file logs in with its signature at once, as OpenSSH's ssh does with an identity file it
 * loaded ("Trying private key"): ssh2 first asks whether the host would take the key (one more round trip and one
 * more lookup in authorized_keys on the host, per login). A key from ssh-agent is still offered first, as ssh does.
 * A host that refuses the signature answers as it would have refused the offer; ssh2 then goes on as before. (ssh2
 * has no setting for it: its protocol's method is wrapped; when a newer ssh2 has none, nothing changes.)
 */
export function signKeyAtOnce(client: Client): void {
  type Sign = (data: Buffer, send: (signature: Buffer) => void) => void;
  type AuthPK = (username: string, key: unknown, keyAlgo?: string | Sign, cbSign?: Sign) => void;
  const protocol = (client as unknown as { _protocol?: { authPK?: AuthPK } })._protocol;
  const offer = protocol?.authPK;
  if (!protocol || typeof offer !== 'function') return;
  protocol.authPK = function (this: unknown, username, key, keyAlgo, cbSign) {
    const own = key as Partial<ParsedKey> | null;
    const signs = !cbSign && typeof keyAlgo !== 'function' && typeof own?.isPrivateKey === 'function' && own.isPrivateKey() && typeof own.sign === 'function';
    if (!signs) return offer.call(this, username, key, keyAlgo, cbSign);
    // The signature is made before anything is sent: a key that cannot sign is offered instead, and ssh2 says why.
    let signature: Buffer | Error | undefined;
    offer.call(this, username, key, keyAlgo, (data, send) => {
      signature = (own.sign as (data: Buffer, hash?: string) => Buffer | Error)(data, typeof keyAlgo === 'string' ? SIGNATURE_HASH[keyAlgo] : undefined);
      if (Buffer.isBuffer(signature)) send(signature);
    });
    if (!Buffer.isBuffer(signature)) offer.call(this, username, key, keyAlgo);
  };
}
