// Rendering with Handlebars (noEscape: these are config files, not HTML): playbook values and template files.
import { readFileSync, statSync } from 'node:fs';
import type Handlebars from 'handlebars';
import { conditionProblem, evaluateCall, hasBlocks, parseTemplate, singleExpression, TemplateError } from './expressions';
import { HELPERS, truthy } from './helpers';

export { TemplateError, ENV_MARK } from './expressions';

type Scope = Record<string, unknown>;

let engine: typeof Handlebars | null = null;
function handlebars(): typeof Handlebars {
  if (!engine) {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    engine = (require('handlebars') as typeof Handlebars).create();
    for (const [name, fn] of Object.entries(HELPERS)) engine.registerHelper(name, fn as Handlebars.HelperDelegate);
    // {{#if}} and {{#unless}} read a value as `when` does: replication_tls=false from an INI inventory is false.
    const branch = (negate: boolean) =>
      function (this: unknown, ...args: unknown[]) {
        const options = args[args.length - 1] as Handlebars.HelperOptions;
        if (args.length !== 2) throw new Error(`#${negate ? 'unless' : 'if'} takes exactly one value`);
        const value = typeof args[0] === 'function' ? (args[0] as (this: unknown) => unknown).call(this) : args[0];
        return truthy(value) !== negate ? options.fn(this) : options.inverse(this);
      };
    engine.registerHelper('if', branch(false));
    engine.registerHelper('unless', branch(true));
  }
  return engine;
}

/** A value with every {{ expr }} in its strings rendered; a string that is exactly one {{ expr }} keeps the type. */
export function renderValue(value: unknown, scope: Scope): unknown {
  if (typeof value === 'string') return renderString(value, scope);
  if (Array.isArray(value)) return value.map((v) => renderValue(v, scope));
  if (value && typeof value === 'object') {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) out[k] = renderValue(v, scope);
    return out;
  }
  return value;
}

export function renderString(text: string, scope: Scope): unknown {
  if (!text.includes('{{')) return text;
  const ast = parseTemplate(text);
  const single = singleExpression(ast);
  if (single) return evaluateCall(single, scope);
  if (hasBlocks(ast)) return runCompiled(handlebars().compile(text, { noEscape: true, strict: true }), scope);
  let out = '';
  for (const s of ast.body) {
    if (s.type === 'ContentStatement') out += (s as hbs.AST.ContentStatement).value;
    else if (s.type === 'MustacheStatement') out += toText(evaluateCall(s as hbs.AST.MustacheStatement, scope));
  }
  return out;
}

/** How a value reads inside a longer string. */
export function toText(value: unknown): string {
  if (value === undefined || value === null) return '';
  if (Array.isArray(value)) return value.map(toText).join(',');
  if (typeof value === 'object') return JSON.stringify(value);
  return String(value);
}

/** A `when` or `assert` condition: a helper expression such as `eq pg_role 'primary'`, with or without braces. */
export function evaluateCondition(condition: string | boolean, scope: Scope): boolean {
  if (typeof condition === 'boolean') return condition;
  const text = condition.includes('{{') ? condition : `{{ ${condition} }}`;
  const problem = conditionProblem(parseTemplate(text), text);
  if (problem) throw new TemplateError(problem.message, problem.where);
  return truthy(renderString(text, scope));
}

const compiled = new Map<string, { mtimeMs: number; template: Handlebars.TemplateDelegate }>();

/** Render a template file; strict, so an undefined variable is an error, not an empty string. */
export function renderTemplateFile(path: string, scope: Scope): string {
  const mtimeMs = statSync(path).mtimeMs;
  let entry = compiled.get(path);
  if (!entry || entry.mtimeMs !== mtimeMs) {
    const source = readFileSync(path, 'utf8');
    parseTemplate(source); // syntax errors with a place
    entry = { mtimeMs, template: handlebars().compile(source, { noEscape: true, strict: true }) };
    compiled.set(path, entry);
  }
  return runCompiled(entry.template, scope);
}

function runCompiled(template: Handlebars.TemplateDelegate, scope: Scope): string {
  try {
    return template(scope, { data: { root: scope }, allowProtoPropertiesByDefault: false });
  } catch (err) {
    const message = err instanceof Error ? err.message : String(err);
    const missing = /^"([^"]+)" not defined in .* - (\d+):(\d+)$/.exec(message);
    if (missing) throw new TemplateError(`'${missing[1]}' is not defined`, { line: Number(missing[2]), column: Number(missing[3]) });
    throw err instanceof TemplateError ? err : new TemplateError(message);
  }
}
