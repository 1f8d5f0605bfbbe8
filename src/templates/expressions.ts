// {{ expr }} in playbook values: parsed by Handlebars, evaluated here so that one expression keeps its type.
// Only Handlebars' parser: the compiler and runtime load when a template file is rendered (render.ts).
// eslint-disable-next-line @typescript-eslint/no-require-imports
const parser = require('handlebars/dist/cjs/handlebars/compiler/base') as {
  parse(text: string): unknown;
  parser: { lexer: { yylloc?: { first_line: number; first_column: number } } };
};
import { didYouMean } from '../config/suggest';
import { rememberSecret } from '../secrets';
import { BLOCK_HELPERS, HELPER_NAMES, HELPERS } from './helpers';
import { explainSyntaxError } from './syntax-errors';

/** A problem with a template expression: undefined variable, unknown helper, syntax, a helper's complaint. */
export class TemplateError extends Error {
  constructor(
    message: string,
    /** 1-based line and 0-based column inside the template text, when known. */
    readonly where?: { line: number; column: number },
  ) {
    super(message);
    this.name = 'TemplateError';
  }
}

/** Marks the `env` variable so a missing name says which environment variable is not set. */
export const ENV_MARK = Symbol('pgplay.env');

type Ast = hbs.AST.Program;
const parsed = new Map<string, Ast>();

export function parseTemplate(text: string): Ast {
  const cached = parsed.get(text);
  if (cached) return cached;
  let ast: Ast;
  try {
    ast = parser.parse(text) as Ast;
  } catch (err) {
    const loc = parser.parser.lexer.yylloc;
    const problem = explainSyntaxError(err instanceof Error ? err.message : String(err), text, loc ? { line: loc.first_line, column: loc.first_column } : undefined);
    throw new TemplateError(problem.message, problem.where);
  }
  if (parsed.size > 5000) parsed.clear();
  parsed.set(text, ast);
  return ast;
}

/** The one expression of a text that is exactly `{{ expr }}` (spaces around allowed), else null. */
export function singleExpression(ast: Ast): hbs.AST.MustacheStatement | null {
  const meaningful = ast.body.filter((s) => !(s.type === 'ContentStatement' && (s as hbs.AST.ContentStatement).value.trim() === ''));
  return meaningful.length === 1 && meaningful[0].type === 'MustacheStatement' ? (meaningful[0] as hbs.AST.MustacheStatement) : null;
}

/**
 * Why a `when` or assert condition cannot be read as one value, or null. Text outside the braces, or two
 * expressions side by side, render to a non-empty string, which would always be true.
 */
export function conditionProblem(ast: Ast, text: string): { message: string; where?: { line: number; column: number } } | null {
  const parts = ast.body.filter((s) => !(s.type === 'ContentStatement' && contentText(s).trim() === ''));
  if (parts.length <= 1) return null;
  const stray = parts.find((s) => s.type === 'ContentStatement') ?? parts[1];
  const outside = stray.type === 'ContentStatement' ? `text ${JSON.stringify(contentText(stray).trim())} outside {{ }}` : 'two expressions side by side';
  const where = stray.loc ? { line: stray.loc.start.line, column: stray.loc.start.column + leadingSpace(stray) } : undefined;
  return { message: `a condition is one expression, but ${outside} makes it text, which is always true: write ${conditionHint(parts, text)}`, where };
}

// `original` keeps the spaces Handlebars strips around standalone blocks (typed wrongly in @types/handlebars).
const contentText = (s: hbs.AST.Statement): string => (s as unknown as { original?: string }).original ?? (s as hbs.AST.ContentStatement).value;
const leadingSpace = (s: hbs.AST.Statement) => (s.type === 'ContentStatement' ? contentText(s).length - contentText(s).trimStart().length : 0);

const OPERATORS: Record<string, string> = { '==': 'eq', '!=': 'ne', '<': 'lt', '<=': 'lte', '>': 'gt', '>=': 'gte', and: 'and', or: 'or', '&&': 'and', '||': 'or' };

