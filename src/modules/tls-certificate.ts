import { homedir } from 'node:os';
import { posix } from 'node:path';
import type { FileContent } from '../connection/types';
import { bytesToText } from '../facts/bytes';
import { caLocationProblem, caNotAfter, ensureOwnCa, inspectCertificate, issueServerCertificate, readCa, type Ca, type CaLocation, type CertificateFacts } from './pg/x509';
import { fail, noop, type ModuleDefinition, type Step, type TaskContext } from './types';

export interface TlsCertificateArgs {
  /** subjectAltName entries: the host's address(es) and DNS name(s); the first is also the common name. */
  names: string[];
  ca_cert?: string;
  ca_key?: string;
  ca_key_passphrase?: string;
  ca_dir?: string;
  /** Directory on the host for server.crt, server.key and root.crt (default: beside the data directory). */
  dir?: string;
  days?: number;
  rotate?: boolean;
  warn_within_days?: number;
}

interface HostFile {
  text: string;
  owner: string;
  mode: string;
}

export interface TlsCertificateFacts {
  host: string;
  osUser: string;
  dir: string;
  dirExists: boolean;
  cert: HostFile | null;
  /** The key's owner and mode; its content never leaves check (only whether it matches the certificate). */
  key: { owner: string; mode: string } | null;
  rootCert: HostFile | null;
  inspected: CertificateFacts | { error: string } | null;
  /** The CA's certificate, or null when pgplay is to make it; a problem with where the CA is, or with the CA itself. */
  ca: { certPem: string; notAfter: Date; source: string } | null;
  caProblem: string | null;
  now: Date;
}

const DAY = 86_400_000;

export function tlsDir(dataDir: string, given?: string): string {
  return given && given.trim() ? given.replace(/\/+$/, '') : `${dataDir.replace(/\/+$/, '')}.pgplay-tls`;
}

function caLocation(args: TlsCertificateArgs): CaLocation {
  const blank = (v?: string) => (v && v.trim() ? v.trim().replace(/^~(?=\/|$)/, homedir()) : undefined);
  return { certFile: blank(args.ca_cert), keyFile: blank(args.ca_key), passphrase: blank(args.ca_key_passphrase), dir: blank(args.ca_dir) };
}

/** The names as PostgreSQL's libpq compares them: given ones, without blanks and repeats, lower case. */
export function wantedNames(names: string[]): string[] {
  return [...new Set(names.map((n) => String(n ?? '').trim().toLowerCase()).filter(Boolean))];
}

