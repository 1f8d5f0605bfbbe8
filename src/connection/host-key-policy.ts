// Decides whether to trust the key a server presents, as ssh with StrictHostKeyChecking=yes (or accept-new when opted in).
import { existsSync } from 'node:fs';
import {
  appendKnownHost,
  checkHostKey,
  entryMatches,
  fingerprint,
  hostKeyFromBlob,
  hostLookupName,
  knownKeyTypes,
  readKnownHosts,
  type HostKey,
  type KnownHostEntry,
} from './known-hosts';

export interface HostKeyPolicy {
  /** Where the key of a host seen for the first time is recorded (with acceptNewHostKeys). */
  knownHostsFile: string;
  /** Every file keys are looked up in (UserKnownHostsFile, then GlobalKnownHostsFile); knownHostsFile alone when unset. */
  knownHostsFiles?: string[];
  acceptNewHostKeys: boolean;
  /** Look the key up under this name instead of the address and port (HostKeyAlias). */
  hostKeyAlias?: string;
  /** A run in check mode changes nothing, known_hosts included: a new key is trusted for this run, not recorded. */
  checkMode?: boolean;
  /** HashKnownHosts=yes: record a new host under a hashed name (a hashed file gets hashed lines anyway). */
  hashKnownHosts?: boolean;
}

/** The entries of every file of the policy, each with its file. */
function knownEntries(policy: HostKeyPolicy): KnownHostEntry[] {
  const files = policy.knownHostsFiles && policy.knownHostsFiles.length > 0 ? policy.knownHostsFiles : [policy.knownHostsFile];
  return [...new Set(files)].flatMap((file) => readKnownHosts(file).map((e) => ({ ...e, file })));
}

function lookupName(address: string, port: number, policy: HostKeyPolicy): string {
  return policy.hostKeyAlias ? policy.hostKeyAlias.toLowerCase() : hostLookupName(address, port);
}

export type HostKeyDecision = { trusted: true; recorded: boolean; key: HostKey } | { trusted: false; reason: string };

const where = (e: KnownHostEntry, fallback: string) => `${e.file ?? fallback}:${e.line}`;

/** Check (and with the opt-in, record) the key blob the server presented; a changed or revoked key is never trusted. */
export function decideHostKey(address: string, port: number, blob: Buffer, policy: HostKeyPolicy): HostKeyDecision {
  const file = policy.knownHostsFile;
  const name = lookupName(address, port, policy);
  let key: HostKey;
  try {
    key = hostKeyFromBlob(blob);
  } catch (err) {
    return { trusted: false, reason: (err as Error).message };
  }
  const verdict = checkHostKey(knownEntries(policy), name, key);
  const forget = `ssh-keygen -R '${name}' -f ${verdict.kind === 'changed' ? (verdict.file ?? file) : file}`;
  switch (verdict.kind) {
    case 'known':
      return { trusted: true, recorded: false, key };
    case 'revoked':
      return { trusted: false, reason: `host key of ${name} (${key.type} ${fingerprint(key)}) is REVOKED in ${verdict.file ?? file}:${verdict.line}` };
    case 'changed':
      return {
        trusted: false,
        reason:
          `HOST KEY CHANGED for ${name}: it presents ${key.type} ${fingerprint(key)}, but ${verdict.file ?? file}:${verdict.line} holds another ${verdict.knownType} key. ` +
          `Someone may be intercepting the connection, or the host was reinstalled; if you trust the new key, remove the old one (${forget}) and connect again`,
      };
    case 'unknown': {
      // A first contact is a host with no key known at all: one whose known key is of another type is not new.
      const known = knownEntries(policy).filter((e) => e.marker === null && entryMatches(e, name));
      if (known.length > 0) {
        const held = known.map((e) => `${where(e, file)} holds a ${e.key.type} key`).join(', ');
        return {
          trusted: false,
          reason:
            `host key of ${name} (${key.type} ${fingerprint(key)}) is not known, but ${held} for it: the host presents a key of another type than the one known. ` +
            `Someone may be intercepting the connection, or the host was reinstalled; if you trust the new key, remove the old one (ssh-keygen -R '${name}' -f ${known[0].file ?? file}) and connect again`,
        };
      }
      if (policy.acceptNewHostKeys) {
        if (policy.checkMode) return { trusted: true, recorded: false, key };
        appendKnownHost(file, name, key, { hash: policy.hashKnownHosts });
        return { trusted: true, recorded: true, key };
      }
      return {
        trusted: false,
        reason: `host key of ${name} (${key.type} ${fingerprint(key)}) is not in ${searched(policy)} (pass --accept-new-host-keys to record it on first contact)`,
      };
    }
  }
}

/** The files a key was looked for in, for messages: those that exist, or the first when none does. */
function searched(policy: HostKeyPolicy): string {
  const files = [...new Set(policy.knownHostsFiles && policy.knownHostsFiles.length > 0 ? policy.knownHostsFiles : [policy.knownHostsFile])];
  const existing = files.filter((f) => existsSync(f));
  return (existing.length > 0 ? existing : [policy.knownHostsFile]).join(' or ');
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
  const known = knownKeyTypes(knownEntries(policy), lookupName(address, port, policy));
  const first = known.flatMap((type) => HOST_KEY_ALGORITHMS[type] ?? []);
  const all = Object.values(HOST_KEY_ALGORITHMS).flat();
  return [...new Set([...first, ...all])];
}
