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
  assert.deepEqual(parseYamlFile('d.yml', 'a: 1\nb: 2\na: 3\n').errors, [{ file: 'd.yml', line: 3, col: 1, message: 'duplicate key: each key may appear once in a mapping' }]);
  const tabs = parseYamlFile('t.yml', 'a:\n\t- b\n').errors;
  assert.equal(tabs.length, 1);
  assert.deepEqual({ line: tabs[0].line, col: tabs[0].col }, { line: 2, col: 1 });
  assert.match(tabs[0].message, /tabs are not allowed/);
  const quote = parseYamlFile('q.yml', '- name: ok\n  vars:\n    a: "unclosed\n    b: 2\n').errors;
  assert.equal(quote.length, 1);
  assert.deepEqual({ line: quote[0].line, col: quote[0].col }, { line: 3, col: 8 });
  assert.match(quote[0].message, /never closed/);
});
