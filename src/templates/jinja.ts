// The Jinja that Ansible inventories use most, evaluated as Ansible does: {{ var }}, {{ a.b }}, {{ a['b'] }},
// | default(x) and | default(x, true), lookup('env', 'NAME') (a secret). Any other Jinja is parsed only to say, at
// its place, which Handlebars form to write instead: pgplay's templates are Handlebars.
import { rememberSecret } from '../secrets';
import { TemplateError } from './expressions';

type Scope = Record<string, unknown>;

/** A Jinja construct pgplay does not evaluate; the message names the Handlebars form when there is one. */
export class JinjaUnsupportedError extends TemplateError {}

/** Jinja syntax that does not parse (it may still be Handlebars). */
class JinjaSyntaxError extends Error {
  constructor(
    message: string,
    readonly offset: number,
  ) {
    super(message);
  }
}

type Node =
  | { type: 'name'; name: string; pos: number }
  | { type: 'literal'; value: unknown; pos: number }
  | { type: 'list'; items: Node[]; pos: number; tuple?: boolean }
  | { type: 'dict'; entries: Array<[Node, Node]>; pos: number }
  | { type: 'attr'; object: Node; name: string; pos: number }
  | { type: 'item'; object: Node; key: Node; pos: number }
  | { type: 'call'; fn: Node; args: Node[]; kwargs: Record<string, Node>; pos: number }
  | { type: 'filter'; value: Node; name: string; args: Node[]; kwargs: Record<string, Node>; pos: number }
  | { type: 'test'; value: Node; name: string; negated: boolean; args: Node[]; pos: number }
  | { type: 'binary'; op: string; left: Node; right: Node; pos: number }
  | { type: 'unary'; op: string; value: Node; pos: number }
  | { type: 'cond'; test: Node; then: Node; otherwise: Node | null; pos: number };

type Segment = { kind: 'text'; text: string } | { kind: 'expr'; source: string; offset: number } | { kind: 'statement'; source: string; offset: number };

/** Whether the text holds any Jinja delimiter at all. */
export function holdsJinja(text: string): boolean {
  return text.includes('{{') || text.includes('{%') || text.includes('{#');
}

/** The parsed expressions of a text, or null when one of them is not Jinja (the text may then be Handlebars). */
export function parseJinja(text: string): { segments: Segment[]; trees: Map<Segment, Node> } | null {
  const segments = splitSegments(text);
  const trees = new Map<Segment, Node>();
  for (const s of segments) {
    if (s.kind !== 'expr') continue;
    try {
      trees.set(s, new Parser(s.source).whole());
    } catch (err) {
      if (err instanceof JinjaSyntaxError) return null;
      throw err;
    }
  }
  return { segments, trees };
}

/** Render a text whose expressions parsed as Jinja; one expression alone keeps its type (a list, a number). */
export function renderJinja(text: string, parsed: NonNullable<ReturnType<typeof parseJinja>>, scope: Scope): unknown {
  const { segments, trees } = parsed;
  const place = (offset: number) => placeOf(text, offset);
  const statement = segments.find((s) => s.kind === 'statement');
  if (statement && statement.kind === 'statement') {
    throw new JinjaUnsupportedError(`${statement.source.slice(0, 2)} ... %} blocks are Jinja: pgplay's templates are Handlebars, as in {{#if cond}}...{{else}}...{{/if}} and {{#each list}}{{this}}{{/each}}`, place(statement.offset));
  }
  const exprs = segments.filter((s) => s.kind === 'expr');
  const meaningful = segments.filter((s) => s.kind === 'expr' || (s.kind === 'text' && s.text.trim() !== ''));
  const evaluate = (s: Segment) => {
    const tree = trees.get(s) as Node;
    const offset = (s as { offset: number }).offset;
    const value = new Evaluator(scope, s.kind === 'expr' ? s.source : '', offset, place).value(tree);
    if (value === UNDEFINED) throw new TemplateError(undefinedMessage(tree), place(offset + tree.pos));
    return value;
  };
  if (meaningful.length === 1 && exprs.length === 1) return evaluate(exprs[0]);
  let out = '';
  for (const s of segments) out += s.kind === 'text' ? s.text : s.kind === 'expr' ? toText(evaluate(s)) : '';
  return out;
}

