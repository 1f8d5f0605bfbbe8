import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseTemplate, TemplateError } from '../../../src/templates/expressions';

function problem(text: string): string {
  try {
    parseTemplate(text);
  } catch (err) {
    assert.ok(err instanceof TemplateError);
    return `${err.where?.line}:${err.where?.column} ${err.message.replace('template syntax error: ', '')}`;
  }
  return 'ok';
}

test('an unclosed block or parenthesis is reported where it opens', () => {
  assert.equal(problem('a = 1\n{{#if x}}\nb = 2\n'), '2:0 {{#if}} is never closed: add {{/if}}');
  assert.equal(problem("{{ eq (a 'b' }}"), "1:6 '(' is not closed by ')'");
  assert.equal(problem('{{#if x}}a\n  {{/each}}'), '2:2 {{/each}} does not close {{#if}} (opened on line 1)');
  assert.equal(problem('{{ a }} {{/if}}'), '1:8 {{/if}} closes no block');
});

test('Jinja habits are named, with what to write instead', () => {
  assert.equal(problem('{{ a == 1 }}'), "1:5 '==' is Jinja: compare with a helper, as in eq a b (ne for !=)");
  assert.equal(problem("{{ x | default('y') }}"), "1:5 filters (|) are Jinja: use a helper, as in default x 'y' or join list ','");
  assert.equal(problem("{{ groups['replicas'] }}"), "1:3 write groups.replicas, not groups['replicas'] (and a list item as .[0])");
  assert.equal(problem('{{ x.0 }}'), '1:5 a list index is written .[0], not .0');
});
