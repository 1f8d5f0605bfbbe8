// Certificates for replication over TLS, made on the control machine: the CA (the user's, or one pgplay makes and
// keeps where the user says), and each host's server certificate with its addresses and DNS names in subjectAltName.
// Keys are made and used by Node's WebCrypto; @peculiar/x509 writes the certificates; Node's X509Certificate reads
// and verifies them. Every private key is remembered as a secret the moment it exists, so no output can show it.
import { createPrivateKey, webcrypto, X509Certificate, type KeyObject } from 'node:crypto';
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, writeSync } from 'node:fs';
import { ipFamily } from '../../ip-address';
import { dirname, join, resolve } from 'node:path';
import { rememberSecret, Secret } from '../../secrets';

type WebCrypto = typeof webcrypto;
type CryptoKeyPair = webcrypto.CryptoKeyPair;
type Algorithm = webcrypto.Algorithm;
type EcdsaParams = webcrypto.EcdsaParams;
type ImportParams = webcrypto.RsaHashedImportParams | webcrypto.EcKeyImportParams;

type X509 = typeof import('@peculiar/x509');
let x509lib: X509 | null = null;

/** @peculiar/x509 (and the Reflect polyfill it needs) load only when a run makes a certificate. */
function x509(): X509 {
  if (!x509lib) {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    require('reflect-metadata');
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    x509lib = require('@peculiar/x509') as X509;
    x509lib.cryptoProvider.set(webcrypto as WebCrypto as never);
  }
  return x509lib;
}

/** Every line of a PEM key's body, and the whole text, are secrets from now on. */
export function rememberKeyMaterial(pem: string): void {
  rememberSecret(pem);
  for (const line of pem.split(/\r?\n/)) if (line.length >= 16 && !line.startsWith('-----')) rememberSecret(line);
}

export interface Ca {
  certPem: string;
  cert: X509Certificate;
  key: KeyObject;
  /** Where it came from, for messages. */
  source: string;
}

export interface CaLocation {
  /** The user's CA: certificate and key files on the control machine. */
  certFile?: string;
  keyFile?: string;
  /** The key's passphrase, when the user's key is encrypted. */
  passphrase?: string;
  /** Where pgplay makes its own CA and keeps it (ca.crt, ca.key). */
  dir?: string;
}

/** Why a CA location cannot be used as it is given, or null. */
export function caLocationProblem(where: CaLocation, playbookDir: string): string | null {
  if (where.certFile || where.keyFile) {
    if (!where.certFile || !where.keyFile) return 'a CA of your own needs both tls_ca_cert and tls_ca_key (files on the control machine)';
    return null;
  }
  if (!where.dir) return 'TLS for replication needs a CA: tls_ca_cert and tls_ca_key (a CA of your own), or tls_ca_dir (where pgplay makes its CA and keeps it, outside the repository)';
  const repo = gitWorkTree(resolve(playbookDir, where.dir));
  if (repo) return `tls_ca_dir ${where.dir} is inside the git work tree ${repo}: the CA's private key must not be kept in a repository; choose a directory outside it`;
  return null;
}

/** The git work tree a path is in (its own or its nearest existing parent's), or null. */
export function gitWorkTree(path: string): string | null {
  let dir = resolve(path);
  for (;;) {
    if (existsSync(join(dir, '.git'))) return dir;
    const up = dirname(dir);
    if (up === dir) return null;
    dir = up;
  }
}

export function caFiles(dir: string): { cert: string; key: string } {
  return { cert: join(dir, 'ca.crt'), key: join(dir, 'ca.key') };
}

/** The CA when it exists; null when pgplay is to make it (tls_ca_dir without ca.crt). Throws on a CA it cannot use. */
export function readCa(where: CaLocation, playbookDir: string): Ca | null {
  const files = where.certFile && where.keyFile ? { cert: resolve(playbookDir, where.certFile), key: resolve(playbookDir, where.keyFile) } : caFiles(resolve(playbookDir, where.dir ?? '.'));
  const own = !(where.certFile && where.keyFile);
  if (own && !existsSync(files.cert) && !existsSync(files.key)) return null;
  for (const f of [files.cert, files.key]) if (!existsSync(f)) throw new Error(`the CA file ${f} is missing${own ? ` (tls_ca_dir holds one of ca.crt and ca.key but not both)` : ''}`);
  const certPem = readFileSync(files.cert, 'utf8');
  const keyPem = readFileSync(files.key, 'utf8');
  rememberKeyMaterial(keyPem);
  let cert: X509Certificate;
  try {
    cert = new X509Certificate(certPem);
  } catch (err) {
    throw new Error(`${files.cert} is not a PEM certificate: ${(err as Error).message}`);
  }
  let key: KeyObject;
  try {
    key = createPrivateKey(where.passphrase ? { key: keyPem, passphrase: where.passphrase } : keyPem);
  } catch (err) {
    // The library's message names the format, never the key.
    throw new Error(`${files.key} cannot be read as a private key${where.passphrase ? '' : ' (an encrypted key needs tls_ca_key_passphrase)'}: ${(err as Error).message}`);
  }
  if (!cert.checkPrivateKey(key)) throw new Error(`${files.key} is not the key of the CA certificate ${files.cert}`);
  if (!cert.ca) throw new Error(`${files.cert} is not a CA certificate (basicConstraints CA:FALSE)`);
  return { certPem: certPem.endsWith('\n') ? certPem : `${certPem}\n`, cert, key, source: files.cert };
}

