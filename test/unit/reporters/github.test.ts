import assert from 'node:assert/strict';
import { test } from 'node:test';
import { escapeData, escapeProperty, githubAnnotation } from '../../../src/reporters/github';

test('workflow command data escapes %, CR and LF, and nothing else', () => {
  assert.equal(escapeData('100% done\r\nnext: a,b'), '100%25 done%0D%0Anext: a,b');
});

test('workflow command properties also escape : and , (they separate properties)', () => {
  assert.equal(escapeProperty('dir,x/a:b%.yml'), 'dir%2Cx/a%3Ab%25.yml');
});

test('one diagnostic is one ::error line with file, line and col', () => {
  const line = githubAnnotation({ file: 'playbooks/site.yml', line: 5, col: 7, message: "unknown module 'ensure_rol' (did you mean 'ensure_role'?)\nsecond line" });
  assert.equal(line, "::error file=playbooks/site.yml,line=5,col=7::unknown module 'ensure_rol' (did you mean 'ensure_role'?)%0Asecond line");
  assert.doesNotMatch(line, /\n/);
});