export const tlsCertificateModule: ModuleDefinition<TlsCertificateArgs, TlsCertificateFacts> = {
  name: 'tls_certificate',
  summary: "A server certificate for this host's PostgreSQL, signed by your CA or one pgplay keeps; the key 0600 and the PostgreSQL user's, never shown.",
  secretArgs: ['ca_key_passphrase'],
  schema: {
    type: 'object',
    description: [
      'Puts server.crt, server.key and root.crt (the CA certificate, for sslrootcert) in `dir` on the host (default: DATADIR.pgplay-tls beside the data directory, so a base backup does not copy the key), owned by the PostgreSQL OS user; the key is mode 0600.',
      'The CA is yours (`ca_cert` and `ca_key`, files on the control machine; an encrypted key needs `ca_key_passphrase`), or one pgplay makes once in `ca_dir` (ca.crt, ca.key 0600) and keeps there: a directory outside any git work tree.',
      'Keys are made on the control machine (ECDSA P-256, WebCrypto) and written to the host over the run\'s connection; no key reaches any output.',
      'A new certificate is issued when there is none, when it is not signed by the CA, when its subjectAltName is not `names`, when it has expired, when the key does not match, or when `rotate` is true. A certificate (or the CA) that expires within `warn_within_days` is a warning. A change needs a reload: the server reads its certificate again on reload.',
    ].join(' '),
    properties: {
      names: { type: 'array', items: { type: 'string' }, minItems: 1, description: "subjectAltName entries: the host's pg_address (an IP entry) and DNS names; blanks are left out.", examples: [['10.0.0.11', 'pg1.example.com'], '{{ list pg_address pg_dns_name }}'] },
      ca_cert: { type: 'string', description: 'Your CA certificate (PEM), a file on the control machine.', examples: ['/etc/pgplay/ca.crt'] },
      ca_key: { type: 'string', description: "Your CA's private key (PEM), a file on the control machine.", examples: ['/etc/pgplay/ca.key'] },
      ca_key_passphrase: { type: 'string', description: "The CA key's passphrase (secret: from the environment).", examples: ['{{ env.PGPLAY_CA_PASSPHRASE }}'] },
      ca_dir: { type: 'string', description: 'Where pgplay makes its own CA and keeps it (ca.crt, ca.key), on the control machine, outside the repository.', examples: ['~/.pgplay/ca'] },
      dir: { type: 'string', description: 'Directory on the host for server.crt, server.key and root.crt.', examples: ['/etc/postgresql/tls'] },
      days: { type: 'integer', minimum: 1, maximum: 3650, default: 365, description: 'Validity of a new certificate, in days.' },
      rotate: { type: 'boolean', default: false, description: 'Issue a new certificate and key now, whatever the old one says.' },
      warn_within_days: { type: 'integer', minimum: 0, default: 30, description: 'Warn when the certificate or the CA expires within this many days.' },
    },
    required: ['names'],
    additionalProperties: false,
    examples: [{ names: ['10.0.0.11'], ca_dir: '/root/.pgplay/ca' }],
  },
  async check(ctx, args) {
    const dir = tlsDir(ctx.pg.dataDir, args.dir);
    const [dirStat, cert, key, root] = await Promise.all([
      ctx.conn.stat(dir),
      ctx.conn.readFile(`${dir}/server.crt`),
      ctx.conn.readFile(`${dir}/server.key`),
      ctx.conn.readFile(`${dir}/root.crt`),
    ]);
    const where = caLocation(args);
    let caProblem = caLocationProblem(where, ctx.playbookDir);
    let ca: Ca | null = null;
    if (!caProblem) {
      try {
        ca = readCa(where, ctx.playbookDir);
      } catch (err) {
        caProblem = (err as Error).message;
      }
    }
    const keyText = key ? bytesToText(key.content) : null;
    const inspected = cert ? inspectCertificate(bytesToText(cert.content), keyText, ca) : null;
    return {
      host: ctx.name,
      osUser: ctx.pg.osUser,
      dir,
      dirExists: dirStat?.type === 'directory',
      cert: hostFile(cert),
      key: key ? { owner: key.owner, mode: key.mode } : null,
      rootCert: hostFile(root),
      inspected,
      ca: ca ? { certPem: ca.certPem, notAfter: caNotAfter(ca), source: ca.source } : null,
      caProblem,
      now: new Date(),
    };
  },
  plan(args, facts) {
    if (facts.caProblem) return fail(facts.caProblem);
    const names = wantedNames(args.names);
    if (names.length === 0) return fail('names holds no address or DNS name for the certificate');
    const warnWithin = (args.warn_within_days ?? 30) * DAY;
    const reasons = issueReasons(args, facts, names);
    const caPem = facts.ca?.certPem ?? null;
    const writeRoot = caPem === null || facts.rootCert?.text !== caPem || !ownedAs(facts.rootCert, facts.osUser, '0644');
    const files = { cert_file: `${facts.dir}/server.crt`, key_file: `${facts.dir}/server.key`, ca_file: `${facts.dir}/root.crt` };
    const warnings: string[] = [];
    const inspected = facts.inspected && !('error' in facts.inspected) ? facts.inspected : null;
    if (reasons.length === 0 && inspected && inspected.notAfter.getTime() - facts.now.getTime() < warnWithin) {
      warnings.push(`the certificate of ${facts.host} (${files.cert_file}) expires in ${daysLeft(inspected.notAfter, facts.now)} (${inspected.notAfter.toISOString().slice(0, 10)}): re-run with -e tls_rotate=true to rotate it`);
    }
    if (facts.ca && facts.ca.notAfter.getTime() - facts.now.getTime() < warnWithin) {
      warnings.push(`the CA ${facts.ca.source} expires in ${daysLeft(facts.ca.notAfter, facts.now)} (${facts.ca.notAfter.toISOString().slice(0, 10)}): every certificate it signed stops being trusted then`);
    }
    const result = { ...files, names, ...(inspected && reasons.length === 0 ? { not_after: inspected.notAfter.toISOString(), serial: inspected.serial } : {}) };
    if (reasons.length === 0 && !writeRoot && facts.dirExists) {
      const plan = noop(`certificate for ${names.join(', ')} signed by the CA, valid until ${inspected?.notAfter.toISOString().slice(0, 10)}`, result);
      return warnings.length > 0 ? { ...plan, warnings } : plan;
    }
    const what = [...(reasons.length > 0 ? [`new certificate and key (${reasons.join('; ')})`] : []), ...(writeRoot ? ['CA certificate root.crt'] : []), ...(!facts.dirExists ? ['a new directory'] : [])];
    return {
      kind: 'change',
      summary: `${what.join(', ')} in ${facts.dir}${facts.ca ? '' : '; the CA is made first'}`,
      steps: tlsSteps(args, facts, names, reasons.length > 0, writeRoot),
      diffs: [
        {
          path: files.cert_file,
          before: inspected ? `subjectAltName ${inspected.names.join(', ')}; serial ${inspected.serial}; until ${inspected.notAfter.toISOString()}\n` : facts.cert ? 'unreadable certificate\n' : '(none)\n',
          after: reasons.length > 0 ? `subjectAltName ${names.join(', ')}; new serial; ${args.days ?? 365} days\n` : 'unchanged\n',
        },
      ],
      needs: 'reload',
      warnings: warnings.length > 0 ? warnings : undefined,
      result,
    };
  },
};

