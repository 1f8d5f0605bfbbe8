// What a schema cannot say: {{ }} syntax and undefined variables, host patterns, notified handlers,
// loops over non-lists, template files, and each module's own checks. Nothing here connects to a host.
import type { Diagnostic } from '../errors';
import { findModule } from '../modules/registry';
import { conditionProblem, helperHint, parseTemplate, templateReferences, TemplateError, KNOWN_HELPERS } from '../templates/expressions';
import { renderValue } from '../templates/render';
import { resolveTemplatePath, templateNames } from '../templates/resolve';
import { dirname, isAbsolute, join, relative } from 'node:path';
import { PatternError, playHostPattern, resolvePattern } from './patterns';
import { didYouMean } from './suggest';
import { readTextFile } from './text-file';
import type { Inventory, Playbook, SourceRef } from './types';
import { BUILTIN_VARIABLES, buildScope, DEFAULT_VARIABLES, VariableError } from './vars';
import type { YamlPath, YamlSource } from './yaml';

export interface CheckOptions {
  inventory?: Inventory;
  extraVars: Record<string, unknown>;
  /** True when the schema found nothing wrong at or under this path. */
  clean(path: YamlPath): boolean;
  /** True when the value at or above this path has the wrong type (its insides are not checked apart). */
  wrongType(path: YamlPath): boolean;
  /** With the environment of a run, every `env.NAME` a playbook reads must be set before anything connects. */
  environment?: Environment;
}

type Environment = Record<string, string | undefined>;

type Raw = Record<string, unknown>;
const isMap = (v: unknown): v is Raw => v !== null && typeof v === 'object' && !Array.isArray(v);

export function checkPlaybook(playbook: Playbook, src: YamlSource, o: CheckOptions): Diagnostic[] {
  const out: Diagnostic[] = [];
  const plays = Array.isArray(src.value) ? (src.value as unknown[]) : [];
  const registered = new Set<string>();
  for (const play of plays) {
    if (!isMap(play)) continue;
    for (const t of [...(Array.isArray(play.tasks) ? play.tasks : []), ...(Array.isArray(play.handlers) ? play.handlers : [])]) {
      if (isMap(t) && typeof t.register === 'string') registered.add(t.register);
    }
  }
  for (const [i, play] of plays.entries()) if (isMap(play)) out.push(...checkPlay(play, i, playbook, src, o, registered));
  return out;
}