function toText(value: unknown): string {
  if (value === undefined || value === null) return '';
  if (Array.isArray(value) || typeof value === 'object') return JSON.stringify(value);
  return String(value);
}

function placeOf(text: string, offset: number): { line: number; column: number } {
  const before = text.slice(0, offset);
  return { line: before.split('\n').length, column: offset - (before.lastIndexOf('\n') + 1) };
}

/** Text, {{ expressions }}, {% statements %}; {# comments #} are dropped as Jinja drops them. */
function splitSegments(text: string): Segment[] {
  const out: Segment[] = [];
  let i = 0;
  let plain = '';
  while (i < text.length) {
    const open = text.slice(i, i + 2);
    if (open !== '{{' && open !== '{%' && open !== '{#') {
      plain += text[i++];
      continue;
    }
    const close = open === '{{' ? '}}' : open === '{%' ? '%}' : '#}';
    const end = findClose(text, i + 2, close);
    if (end < 0) {
      if (open === '{{') throw new TemplateError("'{{' is not closed by '}}'", placeOf(text, i));
      plain += text[i++];
      continue;
    }
    if (plain) out.push({ kind: 'text', text: plain });
    plain = '';
    const strip = (s: string) => s.replace(/^[-+]/, '').replace(/[-+]$/, '');
    if (open === '{{') out.push({ kind: 'expr', source: strip(text.slice(i + 2, end)), offset: i + 2 + (/^[-+]/.test(text.slice(i + 2)) ? 1 : 0) });
    else if (open === '{%') out.push({ kind: 'statement', source: text.slice(i, end + 2), offset: i });
    i = end + 2;
  }
  if (plain) out.push({ kind: 'text', text: plain });
  return out;
}

/** The closing delimiter after from, skipping quoted strings. */
function findClose(text: string, from: number, close: string): number {
  let quote: string | null = null;
  for (let i = from; i < text.length; i++) {
    const c = text[i];
    if (quote) {
      if (c === '\\') i++;
      else if (c === quote) quote = null;
    } else if (c === "'" || c === '"') quote = c;
    else if (text.startsWith(close, i)) return i;
  }
  return -1;
}

// ---- parsing: enough of Jinja's expression grammar to know what a value says ----

type Token = { kind: 'name' | 'number' | 'string' | 'op' | 'end'; text: string; value?: unknown; pos: number };

const OPERATORS = ['**', '//', '==', '!=', '<=', '>=', '<', '>', '+', '-', '*', '/', '%', '~', '|', '.', ',', ':', '(', ')', '[', ']', '{', '}', '='];

function tokenize(source: string): Token[] {
  const out: Token[] = [];
  let i = 0;
  while (i < source.length) {
    const c = source[i];
    if (/\s/.test(c)) {
      i++;
      continue;
    }
    const rest = source.slice(i);
    const name = /^[A-Za-z_][A-Za-z0-9_]*/.exec(rest);
    if (name) {
      out.push({ kind: 'name', text: name[0], pos: i });
      i += name[0].length;
      continue;
    }
    const number = /^\d[\d_]*(\.\d[\d_]*)?([eE][+-]?\d+)?/.exec(rest);
    if (number) {
      out.push({ kind: 'number', text: number[0], value: Number(number[0].replace(/_/g, '')), pos: i });
      i += number[0].length;
      continue;
    }
    if (c === "'" || c === '"') {
      let j = i + 1;
      let value = '';
      while (j < source.length && source[j] !== c) {
        if (source[j] === '\\' && j + 1 < source.length) {
          const e = source[j + 1];
          value += { n: '\n', t: '\t', r: '\r', '\\': '\\', "'": "'", '"': '"' }[e] ?? `\\${e}`;
          j += 2;
        } else value += source[j++];
      }
      if (j >= source.length) throw new JinjaSyntaxError('a string is not closed', i);
      out.push({ kind: 'string', text: source.slice(i, j + 1), value, pos: i });
      i = j + 1;
      continue;
    }
    const op = OPERATORS.find((o) => rest.startsWith(o));
    if (!op) throw new JinjaSyntaxError(`'${c}' cannot appear here`, i);
    out.push({ kind: 'op', text: op, pos: i });
    i += op.length;
  }
  out.push({ kind: 'end', text: '', pos: source.length });
  return out;
}

