// SCRAM-SHA-256 verifiers made on the control machine (RFC 5802/7677), as PostgreSQL stores them in pg_authid.
import { createHash, createHmac, pbkdf2Sync, randomBytes, timingSafeEqual } from 'node:crypto';

export interface ScramVerifier {
  iterations: number;
  salt: Buffer;
  storedKey: Buffer;
  serverKey: Buffer;
}

export const SCRAM_ITERATIONS = 4096;

/**
 * The password as libpq and the server feed it to SCRAM (src/common/saslprep.c): SASLprep (RFC 4013), or the
 * password as it is when SASLprep refuses it (prohibited or unassigned characters, nothing left after mapping).
 */
export function preparePassword(password: string): string {
  // pg_saslprep passes pure ASCII through untouched, control characters included.
  if (/^[\x00-\x7f]*$/.test(password)) return password;
  // pg_saslprep looks for prohibited characters before NFKC; only these two stop being prohibited under it (U+0300, U+0301).
  if (/[\u0340\u0341]/.test(password)) return password;
  try {
    // Loaded only here: its tables cost about 10 ms at start, and most passwords are ASCII.
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const saslprep = (require('@mongodb-js/saslprep') as typeof import('@mongodb-js/saslprep')).default;
    const prepared = saslprep(password);
    return prepared === '' ? password : prepared;
  } catch {
    return password;
  }
}

export function scramKeys(password: string, salt: Buffer, iterations: number): { storedKey: Buffer; serverKey: Buffer; clientKey: Buffer } {
  const salted = pbkdf2Sync(preparePassword(password), salt, iterations, 32, 'sha256');
  const clientKey = createHmac('sha256', salted).update('Client Key').digest();
  const storedKey = createHash('sha256').update(clientKey).digest();
  const serverKey = createHmac('sha256', salted).update('Server Key').digest();
  return { storedKey, serverKey, clientKey };
}

/** `SCRAM-SHA-256$<iterations>:<salt>$<StoredKey>:<ServerKey>`, base64 parts. */
export function scramVerifier(password: string, salt: Buffer = randomBytes(16), iterations = SCRAM_ITERATIONS): string {
  const { storedKey, serverKey } = scramKeys(password, salt, iterations);
  return `SCRAM-SHA-256$${iterations}:${salt.toString('base64')}$${storedKey.toString('base64')}:${serverKey.toString('base64')}`;
}

export function parseScramVerifier(text: string | null | undefined): ScramVerifier | null {
  const m = /^SCRAM-SHA-256\$(\d+):([A-Za-z0-9+/=]+)\$([A-Za-z0-9+/=]+):([A-Za-z0-9+/=]+)$/.exec(text ?? '');
  if (!m) return null;
  return { iterations: Number(m[1]), salt: Buffer.from(m[2], 'base64'), storedKey: Buffer.from(m[3], 'base64'), serverKey: Buffer.from(m[4], 'base64') };
}

/** Does this password give the stored verifier? Recomputed with its own salt and iteration count. */
export function verifierMatches(stored: string | null | undefined, password: string): boolean {
  const v = parseScramVerifier(stored);
  if (!v) return false;
  const { storedKey, serverKey } = scramKeys(password, v.salt, v.iterations);
  return storedKey.length === v.storedKey.length && timingSafeEqual(storedKey, v.storedKey) && timingSafeEqual(serverKey, v.serverKey);
}
