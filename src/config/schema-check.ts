// JSON Schema validation with ajv, and ajv's errors turned into one clear message per problem, at file:line:col.
import type { ErrorObject, ValidateFunction } from 'ajv';
import type { Diagnostic } from '../errors';
import type { JsonSchema } from '../modules/types';
import { closest, didYouMean } from './suggest';
import type { YamlPath, YamlSource } from './yaml';

export interface SchemaContext {
  /** A short name for the value at a path, for messages ("task", "ensure_role.password"). */
  label(path: YamlPath): string;
  /**
   * The message for a key the schema does not allow, or null for the default; with `covers`, the problems at or
   * under that path are consequences of this one and are not reported apart.
   */
  unknownKey?(path: YamlPath, key: string, allowed: string[], data: unknown): string | { message: string; covers: YamlPath } | null;
  /** The message for a value of the wrong type, when the context can say more than "must be a list". */
  wrongType?(path: YamlPath, data: unknown, expected: string, got: string): string | null;
  /** True for values that are secrets: messages describe them without showing them. */
  isSecret?(path: YamlPath): boolean;
  /** The message for a task-like object that matches none or several of a oneOf of required keys. */
  oneOfKeys?(path: YamlPath, data: unknown, matched: number): string | null;
}

/** A schema problem and the path of the value it is about. */
export type SchemaDiagnostic = Diagnostic & { path: YamlPath; keyword: string };

/** Validate the parsed YAML; every problem once, with its place. */
export function schemaDiagnostics(src: YamlSource, validate: ValidateFunction, ctx: SchemaContext): SchemaDiagnostic[] {
  if (validate(src.value)) return [];
  const errors = simplify([...(validate.errors ?? [])], src.value, ctx);
  const out: SchemaDiagnostic[] = [];
  const seen = new Set<string>();
  const problems = errors.map((e) => ({ e, path: pathOf(e.instancePath), problem: describeError(e, pathOf(e.instancePath), ctx) }));
  for (const { e, path, problem } of problems) {
    if (problems.some((other) => other.problem !== problem && explains(other, { e, path, problem }))) continue;
    const d = { ...src.at(problem.path, problem.which), message: problem.message };
    const key = `${d.line}:${d.col}:${d.message}`;
    if (seen.has(key)) continue;
    seen.add(key);
    out.push({ ...d, path, keyword: e.keyword });
  }
  return out.sort((a, b) => a.line - b.line || a.col - b.col);
}

/** Problems of a value that has no file (module arguments after rendering): messages only. */
export function valueProblems(validate: ValidateFunction, value: unknown, ctx: SchemaContext): string[] {
  if (validate(value)) return [];
  return [...new Set(simplify([...(validate.errors ?? [])], value, ctx).map((e) => describeError(e, pathOf(e.instancePath), ctx).message))];
}

export function pathOf(pointer: string): YamlPath {
  if (!pointer) return [];
  return pointer
    .split('/')
    .slice(1)
    .map((s) => s.replace(/~1/g, '/').replace(/~0/g, '~'))
    .map((s) => (/^\d+$/.test(s) ? Number(s) : s));
}

type Err = ErrorObject & { summary?: string };

/** Replace each anyOf/oneOf and the errors of its branches by what the user needs to read. */
function simplify(errors: Err[], root: unknown, ctx: SchemaContext): Err[] {
  // A value may always be a {{ template }}: that branch failing says nothing.
  let list = exclusiveKeys(
    errors.filter((e) => !e.schemaPath.startsWith('#/definitions/template/')),
    root,
    ctx,
  );
  const combinators = list.filter((e) => e.keyword === 'anyOf' || e.keyword === 'oneOf').sort((a, b) => b.schemaPath.length - a.schemaPath.length);
  for (const c of combinators) {
    const prefix = `${c.schemaPath}/`;
    const branch = list.filter((e) => e !== c && e.schemaPath.startsWith(prefix));
    list = list.filter((e) => e !== c && !branch.includes(e));
    list.push(...summarize(c, branch, prefix, list, ctx));
  }
  return list;
}

function valueAt(root: unknown, path: YamlPath): unknown {
  let v = root;
  for (const p of path) v = v !== null && typeof v === 'object' ? (v as Record<string, unknown>)[String(p)] : undefined;
  return v;
}

/** A branch that only requires one key (its errorMessage is for editors). */
const requiresOneKey = (b: JsonSchema) => Array.isArray(b.required) && b.required.length === 1 && Object.keys(b).every((k) => k === 'required' || k === 'errorMessage');