/** The condition written as one helper expression, when its shape is `{{ a }} OP b` and the like. */
function conditionHint(parts: hbs.AST.Statement[], text: string): string {
  const generic = "the whole condition without braces, as one helper expression: eq a 'b', ne a 'b', and x y, or x y, not x";
  const expr = (s: hbs.AST.Statement): string | null => {
    if (s.type !== 'MustacheStatement' || !s.loc) return null;
    const inner = sourceOf(text, s.loc).replace(/^\{\{~?\s*/, '').replace(/\s*~?\}\}$/, '');
    const call = s as hbs.AST.MustacheStatement;
    return isHelperCall(call) ? `(${inner})` : inner;
  };
  const literal = (word: string): string => {
    const w = word.trim();
    if (/^(true|false|null|-?\d+(\.\d+)?)$/i.test(w)) return w.toLowerCase();
    if (/^'[^']*'$|^"[^"]*"$/.test(w)) return w;
    return `'${w.replace(/'/g, '')}'`;
  };
  const words = parts.map((s) => (s.type === 'ContentStatement' ? contentText(s).trim() : null));
  if (parts.length === 2 && words[0] === 'not' && expr(parts[1])) return `not ${expr(parts[1])}`;
  if (parts.length === 2 && expr(parts[0]) && words[1]) {
    const m = /^(==|!=|<=|>=|<|>|and|or|&&|\|\|)\s*(.+)$/.exec(words[1]);
    if (m) return `${OPERATORS[m[1]]} ${expr(parts[0])} ${literal(m[2])}`;
  }
  if (parts.length === 2 && words[0] && expr(parts[1])) {
    const m = /^(.+?)\s*(==|!=|<=|>=|<|>|and|or|&&|\|\|)$/.exec(words[0]);
    if (m) return `${OPERATORS[m[2]]} ${literal(m[1])} ${expr(parts[1])}`;
  }
  if (parts.length === 3 && expr(parts[0]) && words[1] && OPERATORS[words[1]] && expr(parts[2])) return `${OPERATORS[words[1]]} ${expr(parts[0])} ${expr(parts[2])}`;
  return generic;
}

function sourceOf(text: string, loc: hbs.AST.SourceLocation): string {
  const offset = (p: hbs.AST.Position) => text.split('\n').slice(0, p.line - 1).reduce((n, l) => n + l.length + 1, 0) + p.column;
  return text.slice(offset(loc.start), offset(loc.end));
}

export function hasBlocks(ast: Ast): boolean {
  return ast.body.some((s) => s.type === 'BlockStatement' || s.type === 'PartialStatement' || s.type === 'PartialBlockStatement' || s.type === 'DecoratorBlock');
}

type Scope = Record<string, unknown>;

function isHelperCall(node: hbs.AST.MustacheStatement | hbs.AST.SubExpression): boolean {
  return node.params.length > 0 || (node.hash?.pairs.length ?? 0) > 0;
}

/** Value of a {{ }} or ( ) expression. */
export function evaluateCall(node: hbs.AST.MustacheStatement | hbs.AST.SubExpression, scope: Scope): unknown {
  if (node.path.type !== 'PathExpression') return (node.path as hbs.AST.StringLiteral).value;
  const path = node.path as hbs.AST.PathExpression;
  if (!isHelperCall(node)) {
    const name = path.original;
    if (HELPERS[name] && !(name in scope)) return HELPERS[name]({ hash: {}, data: { root: scope } });
    return lookupPath(path, scope, true);
  }
  const helper = HELPERS[path.original];
  if (!helper) throw new TemplateError(`unknown helper '${path.original}'${helperHint(path.original)}`, at(path));
  const args = node.params.map((p) => evaluateParam(p, scope));
  const hash: Record<string, unknown> = {};
  for (const pair of node.hash?.pairs ?? []) hash[pair.key] = evaluateParam(pair.value, scope);
  try {
    return helper(...args, { hash, data: { root: scope } });
  } catch (err) {
    throw new TemplateError(err instanceof Error ? err.message : String(err), at(path));
  }
}

function evaluateParam(node: hbs.AST.Expression, scope: Scope): unknown {
  switch (node.type) {
    case 'SubExpression':
      return evaluateCall(node as hbs.AST.SubExpression, scope);
    case 'PathExpression':
      // A helper's arguments are looked up leniently (default x 'y' must work when x is unset), as in Handlebars.
      return lookupPath(node as hbs.AST.PathExpression, scope, false);
    case 'StringLiteral':
    case 'NumberLiteral':
    case 'BooleanLiteral':
      return (node as hbs.AST.StringLiteral).value;
    case 'NullLiteral':
      return null;
    default:
      return undefined;
  }
}

function at(node: hbs.AST.Node): { line: number; column: number } | undefined {
  return node.loc ? { line: node.loc.start.line, column: node.loc.start.column } : undefined;
}

