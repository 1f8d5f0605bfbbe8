// Ansible's INI inventory (plugins/inventory/ini.py), which no INI library reads: host lines are a host pattern
// followed by key=value words split like a shell line, [group:vars] lines are key = value, values are typed as
// Python literals, and [group:children] names groups. Every error is at its line and column.
import type { SourceRef, VarSource } from './types';
import { expandHostRange, HostRangeError, splitHostPort } from './host-ranges';
import type { InventoryBuilder } from './inventory-builder';
import { pythonLiteral } from './python-literal';
import { ShellWordsError, splitWords } from './shell-words';

type Section = { kind: 'hosts' | 'vars' | 'children'; group: string };

const SECTION = /^\[([^:\]\s]+)(?::(\w+))?\]\s*(?:[#;].*)?$/;
const GROUP_NAME = /^([^:\]\s]+)\s*(?:[#;].*)?$/;

/** Read one INI inventory file into the builder; problems go to builder.errors. */
export function readIniInventory(file: string, text: string, b: InventoryBuilder): void {
  let section: Section = { kind: 'hosts', group: 'ungrouped' };
  // [group:vars] may come before the group is declared, but the group must be declared somewhere in the file.
  const varsOnly = new Map<string, SourceRef>();
  const declared = new Set<string>(['all', 'ungrouped']);
  const lines = text.split('\n');
  for (const [index, rawLine] of lines.entries()) {
    const raw = rawLine.replace(/\r$/, '');
    const indent = raw.length - raw.trimStart().length;
    const line = raw.trim();
    if (line === '' || line.startsWith('#') || line.startsWith(';')) continue;
    const at = (offset = 0): SourceRef => ({ file, line: index + 1, col: indent + offset + 1 });
    if (line.startsWith('[')) {
      const m = SECTION.exec(line);
      if (!m) {
        b.error(at(), `'${line}' is not a section header: write [group], [group:vars] or [group:children], with no spaces`);
        section = { kind: 'hosts', group: '\0skip' };
        continue;
      }
      const [, group, kind = 'hosts'] = m;
      if (kind !== 'hosts' && kind !== 'vars' && kind !== 'children') {
        b.error(at(group.length + 2), `section [${group}:${kind}] has an unknown type '${kind}': expected [${group}], [${group}:vars] or [${group}:children]`);
        section = { kind: 'hosts', group: '\0skip' };
        continue;
      }
      if (kind === 'vars') {
        if (!varsOnly.has(group)) varsOnly.set(group, at(1));
      } else declared.add(group);
      b.group(group, at(1));
      section = { kind, group };
      continue;
    }
    if (section.group === '\0skip') continue;
    if (section.kind === 'hosts') hostLine(raw, index + 1, file, section.group, b);
    else if (section.kind === 'vars') varLine(line, at, section.group, b);
    else {
      const m = GROUP_NAME.exec(line);
      if (!m) b.error(at(), `expected a group name in [${section.group}:children], got '${line}'`);
      else {
        b.child(section.group, m[1], at());
        declared.add(m[1]);
      }
    }
  }
  for (const [group, where] of varsOnly) {
    if (!declared.has(group)) b.error(where, `[${group}:vars] is for a group this file never declares: add a [${group}] or [${group}:children] section`);
  }
}

/** `pg1 ansible_host=10.0.0.1 pg_port=5433`, or a range `pg[01:03]`, or `host:2222`. */
function hostLine(raw: string, lineNo: number, file: string, group: string, b: InventoryBuilder): void {
  const at = (offset: number): SourceRef => ({ file, line: lineNo, col: offset + 1 });
  let words;
  try {
    words = splitWords(raw, { comments: true });
  } catch (err) {
    if (!(err instanceof ShellWordsError)) throw err;
    b.error(at(err.offset), `cannot read this host line: ${err.message}`);
    return;
  }
  if (words.length === 0) return;
  const [first, ...rest] = words;
  let hosts: string[];
  let port: number | undefined;
  try {
    const split = splitHostPort(first.text);
    port = split.port;
    hosts = expandHostRange(split.host);
  } catch (err) {
    if (!(err instanceof HostRangeError)) throw err;
    b.error(at(first.start + err.offset), `host ${first.text}: ${err.message}`);
    return;
  }
  const vars: Array<{ key: string; value: unknown; source: VarSource }> = [];
  for (const w of rest) {
    const eq = w.text.indexOf('=');
    if (eq <= 0) {
      const hint = first.text.endsWith(':') ? ' (a YAML inventory needs a .yml name and a mapping under all:)' : '';
      b.error(at(w.start), `expected key=value after the host name, got '${w.text}'${hint}`);
      return;
    }
    const key = w.text.slice(0, eq);
    const text = w.text.slice(eq + 1);
    // The value's text starts right after '=' when the word has no quotes or escapes before it.
    const rawEq = w.raw.indexOf('=');
    const plain = w.raw.slice(0, rawEq) === key;
    const valueAt = plain ? w.start + rawEq + 1 : w.start;
    const opensQuote = plain && /^["']/.test(w.raw.slice(rawEq + 1)) && w.raw.endsWith(w.raw[rawEq + 1]) && !w.raw.slice(rawEq + 2, -1).includes('\\');
    const exact = plain && (w.raw.slice(rawEq + 1) === text || opensQuote);
    vars.push({ key, value: typed(text), source: { ...at(valueAt), ...(exact ? { textCol: valueAt + (opensQuote ? 2 : 1) } : {}) } });
  }
  for (const host of hosts) {
    b.host(group, host, at(first.start));
    if (port !== undefined) b.hostVar(host, 'ansible_port', port, at(first.start));
    for (const v of vars) b.hostVar(host, v.key, v.value, v.source);
  }
}

/** `key = value` in [group:vars]: the value is everything after the first '=', typed as a Python literal. */
function varLine(line: string, at: (offset?: number) => SourceRef, group: string, b: InventoryBuilder): void {
  const eq = line.indexOf('=');
  if (eq <= 0) {
    b.error(at(), `expected key = value in [${group}:vars], got '${line}'`);
    return;
  }
  const key = line.slice(0, eq).trim();
  const after = line.slice(eq + 1);
  const text = after.trim();
  const offset = eq + 1 + (after.length - after.trimStart().length);
  const value = typed(text);
  const quoted = typeof value === 'string' && value !== text && /^(['"])[^\\]*\1\s*(#.*)?$/.test(text);
  const exact = value === text || quoted;
  b.groupVar(group, key, value, { ...at(offset), ...(exact ? { textCol: at(offset).col + (quoted ? 1 : 0) } : {}) });
}

function typed(text: string): unknown {
  const literal = pythonLiteral(text);
  return literal.ok ? literal.value : text;
}
