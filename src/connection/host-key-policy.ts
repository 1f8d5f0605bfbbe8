// Decides whether to trust the key a server presents, as ssh with StrictHostKeyChecking=yes (or accept-new when opted in).
import {
  appendKnownHost,
  checkHostKey,
  fingerprint,
  hostKeyFromBlob,
  hostLookupName,
  knownKeyTypes,
  readKnownHosts,
  type HostKey,
} from './known-hosts';

export interface HostKeyPolicy {
  knownHostsFile: string;
  acceptNewHostKeys: boolean;
}

export type HostKeyDecision = { trusted: true; recorded: boolean; key: HostKey } | { trusted: false; reason: string };

/** Check (and with the opt-in, record) the key blob the server presented; a changed or revoked key is never trusted. */
export function decideHostKey(address: string, port: number, blob: Buffer, policy: HostKeyPolicy): HostKeyDecision {
  const file = policy.knownHostsFile;
  const name = hostLookupName(address, port);
  let key: HostKey;
  try {
    key = hostKeyFromBlob(blob);
  } catch (err) {
    return { trusted: false, reason: (err as Error).message };
  }
  const verdict = checkHostKey(readKnownHosts(file), name, key);
  const forget = `ssh-keygen -R '${name}' -f ${file}`;
  switch (verdict.kind) {
    case 'known':
      return { trusted: true, recorded: false, key };
    case 'revoked':
      return { trusted: false, reason: `host key of ${name} (${key.type} ${fingerprint(key)}) is REVOKED in ${file}:${verdict.line}` };
    case 'changed':
      return {
        trusted: false,
        reason:
          `HOST KEY CHANGED for ${name}: it presents ${key.type} ${fingerprint(key)}, but ${file}:${verdict.line} holds another ${verdict.knownType} key. ` +
          `Someone may be intercepting the connection, or the host was reinstalled; if you trust the new key, remove the old one (${forget}) and connect again`,
      };
    case 'unknown': {
      if (policy.acceptNewHostKeys) {
        appendKnownHost(file, name, key);
        return { trusted: true, recorded: true, key };
      }
      const others = verdict.knownTypes.length > 0 ? ` (it holds only ${verdict.knownTypes.join(', ')} keys for it)` : '';
      return {
        trusted: false,
        reason: `host key of ${name} (${key.type} ${fingerprint(key)}) is not in ${file}${others} (pass --accept-new-host-keys to record it on first contact)`,
      };
    }
  }
}

const HOST_KEY_ALGORITHMS: Record<string, string[]> = {
  'ssh-ed25519': ['ssh-ed25519'],
  'ecdsa-sha2-nistp256': ['ecdsa-sha2-nistp256'],
  'ecdsa-sha2-nistp384': ['ecdsa-sha2-nistp384'],
  'ecdsa-sha2-nistp521': ['ecdsa-sha2-nistp521'],
  'ssh-rsa': ['rsa-sha2-512', 'rsa-sha2-256', 'ssh-rsa'],
};

/** Host key algorithms to offer, those already known for the host first, so a server with several keys shows the known one. */
export function hostKeyAlgorithms(address: string, port: number, policy: HostKeyPolicy): string[] {
  const known = knownKeyTypes(readKnownHosts(policy.knownHostsFile), hostLookupName(address, port));
  const first = known.flatMap((type) => HOST_KEY_ALGORITHMS[type] ?? []);
  const all = Object.values(HOST_KEY_ALGORITHMS).flat();
  return [...new Set([...first, ...all])];
}