class Parser {
  #tokens: Token[];
  #i = 0;
  constructor(source: string) {
    this.#tokens = tokenize(source);
  }

  whole(): Node {
    const node = this.expression();
    if (this.peek().kind !== 'end') this.fail();
    return node;
  }

  peek(ahead = 0): Token {
    return this.#tokens[Math.min(this.#i + ahead, this.#tokens.length - 1)];
  }
  next(): Token {
    return this.#tokens[this.#i++] ?? this.#tokens[this.#tokens.length - 1];
  }
  is(text: string, kind?: Token['kind']): boolean {
    const t = this.peek();
    return t.text === text && (kind ? t.kind === kind : t.kind === 'op' || t.kind === 'name');
  }
  take(text: string): boolean {
    if (!this.is(text)) return false;
    this.next();
    return true;
  }
  expect(text: string): void {
    if (!this.take(text)) this.fail();
  }
  fail(): never {
    const t = this.peek();
    throw new JinjaSyntaxError(t.kind === 'end' ? 'the expression ends too early' : `unexpected '${t.text}'`, t.pos);
  }

  expression(): Node {
    const pos = this.peek().pos;
    const value = this.or();
    if (this.take('if')) {
      const test = this.or();
      const otherwise = this.take('else') ? this.expression() : null;
      return { type: 'cond', test, then: value, otherwise, pos };
    }
    return value;
  }
  or(): Node {
    let left = this.and();
    while (this.is('or', 'name')) {
      const pos = this.next().pos;
      left = { type: 'binary', op: 'or', left, right: this.and(), pos };
    }
    return left;
  }
  and(): Node {
    let left = this.not();
    while (this.is('and', 'name')) {
      const pos = this.next().pos;
      left = { type: 'binary', op: 'and', left, right: this.not(), pos };
    }
    return left;
  }
  not(): Node {
    if (this.is('not', 'name')) {
      const pos = this.next().pos;
      return { type: 'unary', op: 'not', value: this.not(), pos };
    }
    return this.compare();
  }
  compare(): Node {
    let left = this.concat();
    for (;;) {
      const t = this.peek();
      if (t.kind === 'op' && ['==', '!=', '<', '<=', '>', '>='].includes(t.text)) {
        this.next();
        left = { type: 'binary', op: t.text, left, right: this.concat(), pos: t.pos };
      } else if (this.is('in', 'name')) {
        this.next();
        left = { type: 'binary', op: 'in', left, right: this.concat(), pos: t.pos };
      } else if (this.is('not', 'name') && this.peek(1).text === 'in') {
        this.next();
        this.next();
        left = { type: 'unary', op: 'not', value: { type: 'binary', op: 'in', left, right: this.concat(), pos: t.pos }, pos: t.pos };
      } else return left;
    }
  }
  concat(): Node {
    let left = this.sum();
    while (this.is('~', 'op')) {
      const pos = this.next().pos;
      left = { type: 'binary', op: '~', left, right: this.sum(), pos };
    }
    return left;
  }
  sum(): Node {
    let left = this.product();
    while (this.is('+', 'op') || this.is('-', 'op')) {
      const t = this.next();
      left = { type: 'binary', op: t.text, left, right: this.product(), pos: t.pos };
    }
    return left;
  }
  product(): Node {
    let left = this.unary();
    while (['*', '/', '//', '%', '**'].some((o) => this.is(o, 'op'))) {
      const t = this.next();
      left = { type: 'binary', op: t.text, left, right: this.unary(), pos: t.pos };
    }
    return left;
  }
  unary(): Node {
    if (this.is('-', 'op') || this.is('+', 'op')) {
      const t = this.next();
      return { type: 'unary', op: t.text, value: this.unary(), pos: t.pos };
    }
    return this.filters(this.postfix(this.primary()));
  }
  primary(): Node {
    const t = this.next();
    if (t.kind === 'name') {
      const literals: Record<string, unknown> = { true: true, false: false, none: null, True: true, False: false, None: null };
      if (t.text in literals) return { type: 'literal', value: literals[t.text], pos: t.pos };
      if (['and', 'or', 'not', 'in', 'is', 'if', 'else'].includes(t.text)) {
        this.#i--;
        this.fail();
      }
      return { type: 'name', name: t.text, pos: t.pos };
    }
    if (t.kind === 'number') return { type: 'literal', value: t.value, pos: t.pos };
    if (t.kind === 'string') {
      let value = String(t.value);
      while (this.peek().kind === 'string') value += String(this.next().value);
      return { type: 'literal', value, pos: t.pos };
    }
    if (t.text === '(') {
      const first = this.expression();
      if (this.take(')')) return first;
      const items = [first];
      while (this.take(',')) {
        if (this.is(')')) break;
        items.push(this.expression());
      }
      this.expect(')');
      return { type: 'list', items, pos: t.pos, tuple: true };
    }
    if (t.text === '[') {
      const items: Node[] = [];
      while (!this.is(']')) {
        items.push(this.expression());
        if (!this.take(',')) break;
      }
      this.expect(']');
      return { type: 'list', items, pos: t.pos };
    }
    if (t.text === '{') {
      const entries: Array<[Node, Node]> = [];
      while (!this.is('}')) {
        const key = this.expression();
        this.expect(':');
        entries.push([key, this.expression()]);
        if (!this.take(',')) break;
      }
      this.expect('}');
      return { type: 'dict', entries, pos: t.pos };
    }
    this.#i--;
    return this.fail();
  }
  postfix(node: Node): Node {
    for (;;) {
      const t = this.peek();
      if (this.is('.', 'op')) {
        this.next();
        const name = this.next();
        if (name.kind !== 'name' && name.kind !== 'number') {
          this.#i--;
          this.fail();
        }
        node = name.kind === 'number' ? { type: 'item', object: node, key: { type: 'literal', value: name.value, pos: name.pos }, pos: t.pos } : { type: 'attr', object: node, name: name.text, pos: t.pos };
      } else if (this.is('[', 'op')) {
        this.next();
        const key = this.expression();
        if (this.is(':', 'op')) this.fail(); // slices
        this.expect(']');
        node = { type: 'item', object: node, key, pos: t.pos };
      } else if (this.is('(', 'op')) {
        this.next();
        const { args, kwargs } = this.args();
        node = { type: 'call', fn: node, args, kwargs, pos: node.pos };
      } else return node;
    }
  }
  args(): { args: Node[]; kwargs: Record<string, Node> } {
    const args: Node[] = [];
    const kwargs: Record<string, Node> = {};
    while (!this.is(')')) {
      if (this.peek().kind === 'name' && this.peek(1).text === '=' && this.peek(1).kind === 'op') {
        const key = this.next().text;
        this.next();
        kwargs[key] = this.expression();
      } else args.push(this.expression());
      if (!this.take(',')) break;
    }
    this.expect(')');
    return { args, kwargs };
  }
  /** value | filter(args) | ns.filter, and value is [not] test(args). */
  filters(node: Node): Node {
    for (;;) {
      if (this.is('|', 'op')) {
        const pos = this.next().pos;
        let name = this.next();
        if (name.kind !== 'name') {
          this.#i--;
          this.fail();
        }
        let full = name.text;
        while (this.is('.', 'op') && this.peek(1).kind === 'name') {
          this.next();
          name = this.next();
          full += `.${name.text}`;
        }
        const call = this.take('(') ? this.args() : { args: [], kwargs: {} };
        node = { type: 'filter', value: node, name: full, ...call, pos };
      } else if (this.is('is', 'name')) {
        const pos = this.next().pos;
        const negated = this.take('not');
        const name = this.next();
        if (name.kind !== 'name') {
          this.#i--;
          this.fail();
        }
        const args = this.take('(') ? this.args().args : [];
        node = { type: 'test', value: node, name: name.text, negated, args, pos };
      } else return node;
    }
  }
}

