// YAML files with source positions: every later error can point at file:line:col.
// YAML 1.1, as Ansible (PyYAML) reads it: yes/no/on/off are booleans.
import { isAlias, isMap, isScalar, isSeq, LineCounter, parseDocument, Scalar, type Document, type Node } from 'yaml';
import type { Diagnostic } from '../errors';
import type { SourceRef } from './types';
import { cachedYamlSource } from './yaml-cache';
import { yamlSyntaxDiagnostics, yamlValueDiagnostic } from './yaml-errors';

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
  /** Where the text of the string at path starts, when it is written on one line (plain or quoted); else null. */
  textAt(path: YamlPath): SourceRef | null;
}

/** The YAML source of a file's text: parsed, or as the last run that parsed the same text left it (yaml-cache.ts). */
export function parseYamlFile(file: string, text: string): YamlSource {
  return cachedYamlSource(file, text, () => parseYamlText(file, text));
}

function parseYamlText(file: string, text: string): YamlSource {
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { lineCounter, version: '1.1', merge: true, prettyErrors: true, uniqueKeys: true, logLevel: 'error' });
  const here = (offset: number): SourceRef => {
    const p = lineCounter.linePos(offset);
    return { file, line: p.line, col: p.col };
  };
  const errors: Diagnostic[] = yamlSyntaxDiagnostics(doc, text, file, lineCounter);
  let value: unknown = null;
  // After a syntax error the value is a guess: nothing is built from it.
  if (errors.length === 0) {
    try {
      value = doc.toJS({ maxAliasCount: 1000 });
    } catch (err) {
      errors.push(yamlValueDiagnostic(doc, err, file, here));
    }
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
    textAt(path) {
      const node = locate(doc, path).node;
      if (!node?.range || !isScalar(node) || typeof node.value !== 'string') return null;
      const source = text.slice(node.range[0], node.range[1]);
      const quoted = node.type === Scalar.QUOTE_DOUBLE || node.type === Scalar.QUOTE_SINGLE;
      if (source.includes('\n') || !(quoted || node.type === Scalar.PLAIN)) return null;
      const start = here(node.range[0]);
      return { file, line: start.line, col: start.col + (quoted ? 1 : 0) };
    },
  };
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
