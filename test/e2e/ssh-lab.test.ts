import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { Socket } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { parse } from 'yaml';
import { Client } from 'ssh2';
import { SshConnection, sshConnectionsOpened } from '../../src/connection/ssh';
import { connectionFor } from '../../src/connection/connect';
import { dialEarly, takeEarlySocket } from '../../src/connection/early-dial';
import { sshConnectConfig } from '../../src/connection/ssh-connect-config';
import { sshOptionsFrom } from '../../src/connection/ssh-options';
import { HostOpError } from '../../src/connection/types';
import { UnreachableError } from '../../src/errors';
import { loadInventory } from '../../src/config/inventory';
import { HostPool } from '../../src/executor/host-pool';
import { planHostSettings } from '../../src/executor/host-settings';
import { pgSettingsFrom } from '../../src/facts/pg-settings';
import { openSqlSession } from '../../src/facts/sql-session';
import { Secret } from '../../src/secrets';
import { acceptedConnections, netnsLabDown, netnsLabUp, startSshd, stopSshd, type NetnsLab, type NetnsLabHost } from '../lab/netns-lab';
import { logLines, sessionsStarted, sshdConfig } from '../lab/sshd';

// Slow (about 15 s): two hosts of the network-namespace lab (sshd + PostgreSQL 15, Debian layout); processes are
// checked with ps (the namespaces share the machine's process table).
const ROOT = '/tmp/pgplay-ssh-lab-test';
const LAB_ID = 'sshlab';
const re = (text: string) => text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

type Vars = Record<string, unknown>;

/** A host's variables as the inventory resolves them (all.vars, then the host's own). */
function inventoryVars(lab: NetnsLab, name: string): Vars {
  const doc = parse(readFileSync(lab.inventory, 'utf8')) as { all: { vars: Vars; children: Record<string, { hosts: Record<string, Vars> }> } };
  const group = Object.values(doc.all.children).find((g) => g.hosts[name]);
  return { ...doc.all.vars, ...group?.hosts[name] };
}

function processes(text: string): string[] {
  return execFileSync('ps', ['-eo', 'args'], { encoding: 'utf8' })
    .split('\n')
    .filter((line) => line.includes(text));
}

