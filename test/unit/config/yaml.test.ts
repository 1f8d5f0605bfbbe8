import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseYamlFile } from '../../../src/config/yaml';

test('positions of values and keys, 1-based', () => {
  const src = parseYamlFile('p.yml', '- name: x\n  tasks:\n    - command:\n        argv: [a, "b"]\n');
  assert.deepEqual(src.errors, []);
  assert.deepEqual(src.at([0, 'tasks', 0, 'command', 'argv', 1]), { file: 'p.yml', line: 4, col: 19 });
  assert.deepEqual(src.at([0, 'tasks', 0, 'command'], 'key'), { file: 'p.yml', line: 3, col: 7 });
  // A path that is not written falls back to the nearest ancestor that is.
  assert.deepEqual(src.at([0, 'tasks', 0, 'command', 'missing']), { file: 'p.yml', line: 4, col: 9 });
});

test('a column inside a one-line string, quoted or plain', () => {
  const src = parseYamlFile('p.yml', 'a: "x {{ y }}"\nb: x {{ y }}\nc: |\n  {{ y }}\n');
  assert.deepEqual(src.inString(['a'], 1, 5), { file: 'p.yml', line: 1, col: 10 });
  assert.deepEqual(src.inString(['b'], 1, 5), { file: 'p.yml', line: 2, col: 9 });
  // Block scalars: the start of the value.
  assert.deepEqual(src.inString(['c'], 1, 3), { file: 'p.yml', line: 3, col: 4 });
});

test('duplicate keys, tabs and unclosed quotes are errors with their place', () => {
  assert.deepEqual(parseYamlFile('d.yml', 'a: 1\nb: 2\na: 3\n').errors, [{ file: 'd.yml', line: 3, col: 1, message: "duplicate key 'a': a key may appear once in a mapping (first on line 1)" }]);
  const tabs = parseYamlFile('t.yml', 'a:\n\t- b\n').errors;
  assert.equal(tabs.length, 1);
  assert.deepEqual({ line: tabs[0].line, col: tabs[0].col }, { line: 2, col: 1 });
  assert.match(tabs[0].message, /tabs are not allowed/);
  const quote = parseYamlFile('q.yml', '- name: ok\n  vars:\n    a: "unclosed\n    b: 2\n').errors;
  assert.equal(quote.length, 1);
  assert.deepEqual({ line: quote[0].line, col: quote[0].col }, { line: 3, col: 8 });
  assert.match(quote[0].message, /never closed/);
});

test('YAML mistakes are reported once, where the change is needed', () => {
  const one = (text: string) => parseYamlFile('f.yml', text).errors.map((e) => `${e.line}:${e.col} ${e.message}`);
  assert.deepEqual(one('- hosts: all\n   tasks:\n    - x\n'), ["2:4 bad indentation: this line is deeper than the key above it, so YAML reads it as part of that key's value"]);
  assert.deepEqual(one('- hosts: all\n  tasks\n    - x: 1\n'), ["2:3 this key has no ':' after it, so YAML reads the next line as more of its text"]);
  assert.deepEqual(one('a: [1, 2\nb: 3\n'), ["1:4 this list is never closed: add ']'"]);
  assert.deepEqual(one('a: [x,\ny]\n'), ['2:1 bad indentation: the lines inside this [ ] list must be indented deeper than its key']);
  assert.deepEqual(one('- name: Replication: primary\n'), ["1:9 a value without quotes cannot hold ': ' (it would start a mapping): put the value in quotes"]);
  assert.deepEqual(one('a: 1\n---\nb: 2\n'), ["2:1 a second YAML document starts here: a file holds one document (remove this '---' line)"]);
  assert.deepEqual(one('a:\n\t- b\n\t- c\n'), ['2:1 tabs are not allowed for indentation in YAML: indent with spaces (line 3 too)']);
});

test('aliases and merges that cannot be built point at the alias', () => {
  const one = (text: string) => parseYamlFile('f.yml', text).errors.map((e) => `${e.line}:${e.col} ${e.message}`);
  assert.deepEqual(one('base: &base {a: 1}\nx: *bsae\n'), ["2:4 alias *bsae refers to no anchor: define &bsae before it (did you mean 'base'?)"]);
  assert.deepEqual(one('l: &l [1]\nm:\n  <<: *l\n'), ['3:7 a merge (<<) takes a mapping, or a list of mappings, to merge into this one']);
});

test('a duplicate key whose first value is empty is still reported at the second key', () => {
  assert.deepEqual(parseYamlFile('d.yml', 'hosts:\n  pg1:\n  pg2:\n  pg1:\n').errors, [{ file: 'd.yml', line: 4, col: 3, message: "duplicate key 'pg1': a key may appear once in a mapping (first on line 2)" }]);
});