const making = new Map<string, Promise<Ca>>();

/** The CA in dir, made there first when it is not there yet; hosts of one run share one making. */
export function ensureOwnCa(dir: string, playbookDir: string): Promise<Ca> {
  const full = resolve(playbookDir, dir);
  let p = making.get(full);
  if (!p) {
    p = makeOwnCa(full);
    making.set(full, p);
    p.catch(() => making.delete(full));
  }
  return p;
}

async function makeOwnCa(dir: string): Promise<Ca> {
  const existing = readCa({ dir }, '/');
  if (existing) return existing;
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const lib = x509();
  const alg = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' };
  const keys = (await webcrypto.subtle.generateKey(alg, true, ['sign', 'verify'])) as CryptoKeyPair;
  const now = new Date();
  const cert = await lib.X509CertificateGenerator.createSelfSigned({
    serialNumber: randomSerial(),
    name: 'CN=pgplay replication CA',
    notBefore: new Date(now.getTime() - 60_000),
    notAfter: new Date(now.getTime() + 10 * 365 * 86_400_000),
    keys,
    signingAlgorithm: alg,
    extensions: [
      new lib.BasicConstraintsExtension(true, 0, true),
      new lib.KeyUsagesExtension(lib.KeyUsageFlags.keyCertSign | lib.KeyUsageFlags.cRLSign, true),
      await lib.SubjectKeyIdentifierExtension.create(keys.publicKey),
    ],
  });
  const keyPem = toPem('PRIVATE KEY', Buffer.from(await webcrypto.subtle.exportKey('pkcs8', keys.privateKey)));
  rememberKeyMaterial(keyPem);
  const files = caFiles(dir);
  // The key first, exclusively: a second pgplay making a CA in the same directory at the same time fails here, not
  // after overwriting the first one's key.
  writeExclusive(files.key, keyPem, 0o600);
  writeExclusive(files.cert, cert.toString('pem') + '\n', 0o644);
  const made = readCa({ dir }, '/');
  if (!made) throw new Error(`the CA written to ${dir} cannot be read back`);
  return made;
}

function writeExclusive(path: string, text: string, mode: number): void {
  const fd = openSync(path, 'wx', mode);
  try {
    writeSync(fd, text);
  } finally {
    closeSync(fd);
  }
}

function toPem(label: string, der: Buffer): string {
  const body = der.toString('base64').replace(/(.{64})/g, '$1\n').replace(/\n$/, '');
  return `-----BEGIN ${label}-----\n${body}\n-----END ${label}-----\n`;
}

function randomSerial(): string {
  // Positive, 16 bytes: unique without a serial file.
  const bytes = webcrypto.getRandomValues(new Uint8Array(16));
  bytes[0] &= 0x7f;
  bytes[0] |= 0x01;
  return Buffer.from(bytes).toString('hex');
}

/** WebCrypto's signing algorithm for the CA's key: ECDSA P-256/P-384 or RSA. */
function signingAlgorithm(key: KeyObject): { import: ImportParams; sign: Algorithm | EcdsaParams } {
  const type = key.asymmetricKeyType;
  if (type === 'rsa') return { import: { name: 'RSASSA-PKCS1-v1_5', hash: 'SHA-256' }, sign: { name: 'RSASSA-PKCS1-v1_5', hash: 'SHA-256' } as Algorithm };
  if (type === 'ec') {
    const curve = key.asymmetricKeyDetails?.namedCurve;
    const named = curve === 'prime256v1' ? 'P-256' : curve === 'secp384r1' ? 'P-384' : null;
    if (!named) throw new Error(`the CA's EC key is on the curve ${curve}: pgplay signs with P-256, P-384 or RSA keys`);
    return { import: { name: 'ECDSA', namedCurve: named }, sign: { name: 'ECDSA', hash: named === 'P-256' ? 'SHA-256' : 'SHA-384' } as EcdsaParams };
  }
  throw new Error(`the CA's key is ${type}: pgplay signs with RSA or EC (P-256, P-384) keys`);
}