/** Remote processes end a moment after their channel: wait up to a few seconds for none to match. */
async function noProcessLeft(text: string, withinMs = 4000): Promise<void> {
  const deadline = Date.now() + withinMs;
  while (processes(text).length > 0) {
    if (Date.now() > deadline) assert.fail(`still running: ${processes(text).join(' | ')}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** Wait until ps shows a process whose whole command line is one of these. */
async function untilRunning(...commands: string[]): Promise<void> {
  const deadline = Date.now() + 5000;
  const running = () => commands.every((c) => processes(c).some((line) => line.trim() === c));
  while (!running()) {
    if (Date.now() > deadline) assert.fail(`not running: ${commands.join(', ')}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe('ssh connection against the network-namespace lab', () => {
  let lab: NetnsLab;
  let pg1: NetnsLabHost;
  let pg2: NetnsLabHost;
  const conns: SshConnection[] = [];
  const connect = (host: NetnsLabHost, extra: Vars = {}, cli = { acceptNewHostKeys: false }) => {
    const conn = new SshConnection(host.name, sshOptionsFrom(host.name, { ...inventoryVars(lab, host.name), ...extra }, cli));
    conns.push(conn);
    return conn;
  };

  before(async () => {
    lab = await netnsLabUp(2, { id: LAB_ID, root: ROOT, layout: 'debian' });
    [pg1, pg2] = lab.hosts;
  });
  after(async () => {
    await Promise.all(conns.map((c) => c.close()));
    await netnsLabDown(ROOT, LAB_ID);
  });

  it('runs a command on two hosts in parallel, stdout, stderr and exit code apart', async () => {
    const script = 'echo "on $(hostname)"; echo "to stderr" >&2; exit 7';
    const logins = [acceptedConnections(pg1), acceptedConnections(pg2)];
    const [a, b] = await Promise.all([connect(pg1).run(['sh', '-c', script]), connect(pg2).run(['sh', '-c', script])]);
    for (const r of [a, b]) assert.deepEqual([r.stdout.startsWith('on '), r.stderr, r.exitCode, r.failed, r.timedOut], [true, 'to stderr\n', 7, true, false]);
    assert.deepEqual([acceptedConnections(pg1) - logins[0], acceptedConnections(pg2) - logins[1]], [1, 1], 'each host ran its own');
  });

  it('runs as postgres (the agent switches user, no sudo per command), and sends a Secret on stdin only (never in ps)', async () => {
    const conn = connect(pg1);
    const who = await conn.run(['sh', '-c', 'id -un; pwd; echo $HOME'], { as: 'postgres' });
    assert.deepEqual([who.stdout, who.stderr], ['postgres\n/\n/var/lib/postgresql\n', '']);
    const secret = `pw-${randomBytes(12).toString('hex')}`;
    const running = conn.run(['sh', '-c', 'read -r line; sleep 1.5; printf %s "$line" | sha256sum'], { stdin: new Secret(`${secret}\n`), as: 'postgres' });
    const seen: string[] = [];
    const started = Date.now();
    while (Date.now() - started < 1200) {
      seen.push(...processes('sha256sum'));
      await new Promise((r) => setTimeout(r, 100));
    }
    const r = await running;
    assert.ok(seen.length > 0, 'the command was sampled while it ran');
    assert.ok(seen.every((line) => !line.includes(secret)));
    assert.equal(r.stdout.split(' ')[0], createHash('sha256').update(secret).digest('hex'));
    assert.doesNotMatch(readFileSync(pg1.sshdLog, 'utf8'), new RegExp(secret));
  });

  it('writes and reads files as bytes, atomically, with owner and mode', async () => {
    const conn = connect(pg2);
    const path = `${pg2.dir}/pgplay-ssh-test.conf`;
    await conn.writeFile(path, new Secret('password = s3cret-over-ssh\n'), { owner: 'postgres', mode: '0600' });
    const file = await conn.readFile(path);
    assert.deepEqual([file?.content.toString(), file?.owner, file?.mode], ['password = s3cret-over-ssh\n', 'postgres', '0600']);
    await conn.writeFile(path, 'x = 1\n', { owner: 'root', group: 'postgres', mode: '0640' });
    assert.deepEqual(await conn.readFile(path).then((f) => [f?.content.toString(), f?.owner, f?.group, f?.mode]), ['x = 1\n', 'root', 'postgres', '0640']);
    // Without owner and mode, an existing file keeps its own.
    await conn.writeFile(path, 'x = 2\n');
    assert.deepEqual(await conn.readFile(path).then((f) => [f?.content.toString(), f?.owner, f?.group, f?.mode]), ['x = 2\n', 'root', 'postgres', '0640']);
    assert.equal(await conn.readFile(`${pg2.dir}/missing`), null);
  });

  it('carries 1 MB of binary data both ways', async () => {
    const data = randomBytes(1024 * 1024);
    const conn = connect(pg1);
    const path = `${pg1.dir}/pgplay-ssh-binary`;
    await conn.writeFile(path, data);
    assert.ok((await conn.readFile(path))?.content.equals(data));
    const hashed = await conn.run(['sha256sum'], { stdin: data });
    assert.equal(hashed.stdout.split(' ')[0], createHash('sha256').update(data).digest('hex'));
  });

  it('runs SQL over the agent, as the postgres OS user (peer authentication)', async () => {
    const sql = await openSqlSession(connect(pg2), pgSettingsFrom(inventoryVars(lab, 'pg2')));
    try {
      assert.deepEqual(await sql.query('select 1 as one, current_user as who'), [{ one: 1, who: 'postgres' }]);
    } finally {
      await sql.close();
    }
  });

  it('holds a lock in a root-only directory until unlock or the connection closes', async () => {
    const first = connect(pg1);
    const path = await first.lock('ssh-test.lock', 0);
    assert.equal(path, '/run/pgplay/ssh-test.lock');
    const started = Date.now();
    await assert.rejects(connect(pg1).lock('ssh-test.lock', 1), (err: unknown) => err instanceof HostOpError && err.code === 'EBUSY');
    assert.ok(Date.now() - started >= 900, 'waited for the lock');
    await first.unlock(path);
    const second = connect(pg1);
    await second.lock('ssh-test.lock', 0);
    await second.close();
    await connect(pg1).lock('ssh-test.lock', 0);
  });

  it('refuses a changed host key before authenticating, naming the host', async () => {
    const file = `${ROOT}/known_hosts.changed`;
    const lines = readFileSync(lab.knownHosts, 'utf8').trim().split('\n');
    const pg1Key = lines[0].split(' ').slice(1).join(' ');
    writeFileSync(file, `${lines[0]}\n${pg2.address} ${pg1Key}\n`);
    const accepted = acceptedConnections(pg2);
    const conn = connect(pg2, { ssh_known_hosts_file: file }, { acceptNewHostKeys: true });
    await assert.rejects(conn.run(['true']), (err: unknown) => {
      assert.ok(err instanceof UnreachableError);
      assert.match(err.message, new RegExp(`^ssh to pg2 \\(${re(pg2.address)}:22\\): HOST KEY CHANGED for ${re(pg2.address)}: it presents ssh-ed25519 SHA256:`));
      assert.equal(err.exitCode, 3);
      return true;
    });
    assert.equal(acceptedConnections(pg2), accepted);
    assert.equal(readFileSync(file, 'utf8').split('\n').length, 3, 'nothing was added');
  });

  it('refuses an unknown host without the opt-in, and records its key with it', async () => {
    const file = `${ROOT}/known_hosts.partial`;
    const lines = readFileSync(lab.knownHosts, 'utf8').trim().split('\n');
    writeFileSync(file, `${lines[0]}\n`);
    await assert.rejects(connect(pg2, { ssh_known_hosts_file: file }).run(['true']), (err: unknown) => {
      assert.ok(err instanceof UnreachableError);
      assert.match(err.message, new RegExp(`^ssh to pg2 \\(${re(pg2.address)}:22\\): host key of ${re(pg2.address)} \\(ssh-ed25519 SHA256:\\S+\\) is not in ${file} \\(pass --accept-new-host-keys`));
      return true;
    });
    const r = await connect(pg2, { ssh_known_hosts_file: file, ssh_accept_new_host_keys: true }).run(['true']);
    assert.equal(r.exitCode, 0);
    // One line more, plain or hashed as ssh_config's HashKnownHosts says (Debian's /etc/ssh/ssh_config says yes).
    const added = readFileSync(file, 'utf8').slice(`${lines[0]}\n`.length);
    assert.equal(added.endsWith(`${lines[1].split(' ').slice(1).join(' ')}\n`), true, added);
    assert.match(execFileSync('ssh-keygen', ['-F', pg2.address, '-f', file], { encoding: 'utf8' }), new RegExp(lines[1].split(' ')[2].slice(0, 40).replace(/[+/]/g, '\\$&')));
  });

  it('reports a refused login as unreachable, saying which methods were tried', async () => {
    const key = `${ROOT}/stranger_ed25519`;
    execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', key]);
    const conn = connect(pg1, { ansible_ssh_private_key_file: key, ssh_password_env: 'PGPLAY_TEST_UNSET_PASSWORD' });
    await assert.rejects(conn.run(['true']), (err: unknown) => {
      assert.ok(err instanceof UnreachableError);
      assert.equal(err.message, `ssh to pg1 (${pg1.address}:22): authentication as root failed (tried publickey; ssh_password_env names PGPLAY_TEST_UNSET_PASSWORD, which is not set)`);
      return true;
    });
  });

  it('logs in with the signature of its key at once (Ed25519 and RSA), where ssh2 alone first asks whether the host takes the key', async () => {
    const rsa = `${ROOT}/login_rsa`;
    if (!existsSync(rsa)) {
      execFileSync('ssh-keygen', ['-q', '-t', 'rsa', '-b', '3072', '-N', '', '-f', rsa]);
      writeFileSync(`${lab.root}/ssh/authorized_keys`, readFileSync(`${rsa}.pub`), { flag: 'a' });
    }
    // sshd at LogLevel VERBOSE logs "Postponed publickey" for each key it was asked about and then signed with.
    const asked = () => logLines(pg1.sshd, (line) => line.startsWith('Postponed publickey'));
    for (const extra of [{}, { ansible_ssh_private_key_file: rsa }]) {
      const before = asked();
      const logins = acceptedConnections(pg1);
      const r = await connect(pg1, extra).run(['echo', 'in']);
      assert.equal(r.stdout, 'in\n');
      assert.equal(acceptedConnections(pg1) - logins, 1);
      assert.equal(asked(), before, `no offer before the signature (${JSON.stringify(extra)})`);
    }
    // The control: ssh2 on its own offers the key first.
    const made = sshConnectConfig(sshOptionsFrom(pg1.name, inventoryVars(lab, pg1.name), { acceptNewHostKeys: false }), undefined, () => undefined);
    assert.ok(!('problem' in made));
    const before = asked();
    const plain = new Client();
    await new Promise<void>((resolve, reject) => plain.once('ready', resolve).once('error', reject).connect(made.config));
    plain.end();
    assert.equal(asked(), before + 1);
  });

  it('reports a host whose sshd is down as unreachable at once, while the other host works', async () => {
    await stopSshd(pg2);
    try {
      const started = Date.now();
      const [down, up] = await Promise.allSettled([connect(pg2).run(['true']), connect(pg1).run(['echo', 'fine'])]);
      assert.ok(Date.now() - started < 3000);
      assert.equal(down.status, 'rejected');
      assert.ok(down.status === 'rejected' && down.reason instanceof UnreachableError);
      assert.equal(down.status === 'rejected' && (down.reason as Error).message, `ssh to pg2 (${pg2.address}:22): connection refused`);
      assert.equal(up.status === 'fulfilled' && up.value.stdout, 'fine\n');
    } finally {
      await startSshd(pg2);
    }
  });

  it('takes the TCP connection opened before ssh2 loads: the host accepted it first, and it is the login\'s only one', async () => {
    const connections = () => logLines(pg1.sshd, (line) => line.startsWith('Connection from'));
    const before = connections();
    const logins = acceptedConnections(pg1);
    const conn = connect(pg1);
    dialEarly(conn.options);
    // sshd has it (and logs it) while nothing of ssh's protocol has been written yet.
    const deadline = Date.now() + 3000;
    while (connections() === before && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    assert.equal(connections(), before + 1);
    const r = await conn.run(['echo', 'early']);
    assert.equal(r.stdout, 'early\n');
    assert.equal(connections(), before + 1, 'no second TCP connection');
    assert.equal(acceptedConnections(pg1) - logins, 1);
    assert.equal(takeEarlySocket(conn.options), undefined, 'taken once');
  });

  it('dials again when the connection opened early was refused, and says so as before', async () => {
    await stopSshd(pg2);
    try {
      const conn = connect(pg2);
      dialEarly(conn.options);
      await new Promise((r) => setTimeout(r, 200));
      await assert.rejects(conn.run(['true']), (err: Error) => err instanceof UnreachableError && err.message === `ssh to pg2 (${pg2.address}:22): connection refused`);
    } finally {
      await startSshd(pg2);
    }
  });

  it('one login and one exec channel carry 30 commands, files and a SQL session (counted in sshd\'s log)', async () => {
    const logins = acceptedConnections(pg1);
    const sessions = sessionsStarted(pg1.sshd);
    const opened = sshConnectionsOpened();
    const conn = connect(pg1);
    const runs = Array.from({ length: 30 }, (_, i) => conn.run(['echo', String(i)], { as: i % 2 ? 'postgres' : undefined }));
    const files = Array.from({ length: 3 }, async (_, i) => {
      await conn.writeFile(`${pg1.dir}/channel-${i}`, `file ${i}`);
      return (await conn.readFile(`${pg1.dir}/channel-${i}`))?.content.toString();
    });
    const sql = await openSqlSession(conn, pgSettingsFrom(inventoryVars(lab, 'pg1')));
    const results = await Promise.all(runs);
    assert.deepEqual(
      results.map((r) => r.stdout),
      results.map((_, i) => `${i}\n`),
    );
    assert.deepEqual(await Promise.all(files), ['file 0', 'file 1', 'file 2']);
    assert.deepEqual(await sql.query('select 2 as two'), [{ two: 2 }]);
    await sql.close();
    assert.equal(acceptedConnections(pg1) - logins, 1);
    assert.equal(sessionsStarted(pg1.sshd) - sessions, 1);
    assert.equal(sshConnectionsOpened() - opened, 1);
  });

  it("lets the host's announcement of its other host keys go unanswered: the host signs nothing more (ssh2 alone has each proven)", async () => {
    // pg2 with a second host key, as Debian's hosts have several, and sshd's debug log, which names global requests.
    const files = pg2.sshd;
    const ecdsa = `${files.dir}/ssh_host_ecdsa_key`;
    if (!existsSync(ecdsa)) execFileSync('ssh-keygen', ['-q', '-t', 'ecdsa', '-N', '', '-f', ecdsa]);
    await stopSshd(pg2);
    writeFileSync(files.config, `${sshdConfig(files).replace('LogLevel VERBOSE', 'LogLevel DEBUG1')}HostKey ${ecdsa}\n`);
    try {
      await startSshd(pg2);
      const proofs = () => logLines(files, (line) => line.includes('rtype hostkeys-prove-00@openssh.com'));
      const before = proofs();
      const r = await connect(pg2).run(['true']);
      assert.equal(r.exitCode, 0);
      // ssh2 on its own, with the same settings: it asks for the proof, and emits the keys once proven.
      const made = sshConnectConfig(sshOptionsFrom(pg2.name, inventoryVars(lab, pg2.name), { acceptNewHostKeys: false }), undefined, () => undefined);
      assert.ok(!('problem' in made));
      const plain = new Client();
      const proven = new Promise<number>((resolve) => plain.on('hostkeys', (keys: unknown[]) => resolve(keys.length)));
      plain.connect(made.config);
      assert.equal(await proven, 2);
      plain.end();
      assert.equal(proofs() - before, 1, `one proof asked: by ssh2 alone, none by pgplay: ${readFileSync(files.log, 'utf8').split('\n').filter((l) => /hostkeys|Accepted publickey|session_close|Connection from/.test(l)).slice(-14).join('\n')}`);
    } finally {
      await stopSshd(pg2);
      writeFileSync(files.config, sshdConfig(files));
      await startSshd(pg2);
    }
  });

  it("at a run's end one write a host carries its SQL session's end, its agent's end of input and ssh's goodbye", async () => {
    const inventory = loadInventory(lab.inventory).value;
    assert.ok(inventory);
    const plan = planHostSettings({ inventory, extraVars: {}, cli: { acceptNewHostKeys: false } }, [{ play: { vars: {}, varSources: {} }, hosts: ['pg1'] }]);
    assert.deepEqual(plan.errors, []);
    const goodbyes = () => logLines(pg1.sshd, (line) => line.startsWith('Received disconnect from'));
    // The socket writes of the run's end, with the goodbyes held (as closeAll does) and, for comparison, without.
    const endWrites = async (hold: boolean) => {
      const pool = new HostPool(inventory, plan.get, connectionFor, (conn, handle) => openSqlSession(conn, handle.pg));
      const handle = pool.handle('pg1');
      assert.deepEqual(await (await handle.sql()).query('select 1 as one'), [{ one: 1 }]);
      if (!hold) (handle.conn as { holdWrites?: () => void }).holdWrites = undefined;
      const said = goodbyes();
      const socket = Socket.prototype as unknown as { _writeGeneric: (...args: unknown[]) => unknown };
      const write = socket._writeGeneric;
      let writes = 0;
      socket._writeGeneric = function (this: unknown, ...args: unknown[]) {
        writes++;
        return write.apply(this, args);
      };
      try {
        await pool.closeAll({ wait: false });
      } finally {
        socket._writeGeneric = write;
      }
      // The goodbye reached sshd (it logs the client's disconnect).
      const deadline = Date.now() + 3000;
      while (goodbyes() === said && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
      assert.equal(goodbyes(), said + 1);
      return writes;
    };
    assert.ok((await endWrites(false)) >= 3, 'each goodbye its own write');
    assert.equal(await endWrites(true), 1);
  });

  it('stops a command that times out on the remote side, process group and all', async () => {
    const started = Date.now();
    const r = await connect(pg1).run(['sh', '-c', 'sleep 31; echo never'], { timeoutMs: 1000 });
    assert.deepEqual([r.timedOut, r.failed, r.exitCode, r.signal, r.stdout], [true, true, null, 'SIGTERM', '']);
    assert.ok(Date.now() - started < 4000);
    await noProcessLeft('sleep 31');
  });

  it('ends a command whose background child holds its output open a moment after it exits, and stops the child', async () => {
    const started = Date.now();
    const r = await connect(pg2).run(['sh', '-c', 'sleep 38 & echo started'], { timeoutMs: 10_000 });
    assert.deepEqual([r.timedOut, r.failed, r.exitCode, r.stdout], [false, false, 0, 'started\n']);
    assert.ok(Date.now() - started < 4000);
    await noProcessLeft('sleep 38');
  });

  it('stops a command when its abort signal fires', async () => {
    const abort = new AbortController();
    setTimeout(() => abort.abort(), 500);
    const r = await connect(pg2).run(['sleep', '32'], { as: 'postgres', signal: abort.signal });
    assert.deepEqual([r.timedOut, r.failed, r.exitCode, r.signal], [false, true, null, 'SIGTERM']);
    await noProcessLeft('sleep 32');
  });

  it('close() stops what still runs and leaves no process behind', async () => {
    const conn = connect(pg1);
    const first = conn.run(['sleep', '33'], { as: 'postgres' });
    first.catch(() => undefined);
    const running = conn.run(['sleep', '34']);
    running.catch(() => undefined);
    await untilRunning('sleep 33', 'sleep 34');
    await conn.close();
    await assert.rejects(first, /was closed/);
    await assert.rejects(running, /was closed/);
    await noProcessLeft('sleep 33', 500);
    await noProcessLeft('sleep 34', 500);
  });

  it('a connection dropped mid-command is an unreachable error, and the remote command is stopped', async () => {
    const conn = connect(pg2);
    let ended = 0;
    const running = conn.run(['sleep', '35']).finally(() => (ended = Date.now()));
    running.catch(() => undefined); // asserted below, after the drop
    await untilRunning('sleep 35');
    const started = Date.now();
    await stopSshd(pg2, { dropSessions: true });
    try {
      await assert.rejects(running, new RegExp(`^UnreachableError: ssh to pg2 \\(${re(pg2.address)}:22\\): connection lost while running: sleep 35$`));
      assert.ok(ended - started < 2000);
      await noProcessLeft('sleep 35', 5000);
    } finally {
      await startSshd(pg2);
    }
    const again = await conn.run(['echo', 'back']);
    assert.equal(again.stdout, 'back\n');
  });
});
