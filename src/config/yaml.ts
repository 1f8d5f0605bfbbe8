// YAML files with source positions: every later error can point at file:line:col.
// YAML 1.1, as Ansible (PyYAML) reads it: yes/no/on/off are booleans.
import { isAlias, isMap, isScalar, isSeq, LineCounter, parseDocument, Scalar, type Document, type Node } from 'yaml';
import type { Diagnostic } from '../errors';
import type { SourceRef } from './types';

export type YamlPath = ReadonlyArray<string | number>;

export interface YamlSource {
  file: string;
  text: string;
  value: unknown;
  errors: Diagnostic[];
  /** Where the value at path is written (or its key, with 'key'); the nearest written ancestor when it is not. */
  at(path: YamlPath, which?: 'key' | 'value'): SourceRef;
  /** Where character `index` of the string scalar at path is, when it can be told exactly; else where the scalar starts. */
  inString(path: YamlPath, line: number, column: number): SourceRef;
}

export function parseYamlFile(file: string, text: string): YamlSource {
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { lineCounter, version: '1.1', merge: true, prettyErrors: true, uniqueKeys: true });
  const errors: Diagnostic[] = doc.errors.map((e) => {
    const pos = e.linePos?.[0] ?? { line: 1, col: 1 };
    const message = cleanMessage(e.code, e.message);
    if (e.code === 'MISSING_CHAR' && /quote/.test(e.message)) {
      const opened = openingQuote(text, e.message.includes("'") ? "'" : '"', pos.line);
      if (opened) return { file, line: opened.line, col: opened.col, message: `this quoted string is never closed (${message})` };
    }
    return { file, line: pos.line, col: pos.col, message };
  });
  const here = (offset: number): SourceRef => {
    const p = lineCounter.linePos(offset);
    return { file, line: p.line, col: p.col };
  };
  let value: unknown = null;
  try {
    value = doc.toJS({ maxAliasCount: 1000 });
  } catch (err) {
    errors.push({ file, line: 1, col: 1, message: err instanceof Error ? err.message : String(err) });
  }
  return {
    file,
    text,
    value,
    errors,
    at(path, which = 'value') {
      const found = locate(doc, path);
      const node = which === 'key' && found.key ? found.key : (found.node ?? found.key);
      return node?.range ? here(node.range[0]) : { file, line: 1, col: 1 };
    },
    inString(path, line, column) {
      const found = locate(doc, path);
      const node = found.node ?? found.key;
      if (!node?.range) return { file, line: 1, col: 1 };
      const start = here(node.range[0]);
      if (!isScalar(node) || line !== 1) return start;
      const source = text.slice(node.range[0], node.range[1]);
      const quoted = node.type === Scalar.QUOTE_DOUBLE || node.type === Scalar.QUOTE_SINGLE;
      if (source.includes('\n') || !(quoted || node.type === Scalar.PLAIN)) return start;
      return { file, line: start.line, col: start.col + (quoted ? 1 : 0) + column };
    },
  };
}

function cleanMessage(code: string, message: string): string {
  const first = message.split('\n')[0].replace(/ at line \d+, column \d+:?$/, '');
  if (code === 'DUPLICATE_KEY') return 'duplicate key: each key may appear once in a mapping';
  if (code === 'TAB_AS_INDENT') return 'tabs are not allowed for indentation in YAML: indent with spaces';
  return `YAML: ${first.charAt(0).toLowerCase()}${first.slice(1)}`;
}

/** The quote that starts a string never closed: the last line before `beforeLine` with an odd number of them. */
function openingQuote(text: string, quote: string, beforeLine: number): { line: number; col: number } | null {
  const lines = text.split('\n');
  for (let i = Math.min(beforeLine, lines.length) - 1; i >= 0; i--) {
    const line = lines[i];
    const count = line.split(quote).length - 1;
    if (count % 2 === 1) return { line: i + 1, col: line.lastIndexOf(quote) + 1 };
  }
  return null;
}

function locate(doc: Document, path: YamlPath): { node: Node | null; key: Node | null } {
  let node: Node | null = (doc.contents as Node | null) ?? null;
  let key: Node | null = null;
  let lastWritten: { node: Node | null; key: Node | null } = { node, key };
  for (const segment of path) {
    if (node && isAlias(node)) node = (node.resolve(doc) as Node | undefined) ?? null;
    if (node && isMap(node)) {
      const pair = node.items.find((p) => (isScalar(p.key) ? String(p.key.value) : String(p.key)) === String(segment));
      if (!pair) return lastWritten;
      key = (pair.key as Node | null) ?? null;
      node = (pair.value as Node | null) ?? null;
    } else if (node && isSeq(node) && typeof segment === 'number') {
      const item = node.items[segment] as Node | undefined;
      if (!item) return lastWritten;
      key = null;
      node = item;
    } else {
      return lastWritten;
    }
    lastWritten = { node, key };
  }
  return lastWritten;
}