function hostFile(f: FileContent | null): HostFile | null {
  return f ? { text: bytesToText(f.content), owner: f.owner, mode: f.mode } : null;
}

function ownedAs(f: { owner: string; mode: string } | null, owner: string, mode: string): boolean {
  return f !== null && f.owner === owner && f.mode === mode;
}

function daysLeft(when: Date, now: Date): string {
  const days = Math.floor((when.getTime() - now.getTime()) / DAY);
  return days <= 0 ? 'less than a day' : `${days} day${days === 1 ? '' : 's'}`;
}

/** Why the host needs a new certificate and key; none: the one it has is right. */
export function issueReasons(args: Pick<TlsCertificateArgs, 'rotate'>, facts: TlsCertificateFacts, names: string[]): string[] {
  if (!facts.cert) return ['none yet'];
  const i = facts.inspected;
  if (!i || 'error' in i) return [`server.crt is ${i && 'error' in i ? i.error : 'unreadable'}`];
  const out: string[] = [];
  if (args.rotate) out.push('rotate');
  if (!facts.ca) out.push('a new CA');
  else if (!i.issuedByCa) out.push(`not signed by the CA ${facts.ca.source}`);
  const have = [...i.names].sort().join(', ');
  if (have !== [...names].sort().join(', ')) out.push(`subjectAltName is ${have || 'empty'}, not ${names.join(', ')}`);
  if (i.notAfter.getTime() <= facts.now.getTime()) out.push(`expired on ${i.notAfter.toISOString().slice(0, 10)}`);
  if (!facts.key) out.push('no key');
  else if (!i.keyMatches) out.push('the key does not match the certificate');
  else if (!ownedAs(facts.key, facts.osUser, '0600')) out.push(`the key is ${facts.key.owner}'s, mode ${facts.key.mode}, not ${facts.osUser}'s 0600`);
  return out;
}

async function caFor(ctx: TaskContext, args: TlsCertificateArgs): Promise<Ca> {
  const where = caLocation(args);
  if (where.certFile && where.keyFile) {
    const ca = readCa(where, ctx.playbookDir);
    if (!ca) throw new Error(`the CA ${where.certFile} cannot be read`);
    return ca;
  }
  return ensureOwnCa(where.dir as string, ctx.playbookDir);
}

function tlsSteps(args: TlsCertificateArgs, facts: TlsCertificateFacts, names: string[], issue: boolean, writeRoot: boolean): Step[] {
  const { dir, osUser } = facts;
  const saved: { created?: boolean; files: Array<{ path: string; old: FileContent | null }> } = { files: [] };
  // Each file is kept as it was (in memory, for the undo) right before it is replaced.
  const replace = async (ctx: TaskContext, path: string, content: Parameters<TaskContext['conn']['writeFile']>[1], mode: string) => {
    saved.files.push({ path, old: await ctx.conn.readFile(path) });
    await ctx.conn.writeFile(path, content, { owner: osUser, mode });
  };
  const steps: Step[] = [
    {
      description: `directory ${dir}, ${osUser}'s, mode 0700`,
      async apply(ctx) {
        saved.created = (await ctx.conn.mkdir(dir, { owner: osUser, mode: '0700' })) === 'created';
      },
      async undo(ctx) {
        if (!saved.created) return;
        if (((await ctx.conn.list(dir)) ?? []).length > 0) return `${dir} left in place: it is not empty`;
        await ctx.conn.remove(dir);
        return `${dir} removed again`;
      },
    },
    {
      description: `${issue ? 'issue a certificate and key, and ' : ''}${writeRoot ? 'write the CA certificate' : ''}`.replace(/, and $/, '') || 'check the files',
      async apply(ctx) {
        const ca = await caFor(ctx, args);
        const out: Record<string, unknown> = {};
        if (issue) {
          const made = await issueServerCertificate(ca, names, args.days ?? 365);
          // The key before the certificate: a server reloaded in between fails on a mismatch rather than use an old key.
          await replace(ctx, `${dir}/server.key`, made.key, '0600');
          await replace(ctx, `${dir}/server.crt`, made.certPem, '0644');
          Object.assign(out, { not_after: made.notAfter.toISOString(), serial: made.serial });
        }
        if (writeRoot) await replace(ctx, `${dir}/root.crt`, ca.certPem, '0644');
        return out;
      },
      async undo(ctx) {
        const told: string[] = [];
        for (const { path, old } of [...saved.files].reverse()) {
          if (old) await ctx.conn.writeFile(path, old.content, { owner: old.owner, group: old.group, mode: old.mode });
          else await ctx.conn.remove(path);
          told.push(`${posix.basename(path)} ${old ? 'put back' : 'removed'}`);
        }
        return told.join(', ') || undefined;
      },
    },
  ];
  return steps;
}