// ---- evaluating the subset, and naming the Handlebars form of the rest ----

const UNDEFINED = Symbol('jinja.undefined');

const ENV_LOOKUPS = new Set(['env', 'ansible.builtin.env']);
const DEFAULT_FILTERS = new Set(['default', 'd', 'ansible.builtin.default']);

class Evaluator {
  constructor(
    readonly scope: Scope,
    readonly source: string,
    readonly offset: number,
    readonly place: (offset: number) => { line: number; column: number },
  ) {}

  unsupported(node: Node, what: string): never {
    const form = handlebarsForm(node);
    const hint = form ? `; write {{ ${form} }} instead` : "; pgplay reads only {{ name }}, {{ a.b }}, | default(...) and lookup('env', ...) of Jinja in inventory values: write the rest as a Handlebars expression (see the README's Templates section)";
    throw new JinjaUnsupportedError(`${what} is Jinja that pgplay does not evaluate${hint}`, this.place(this.offset + node.pos));
  }

  value(node: Node): unknown {
    switch (node.type) {
      case 'literal':
        return node.value;
      case 'name':
        return node.name in this.scope ? this.scope[node.name] : UNDEFINED;
      case 'attr':
      case 'item': {
        const object = this.value(node.object);
        const key = node.type === 'attr' ? node.name : this.value(node.key);
        if (key === UNDEFINED) return UNDEFINED;
        if (object === UNDEFINED || object === null || object === undefined || typeof object !== 'object') return UNDEFINED;
        const k = String(key);
        return k in (object as object) ? (object as Record<string, unknown>)[k] : UNDEFINED;
      }
      case 'list':
        return node.items.map((i) => this.defined(i));
      case 'dict':
        return Object.fromEntries(node.entries.map(([k, v]) => [String(this.defined(k)), this.defined(v)]));
      case 'filter':
        if (DEFAULT_FILTERS.has(node.name)) {
          const value = this.value(node.value);
          const fallback = node.args[0] ?? node.kwargs.default_value;
          const orFalsy = node.args[1] ?? node.kwargs.boolean;
          const useFalsy = orFalsy !== undefined && truthy(this.defined(orFalsy));
          const missing = value === UNDEFINED || (useFalsy && !truthy(value));
          return missing ? (fallback ? this.defined(fallback) : '') : value;
        }
        return this.unsupported(node, `the filter '${node.name}'`);
      case 'call':
        if (node.fn.type === 'name' && (node.fn.name === 'lookup' || node.fn.name === 'query' || node.fn.name === 'q')) return this.lookup(node);
        return this.unsupported(node, `calling ${node.fn.type === 'name' ? `${node.fn.name}()` : 'a function'}`);
      case 'test':
        return this.unsupported(node, `the test 'is ${node.negated ? 'not ' : ''}${node.name}'`);
      case 'binary':
        return this.unsupported(node, `'${node.op}'`);
      case 'unary':
        return this.unsupported(node, `'${node.op}'`);
      case 'cond':
        return this.unsupported(node, "'... if ... else ...'");
    }
  }

