// The TCP connections a run opens before ssh2 loads, against real sockets on loopback.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createServer, type Server, type Socket } from 'node:net';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { dialEarly, dropEarlySockets, takeEarlySocket } from '../../../src/connection/early-dial';

const direct = (port: number) => ({ address: '127.0.0.1', port, proxyJump: [] });

describe('early dial', () => {
  let server: Server;
  let port: number;
  const accepted: Socket[] = [];

  before(async () => {
    server = createServer((s) => {
      accepted.push(s);
      s.on('error', () => undefined);
      s.write('SSH-2.0-test\r\n');
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    port = (server.address() as { port: number }).port;
  });
  after(() => {
    for (const s of accepted) s.destroy();
    server.close();
  });

  it('connects at once, once per address, and hands over what the host sent meanwhile', async () => {
    const before = accepted.length;
    dialEarly(direct(port));
    dialEarly(direct(port));
    await new Promise((r) => setTimeout(r, 100));
    assert.equal(accepted.length, before + 1);
    const sock = takeEarlySocket(direct(port));
    assert.ok(sock);
    assert.equal(sock.connecting, false);
    const first = await new Promise<string>((resolve) => sock.once('data', (d: Buffer) => resolve(d.toString())));
    assert.equal(first, 'SSH-2.0-test\r\n');
    assert.equal(takeEarlySocket(direct(port)), undefined, 'taken once');
    sock.destroy();
  });

  it('gives nothing for a refused connection (the caller dials and reports), and nothing through bastions', async () => {
    const closed = createServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
    const refused = (closed.address() as { port: number }).port;
    await new Promise((resolve) => closed.close(resolve));
    dialEarly(direct(refused));
    await new Promise((r) => setTimeout(r, 100));
    assert.equal(takeEarlySocket(direct(refused)), undefined);
    const before = accepted.length;
    dialEarly({ ...direct(port), proxyJump: [direct(port) as never] });
    await new Promise((r) => setTimeout(r, 100));
    assert.equal(accepted.length, before);
    assert.equal(takeEarlySocket(direct(port)), undefined);
  });

  it('closes what was not taken', async () => {
    const before = accepted.length;
    dialEarly(direct(port));
    await new Promise((r) => setTimeout(r, 100));
    const mine = accepted[before];
    assert.ok(mine);
    const ended = new Promise<void>((resolve) => mine.once('end', () => resolve()));
    dropEarlySockets();
    await ended;
    assert.equal(takeEarlySocket(direct(port)), undefined);
  });

  it('a socket not taken does not keep pgplay running', () => {
    const module = join(__dirname, '../../../src/connection/early-dial.js');
    const script = `require(${JSON.stringify(module)}).dialEarly({ address: '127.0.0.1', port: ${port}, proxyJump: [] }); setTimeout(() => {}, 50);`;
    const r = spawnSync(process.execPath, ['-e', script], { timeout: 5000 });
    assert.equal(r.error, undefined);
    assert.equal(r.status, 0);
  });
});