/**
 * Keys that exclude each other (dependencies: {a: {allOf: [{properties: {b: false}}]}}, the editor-friendly form of
 * "only one of"): their errors, one per pair, become one problem of the mapping that holds them.
 */
function exclusiveKeys(errors: Err[], root: unknown, ctx: SchemaContext): Err[] {
  const pairs = errors.filter((e) => e.keyword === 'false schema' && /\/dependencies\/[^/]+\//.test(e.schemaPath));
  if (pairs.length === 0) return errors;
  const byParent = new Map<string, Err[]>();
  for (const e of pairs) {
    const parent = e.instancePath.slice(0, e.instancePath.lastIndexOf('/'));
    byParent.set(parent, [...(byParent.get(parent) ?? []), e]);
  }
  const out = errors.filter((e) => !pairs.includes(e));
  for (const [parent, errs] of byParent) {
    const path = pathOf(parent);
    const data = valueAt(root, path);
    const keys = new Set(errs.flatMap((e) => [pathOf(e.instancePath).slice(-1)[0], /\/dependencies\/([^/]+)\//.exec(e.schemaPath)?.[1]].map(String)));
    const present = data !== null && typeof data === 'object' ? Object.keys(data).filter((k) => keys.has(k)) : [...keys];
    const summary = ctx.oneOfKeys?.(path, data, present.length) ?? `takes only one of ${present.map((k) => `'${k}'`).join(', ')}`;
    out.push({ ...errs[0], keyword: 'dependencies', instancePath: parent, data, summary });
  }
  return out;
}

function summarize(c: Err, branch: Err[], prefix: string, others: Err[], ctx: SchemaContext): Err[] {
  const path = pathOf(c.instancePath);
  const passing = (c.params as { passingSchemas?: number[] | null }).passingSchemas;
  const branches = (c.schema as JsonSchema[]) ?? [];
  const keysOnly = branches.length > 0 && branches.every(requiresOneKey);
  if (keysOnly) {
    const names = branches.map((b) => (b.required as string[])[0]);
    // oneOf says which branches passed; a failing anyOf means none did.
    const matched = passing ? passing.length : 0;
    // `required` holds for anything that is not a mapping: the type error says what is wrong.
    if (c.data === null || typeof c.data !== 'object' || Array.isArray(c.data)) return [];
    // An unknown key next to it (a misspelt module) already explains what is missing.
    if (matched === 0 && others.some((e) => e.keyword === 'additionalProperties' && e.instancePath === c.instancePath)) return [];
    const custom = ctx.oneOfKeys?.(path, c.data, matched);
    if (custom) return [{ ...c, summary: custom }];
    const quoted = names.map((n) => `'${n}'`).join(', ');
    return [{ ...c, summary: matched > 1 ? `takes only one of ${quoted}` : `needs one of ${quoted}` }];
  }
  const wrongType = (e: Err) => e.keyword === 'type' && e.instancePath === c.instancePath;
  if (branch.length > 0 && branch.every(wrongType)) {
    const types = [...new Set(branch.flatMap((e) => [(e.params as { type: string | string[] }).type].flat()))];
    return [{ ...c, keyword: 'type', params: { type: types }, schemaPath: c.schemaPath, summary: undefined }];
  }
  // Keep the errors of the branch that fits the value's type best: the fewest errors, none of them "wrong type here".
  const byBranch = new Map<string, Err[]>();
  for (const e of branch) {
    const index = e.schemaPath.slice(prefix.length).split('/')[0];
    byBranch.set(index, [...(byBranch.get(index) ?? []), e]);
  }
  const candidates = [...byBranch.values()].filter((errs) => !errs.some(wrongType)).sort((a, b) => a.length - b.length);
  if (candidates.length > 0) return candidates[0];
  return [{ ...c, summary: `${ctx.label(path)} does not have an allowed form` }];
}

interface Described {
  e: Err;
  path: YamlPath;
  problem: Problem;
}

/** One problem is the cause of another: a key it covers, or a misspelt key that is the one reported missing. */
function explains(cause: Described, effect: Described): boolean {
  const covers = cause.problem.covers;
  if (covers && effect.path.length >= covers.length && covers.every((p, i) => p === effect.path[i])) return true;
  if (effect.e.keyword !== 'required' || cause.e.keyword !== 'additionalProperties' || cause.e.instancePath !== effect.e.instancePath) return false;
  const missing = String((effect.e.params as { missingProperty: string }).missingProperty);
  return closest(String((cause.e.params as { additionalProperty: string }).additionalProperty), [missing]) === missing;
}

function describeData(data: unknown, secret = false): string {
  if (data === null || data === undefined) return 'nothing';
  if (Array.isArray(data)) return 'a list';
  if (typeof data === 'object') return 'a mapping';
  if (secret) return typeof data === 'string' ? 'a string' : `a ${typeof data}`;
  if (typeof data === 'string') return `the string ${JSON.stringify(data.length > 40 ? `${data.slice(0, 37)}...` : data)}`;
  return `${typeof data === 'number' ? 'the number' : 'the value'} ${String(data)}`;
}

const TYPE_NAMES: Record<string, string> = { object: 'a mapping', array: 'a list', string: 'a string', integer: 'a whole number', number: 'a number', boolean: 'true or false', null: 'empty' };

function typeList(types: string[]): string {
  const names = types.map((t) => TYPE_NAMES[t] ?? t);
  return names.length <= 1 ? names.join('') : `${names.slice(0, -1).join(', ')} or ${names[names.length - 1]}`;
}

interface Problem {
  path: YamlPath;
  which: 'key' | 'value';
  message: string;
  covers?: YamlPath;
}

/** What one error means for people, and the value (or key) it is about. */
function describeError(e: Err, path: YamlPath, ctx: SchemaContext): Problem {
  const label = ctx.label(path);
  const d = (p: YamlPath, message: string, which: 'key' | 'value' = 'value'): Problem => ({ path: p, which, message });
  if (e.summary) return d(path, e.summary.startsWith(label) ? e.summary : `${label} ${e.summary}`);
  const params = e.params as Record<string, unknown>;
  const data = (value: unknown) => describeData(value, ctx.isSecret?.(path) ?? false);
  switch (e.keyword) {
    case 'type': {
      const expected = typeList([params.type as string | string[]].flat());
      return d(path, ctx.wrongType?.(path, e.data, expected, data(e.data)) ?? `${label} must be ${expected}, got ${data(e.data)}`);
    }
    case 'required':
      return d(path, `${label} needs '${String(params.missingProperty)}'`);
    case 'additionalProperties': {
      const key = String(params.additionalProperty);
      const allowed = Object.keys(((e.parentSchema as JsonSchema | undefined)?.properties ?? {}) as object);
      const custom = ctx.unknownKey?.(path, key, allowed, e.data);
      const message = typeof custom === 'string' ? custom : custom?.message;
      const problem = d([...path, key], message ?? `${label} has no key '${key}'${didYouMean(key, allowed)}${allowed.length > 0 && allowed.length <= 12 ? `; allowed: ${allowed.join(', ')}` : ''}`, 'key');
      return custom && typeof custom === 'object' ? { ...problem, covers: custom.covers } : problem;
    }
    case 'enum': {
      const allowed = (params.allowedValues as unknown[]).map(String);
      return d(path, `${label} must be one of ${allowed.join(', ')}, got ${data(e.data)}${typeof e.data === 'string' ? didYouMean(e.data, allowed) : ''}`);
    }
    case 'pattern': {
      // patternErrorMessage is what editors (VS Code, yaml-language-server) show too.
      const schema = e.parentSchema as JsonSchema | undefined;
      const hint = schema?.patternErrorMessage ?? (schema?.description ? `not valid (${String(schema.description).replace(/\.$/, '')})` : `not valid (must match ${String(params.pattern)})`);
      return d(path, `${label}: ${data(e.data)} is ${String(hint).replace(/\.$/, '')}`);
    }
    case 'minimum':
    case 'maximum':
    case 'exclusiveMinimum':
    case 'exclusiveMaximum':
      return d(path, `${label} must be ${String(params.comparison)} ${String(params.limit)}, got ${String(e.data)}`);
    case 'minItems':
      return d(path, `${label} needs at least ${String(params.limit)} item${params.limit === 1 ? '' : 's'}`);
    case 'minProperties':
      return d(path, `${label} needs at least ${String(params.limit)} entr${params.limit === 1 ? 'y' : 'ies'}`);
    case 'minLength':
      return d(path, `${label} must not be ${params.limit === 1 ? 'empty' : `shorter than ${String(params.limit)} characters`}`);
    case 'maxLength':
      return d(path, `${label} must be at most ${String(params.limit)} characters`);
    default:
      return d(path, `${label} ${e.message ?? 'is not valid'}`);
  }
}
