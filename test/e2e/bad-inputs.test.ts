// Every file of the bad-input corpus (test/fixtures/bad) through the real CLI: the exact file:line:col messages
// its header expects, exit 4 (5 for options), a summary, no stack trace, no run started, and no connection tried.
// Each case states what it expects in comment lines at its top:
//   # expect: exit 4
//   # expect: error 5:7 unknown module 'ensure_rol' (did you mean 'ensure_role'?)
//   # expect: error templates/x.conf.hbs:2:9 /regex/        (an error in another file; a message as a regex)
//   # expect: option --forks must be a whole number ...     (exit 5: the one `pgplay: ...` line)
//   # args: run {file} -i {inventory} --forks 0            (instead of the default commands; repeatable)
// Default commands: `run` for a playbook, `inventory` and `run` for a file named inventory-*; and one `validate` of
// every such playbook at once, which must print the errors of all of them. The CLI runs in the corpus directory,
// so messages name files as a user in that directory would see them.
import { before, after, test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import { parse } from 'yaml';
import { fixture, runCli, type CliResult } from '../helpers/cli';

/** The secrets the corpus playbooks read, as a run would have them (a missing one is a case of its own). */
const SECRETS = { PGPLAY_REPLICATION_PASSWORD: 'corpus-not-a-real-password' };

const CORPUS = fixture('bad');
const INVENTORY = 'inventory.yml';
const CONTROL = 'control-playbook.yml';
// Each run is a node process that spends its time starting up: keep every CPU busy, no more.
const CONCURRENCY = Math.min(8, availableParallelism() + 1);

interface ExpectedError {
  file: string;
  line: number;
  col: number;
  message: string | RegExp;
}

interface Case {
  file: string;
  exit: number;
  errors: ExpectedError[];
  option?: string;
  commands: string[][];
  /** Run with the default commands, so it is also part of the one `validate` of every playbook. */
  byDefault: boolean;
}

function parseHeader(file: string): Case | null {
  // latin1: the header is ASCII, and a case may hold bytes that are not UTF-8 after it.
  const lines = readFileSync(join(CORPUS, file), 'latin1').split('\n');
  const header: string[] = [];
  for (const line of lines) {
    if (!line.startsWith('#')) break;
    header.push(line);
  }
  if (!header.some((l) => /^#\s*expect:/.test(l))) return null;
  const c: Case = { file, exit: -1, errors: [], commands: [], byDefault: false };
  const fill = (arg: string) => arg.replace('{file}', file).replace('{inventory}', INVENTORY).replace('{control}', CONTROL);
  for (const line of header) {
    const m = /^#\s*(expect|args):\s*(.*?)\s*$/.exec(line);
    if (!m) continue;
    const [, kind, rest] = m;
    if (kind === 'args') {
      c.commands.push(rest.split(/\s+/).map(fill));
      continue;
    }
    const exit = /^exit (\d+)$/.exec(rest);
    const error = /^error (?:(\S+?):)?(\d+):(\d+) (.+)$/.exec(rest);
    const option = /^option (.+)$/.exec(rest);
    if (exit) c.exit = Number(exit[1]);
    else if (error) {
      const text = error[4];
      const regex = /^\/(.+)\/$/.exec(text);
      c.errors.push({ file: error[1] ?? file, line: Number(error[2]), col: Number(error[3]), message: regex ? new RegExp(`^${regex[1]}$`) : text });
    } else if (option) c.option = option[1];
    else throw new Error(`${file}: cannot read the header line '${line}'`);
  }
  if (c.commands.length === 0) {
    c.byDefault = true;
    c.commands = file.startsWith('inventory-') ? [['inventory', '-i', file], ['run', CONTROL, '-i', file]] : [['run', file, '-i', INVENTORY]];
  }
  return c;
}

const cases = readdirSync(CORPUS)
  .filter((f) => /\.ya?ml$/.test(f))
  .sort()
  .flatMap((f) => parseHeader(f) ?? []);

/** The loopback addresses and ports the shared inventory's hosts (and servers) would be reached at. */
function inventoryEndpoints(): Array<{ host: string; port: number }> {
  const inv = parse(readFileSync(join(CORPUS, INVENTORY), 'utf8')) as { all: { vars: Record<string, unknown>; children: Record<string, { hosts: Record<string, Record<string, unknown> | null> }> } };
  const seen = new Map<string, { host: string; port: number }>();
  for (const group of Object.values(inv.all.children)) {
    for (const vars of Object.values(group.hosts)) {
      const all = { ...inv.all.vars, ...(vars ?? {}) };
      for (const [host, port] of [[all.ansible_host, all.ansible_port], [all.pg_address ?? all.ansible_host, all.pg_port]]) {
        seen.set(`${host}:${port}`, { host: String(host), port: Number(port) });
      }
    }
  }
  return [...seen.values()];
}

const servers: Server[] = [];
let connections = 0;
const results = new Map<string, CliResult[]>();
const validatedPlaybooks = cases.filter((c) => c.byDefault && !c.file.startsWith('inventory-'));
let validateAll: CliResult | undefined;

async function pool<T>(items: T[], limit: number, work: (item: T) => Promise<void>): Promise<void> {
  const queue = [...items];
  await Promise.all(Array.from({ length: limit }, async () => {
    for (let item = queue.shift(); item !== undefined; item = queue.shift()) await work(item);
  }));
}

before(async () => {
  for (const { host, port } of inventoryEndpoints()) {
    const server = createServer((socket) => {
      connections++;
      socket.destroy();
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', (err) => reject(new Error(`cannot listen on ${host}:${port} for the corpus inventory's hosts: ${err.message}`)));
      server.listen(port, host, resolve);
    });
    servers.push(server);
  }
  const runs = cases.flatMap((c) => c.commands.map((args, i) => ({ c, args, i })));
  const all = async () => {
    validateAll = await runCli(['validate', ...validatedPlaybooks.map((c) => c.file), '-i', INVENTORY], { cwd: CORPUS, timeoutMs: 30_000 });
  };
  await Promise.all([
    all(),
    pool(runs, CONCURRENCY - 1, async ({ c, args, i }) => {
      const r = await runCli(args, { cwd: CORPUS, timeoutMs: 30_000, env: SECRETS });
      const list = results.get(c.file) ?? [];
      list[i] = r;
      results.set(c.file, list);
    }),
  ]);
});

after(async () => {
  for (const s of servers) await new Promise((resolve) => s.close(resolve));
});

test('the corpus has at least 40 cases, each with an exit code and what it must print', () => {
  assert.ok(cases.length >= 40, `only ${cases.length} cases`);
  for (const c of cases) {
    assert.ok(c.exit === 4 || c.exit === 5, `${c.file}: expects exit ${c.exit}; a bad input exits 4, bad options 5`);
    assert.ok(c.exit === 5 ? c.option !== undefined && c.errors.length === 0 : c.errors.length > 0 && c.option === undefined, `${c.file}: exit 4 expects errors, exit 5 one option message`);
  }
});

function errorLine(e: ExpectedError): string {
  return `${e.file}:${e.line}:${e.col}: ${String(e.message)}`;
}

function matches(actual: string, e: ExpectedError): boolean {
  const prefix = `${e.file}:${e.line}:${e.col}: `;
  if (!actual.startsWith(prefix)) return false;
  const message = actual.slice(prefix.length);
  return typeof e.message === 'string' ? message === e.message : e.message.test(message);
}

for (const c of cases) {
  test(`${c.file}: ${c.option ?? c.errors.map((e) => String(e.message)).join(' | ')}`, () => {
    for (const [i, args] of c.commands.entries()) {
      const r = (results.get(c.file) ?? [])[i];
      const what = `pgplay ${args.join(' ')}\n--- stderr\n${r?.stderr}--- stdout\n${r?.stdout}`;
      assert.ok(r, `${what}: did not run`);
      assert.equal(r.code, c.exit, `exit code of ${what}`);
      assert.doesNotMatch(r.stderr, /^\s+at /m, `a stack trace from ${what}`);
      assert.doesNotMatch(r.stderr, /internal error/, what);
      assert.equal(r.stdout, '', `nothing on stdout (no run started) from ${what}`);
      const lines = r.stderr.split('\n').filter((l) => l !== '');
      if (c.exit === 5) {
        assert.deepEqual(lines, [`pgplay: ${c.option}`, "Run 'pgplay --help' for usage."], what);
        continue;
      }
      assertErrors(lines, c.errors, what);
    }
  });
}

/** Exactly one `FILE:LINE:COL: message` line per expected error, then the summary with their count. */
function assertErrors(lines: string[], expected: ExpectedError[], what: string): void {
  const n = expected.length;
  assert.equal(lines[lines.length - 1], `pgplay: ${n} error${n === 1 ? '' : 's'} found; nothing was run`, what);
  const unmatched = lines.slice(0, -1);
  for (const e of expected) {
    const k = unmatched.findIndex((l) => matches(l, e));
    assert.ok(k >= 0, `expected '${errorLine(e)}' from ${what}`);
    unmatched.splice(k, 1);
  }
  assert.deepEqual(unmatched, [], `lines no case header expects, from ${what}`);
}

test('validate of every playbook case at once reports every error of every file, and only those', () => {
  const r = validateAll;
  assert.ok(r, 'validate did not run');
  const what = `pgplay validate (${validatedPlaybooks.length} files)\n--- stderr\n${r.stderr}`;
  assert.equal(r.code, 4, what);
  assert.equal(r.stdout, '', what);
  assert.doesNotMatch(r.stderr, /^\s+at |internal error/m, what);
  assertErrors(r.stderr.split('\n').filter((l) => l !== ''), validatedPlaybooks.flatMap((c) => c.errors), what);
});

test('no case tried to connect to any host of the inventory', () => {
  assert.equal(connections, 0);
});

test('control: the same inventory with a valid playbook does reach the listener, so the count above means something', async () => {
  const r = await runCli(['run', CONTROL, '-i', INVENTORY], { cwd: CORPUS, timeoutMs: 60_000, env: SECRETS });
  assert.ok(connections > 0, `no connection seen; exit ${r.code}\n${r.stderr}${r.stdout}`);
  assert.notEqual(r.code, 0);
  assert.notEqual(r.code, 4, r.stderr);
});