function lookupPath(path: hbs.AST.PathExpression, scope: Scope, strict: boolean): unknown {
  const parts = path.data ? path.parts.slice(path.parts[0] === 'root' ? 1 : path.parts.length) : path.parts;
  if (path.data && path.parts[0] !== 'root') throw new TemplateError(`@${path.parts.join('.')} is only known inside {{#each}} blocks`, at(path));
  let value: unknown = scope;
  for (const [i, part] of parts.entries()) {
    const holder = value as Record<string | symbol, unknown> | null | undefined;
    const found = holder !== null && holder !== undefined && (typeof holder === 'object' || typeof holder === 'function') && part in (holder as object);
    if (!found) {
      if (!strict && i > 0 && (holder === undefined || holder === null)) return undefined;
      if (!strict && i === 0) return undefined;
      if (!strict && holder && typeof holder === 'object') return undefined;
      throw new TemplateError(missingMessage(parts, i, holder), at(path));
    }
    value = holder[part];
    // A value read from the environment is a secret wherever it goes.
    if (typeof value === 'string' && (holder as Record<symbol, unknown>)[ENV_MARK]) rememberSecret(value);
  }
  return value;
}

function missingMessage(parts: string[], i: number, holder: unknown): string {
  const name = parts[i];
  if (i === 0) return `undefined variable '${name}'${didYouMean(name, Object.keys((holder as object) ?? {}))}`;
  const owner = parts.slice(0, i).join('.');
  if (holder && typeof holder === 'object' && (holder as Record<symbol, unknown>)[ENV_MARK]) return `environment variable ${name} is not set`;
  if (holder === undefined || holder === null || typeof holder !== 'object') return `'${owner}' is ${holder === undefined ? 'undefined' : JSON.stringify(holder)}: it has no '${name}'`;
  if (Array.isArray(holder)) return `'${owner}' is a list of ${holder.length}: it has no item '${name}'`;
  return `'${owner}' has no '${name}'${didYouMean(name, Object.keys(holder))}`;
}

/** Every name a template refers to, for checks before a run: variables and helpers with their places. */
export interface TemplateReference {
  kind: 'variable' | 'helper';
  /** For a variable: the field read from it (`env.HOME` reads HOME). */
  field?: string;
  name: string;
  where?: { line: number; column: number };
}

export function templateReferences(ast: Ast): TemplateReference[] {
  const out: TemplateReference[] = [];
  const visitPath = (p: hbs.AST.PathExpression) => {
    if (!p.data && p.depth === 0 && p.parts.length > 0) out.push({ kind: 'variable', name: p.parts[0], field: p.parts[1], where: at(p) });
  };
  const visitExpression = (e: hbs.AST.Expression) => {
    if (e.type === 'PathExpression') visitPath(e as hbs.AST.PathExpression);
    else if (e.type === 'SubExpression') visitCall(e as hbs.AST.SubExpression, false);
  };
  const visitCall = (node: hbs.AST.MustacheStatement | hbs.AST.SubExpression | hbs.AST.BlockStatement, block: boolean) => {
    const path = node.path as hbs.AST.PathExpression;
    if (path.type !== 'PathExpression') return;
    if (block || isHelperCall(node as hbs.AST.MustacheStatement)) out.push({ kind: 'helper', name: path.original, where: at(path) });
    else if (!HELPERS[path.original]) visitPath(path);
    // `default x 'y'` and `#if x` exist for values that may be unset: their arguments are not checked.
    if (LENIENT.has(path.original)) return;
    node.params.forEach(visitExpression);
    node.hash?.pairs.forEach((p) => visitExpression(p.value));
  };
  const visitProgram = (program: hbs.AST.Program | undefined) => {
    for (const s of program?.body ?? []) {
      if (s.type === 'MustacheStatement') visitCall(s as hbs.AST.MustacheStatement, false);
      else if (s.type === 'BlockStatement') {
        const block = s as hbs.AST.BlockStatement;
        visitCall(block, true);
        // #each and #with change the context: names inside are not top-level variables.
        const name = (block.path as hbs.AST.PathExpression).original;
        if (name === 'if' || name === 'unless') {
          visitProgram(block.program);
          visitProgram(block.inverse);
        }
      }
    }
  };
  visitProgram(ast);
  return out;
}

const LENIENT = new Set(['default', 'if', 'unless']);

export const KNOWN_HELPERS = new Set([...HELPER_NAMES, ...BLOCK_HELPERS]);

/** Names people bring from Jinja and JavaScript, and pgplay's helper for each. */
const HELPER_SYNONYMS: Record<string, string> = { contains: 'includes', in: 'includes', equals: 'eq', equal: 'eq', len: 'length', count: 'length', to_json: 'json', tojson: 'json', lowercase: 'lower', uppercase: 'upper' };

/** " (did you mean 'x'?)" for a helper pgplay does not have, or nothing. */
export function helperHint(name: string): string {
  const synonym = HELPER_SYNONYMS[name];
  return synonym ? ` (did you mean '${synonym}'?)` : didYouMean(name, KNOWN_HELPERS);
}