function checkPlay(play: Raw, i: number, playbook: Playbook, src: YamlSource, o: CheckOptions, registered: Set<string>): Diagnostic[] {
  const out: Diagnostic[] = [];
  const at = (path: YamlPath, message: string, which: 'key' | 'value' = 'value') => out.push({ ...src.at(path, which), message });
  const playVars = isMap(play.vars) ? play.vars : {};

  // Hosts first: their variables are what the play's templates may use.
  let hosts: string[] | null = null;
  const written = Array.isArray(play.hosts) ? play.hosts.map(String).join(',') : typeof play.hosts === 'string' ? play.hosts : null;
  const rendered: { pattern: string | null; error?: string } = written !== null && written.includes('{{') && o.inventory ? renderedPattern(written, o.inventory, o.extraVars) : { pattern: written };
  const pattern = rendered.pattern;
  if (rendered.error) at([i, 'hosts'], rendered.error);
  if (o.inventory && pattern !== null && !pattern.includes('{{') && o.clean([i, 'hosts'])) {
    try {
      hosts = resolvePattern(pattern, o.inventory);
      if (hosts.length === 0) at([i, 'hosts'], `host pattern '${pattern}' matches no host`);
    } catch (err) {
      if (!(err instanceof PatternError)) throw err;
      at([i, 'hosts'], `host pattern '${pattern}': ${err.message}`);
    }
  }
  const known = new Set<string>([...BUILTIN_VARIABLES, ...Object.keys(DEFAULT_VARIABLES), ...Object.keys(playVars), ...Object.keys(o.extraVars), ...registered]);
  if (o.inventory) for (const h of hosts ?? o.inventory.hosts.keys()) Object.keys(o.inventory.hosts.get(h)?.vars ?? {}).forEach((k) => known.add(k));
  const checkVariables = Boolean(o.inventory);
  if (o.inventory && hosts && hosts.length > 0) {
    for (const c of variableCircles(o.inventory, hosts[0], playVars, o.extraVars)) at([i, 'vars', c.name], c.message);
  }

  const read = new Set<string>();
  walkStrings(play, [i], (text, path) => {
    if (o.wrongType(path)) return;
    const condition = isCondition(path, play);
    checkTemplateText(text, path, condition, src, out, checkVariables ? withItem(known, path, play) : null, o.environment, read);
  });
  if (o.inventory && hosts) out.push(...unsupportedJinjaRead(o.inventory, hosts, read, play, o.extraVars));

  const handlers = Array.isArray(play.handlers) ? play.handlers.filter(isMap) : [];
  const handlerNames = new Set(handlers.flatMap((h) => [h.name, ...(Array.isArray(h.listen) ? h.listen : [h.listen])]).filter((n): n is string => typeof n === 'string'));
  for (const section of ['tasks', 'handlers'] as const) {
    const tasks = Array.isArray(play[section]) ? (play[section] as unknown[]) : [];
    for (const [j, task] of tasks.entries()) {
      if (!isMap(task)) continue;
      const path: YamlPath = [i, section, j];
      checkNotify(task, path, handlerNames, at);
      if (typeof task.register === 'string' && BUILTIN_VARIABLES.includes(task.register)) at([...path, 'register'], `'${task.register}' is a name pgplay gives its own meaning: register under another name`);
      if (!o.clean(path)) continue;
      const name = Object.keys(task).find((k) => findModule(k));
      const module = name ? findModule(name) : undefined;
      if (!name || !module) continue;
      const args = (isMap(task[name]) ? task[name] : {}) as Raw;
      for (const p of module.validate?.(args) ?? []) at(p.arg.length > 0 ? [...path, name, ...(Array.isArray(p.arg) ? p.arg : [p.arg])] : path, `${name}: ${p.message}`);
      if (name === 'template' && typeof args.src === 'string' && !args.src.includes('{{')) {
        checkTemplateFile(args.src, playbook, [...path, 'template', 'src'], src, out, checkVariables ? known : null, o.environment);
      }
      if (o.inventory && hosts && hosts.length > 0 && typeof task.loop === 'string') {
        const problem = staticLoopProblem(task.loop, o.inventory, hosts[0], playVars, o.extraVars);
        if (problem) at([...path, 'loop'], problem);
      }
    }
  }
  return out;
}

/** `when` and assert's `that` hold bare expressions: `eq a 1` means `{{ eq a 1 }}`. */
function isCondition(path: YamlPath, play: Raw): boolean {
  if (path.length < 4) return false;
  if (path[3] === 'when') return true;
  const task = ((play[String(path[1])] as unknown[]) ?? [])[Number(path[2])];
  return path[3] === 'assert' && path[4] === 'that' && isMap(task);
}

/** `item` is known inside a task that loops (or tries to, with Ansible's with_*), except in the loop itself. */
function withItem(known: Set<string>, path: YamlPath, play: Raw): Set<string> {
  if (path.length < 4 || path[3] === 'loop') return known;
  const task = ((play[String(path[1])] as unknown[]) ?? [])[Number(path[2])];
  const loops = isMap(task) && (task.loop !== undefined || Object.keys(task).some((k) => k.startsWith('with_')));
  return loops ? new Set([...known, 'item']) : known;
}

