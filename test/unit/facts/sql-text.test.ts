import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { parseControlData } from '../../../src/facts/control-data';
import { relayArgv } from '../../../src/facts/sql-relay';
import { quoteIdent, quoteLiteral, socketPath } from '../../../src/facts/sql-session';
import { pgSettingsFrom } from '../../../src/facts/pg-settings';

describe('SQL text helpers', () => {
  it('quotes identifiers and literals', () => {
    assert.equal(quoteIdent('rep"licator'), '"rep""licator"');
    assert.equal(quoteLiteral("it's"), "'it''s'");
    assert.equal(quoteLiteral('c:\\dir'), "E'c:\\\\dir'");
    assert.throws(() => quoteLiteral('a\0b'), /NUL/);
  });
  it('names the socket and runs the relay with perl only', () => {
    const pg = pgSettingsFrom({ pg_port: 5433 });
    assert.equal(socketPath(pg), '/var/run/postgresql/.s.PGSQL.5433');
    const argv = relayArgv(socketPath(pg));
    assert.deepEqual([argv[0], argv[1], argv[3]], ['perl', '-e', '/var/run/postgresql/.s.PGSQL.5433']);
    // No module to load at start-up on Linux: a session opens on every host of every run.
    assert.doesNotMatch(argv[2], /\buse |require Socket; socket\(\$s, 1/);
  });
  it('relays bytes both ways through a unix socket, and says why when it cannot connect', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'pgplay-relay-'));
    const path = join(dir, 'echo.sock');
    const server = createServer((c) => c.on('data', (d) => c.write(Buffer.concat([Buffer.from('echo:'), d]))));
    await new Promise<void>((r) => server.listen(path, r));
    const [cmd, ...args] = relayArgv(path);
    const child = spawn(cmd, args, { stdio: ['pipe', 'pipe', 'pipe'] });
    let err = '';
    child.stderr.setEncoding('utf8').on('data', (c: string) => (err += c));
    const out = new Promise<string>((resolve) => child.stdout.once('data', (d: Buffer) => resolve(d.toString('latin1'))));
    child.stdin.write(Buffer.from([0, 1, 2, 255]));
    assert.equal(await out, 'echo:\u0000\u0001\u0002\u00ff');
    child.stdin.end();
    await new Promise((r) => child.on('close', r));
    assert.equal(err, 'pgplay-relay: READY\n');
    server.close();
    const [c2, ...a2] = relayArgv(join(dir, 'missing.sock'));
    const failed = spawnSync(c2, a2, { encoding: 'utf8' });
    assert.equal(failed.status, 2);
    assert.match(failed.stderr, /^pgplay-relay: No such file or directory/);
    rmSync(dir, { recursive: true, force: true });
  });
});

describe('pg_controldata', () => {
  it('reads the system identifier and state from captured output', () => {
    const text = readFileSync(join(__dirname, '../../../../test/fixtures/facts/pg_controldata.txt'), 'utf8');
    assert.deepEqual(parseControlData(text), { systemIdentifier: '7711818278664995908', state: 'shut down' });
    assert.equal(parseControlData('garbage'), null);
  });
});
