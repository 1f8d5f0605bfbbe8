import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { test } from 'node:test';
import { shellQuote } from '../../../src/connection/command';
import { GroupMarkerFilter, killLine, wrapForRemote } from '../../../src/connection/remote-process';
import { Slots } from '../../../src/connection/slots';

async function filtered(chunks: string[]): Promise<{ text: string; groups: number[] }> {
  const groups: number[] = [];
  const filter = new GroupMarkerFilter((pgid) => groups.push(pgid));
  let text = '';
  filter.on('data', (c: Buffer) => (text += c.toString()));
  const ended = new Promise((r) => filter.on('end', r));
  for (const c of chunks) filter.write(Buffer.from(c));
  filter.end();
  await ended;
  return { text, groups };
}

test('the marker filter takes the group from stderr, even split across chunks, and keeps every other byte', async () => {
  assert.deepEqual(await filtered(['pgplay-pg', 'id 4242\nreal ', 'error\n']), { text: 'real error\n', groups: [4242] });
  assert.deepEqual(await filtered(['motd line\npgplay-pgid 17\n', 'later pgplay-pgid 9\n']), { text: 'motd line\nlater pgplay-pgid 9\n', groups: [17] });
  assert.deepEqual(await filtered(['no marker at all\n']), { text: 'no marker at all\n', groups: [] });
});

test('killLine signals the process group, as the become user too when asked', () => {
  assert.equal(killLine(123, 'TERM'), 'kill -s TERM -- -123 2>/dev/null; true');
  assert.equal(killLine(123, 'KILL', { user: 'postgres', method: 'sudo' }), 'kill -s KILL -- -123 2>/dev/null; sudo -n -H -u postgres -- kill -s KILL -- -123 2>/dev/null; true');
});

test('the wrapper says its group, passes stdin and the exit status through, and keeps quoting intact', async () => {
  const line = `read -r x; printf '%s|%s\\n' "$x" ${shellQuote("it's $HOME")}; exit 3`;
  const child = spawn('sh', ['-c', wrapForRemote(line)], { detached: true, stdio: ['pipe', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stdout.on('data', (c: Buffer) => (out += c));
  child.stderr.on('data', (c: Buffer) => (err += c));
  child.stdin.end('from stdin\n');
  const code = await new Promise((r) => child.on('close', r));
  assert.deepEqual([code, out, err], [3, "from stdin|it's $HOME\n", `pgplay-pgid ${child.pid}\n`]);
});

// Slow (about 3 s): the watchdog polls every 2 s.
test('the watchdog stops the command group once the process that started it (sshd) is gone', async () => {
  const marker = `sleep 39.${process.pid}`;
  // The outer sh stands for sshd: it starts the wrapper as a session leader, then exits.
  const outer = `setsid sh -c ${shellQuote(wrapForRemote(marker))} </dev/null >/dev/null 2>&1 & sleep 0.3`;
  execFileSync('sh', ['-c', outer]);
  const running = () => execFileSync('ps', ['-eo', 'args'], { encoding: 'utf8' }).split('\n').some((l) => l.trim() === marker);
  assert.equal(running(), true);
  const deadline = Date.now() + 5000;
  while (running()) {
    assert.ok(Date.now() < deadline, `${marker} is still running`);
    await new Promise((r) => setTimeout(r, 100));
  }
});

test('slots let limit holders in at once and the rest in order; releasing twice frees one slot', async () => {
  const slots = new Slots(2);
  const a = await slots.acquire();
  const b = await slots.acquire();
  const order: string[] = [];
  const c = slots.acquire().then((release) => (order.push('c'), release));
  const d = slots.acquire().then((release) => (order.push('d'), release));
  assert.deepEqual([slots.inUse, slots.queued], [2, 2]);
  a();
  a();
  await c;
  assert.deepEqual([order, slots.queued], [['c'], 1]);
  b();
  (await d)();
  (await c)();
  assert.deepEqual([order, slots.inUse, slots.queued], [['c', 'd'], 0, 0]);
});