function walkStrings(value: unknown, path: YamlPath, visit: (text: string, path: YamlPath) => void): void {
  if (typeof value === 'string') visit(value, path);
  else if (Array.isArray(value)) value.forEach((v, k) => walkStrings(v, [...path, k], visit));
  else if (isMap(value)) for (const [k, v] of Object.entries(value)) walkStrings(v, [...path, k], visit);
}

function checkTemplateText(text: string, path: YamlPath, condition: boolean, src: YamlSource, out: Diagnostic[], known: Set<string> | null, environment?: Environment, read?: Set<string>): void {
  const wrapped = condition && !text.includes('{{');
  if (!wrapped && !text.includes('{{')) return;
  const source = wrapped ? `{{ ${text} }}` : text;
  const shift = wrapped ? 3 : 0;
  const place = (where?: { line: number; column: number }) => (where ? src.inString(path, where.line, Math.max(0, where.column - shift)) : src.at(path));
  let ast;
  try {
    ast = parseTemplate(source);
  } catch (err) {
    if (!(err instanceof TemplateError)) throw err;
    out.push({ ...place(err.where), message: err.message });
    return;
  }
  for (const r of templateReferences(ast)) if (r.kind === 'variable') read?.add(r.name);
  const problem = condition ? conditionProblem(ast, source) : null;
  if (problem) out.push({ ...place(problem.where), message: problem.message });
  out.push(...referenceProblems(ast, known, place, environment));
}

/**
 * Variables the play's tasks read whose values (in the inventory, group_vars or host_vars) hold Jinja pgplay does
 * not evaluate: an error at the value's place, before the run. Values no task reads are never evaluated.
 */
function unsupportedJinjaRead(inventory: Inventory, hosts: string[], read: Set<string>, play: Raw, extraVars: Raw): Diagnostic[] {
  const out: Diagnostic[] = [];
  const seen = new Set<string>();
  const playVars = isMap(play.vars) ? play.vars : {};
  for (const host of hosts) {
    const scope = buildScope({ inventory, hostName: host, playVars, extraVars });
    for (const name of read) {
      if (!(name in scope) || BUILTIN_VARIABLES.includes(name)) continue;
      try {
        void scope[name];
      } catch (err) {
        if (!(err instanceof VariableError) || !err.unsupportedJinja || !err.source) continue;
        const key = `${err.source.file}:${err.source.line}:${err.source.col}`;
        if (seen.has(key)) continue;
        seen.add(key);
        out.push({ ...err.source, message: `${err.variable}: ${err.detail}` });
      }
    }
  }
  return out;
}

/** Unknown helpers, and (when the variables can be known) undefined variables, each at its place. */
function referenceProblems(ast: hbs.AST.Program, known: Set<string> | null, place: (where?: { line: number; column: number }) => SourceRef, environment?: Environment): Diagnostic[] {
  const out: Diagnostic[] = [];
  for (const r of templateReferences(ast)) {
    if (r.kind === 'helper' && !KNOWN_HELPERS.has(r.name)) out.push({ ...place(r.where), message: `unknown helper '${r.name}'${helperHint(r.name)}` });
    if (r.kind === 'variable' && known && !known.has(r.name)) out.push({ ...place(r.where), message: `undefined variable '${r.name}'${didYouMean(r.name, known)}` });
    if (r.kind === 'variable' && environment && r.name === 'env' && r.field && environment[r.field] === undefined) {
      out.push({ ...place(r.where), message: `environment variable ${r.field} is not set: set it before the run (secrets come from the environment)` });
    }
  }
  return out;
}

