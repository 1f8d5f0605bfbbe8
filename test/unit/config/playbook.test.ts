import assert from 'node:assert/strict';
import { mkdtempSync, mkdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { parseInventory } from '../../../src/config/inventory';
import { loadPlaybook, parsePlaybook } from '../../../src/config/playbook';
import type { Inventory } from '../../../src/config/types';

const inventory = parseInventory(
  'inv.yml',
  'all:\n  vars:\n    pg_port: 5432\n  children:\n    primary:\n      hosts:\n        pg1: {pg_address: 10.0.0.11}\n    replicas:\n      hosts:\n        pg2: {pg_address: 10.0.0.12}\n',
).value as Inventory;

function errors(text: string, withInventory = true, extraVars: Record<string, unknown> = {}): string[] {
  return parsePlaybook('p.yml', text, { inventory: withInventory ? inventory : undefined, extraVars }).errors.map((e) => `${e.file}:${e.line}:${e.col}: ${e.message}`);
}

test('a valid playbook becomes plays, tasks and handlers with their places', () => {
  const r = parsePlaybook(
    'p.yml',
    `- name: primary
  hosts: primary
  tasks:
    - name: settings
      ensure_conf:
        settings: {wal_level: replica}
      notify: {restart: restart pg}
      tags: conf
    - command: {argv: [echo, "{{ item }}"]}
      loop: "{{ groups.replicas }}"
      register: echoed
      when: "gt (length groups.replicas) 0"
  handlers:
    - name: restart pg
      listen: [restarts]
      service: {state: restarted}
`,
    { inventory, extraVars: {} },
  );
  assert.deepEqual(r.errors, []);
  const play = r.value!.plays[0];
  assert.equal(play.hosts, 'primary');
  assert.deepEqual(play.tasks.map((t) => [t.name, t.module, t.tags, t.source.line]), [
    ['settings', 'ensure_conf', ['conf'], 4],
    ['command', 'command', [], 9],
  ]);
  assert.deepEqual(play.tasks[0].notify, { restart: 'restart pg' });
  assert.deepEqual(play.tasks[0].argSources['/settings'], { file: 'p.yml', line: 6, col: 19 });
  assert.equal(play.tasks[1].register, 'echoed');
  assert.deepEqual(play.handlers[0].listen, ['restarts']);
});

test('misspelt module and keyword, two modules, no module: one message each, with a hint', () => {
  assert.deepEqual(
    errors(`- hosts: all
  tasks:
    - name: a
      ensure_rol: {name: x}
    - name: b
      command: {argv: ["true"]}
      template: {src: a, dest: b}
    - name: c
    - name: d
      command: {argv: ["true"]}
      notfy: x
`),
    [
      "p.yml:4:7: unknown module 'ensure_rol' (did you mean 'ensure_role'?)",
      "p.yml:5:7: task 'b' has more than one module (command, template): a task runs exactly one, split it in two",
      "p.yml:8:7: task 'c' has no module: add one of ensure_conf, ensure_role, ensure_hba_line, basebackup, service, replication_slot, tls_certificate, synchronous_replication, assert_streaming, assert_primary, grant_rewind, promote, rejoin, drop_slots, template, command, assert, package, ensure_cluster, firewall",
      "p.yml:11:7: unknown task keyword 'notfy' (did you mean 'notify'?)",
    ],
  );
});

test('argument errors name the module, the argument and what was expected', () => {
  assert.deepEqual(
    errors(`- hosts: all
  tasks:
    - ensure_role: {nme: x}
    - service: {state: strated}
    - ensure_hba_line: {type: host, database: replication, user: r, address: 10.0.0.300/32, method: scram-sha-256}
    - ensure_conf: {settings: []}
    - ensure_role: {name: r, connection_limit: "{{ limit }}"}
`, true, { limit: 3 }),
    [
      "p.yml:3:21: ensure_role has no argument 'nme' (did you mean 'name'?); its arguments are name, password, login, replication, superuser, createdb, createrole, connection_limit, state",
      'p.yml:4:24: service.state must be one of started, stopped, restarted, reloaded, got the string "strated" (did you mean \'started\'?)',
      'p.yml:5:78: ensure_hba_line: address 10.0.0.300/32 is not a valid CIDR network (like 10.0.0.0/24)',
      'p.yml:6:31: ensure_conf.settings must be a mapping, got a list',
    ],
  );
});

test('undefined variables and unknown helpers are found before the run, with a hint', () => {
  assert.deepEqual(
    errors(`- hosts: replicas
  vars:
    port: 5432
  tasks:
    - command: {argv: ["echo", "{{ pg_adress }} {{ jion groups.replicas }}"]}
      when: "eq prot 1"
    - command: {argv: ["echo", "{{ item }}"]}
`),
    [
      "p.yml:5:36: undefined variable 'pg_adress' (did you mean 'pg_address'?)",
      "p.yml:5:52: unknown helper 'jion' (did you mean 'join'?)",
      "p.yml:6:17: undefined variable 'prot' (did you mean 'port'?)",
      "p.yml:7:36: undefined variable 'item'",
    ],
  );
  // Without an inventory the variables cannot be known, so only syntax and helpers are checked.
  assert.deepEqual(errors('- hosts: replicas\n  tasks:\n    - command: {argv: ["{{ pg_adress }"]}\n', false), [
    "p.yml:3:38: template syntax error: '{{' is not closed by '}}' (found a character that cannot appear here)",
  ]);
});

test('host patterns, handlers, loops and registered names are checked for meaning', () => {
  assert.deepEqual(
    errors(`- hosts: replica
  tasks: []
- hosts: all:!pg1:!pg2
  tasks: []
- hosts: primary
  vars:
    one: pg2
  tasks:
    - command: {argv: ["true"]}
      notify: restart postgres
    - command: {argv: ["{{ item }}"]}
      loop: "{{ one }}"
    - command: {argv: ["true"]}
      register: groups
  handlers:
    - name: restart postgresql
      service: {state: restarted}
`),
    [
      "p.yml:1:10: host pattern 'replica': no host or group named 'replica' (did you mean 'replicas'?)",
      "p.yml:3:10: host pattern 'all:!pg1:!pg2' matches no host",
      "p.yml:10:15: handler 'restart postgres' is notified but not defined in this play (did you mean 'restart postgresql'?)",
      'p.yml:12:13: loop must be a list, but {{ one }} gives a string ("pg2")',
      "p.yml:14:17: 'groups' is a name pgplay gives its own meaning: register under another name",
    ],
  );
});

test('an empty playbook, a mapping instead of a list, a play without hosts', () => {
  assert.deepEqual(errors(''), ['p.yml:1:1: the playbook is empty: expected a list of plays, each with hosts and tasks']);
  assert.deepEqual(errors('hosts: all\n'), ["p.yml:1:1: the playbook must be a list of plays, got a mapping (a play starts with '- ', as in '- hosts: all')"]);
  assert.deepEqual(errors('- tasks: []\n'), ["p.yml:1:3: play 1 needs 'hosts'"]);
});

test('a template file with a syntax error is reported at its own file:line:col', () => {
  const dir = mkdtempSync(join(tmpdir(), 'pgplay-pb-'));
  mkdirSync(join(dir, 'templates'));
  writeFileSync(join(dir, 'templates', 'bad.conf.hbs'), 'a = 1\nb = {{#if x}}y\n');
  writeFileSync(join(dir, 'site.yml'), '- hosts: all\n  tasks:\n    - template: {src: bad.conf.hbs, dest: /tmp/x}\n    - template: {src: missing.hbs, dest: /tmp/y}\n');
  const r = loadPlaybook(join(dir, 'site.yml'), { inventory, extraVars: {} });
  assert.deepEqual(
    r.errors.map((e) => `${e.file.replace(dir, 'DIR')}:${e.line}:${e.col}: ${e.message}`),
    [
      "DIR/site.yml:4:23: template missing.hbs not found beside the playbook, in its templates/ or in the project's templates/",
      'DIR/templates/bad.conf.hbs:2:5: template syntax error: {{#if}} is never closed: add {{/if}}',
    ],
  );
});

test('a when or assert condition with text outside {{ }} is an error with the form to write, not always true', () => {
  assert.deepEqual(
    errors(`- hosts: replicas
  vars:
    a: true
    x: true
    z: false
    role: replica
  tasks:
    - command: {argv: ["true"]}
      when: "{{ a }} == false"
    - command: {argv: ["true"]}
      when: ["{{ x }} and {{ z }}"]
    - assert:
        that: "'primary' == {{ role }}"
    - assert:
        that: ["{{ x }}{{ z }}", "not {{ a }}", "{{ eq role 'x' }} or maybe"]
    - command: {argv: ["echo {{ a }} == false"]}
      when: "{{ a }}"
`),
    [
      "p.yml:9:22: a condition is one expression, but text \"== false\" outside {{ }} makes it text, which is always true: write eq a false",
      "p.yml:11:23: a condition is one expression, but text \"and\" outside {{ }} makes it text, which is always true: write and x z",
      "p.yml:13:16: a condition is one expression, but text \"'primary' ==\" outside {{ }} makes it text, which is always true: write eq 'primary' role",
      "p.yml:15:24: a condition is one expression, but two expressions side by side makes it text, which is always true: write the whole condition without braces, as one helper expression: eq a 'b', ne a 'b', and x y, or x y, not x",
      "p.yml:15:35: a condition is one expression, but text \"not\" outside {{ }} makes it text, which is always true: write not a",
      "p.yml:15:68: a condition is one expression, but text \"or maybe\" outside {{ }} makes it text, which is always true: write or (eq role 'x') 'maybe'",
    ],
  );
});

test('no_log is a task keyword (Ansible\'s name) and reaches the task', () => {
  const r = parsePlaybook('p.yml', '- hosts: replicas\n  tasks:\n    - command: {argv: ["true"]}\n      no_log: true\n    - command: {argv: ["true"]}\n', { inventory, extraVars: {} });
  assert.deepEqual(r.errors, []);
  assert.deepEqual(r.value?.plays[0].tasks.map((t) => t.noLog), [true, false]);
  assert.deepEqual(errors('- hosts: replicas\n  tasks:\n    - command: {argv: ["true"]}\n      no_log: yes please\n'), ['p.yml:4:15: no_log must be true or false, got the string "yes please"']);
});