  defined(node: Node): unknown {
    const v = this.value(node);
    if (v === UNDEFINED) throw new TemplateError(undefinedMessage(node), this.place(this.offset + node.pos));
    return v;
  }

  /** lookup('env', 'A'[, 'B']) as Ansible's env lookup: '' when unset (or default=...); the values are secrets. */
  lookup(node: Extract<Node, { type: 'call' }>): unknown {
    const [plugin, ...names] = node.args.map((a) => this.defined(a));
    if (typeof plugin !== 'string' || !ENV_LOOKUPS.has(plugin)) {
      return this.unsupported(node, `lookup('${String(plugin)}', ...)`);
    }
    if (node.fn.type === 'name' && node.fn.name !== 'lookup') return this.unsupported(node, `${node.fn.name}('env', ...)`);
    const fallback = node.kwargs.default ? this.defined(node.kwargs.default) : '';
    const values = names.map((n) => {
      const v = process.env[String(n)];
      if (v === undefined) return fallback;
      rememberSecret(v);
      return v;
    });
    return values.length === 1 ? values[0] : values.join(',');
  }
}

function truthy(value: unknown): boolean {
  if (value === UNDEFINED || value === null || value === undefined || value === false || value === 0 || value === '') return false;
  if (Array.isArray(value)) return value.length > 0;
  if (typeof value === 'object') return Object.keys(value as object).length > 0;
  return true;
}