function checkTemplateFile(name: string, playbook: Playbook, path: YamlPath, src: YamlSource, out: Diagnostic[], known: Set<string> | null, environment?: Environment): void {
  const found = resolveTemplatePath(name, playbook.dir);
  if (!found) {
    const hint = didYouMean(name, templateNames(playbook.dir));
    out.push({ ...src.at(path), message: `template ${name} not found beside the playbook, in its templates/ or in the project's templates/${hint}` });
    return;
  }
  // Named the way the playbook was: relative to where the user is when the playbook path was relative.
  const file = isAbsolute(name) ? found : join(dirname(playbook.file), relative(playbook.dir, found));
  const read = readTextFile(found, 'template');
  if (read.error) {
    out.push({ ...read.error, file });
    return;
  }
  const place = (where?: { line: number; column: number }): SourceRef => ({ file, line: where?.line ?? 1, col: (where?.column ?? 0) + 1 });
  let ast;
  try {
    ast = parseTemplate(read.text);
  } catch (err) {
    if (!(err instanceof TemplateError)) throw err;
    out.push({ ...place(err.where), message: err.message });
    return;
  }
  out.push(...referenceProblems(ast, known, place, environment));
}

function checkNotify(task: Raw, path: YamlPath, handlers: Set<string>, at: (p: YamlPath, m: string) => void): void {
  const notify = task.notify;
  const names: Array<[YamlPath, unknown]> =
    typeof notify === 'string'
      ? [[[...path, 'notify'], notify]]
      : Array.isArray(notify)
        ? notify.map((n, k) => [[...path, 'notify', k], n])
        : isMap(notify)
          ? Object.entries(notify).map(([k, n]) => [[...path, 'notify', k], n])
          : [];
  for (const [p, name] of names) {
    if (typeof name !== 'string' || name.includes('{{') || handlers.has(name)) continue;
    at(p, `handler '${name}' is notified but not defined in this play${didYouMean(name, handlers)}`);
  }
}

/** Play variables whose values end up referring to themselves, one message per circle. */
function variableCircles(inventory: Inventory, host: string, playVars: Raw, extraVars: Raw): Array<{ name: string; message: string }> {
  const scope = buildScope({ inventory, hostName: host, playVars, extraVars });
  const circles = new Set<string>();
  const out: Array<{ name: string; message: string }> = [];
  for (const name of Object.keys(playVars)) {
    try {
      void scope[name];
    } catch (err) {
      const circle = err instanceof TemplateError ? /^variable '([^']+)' refers to itself(?:: (.*))?$/.exec(err.message) : null;
      if (!circle) continue; // anything else (a variable only a run registers) is checked where it is used
      const members = [...new Set(circle[2]?.split(' -> ') ?? [circle[1]])].sort().join(' ');
      if (circles.has(members)) continue;
      circles.add(members);
      out.push({ name: circle[1] in playVars ? circle[1] : name, message: circle[0] });
    }
  }
  return out;
}

/** A loop whose list can be known before the run (play or -e variables, groups) must be a list. */
function staticLoopProblem(loop: string, inventory: Inventory, host: string, playVars: Raw, extraVars: Raw): string | null {
  let value: unknown;
  try {
    value = renderValue(loop, buildScope({ inventory, hostName: host, playVars, extraVars }));
  } catch {
    return null; // depends on what the run registers; checked when the task runs
  }
  if (Array.isArray(value)) return null;
  const kind = value === null || value === undefined ? 'nothing' : typeof value === 'object' ? 'a mapping' : `a ${typeof value}`;
  return `loop must be a list, but ${loop.trim()} gives ${kind}${typeof value === 'string' ? ` (${JSON.stringify(value.length > 30 ? `${value.slice(0, 27)}...` : value)})` : ''}`;
}

/**
 * `hosts: "{{ target }}"` as the run will see it; as written when it cannot be rendered yet. An undefined variable
 * is reported apart (it may come with -e at run time); any other rendering error would stop the run: it is one here.
 */
function renderedPattern(pattern: string, inventory: Inventory, extraVars: Raw): { pattern: string; error?: string } {
  try {
    return { pattern: playHostPattern(pattern, inventory, extraVars) };
  } catch (err) {
    const message = err instanceof Error ? err.message : String(err);
    return { pattern, error: /^undefined variable /.test(message) || message.startsWith('template syntax error') ? undefined : `hosts: ${message}` };
  }
}
