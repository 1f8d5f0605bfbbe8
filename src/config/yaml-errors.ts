// The YAML parser's errors said for people, each at the place the user has to change. After the first syntax
// error the parser's later complaints are echoes of it, so only that one is kept (PyYAML, hence Ansible, stops
// there too); duplicate keys are not syntax errors and are all reported.
import { isAlias, isCollection, isMap, isScalar, visit, type Document, type LineCounter, type Node, type YAMLError } from 'yaml';
import type { Diagnostic } from '../errors';
import { didYouMean } from './suggest';

interface Place {
  line: number;
  col: number;
}

export function yamlSyntaxDiagnostics(doc: Document, text: string, file: string, lines: LineCounter): Diagnostic[] {
  const here = (offset: number): Place => lines.linePos(offset);
  const duplicates = doc.errors.some((e) => e.code === 'DUPLICATE_KEY') ? duplicateKeys(doc, file, here) : [];
  const syntax = doc.errors.filter((e) => e.code !== 'DUPLICATE_KEY').sort((a, b) => a.pos[0] - b.pos[0]);
  const first = syntax[0];
  if (!first) return duplicates;
  const paired = first.code === 'BLOCK_AS_IMPLICIT_KEY' ? syntax.find((e) => e.code === 'MULTILINE_IMPLICIT_KEY' && e.pos[0] === first.pos[0]) : undefined;
  return [{ file, ...explain(paired ?? first, text, here) }, ...duplicates].sort((a, b) => a.line - b.line || a.col - b.col);
}