function pathText(node: Node): string | null {
  if (node.type === 'name') return node.name;
  if (node.type === 'attr') {
    const base = pathText(node.object);
    return base === null ? null : `${base}.${node.name}`;
  }
  if (node.type === 'item' && node.key.type === 'literal') {
    const base = pathText(node.object);
    if (base === null) return null;
    return typeof node.key.value === 'number' ? `${base}.[${node.key.value}]` : /^[A-Za-z_][A-Za-z0-9_]*$/.test(String(node.key.value)) ? `${base}.${String(node.key.value)}` : `${base}.[${String(node.key.value)}]`;
  }
  return null;
}

function undefinedMessage(node: Node): string {
  if (node.type === 'name') return `undefined variable '${node.name}'`;
  const path = pathText(node);
  return path ? `'${path}' is undefined` : 'the value is undefined';
}

const FILTER_HELPERS: Record<string, string> = { join: 'join', lower: 'lower', upper: 'upper', length: 'length', count: 'length', first: 'first', last: 'last', to_json: 'json', tojson: 'json', default: 'default', d: 'default', split: 'split' };
const COMPARISONS: Record<string, string> = { '==': 'eq', '!=': 'ne', '<': 'lt', '<=': 'lte', '>': 'gt', '>=': 'gte', and: 'and', or: 'or', '~': 'concat' };

/** The same expression as pgplay's Handlebars helpers write it, or null when there is no direct equivalent. */
export function handlebarsForm(node: Node, nested = false): string | null {
  const wrap = (s: string) => (nested ? `(${s})` : s);
  switch (node.type) {
    case 'name':
      return node.name;
    case 'literal':
      if (typeof node.value === 'string') return `'${node.value.replace(/'/g, "\\'")}'`;
      return node.value === null ? 'null' : String(node.value);
    case 'attr':
    case 'item': {
      const path = pathText(node);
      if (path) return path;
      // hostvars[h].name and hostvars[h]['name'] are pgplay's hostvar helper.
      if (node.object.type === 'item' && node.object.object.type === 'name' && node.object.object.name === 'hostvars') {
        const host = handlebarsForm(node.object.key, true);
        const name = node.type === 'attr' ? `'${node.name}'` : handlebarsForm(node.key, true);
        return host && name ? wrap(`hostvar ${host} ${name}`) : null;
      }
      if (node.type === 'item') {
        const object = handlebarsForm(node.object, true);
        const key = handlebarsForm(node.key, true);
        return object && key ? wrap(`lookup ${object} ${key}`) : null;
      }
      return null;
    }
    case 'filter': {
      const helper = FILTER_HELPERS[node.name.replace(/^ansible\.builtin\./, '')];
      if (!helper) return null;
      const parts = [handlebarsForm(node.value, true), ...node.args.slice(0, helper === 'default' ? 1 : undefined).map((a) => handlebarsForm(a, true))];
      return parts.every((p) => p !== null) ? wrap([helper, ...parts].join(' ')) : null;
    }
    case 'call':
      if (node.fn.type === 'name' && node.fn.name === 'lookup' && node.args[0]?.type === 'literal' && ENV_LOOKUPS.has(String(node.args[0].value)) && node.args[1]?.type === 'literal' && node.args.length === 2) {
        return `env.${String(node.args[1].value)}`;
      }
      return null;
    case 'binary': {
      const helper = COMPARISONS[node.op] ?? (node.op === 'in' ? 'includes' : null);
      if (!helper) return null;
      const [a, b] = node.op === 'in' ? [node.right, node.left] : [node.left, node.right];
      const left = handlebarsForm(a, true);
      const right = handlebarsForm(b, true);
      return left && right ? wrap(`${helper} ${left} ${right}`) : null;
    }
    case 'unary': {
      if (node.op !== 'not') return null;
      const inner = handlebarsForm(node.value, true);
      return inner ? wrap(`not ${inner}`) : null;
    }
    case 'test':
      if (node.name === 'defined' || node.name === 'undefined') {
        const inner = handlebarsForm(node.value, true);
        const isDefined = (node.name === 'defined') !== node.negated;
        return inner ? wrap(isDefined ? `ne ${inner} undefined` : `eq ${inner} undefined`) : null;
      }
      return null;
    case 'list': {
      const items = node.items.map((i) => handlebarsForm(i, true));
      return items.every((i) => i !== null) ? wrap(['list', ...items].join(' ')) : null;
    }
    default:
      return null;
  }
}
