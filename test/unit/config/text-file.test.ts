import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { readTextFile } from '../../../src/config/text-file';

const dir = mkdtempSync(join(tmpdir(), 'pgplay-text-'));
const write = (name: string, bytes: Buffer | string) => {
  writeFileSync(join(dir, name), bytes);
  return join(dir, name);
};

test('UTF-8 text is read as it is, a byte-order mark dropped', () => {
  assert.deepEqual(readTextFile(write('ok.yml', 'a: "grüße"\n'), 'playbook'), { text: 'a: "grüße"\n', error: null });
  assert.equal(readTextFile(write('bom.yml', Buffer.from('\ufeffa: 1\n')), 'playbook').text, 'a: 1\n');
});

test('a byte that is not UTF-8 is reported at its line and column', () => {
  const file = write('latin1.yml', Buffer.from('a: 1\nb: "gr\xfc\xdfe"\n', 'latin1'));
  assert.deepEqual(readTextFile(file, 'playbook').error, { file, line: 2, col: 7, message: 'this is not UTF-8 text (byte 0xfc): save the file as UTF-8' });
});

test('binary data and control characters are not text', () => {
  const bin = write('x.gz', Buffer.from([0x23, 0x0a, 0x1f, 0x8b, 0x08, 0x00, 0x00]));
  assert.deepEqual(readTextFile(bin, 'playbook').error, { file: bin, line: 2, col: 1, message: 'this file holds binary data (byte 0x1f), not text' });
  const bell = write('bell.yml', 'a: "\x07"\n');
  assert.equal(readTextFile(bell, 'playbook').error?.message, 'control character 0x07 is not allowed in a text file');
});

test('a file that is not there, or a directory, says so', () => {
  assert.equal(readTextFile(join(dir, 'missing.yml'), 'inventory').error?.message, 'inventory file not found');
  assert.equal(readTextFile(dir, 'playbook').error?.message, 'this is a directory, not a playbook file');
});