export interface IssuedCertificate {
  certPem: string;
  key: Secret;
  notAfter: Date;
  serial: string;
}

/** A server certificate for names (addresses become IP entries, the rest DNS entries), signed by the CA. */
export async function issueServerCertificate(ca: Ca, names: string[], days: number): Promise<IssuedCertificate> {
  const lib = x509();
  const alg = signingAlgorithm(ca.key);
  const signingKey = await webcrypto.subtle.importKey('pkcs8', ca.key.export({ type: 'pkcs8', format: 'der' }), alg.import, false, ['sign']);
  const keyAlg = { name: 'ECDSA', namedCurve: 'P-256' };
  const keys = (await webcrypto.subtle.generateKey(keyAlg, true, ['sign', 'verify'])) as CryptoKeyPair;
  const now = new Date();
  const notAfter = new Date(now.getTime() + days * 86_400_000);
  const serial = randomSerial();
  const caX509 = new lib.X509Certificate(ca.certPem);
  const cert = await lib.X509CertificateGenerator.create({
    serialNumber: serial,
    subject: `CN=${names[0].replace(/[,+="<>#;\\]/g, '\\$&')}`,
    issuer: caX509.subject,
    notBefore: new Date(now.getTime() - 60_000),
    notAfter,
    publicKey: keys.publicKey,
    signingKey,
    signingAlgorithm: alg.sign,
    extensions: [
      new lib.BasicConstraintsExtension(false, undefined, true),
      new lib.KeyUsagesExtension(lib.KeyUsageFlags.digitalSignature | lib.KeyUsageFlags.keyEncipherment, true),
      new lib.ExtendedKeyUsageExtension([lib.ExtendedKeyUsage.serverAuth]),
      new lib.SubjectAlternativeNameExtension(names.map((n) => ({ type: ipFamily(n) ? 'ip' : 'dns', value: n }) as const)),
      await lib.SubjectKeyIdentifierExtension.create(keys.publicKey),
      await lib.AuthorityKeyIdentifierExtension.create(caX509),
    ],
  });
  const keyPem = toPem('PRIVATE KEY', Buffer.from(await webcrypto.subtle.exportKey('pkcs8', keys.privateKey)));
  rememberKeyMaterial(keyPem);
  return { certPem: `${cert.toString('pem')}\n`, key: new Secret(keyPem), notAfter, serial };
}

export interface CertificateFacts {
  /** subjectAltName entries as PostgreSQL checks them: addresses and DNS names. */
  names: string[];
  notAfter: Date;
  serial: string;
  /** Issued and signed by the CA. */
  issuedByCa: boolean;
  /** The key file holds this certificate's key. */
  keyMatches: boolean;
}

/** What a host's certificate says, judged against the CA (null: no CA yet) and the host's key. */
export function inspectCertificate(certPem: string, keyPem: string | null, ca: Ca | null): CertificateFacts | { error: string } {
  let cert: X509Certificate;
  try {
    cert = new X509Certificate(certPem);
  } catch (err) {
    return { error: `not a PEM certificate (${(err as Error).message})` };
  }
  let keyMatches = false;
  if (keyPem !== null) {
    rememberKeyMaterial(keyPem);
    try {
      keyMatches = cert.checkPrivateKey(createPrivateKey(keyPem));
    } catch {
      keyMatches = false;
    }
  }
  const issuedByCa = ca !== null && cert.checkIssued(ca.cert) && cert.verify(ca.cert.publicKey);
  return { names: sanNames(cert.subjectAltName), notAfter: new Date(cert.validTo), serial: cert.serialNumber.toLowerCase(), issuedByCa, keyMatches };
}

/** "IP Address:198.51.100.2, DNS:pg1.example" -> ['198.51.100.2', 'pg1.example']. */
export function sanNames(text: string | undefined): string[] {
  if (!text) return [];
  return text
    .split(/,\s*/)
    .map((entry) => /^(?:IP Address|DNS):(.*)$/.exec(entry.trim())?.[1])
    .filter((v): v is string => v !== undefined)
    .map((v) => v.toLowerCase());
}

/** The CA's expiry, for the 30-day warning. */
export function caNotAfter(ca: Ca): Date {
  return new Date(ca.cert.validTo);
}