function explain(e: YAMLError, text: string, here: (offset: number) => Place): Place & { message: string } {
  const at = here(e.pos[0]);
  const raw = e.message.split('\n')[0].replace(/ at line \d+, column \d+:?$/, '');
  const lineStart = (line: number) => ({ line, col: firstNonSpace(text, line) });
  switch (e.code) {
    case 'TAB_AS_INDENT': {
      const others = text
        .split('\n')
        .map((l, i) => (i + 1 > at.line && /^[ ]*\t/.test(l) ? i + 1 : 0))
        .filter(Boolean);
      const also = others.length === 0 ? '' : ` (line${others.length > 1 ? 's' : ''} ${others.slice(0, 5).join(', ')}${others.length > 5 ? ', ...' : ''} too)`;
      return { ...at, message: `tabs are not allowed for indentation in YAML: indent with spaces${also}` };
    }
    case 'MULTIPLE_DOCS':
      return { ...at, message: "a second YAML document starts here: a file holds one document (remove this '---' line)" };
    case 'MULTILINE_IMPLICIT_KEY':
      // Text that starts its line and runs into the next: a key whose ':' is missing. Else a value continued by a line indented too deep.
      if (at.col === firstNonSpace(text, at.line)) return { ...at, message: "this key has no ':' after it, so YAML reads the next line as more of its text" };
      return { ...lineStart(here(e.pos[1]).line), message: "bad indentation: this line is deeper than the key above it, so YAML reads it as part of that key's value" };
    case 'BLOCK_AS_IMPLICIT_KEY':
      if (/block sequence/.test(raw)) return { ...lineStart(at.line), message: 'bad indentation: this list item does not line up with the items above it' };
      return { ...at, message: "a value without quotes cannot hold ': ' (it would start a mapping): put the value in quotes" };
    case 'MISSING_CHAR': {
      const quote = /closing (["'])quote/.exec(raw)?.[1];
      const opened = quote ? openingQuote(text, quote, at.line) : null;
      if (quote && opened) return { ...opened, message: `this quoted string is never closed: add the closing ${quote}` };
      break;
    }
    case 'BAD_INDENT': {
      if (/must start at the same column/.test(raw)) return { ...lineStart(at.line), message: 'bad indentation: this line does not line up with the lines above it at its level' };
      const flow = /^Flow (sequence|map) .* end with a (.)$/.exec(raw);
      if (flow) return unclosedFlow(text, e.pos[0], flow[1] === 'sequence' ? '[' : '{', here) ?? { ...at, message: `YAML: ${lower(raw)}` };
      break;
    }
  }
  return { ...at, message: `YAML: ${lower(raw)}` };
}

function lower(s: string): string {
  return `${s.charAt(0).toLowerCase()}${s.slice(1)}`;
}

function firstNonSpace(text: string, line: number): number {
  const l = text.split('\n')[line - 1] ?? '';
  return l.length - l.trimStart().length + 1;
}

/** The quote that starts a string never closed: the last line up to `beforeLine` with an odd number of them. */
function openingQuote(text: string, quote: string, beforeLine: number): Place | null {
  const lines = text.split('\n');
  for (let i = Math.min(beforeLine, lines.length) - 1; i >= 0; i--) {
    const line = lines[i];
    const count = line.split(quote).length - 1;
    if (count % 2 === 1) return { line: i + 1, col: line.lastIndexOf(quote) + 1 };
  }
  return null;
}

/** A [ or { the parser gave up on at `offset`: never closed, or closed after lines indented too little. */
function unclosedFlow(text: string, offset: number, open: '[' | '{', here: (offset: number) => Place): (Place & { message: string }) | null {
  const close = open === '[' ? ']' : '}';
  const kind = open === '[' ? 'list' : 'mapping';
  const stack: number[] = [];
  let quote: string | null = null;
  let found: number | null = null;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (i === offset) found = [...stack].reverse().find((s) => text[s] === open) ?? null;
    if (quote) {
      if (c === quote && !(quote === '"' && text[i - 1] === '\\')) quote = null;
    } else if (c === '"' || c === "'") {
      if (stack.length > 0 || /[\s:[{,-]/.test(text[i - 1] ?? ' ')) quote = c;
    } else if (c === '#' && /\s/.test(text[i - 1] ?? '\n')) {
      while (i < text.length && text[i] !== '\n') i++;
    } else if (c === '[' || c === '{') stack.push(i);
    else if ((c === ']' || c === '}') && stack.length > 0) {
      const start = stack.pop() as number;
      if (start === found) return { ...here(offset), message: `bad indentation: the lines inside this ${open} ${close} ${kind} must be indented deeper than its key` };
    }
  }
  if (found === null) return null;
  return { ...here(found), message: `this ${kind} is never closed: add '${close}'` };
}

/**
 * Every key written twice in one mapping, at the second, with the line of the first. Found from the tree: the
 * parser's own position is off when the first value is empty.
 */
function duplicateKeys(doc: Document, file: string, here: (offset: number) => Place): Diagnostic[] {
  const out: Diagnostic[] = [];
  visit(doc, {
    Map(_, map) {
      const first = new Map<string, number>();
      for (const pair of map.items) {
        const key = pair.key as Node | null;
        if (!key?.range || (isScalar(key) && typeof key.value === 'symbol')) continue;
        const name = keyName(key);
        const earlier = first.get(name);
        if (earlier === undefined) first.set(name, key.range[0]);
        else out.push({ file, ...here(key.range[0]), message: `duplicate key '${name}': a key may appear once in a mapping (first on line ${here(earlier).line})` });
      }
    },
  });
  return out;
}

function keyName(key: unknown): string {
  return isScalar(key) ? String(key.value) : String(key);
}

/** Errors building values from a valid syntax tree (aliases, merges), at the alias or merge they are about. */
export function yamlValueDiagnostic(doc: Document, err: unknown, file: string, here: (offset: number) => Place): Diagnostic {
  const raw = err instanceof Error ? err.message : String(err);
  const place = (node: Node | undefined | null): Place => (node?.range ? here(node.range[0]) : { line: 1, col: 1 });
  const anchors = new Set<string>();
  const aliases: Array<{ node: Node; source: string }> = [];
  const merges: Array<{ key: Node; value: Node | null }> = [];
  visit(doc, {
    Node(_, node) {
      if (node.anchor) anchors.add(node.anchor);
      if (isAlias(node)) aliases.push({ node, source: node.source });
    },
    Pair(_, pair) {
      if (isScalar(pair.key) && pair.key.source === '<<') merges.push({ key: pair.key, value: (pair.value as Node | null) ?? null });
    },
  });
  const unresolved = /^Unresolved alias.*: (.+)$/.exec(raw);
  if (unresolved) {
    const alias = aliases.find((a) => a.source === unresolved[1]);
    return { file, ...place(alias?.node), message: `alias *${unresolved[1]} refers to no anchor: define &${unresolved[1]} before it${didYouMean(unresolved[1], anchors)}` };
  }
  if (/^Merge sources/.test(raw)) {
    const resolve = (n: Node | null): Node | null => (n && isAlias(n) ? ((n.resolve(doc) as Node | undefined) ?? null) : n);
    const bad = merges.find((m) => {
      const v = resolve(m.value);
      return !(isMap(v) || (isCollection(v) && !isMap(v) && v.items.every((i) => isMap(resolve(i as Node)))));
    });
    return { file, ...place(bad?.value ?? bad?.key), message: 'a merge (<<) takes a mapping, or a list of mappings, to merge into this one' };
  }
  if (/Excessive alias count/.test(raw)) {
    // Such a bomb is built from aliases of collections that hold aliases: point at the first of those.
    const holdsAlias = (n: Node | null): boolean => {
      let found = false;
      if (n) visit(n as never, { Alias: () => ((found = true), visit.BREAK) });
      return found;
    };
    const nested = aliases.find((a) => holdsAlias((a.node as unknown as { resolve(d: Document): Node | undefined }).resolve(doc) ?? null)) ?? aliases[0];
    return { file, ...place(nested?.node), message: 'these nested YAML aliases expand to too many values: nest aliases less deeply, or write the values out' };
  }
  return { file, line: 1, col: 1, message: `YAML: ${lower(raw)}` };
}
