import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { conninfoWithTls, sameConninfo } from '../../../src/modules/pg/conninfo';
import { caLocationProblem, ensureOwnCa, inspectCertificate, issueServerCertificate, readCa, sanNames } from '../../../src/modules/pg/x509';
import { tlsCertificateModule, tlsDir, wantedNames, type TlsCertificateFacts } from '../../../src/modules/tls-certificate';
import { walReceiverCause } from '../../../src/facts/wal-receiver-errors';
import { redact } from '../../../src/secrets';

const work = mkdtempSync(join(tmpdir(), 'pgplay-tls-'));
after(() => rmSync(work, { recursive: true, force: true }));

describe('the CA and server certificates (control machine)', () => {
  it('makes a CA once in its directory, key 0600; a second call reads the same one', async () => {
    const dir = join(work, 'ca');
    const [a, b] = await Promise.all([ensureOwnCa(dir, '/'), ensureOwnCa(dir, '/')]);
    assert.equal(a.certPem, b.certPem);
    assert.equal((statSync(join(dir, 'ca.key')).mode & 0o777).toString(8), '600');
    assert.ok(a.cert.ca);
    assert.equal(readCa({ dir }, '/')?.certPem, a.certPem);
  });
  it('issues a certificate with the addresses and DNS names in subjectAltName, that openssl verifies against the CA', async () => {
    const ca = await ensureOwnCa(join(work, 'ca'), '/');
    const made = await issueServerCertificate(ca, ['198.51.100.2', 'pg1.example.com'], 30);
    const dir = join(work, 'issued');
    mkdirSync(dir);
    writeFileSync(join(dir, 'server.crt'), made.certPem);
    assert.equal(execFileSync('openssl', ['verify', '-CAfile', join(work, 'ca', 'ca.crt'), join(dir, 'server.crt')], { encoding: 'utf8' }).trim(), `${join(dir, 'server.crt')}: OK`);
    const text = execFileSync('openssl', ['x509', '-in', join(dir, 'server.crt'), '-noout', '-text'], { encoding: 'utf8' });
    assert.match(text, /IP Address:198\.51\.100\.2, DNS:pg1\.example\.com/);
    assert.match(text, /TLS Web Server Authentication/);
    const facts = inspectCertificate(made.certPem, made.key.reveal(), ca);
    assert.ok(!('error' in facts));
    if ('error' in facts) return;
    assert.deepEqual(facts.names, ['198.51.100.2', 'pg1.example.com']);
    assert.equal(facts.issuedByCa && facts.keyMatches, true);
    assert.equal(Math.round((facts.notAfter.getTime() - Date.now()) / 86_400_000), 30);
    // The key is a secret from the moment it exists: its text and each line of it are masked.
    const keyLine = made.key.reveal().split('\n')[1];
    assert.equal(redact(`leaked: ${keyLine}`), 'leaked: ********');
    assert.equal(String(made.key), '********');
  });
  it('tells a certificate of another CA, and a key of another certificate', async () => {
    const ours = await ensureOwnCa(join(work, 'ca'), '/');
    const other = await ensureOwnCa(join(work, 'other-ca'), '/');
    const a = await issueServerCertificate(other, ['198.51.100.2'], 10);
    const b = await issueServerCertificate(ours, ['198.51.100.2'], 10);
    const facts = inspectCertificate(a.certPem, b.key.reveal(), ours);
    assert.equal(!('error' in facts) && facts.issuedByCa, false);
    assert.equal(!('error' in facts) && facts.keyMatches, false);
  });
  it('uses a CA the user gives (RSA, made with openssl) and refuses a key that is not its own', async () => {
    const dir = join(work, 'user-ca');
    mkdirSync(dir);
    execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', join(dir, 'ca.key'), '-out', join(dir, 'ca.crt'), '-days', '20', '-subj', '/CN=user CA'], { stdio: 'ignore' });
    const ca = readCa({ certFile: join(dir, 'ca.crt'), keyFile: join(dir, 'ca.key') }, '/');
    assert.ok(ca);
    if (!ca) return;
    const made = await issueServerCertificate(ca, ['10.0.0.5'], 5);
    writeFileSync(join(dir, 's.crt'), made.certPem);
    assert.match(execFileSync('openssl', ['verify', '-CAfile', join(dir, 'ca.crt'), join(dir, 's.crt')], { encoding: 'utf8' }), /OK/);
    writeFileSync(join(dir, 'wrong.key'), readFileSync(join(work, 'ca', 'ca.key')));
    assert.throws(() => readCa({ certFile: join(dir, 'ca.crt'), keyFile: join(dir, 'wrong.key') }, '/'), /wrong\.key is not the key of the CA certificate/);
  });
  it('refuses a CA directory inside a git work tree, and asks for a CA when none is named', () => {
    const repo = join(work, 'repo');
    mkdirSync(join(repo, '.git'), { recursive: true });
    assert.match(caLocationProblem({ dir: 'secrets/ca' }, repo) ?? '', /is inside the git work tree .*repo: the CA's private key must not be kept in a repository/);
    assert.equal(caLocationProblem({ dir: join(work, 'ca') }, repo), null);
    assert.match(caLocationProblem({}, repo) ?? '', /TLS for replication needs a CA/);
    assert.match(caLocationProblem({ certFile: 'a.crt' }, repo) ?? '', /needs both tls_ca_cert and tls_ca_key/);
  });
  it('reads subjectAltName as Node prints it', () => {
    assert.deepEqual(sanNames('IP Address:198.51.100.2, DNS:PG1.example'), ['198.51.100.2', 'pg1.example']);
    assert.deepEqual(sanNames(undefined), []);
  });
});

describe('tls_certificate plan', () => {
  const base = async (over: Partial<TlsCertificateFacts> = {}): Promise<TlsCertificateFacts> => {
    const ca = await ensureOwnCa(join(work, 'ca'), '/');
    const made = await issueServerCertificate(ca, ['198.51.100.3'], 100);
    return {
      host: 'pg2',
      osUser: 'postgres',
      dir: '/var/lib/postgresql/15/main.pgplay-tls',
      dirExists: true,
      cert: { text: made.certPem, owner: 'postgres', mode: '0644' },
      key: { owner: 'postgres', mode: '0600' },
      rootCert: { text: ca.certPem, owner: 'postgres', mode: '0644' },
      inspected: inspectCertificate(made.certPem, made.key.reveal(), ca),
      ca: { certPem: ca.certPem, notAfter: new Date(ca.cert.validTo), source: 'ca.crt' },
      caProblem: null,
      now: new Date(),
      ...over,
    };
  };
  it('noop for a good certificate; a new one for rotate, other names, a wrong key mode, an expired one', async () => {
    const facts = await base();
    assert.equal(tlsCertificateModule.plan({ names: ['198.51.100.3', ''] }, facts).kind, 'noop');
    const rotate = tlsCertificateModule.plan({ names: ['198.51.100.3'], rotate: true }, facts);
    assert.match(rotate.kind === 'change' ? rotate.summary : '', /^new certificate and key \(rotate\) in /);
    assert.equal(rotate.kind === 'change' && rotate.needs, 'reload');
    const names = tlsCertificateModule.plan({ names: ['198.51.100.3', 'pg2.example'] }, facts);
    assert.match(names.kind === 'change' ? names.summary : '', /subjectAltName is 198\.51\.100\.3, not 198\.51\.100\.3, pg2\.example/);
    const mode = tlsCertificateModule.plan({ names: ['198.51.100.3'] }, { ...facts, key: { owner: 'root', mode: '0644' } });
    assert.match(mode.kind === 'change' ? mode.summary : '', /the key is root's, mode 0644, not postgres's 0600/);
    const later = tlsCertificateModule.plan({ names: ['198.51.100.3'] }, { ...facts, now: new Date(Date.now() + 101 * 86_400_000) });
    assert.match(later.kind === 'change' ? later.summary : '', /expired on /);
  });
  it('warns about a certificate that expires within 30 days, and says how to rotate it', async () => {
    // 80.5 days after the certificate is made (not before: its 100 days start when it is issued, milliseconds after
    // a clock read earlier, and its end is cut to the second): 19.5 days left, whatever the milliseconds.
    const made = await base();
    const facts = { ...made, now: new Date(Date.now() + 80.5 * 86_400_000) };
    const plan = tlsCertificateModule.plan({ names: ['198.51.100.3'] }, facts);
    assert.equal(plan.kind, 'noop');
    assert.match((plan.kind === 'noop' && plan.warnings?.[0]) || '', /^the certificate of pg2 \(.*server\.crt\) expires in 19 days \(.*\): re-run with -e tls_rotate=true to rotate it$/);
  });
  it('fails without a CA; a new CA means new certificates', async () => {
    const facts = await base();
    assert.equal(tlsCertificateModule.plan({ names: ['x'] }, { ...facts, caProblem: 'TLS for replication needs a CA' }).kind, 'fail');
    const fresh = tlsCertificateModule.plan({ names: ['198.51.100.3'] }, { ...facts, ca: null, cert: null, key: null, rootCert: null, inspected: null, dirExists: false });
    assert.match(fresh.kind === 'change' ? fresh.summary : '', /new certificate and key \(none yet\), CA certificate root\.crt, a new directory in .* the CA is made first/);
  });
  it('keeps the files beside the data directory by default', () => {
    assert.equal(tlsDir('/var/lib/postgresql/15/main/'), '/var/lib/postgresql/15/main.pgplay-tls');
    assert.equal(tlsDir('/d', '/etc/pg/tls/'), '/etc/pg/tls');
    assert.deepEqual(wantedNames(['10.0.0.1', '', 'PG1.Example', '10.0.0.1']), ['10.0.0.1', 'pg1.example']);
  });
});

describe('a standby connection over TLS', () => {
  it('sets sslmode and sslrootcert in primary_conninfo, keeping the other keys', () => {
    const before = "user=replicator passfile=/x host=198.51.100.2 port=5432 sslmode=prefer application_name=pg2";
    const after = conninfoWithTls(before, { sslmode: 'verify-full', sslrootcert: '/d/root.crt' });
    assert.equal(after, 'user=replicator passfile=/x host=198.51.100.2 port=5432 sslmode=verify-full application_name=pg2 sslrootcert=/d/root.crt');
    assert.equal(conninfoWithTls(after, { sslmode: 'prefer', sslrootcert: '' }), before);
    assert.ok(sameConninfo(after, 'sslrootcert=/d/root.crt user=replicator passfile=/x host=198.51.100.2 port=5432 sslmode=verify-full application_name=pg2'));
  });
  it("names why a WAL receiver cannot connect, from the standby's log", () => {
    const log = [
      '2026-12-01 10:00:00.000 UTC [10] LOG:  started streaming WAL from primary at 0/3000000 on timeline 1',
      '2026-12-01 10:00:05.000 UTC [11] FATAL:  could not connect to the primary server: connection to server at "198.51.100.2", port 5432 failed: SSL error: certificate verify failed',
    ].join('\n');
    assert.deepEqual(walReceiverCause(log), {
      line: 'could not connect to the primary server: connection to server at "198.51.100.2", port 5432 failed: SSL error: certificate verify failed',
      meaning: "it does not trust the primary's certificate: the certificate is not signed by the CA in its sslrootcert (a wrong CA)",
    });
    const name = walReceiverCause('x FATAL:  could not connect to the primary server: connection to server at "198.51.100.2", port 5432 failed: server certificate for "198.51.100.9" does not match host name "198.51.100.2"');
    assert.match(name?.meaning ?? '', /certificate is for another name/);
    assert.equal(walReceiverCause('LOG:  database system is ready to accept read-only connections'), null);
  });
});
