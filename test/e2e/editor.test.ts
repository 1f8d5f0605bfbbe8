// The shipped schemas in an editor: yaml-language-server (the engine of VS Code's YAML extension, Neovim's and
// Helix's YAML support) started over stdio as an editor starts it, and driven by LSP requests. The documents point
// at the schemas with the `# yaml-language-server: $schema=...` line the README shows.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { allModules } from '../../src/modules/registry';
import { ROOT, runCli } from '../helpers/cli';
import { YamlLanguageServer, type Diagnostic } from '../helpers/lsp';

const MODULES = allModules().map((m) => m.name);
// Documents the editor holds open; they are never written to disk (the path only places the schema line).
const PROBE = join(ROOT, 'playbooks', 'editor-probe.yml');
const HEADER = '# yaml-language-server: $schema=../schemas/playbook.schema.json\n- name: probe\n  hosts: all\n  tasks:\n';

let server: YamlLanguageServer;

before(async () => {
  server = new YamlLanguageServer();
  const init = await server.initialize(ROOT);
  assert.match(init.serverInfo?.version ?? '', /^1\./, 'yaml-language-server 1.x');
});

after(async () => {
  await server?.close();
});

const show = (ds: Diagnostic[]) => ds.map((d) => `${d.range.start.line + 1}:${d.range.start.character + 1} ${d.message}`).join('\n');

/** The diagnostics of a probe playbook whose tasks are `tasks` (indented as list items of `tasks:`). */
async function diagnose(tasks: string): Promise<Diagnostic[]> {
  return server.open(PROBE, HEADER + tasks);
}

const at = (ds: Diagnostic[], line: number) => ds.filter((d) => d.range.start.line === line - 1);

test('the shipped playbooks and the example inventory have no diagnostics', async () => {
  const files = [...readdirSync(join(ROOT, 'playbooks')).filter((f) => f.endsWith('.yml')).map((f) => join(ROOT, 'playbooks', f)), join(ROOT, 'inventory.example.yml')];
  assert.ok(files.length >= 3, files.join(' '));
  for (const file of files) {
    const ds = await server.open(file);
    assert.deepEqual(ds, [], `${file}:\n${show(ds)}`);
  }
});

test('a project written by pgplay init has no diagnostics, and its group_vars are checked too', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'pgplay-editor-'));
  try {
    const r = await runCli(['init', dir, '--primary', 'pg1=10.0.0.11', '--replica', 'pg2=10.0.0.12']);
    assert.equal(r.code, 0, r.stderr);
    for (const f of ['site.yml', 'inventory.yml', 'group_vars/all.yml']) {
      const ds = await server.open(join(dir, f));
      assert.deepEqual(ds, [], `${f}:\n${show(ds)}`);
    }
    const vars = await server.open(join(dir, 'group_vars', 'all.yml'), `${readFileSync(join(dir, 'group_vars', 'all.yml'), 'utf8')}ssh_port: many\n`);
    assert.match(show(vars), /Incorrect type\. Expected "integer"/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('the example inventory is really checked: a wrong value in it is reported', async () => {
  const ds = await server.open(join(ROOT, 'inventory-probe.yml'), '# yaml-language-server: $schema=schemas/inventory.schema.json\nall:\n  vars:\n    become_method: sudoo\n');
  assert.equal(ds.length, 1, show(ds));
  assert.match(ds[0].message, /Valid values: "sudo", "su"/);
});

test('a misspelt module: the key is not a module or keyword, and the task lists the modules it needs one of', async () => {
  const ds = await diagnose('    - name: settings\n      ensure_conff:\n        settings: {wal_level: replica}\n');
  assert.equal(ds.length, 2, show(ds));
  const [key] = at(ds, 6);
  assert.equal(key.range.start.character, 6);
  assert.equal(key.range.end.character, 6 + 'ensure_conff'.length);
  assert.equal(key.message, `Not a module or task keyword. Modules: ${MODULES.join(', ')}. Keywords: name, when, notify, tags, register, loop, retries, delay, ignore_errors, no_log.`);
  const [task] = at(ds, 5);
  assert.equal(task.message, `A task needs exactly one module, one of: ${MODULES.join(', ')}.`);
  assert.doesNotMatch(show(ds), /Missing property/);
});

test('a task without a module says so and lists the modules', async () => {
  const ds = await diagnose('    - name: nothing\n      tags: [conf]\n');
  assert.deepEqual(ds.map((d) => d.message), [`A task needs exactly one module, one of: ${MODULES.join(', ')}.`]);
});

test('two modules in one task name both', async () => {
  const ds = await diagnose('    - name: two\n      ensure_conf:\n        settings: {wal_level: replica}\n      service:\n        state: restarted\n');
  assert.deepEqual(show(ds), '8:7 Two modules in one task, ensure_conf and service: a task runs exactly one module, split it in two.');
  const handler = await server.open(PROBE, `${HEADER}    - name: ok\n      service: {state: started}\n  handlers:\n    - name: h\n      service: {state: restarted}\n      command: {argv: [true]}\n`);
  assert.match(show(handler), /Two modules in one handler, service and command: a handler runs exactly one module/);
});

test('arguments of which a module takes exactly one say so: command takes argv or cmd', async () => {
  const ds = await diagnose('    - name: both\n      command:\n        argv: [a]\n        cmd: a\n    - name: neither\n      command:\n        chdir: /tmp\n');
  assert.equal(show(ds), '8:9 command takes argv or cmd, not both.\n10:7 command needs argv or cmd.');
});

test('a wrong enum value lists the allowed values, at the value', async () => {
  const ds = await diagnose('    - name: start\n      service:\n        state: startd\n');
  assert.equal(ds.length, 1, show(ds));
  assert.equal(ds[0].message, 'Value is not accepted. Valid values: "started", "stopped", "restarted", "reloaded".');
  assert.deepEqual(ds[0].range.start, { line: 6, character: 15 });
});

test('the module names are offered at the module position of a task, each with its documentation', async () => {
  await diagnose('    - name: conf\n      \n');
  const items = await server.completion(PROBE, { line: 5, character: 6 });
  const labels = items.map((i) => i.label);
  for (const m of MODULES) assert.ok(labels.includes(m), `${m} offered: ${labels.join(', ')}`);
  const ensureConf = items.find((i) => i.label === 'ensure_conf');
  const insert = ensureConf?.insertText ?? ensureConf?.textEdit?.newText ?? '';
  assert.match(insert, /settings:/);
  assert.doesNotMatch(insert, /file|postgresql\.auto\.conf/, 'an optional argument with a default is not written into the snippet');
  const doc = ensureConf?.documentation;
  assert.ok(doc && typeof doc === 'object' && doc.kind === 'markdown', 'markdown documentation');
  assert.match(doc.value, /\(or `file`\)/, 'code marks are markdown, not escaped text');
});

test('the hover of a module names it and describes it', async () => {
  await diagnose('    - name: start\n      service:\n        state: started\n    - name: settings\n      ensure_conf:\n        settings: {wal_level: replica}\n');
  const service = await server.hover(PROBE, { line: 5, character: 8 });
  assert.match(service, /^#### service\n\nControl the server\./);
  const ensureConf = await server.hover(PROBE, { line: 8, character: 8 });
  assert.match(ensureConf, /^#### ensure\\?_conf\n/);
  assert.doesNotMatch(ensureConf, /pgplay playbook/);
  assert.match(ensureConf, /\(or `file`\)/);
});
