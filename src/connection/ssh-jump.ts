// ProxyJump through ssh2: a connection to each bastion (the next one through the one before), its host key
// verified like any host's, and a direct-tcpip channel to the target that ssh2's Client.connect({ sock }) takes.
// One connection per bastion serves every host behind it for the whole run; it ends when the last host lets go.
import type { Duplex } from 'node:stream';
import { Client } from 'ssh2';
import { UnreachableError } from '../errors';
import { redact } from '../secrets';
import { keyProblem, sshConnectConfig } from './ssh-connect-config';
import { connectFailure } from './ssh-errors';
import type { SshOptions } from './ssh-options';

interface Bastion {
  client: Promise<Client>;
  users: number;
}

const bastions = new Map<string, Bastion>();
let opened = 0;

/** Connections to bastions this process has opened so far (tests and the benchmark). */
export function jumpConnectionsOpened(): number {
  return opened;
}

/** A stream to target through its ProxyJump hops, and what to call when the connection that uses it is gone. */
export async function jumpSocket(hostName: string, target: SshOptions): Promise<{ sock: Duplex; release: () => void }> {
  const hops = target.proxyJump;
  const keys = hops.map((_, i) => chainKey(hops.slice(0, i + 1)));
  keys.forEach((k) => take(k, hops, keys));
  let released = false;
  const release = () => {
    if (released) return;
    released = true;
    keys.forEach(letGo);
  };
  try {
    const last = await (bastions.get(keys[keys.length - 1]) as Bastion).client;
    const sock = await forward(last, target.address, target.port, hostName, hops[hops.length - 1]);
    sock.once('close', release);
    return { sock, release };
  } catch (err) {
    release();
    throw err;
  }
}

function take(key: string, hops: SshOptions[], keys: string[]): void {
  const existing = bastions.get(key);
  if (existing) {
    existing.users++;
    return;
  }
  const index = keys.indexOf(key);
  const hop = hops[index];
  const client = (async () => {
    const via = index === 0 ? undefined : await (bastions.get(keys[index - 1]) as Bastion).client;
    const sock = via ? await forward(via, hop.address, hop.port, `bastion ${hop.address}`, hops[index - 1]) : undefined;
    return connectBastion(hop, sock);
  })();
  const entry: Bastion = { client, users: 1 };
  const forget = () => {
    if (bastions.get(key) === entry) bastions.delete(key);
  };
  // A bastion that failed or went away is dialled again by the next host that needs it.
  client.then((c) => c.once('close', forget), forget);
  bastions.set(key, entry);
}

function letGo(key: string): void {
  const b = bastions.get(key);
  if (!b) return;
  b.users--;
  if (b.users > 0) return;
  bastions.delete(key);
  b.client.then((c) => c.end(), () => undefined);
}

/** The hops up to here, as one key: the same bastions with the same options share one connection. */
function chainKey(hops: SshOptions[]): string {
  return JSON.stringify(hops.map((h) => ({ ...h, password: h.passwordEnv, proxyJump: undefined })));
}

function describe(hop: SshOptions): string {
  return `bastion ${hop.user}@${hop.address}:${hop.port}`;
}

/** A direct-tcpip channel from the bastion to address:port. */
function forward(client: Client, address: string, port: number, toWhom: string, hop: SshOptions): Promise<Duplex> {
  return new Promise((resolve, reject) => {
    try {
      client.forwardOut('127.0.0.1', 0, address, port, (err, stream) => {
        if (err) reject(new UnreachableError(redact(`ssh to ${toWhom}: ${describe(hop)} did not open a channel to ${address}:${port}: ${err.message}`), { cause: err }));
        else resolve(stream as unknown as Duplex);
      });
    } catch (err) {
      reject(new UnreachableError(`ssh to ${toWhom}: the connection to ${describe(hop)} is gone`, { cause: err }));
    }
  });
}

/** Connect to one bastion (through sock when it is behind another), its host key checked first. */
function connectBastion(o: SshOptions, sock?: Duplex): Promise<Client> {
  return new Promise((resolve, reject) => {
    const client = new Client();
    let settled = false;
    let hostKeyProblem: string | null = null;
    const fail = (what: string, cause?: unknown) => {
      if (settled) return;
      settled = true;
      client.destroy();
      reject(new UnreachableError(redact(`ssh through ${describe(o)}: ${what}`), { cause }));
    };
    const made = sshConnectConfig(o, sock, (reason) => (hostKeyProblem = reason));
    if ('problem' in made) return fail(made.problem, made.cause);
    const { config, methods } = made;
    const target = { hostName: `bastion ${o.address}`, address: o.address, port: o.port, user: o.user };
    client.once('ready', () => {
      settled = true;
      opened++;
      resolve(client);
    });
    client.on('error', (err) => fail(hostKeyProblem ?? connectFailure(target, err, { timeoutMs: o.connectTimeoutMs, methods }), err));
    client.on('close', () => fail(hostKeyProblem ?? 'the bastion closed the connection'));
    try {
      client.connect(config);
      if (!sock) client.setNoDelay(true);
    } catch (err) {
      fail(keyProblem(o, err), err);
    }
  });
}
