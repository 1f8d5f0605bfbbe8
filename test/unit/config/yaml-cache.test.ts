// Parsed YAML files kept between runs (src/config/yaml-cache.ts): the same answers as a parse, without parsing.
import assert from 'node:assert/strict';
import { chmodSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, it } from 'node:test';
import { keepParsedYaml, saveParsedYaml, yamlTextsParsed } from '../../../src/config/yaml-cache';
import { parseYamlFile } from '../../../src/config/yaml';
import { loadInventory } from '../../../src/config/inventory';

const INVENTORY = `all:
  vars:
    ansible_user: root
    pg_version: 15
    banner: "quoted {{ pg_version }}"
  children:
    primary:
      hosts:
        pg1: { ansible_host: 10.0.0.11 }
    replicas:
      hosts:
        pg2: { ansible_host: 10.0.0.12, pg_port: 5433 }
        pg3:
          ansible_host: 10.0.0.13
          note: |
            two
            lines
`;

describe('parsed YAML kept between runs', () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'pgplay-yaml-cache-'));
    keepParsedYaml(join(dir, 'pgplay'));
  });
  afterEach(() => {
    saveParsedYaml();
    keepParsedYaml(null);
    rmSync(dir, { recursive: true, force: true });
  });
  const files = () => readdirSync(join(dir, 'pgplay')).filter((f) => f.startsWith('yaml-'));

  it('a run after the first parses nothing: the same value and places, from the cache', () => {
    const fresh = parseYamlFile('inventory.yml', INVENTORY);
    const places = [fresh.at(['all', 'vars', 'banner']), fresh.at(['all', 'children', 'replicas'], 'key'), fresh.textAt(['all', 'vars', 'banner']), fresh.textAt(['all', 'children', 'replicas', 'hosts', 'pg3', 'note']), fresh.inString(['all', 'vars', 'banner'], 1, 7)];
    saveParsedYaml();
    assert.equal(files().length, 1);
    const before = yamlTextsParsed();
    const kept = parseYamlFile('elsewhere/inventory.yml', INVENTORY);
    assert.deepEqual(kept.value, fresh.value);
    assert.deepEqual(kept.errors, []);
    const keptPlaces = [kept.at(['all', 'vars', 'banner']), kept.at(['all', 'children', 'replicas'], 'key'), kept.textAt(['all', 'vars', 'banner']), kept.textAt(['all', 'children', 'replicas', 'hosts', 'pg3', 'note']), kept.inString(['all', 'vars', 'banner'], 1, 7)];
    assert.deepEqual(keptPlaces, places.map((p) => (p ? { ...p, file: 'elsewhere/inventory.yml' } : p)), 'the same places, in the file named now');
    assert.equal(places[3], null, 'a string on several lines has no single text start: kept as that');
    assert.equal(yamlTextsParsed(), before, 'nothing parsed');
    // A place no run asked for yet: parsed now, the parser's answer, and kept for the next run.
    const other = kept.at(['all', 'children', 'replicas', 'hosts', 'pg2', 'pg_port']);
    assert.equal(yamlTextsParsed(), before + 1);
    assert.deepEqual(other, { file: 'elsewhere/inventory.yml', line: 12, col: 50 });
    saveParsedYaml();
    assert.deepEqual(parseYamlFile('inventory.yml', INVENTORY).at(['all', 'children', 'replicas', 'hosts', 'pg2', 'pg_port']), { file: 'inventory.yml', line: 12, col: 50 });
    assert.equal(yamlTextsParsed(), before + 1, 'the next run has it');
  });

  it('a whole inventory loads the same from the cache, every variable with its place', () => {
    const file = join(dir, 'hosts.yml');
    writeFileSync(file, INVENTORY);
    const first = loadInventory(file);
    assert.deepEqual(first.errors, []);
    assert.equal(first.value?.hosts.size, 3);
    saveParsedYaml();
    const before = yamlTextsParsed();
    const second = loadInventory(file);
    assert.equal(yamlTextsParsed(), before);
    assert.deepEqual(second, first);
  });

  it('an edited text is another entry; what a run does to its value is not kept', () => {
    const first = parseYamlFile('p.yml', 'a: [1, 2]\n');
    (first.value as { a: number[] }).a.push(3);
    saveParsedYaml();
    assert.deepEqual(parseYamlFile('p.yml', 'a: [1, 2]\n').value, { a: [1, 2] });
    const before = yamlTextsParsed();
    assert.deepEqual(parseYamlFile('p.yml', 'a: [1, 2, 3]\n').value, { a: [1, 2, 3] });
    assert.equal(yamlTextsParsed(), before + 1);
    saveParsedYaml();
    assert.equal(files().length, 2);
  });

  it('keeps no text with errors, and no value beyond plain data (timestamps, sets, binary)', () => {
    const broken = parseYamlFile('p.yml', 'a: [1, 2\n');
    assert.ok(broken.errors.length > 0);
    parseYamlFile('p.yml', 'when: 2001-12-14t21:59:43.10-05:00\n');
    parseYamlFile('p.yml', 'set: !!set { a, b }\n');
    parseYamlFile('p.yml', 'bin: !!binary aGVsbG8=\n');
    saveParsedYaml();
    assert.deepEqual(readdirSync(dir).filter((f) => f !== 'hosts.yml'), [], 'nothing written');
    const before = yamlTextsParsed();
    assert.ok(parseYamlFile('p.yml', 'a: [1, 2\n').errors.length > 0, 'the error again, from a parse');
    assert.ok(parseYamlFile('p.yml', 'when: 2001-12-14t21:59:43.10-05:00\n').value instanceof Object);
    assert.equal(yamlTextsParsed(), before + 2);
  });

  it('reads no cache file another user could have written', () => {
    parseYamlFile('p.yml', 'a: 1\n');
    saveParsedYaml();
    chmodSync(join(dir, 'pgplay', files()[0]), 0o666);
    const before = yamlTextsParsed();
    assert.deepEqual(parseYamlFile('p.yml', 'a: 1\n').value, { a: 1 });
    assert.equal(yamlTextsParsed(), before + 1, 'parsed: the file others may write is not read');
  });

  it('parses every time when not asked to keep (every command but run and status)', () => {
    keepParsedYaml(null);
    parseYamlFile('p.yml', 'a: 1\n');
    const before = yamlTextsParsed();
    parseYamlFile('p.yml', 'a: 1\n');
    assert.equal(yamlTextsParsed(), before + 1);
  });
});
