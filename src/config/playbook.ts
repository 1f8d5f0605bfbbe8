// Playbooks: YAML with positions, checked against the schema built from the modules, then for meaning.
import { readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import type { Diagnostic } from '../errors';
import { allModules } from '../modules/registry';
import { checkPlaybook } from './playbook-checks';
import { HANDLER_KEYWORDS, playbookSchema, PLAY_KEYWORDS, TASK_KEYWORDS } from './schemas';
import { schemaDiagnostics, validatorFor, type SchemaDiagnostic } from './schema-check';
import { closest, didYouMean } from './suggest';
import type { Handler, Inventory, Loaded, Play, Playbook, SourceRef, Task } from './types';
import { parseYamlFile, type YamlPath, type YamlSource } from './yaml';

export interface PlaybookOptions {
  /** With an inventory, host patterns and variables are checked too. */
  inventory?: Inventory;
  extraVars: Record<string, unknown>;
}

type Raw = Record<string, unknown>;

export function loadPlaybook(file: string, options: PlaybookOptions): Loaded<Playbook> {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    return { value: null, errors: [{ file, line: 1, col: 1, message: `cannot read the playbook: ${(err as Error).message}` }] };
  }
  return parsePlaybook(file, text, options);
}

export function parsePlaybook(file: string, text: string, options: PlaybookOptions): Loaded<Playbook> {
  const src = parseYamlFile(file, text);
  if (src.errors.length > 0) return { value: null, errors: src.errors };
  if (src.value === null || src.value === undefined || (Array.isArray(src.value) && src.value.length === 0)) {
    return { value: null, errors: [{ file, line: 1, col: 1, message: 'the playbook is empty: expected a list of plays, each with hosts and tasks' }] };
  }
  const schemaErrors = schemaDiagnostics(src, validatorFor('playbook', playbookSchema), playbookContext(src));
  if (!Array.isArray(src.value)) return { value: null, errors: strip(schemaErrors) };
  const playbook: Playbook = { file, dir: dirname(resolve(file)), plays: [] };
  const clean = (path: YamlPath) => !schemaErrors.some((e) => startsWith(e.path, path) || startsWith(path, e.path));
  for (const [i, raw] of (src.value as unknown[]).entries()) {
    if (isMap(raw)) playbook.plays.push(buildPlay(raw, i, src, clean));
  }
  const errors: Diagnostic[] = [...strip(schemaErrors), ...checkPlaybook(playbook, src, { ...options, clean })];
  errors.sort((a, b) => (a.file === b.file ? a.line - b.line || a.col - b.col : a.file.localeCompare(b.file)));
  return { value: errors.length === 0 ? playbook : null, errors: dedupe(errors) };
}

function strip(errors: SchemaDiagnostic[]): Diagnostic[] {
  return errors.map(({ file, line, col, message }) => ({ file, line, col, message }));
}

function dedupe(errors: Diagnostic[]): Diagnostic[] {
  const seen = new Set<string>();
  return errors.filter((e) => {
    const key = `${e.file}:${e.line}:${e.col}:${e.message}`;
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  });
}

function startsWith(path: YamlPath, prefix: YamlPath): boolean {
  return prefix.length <= path.length && prefix.every((p, i) => p === path[i]);
}

export function isMap(v: unknown): v is Raw {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

const MODULE_NAMES = () => allModules().map((m) => m.name);

/** Keys other tools put on tasks and plays, with what to do in pgplay instead. */
const FOREIGN_KEYS: Record<string, string> = {
  with_items: "pgplay loops with 'loop'",
  become: "pgplay's PostgreSQL modules run as the PostgreSQL OS user by themselves; command and template take 'become: USER' as an argument",
  become_user: "command and template take 'become: USER' as an argument",
  gather_facts: 'pgplay gathers no facts: modules read the state they need',
  until: "use 'retries' and 'delay' with an assert task",
  delegate_to: 'tasks run on the hosts of their play',
  vars: 'task variables are not supported: use play vars',
};

function moduleKeys(raw: Raw, keywords: string[]): string[] {
  return Object.keys(raw).filter((k) => !keywords.includes(k));
}

function valueAt(root: unknown, path: YamlPath): unknown {
  let v = root;
  for (const p of path) v = v && typeof v === 'object' ? (v as Record<string, unknown>)[String(p)] : undefined;
  return v;
}

function playbookContext(src: YamlSource) {
  const taskLabel = (path: YamlPath) => {
    const raw = valueAt(src.value, path);
    const name = isMap(raw) && typeof raw.name === 'string' ? raw.name : undefined;
    const kind = path[1] === 'handlers' ? 'handler' : 'task';
    return name ? `${kind} '${name}'` : `${kind} ${Number(path[2]) + 1} of play ${Number(path[0]) + 1}`;
  };
  const isTask = (path: YamlPath) => path.length === 3 && (path[1] === 'tasks' || path[1] === 'handlers');
  return {
    label(path: YamlPath): string {
      if (path.length === 0) return 'the playbook';
      if (path.length === 1) {
        const raw = valueAt(src.value, path);
        return isMap(raw) && typeof raw.name === 'string' ? `play '${raw.name}'` : `play ${Number(path[0]) + 1}`;
      }
      if (isTask(path)) return taskLabel(path);
      const rest = path[1] === 'tasks' || path[1] === 'handlers' ? path.slice(3) : path.slice(1);
      return rest.map((p, i) => (typeof p === 'number' ? `[${p}]` : `${i > 0 ? '.' : ''}${p}`)).join('');
    },
    unknownKey(path: YamlPath, key: string, allowed: string[]): string | null {
      const foreign = FOREIGN_KEYS[key];
      if (path.length === 1) {
        return `unknown play keyword '${key}'${foreign && key !== 'vars' ? `: ${foreign}` : didYouMean(key, PLAY_KEYWORDS)}; a play has ${PLAY_KEYWORDS.join(', ')}`;
      }
      if (isTask(path)) {
        const keywords = path[1] === 'handlers' ? HANDLER_KEYWORDS : TASK_KEYWORDS;
        if (foreign) return `'${key}' is not a pgplay task keyword: ${foreign}`;
        const modules = MODULE_NAMES();
        const hint = closest(key, [...modules, ...keywords]);
        if (hint && keywords.includes(hint)) return `unknown task keyword '${key}' (did you mean '${hint}'?)`;
        if (hint) return `unknown module '${key}' (did you mean '${hint}'?)`;
        return `unknown module '${key}': the modules are ${modules.join(', ')}`;
      }
      if (path.length === 4 && isTask(path.slice(0, 3))) {
        return `${String(path[3])} has no argument '${key}'${didYouMean(key, allowed)}; its arguments are ${allowed.join(', ')}`;
      }
      return null;
    },
    oneOfKeys(path: YamlPath, data: unknown, matched: number): string | null {
      if (!isTask(path) || !isMap(data)) return null;
      const keywords = path[1] === 'handlers' ? HANDLER_KEYWORDS : TASK_KEYWORDS;
      const found = moduleKeys(data, keywords);
      if (matched > 1) return `${taskLabel(path)} has more than one module (${found.join(', ')}): a task runs exactly one, split it in two`;
      return `${taskLabel(path)} has no module: add one of ${MODULE_NAMES().join(', ')}`;
    },
  };
}

function ref(src: YamlSource, path: YamlPath, which: 'key' | 'value' = 'value'): SourceRef {
  return src.at(path, which);
}

function list(v: unknown): string[] {
  if (v === undefined || v === null) return [];
  return (Array.isArray(v) ? v : [v]).map(String);
}

function buildPlay(raw: Raw, i: number, src: YamlSource, clean: (p: YamlPath) => boolean): Play {
  const tasks = Array.isArray(raw.tasks) ? raw.tasks : [];
  const handlers = Array.isArray(raw.handlers) ? raw.handlers : [];
  return {
    name: typeof raw.name === 'string' ? raw.name : `play ${i + 1}`,
    hosts: Array.isArray(raw.hosts) ? raw.hosts.map(String).join(',') : String(raw.hosts ?? ''),
    vars: isMap(raw.vars) ? raw.vars : {},
    tasks: tasks.flatMap((t, j) => {
      const task = isMap(t) && clean([i, 'tasks', j]) ? buildTask(t, [i, 'tasks', j], src, TASK_KEYWORDS) : null;
      return task ? [task] : [];
    }),
    handlers: handlers.flatMap((t, j) => {
      const task = isMap(t) && clean([i, 'handlers', j]) ? buildTask(t, [i, 'handlers', j], src, HANDLER_KEYWORDS) : null;
      return task ? [{ ...task, listen: list(t.listen) } as Handler] : [];
    }),
    source: ref(src, [i]),
  };
}

function buildTask(raw: Raw, path: YamlPath, src: YamlSource, keywords: string[]): Task | null {
  const keys = moduleKeys(raw, keywords);
  if (keys.length !== 1) return null;
  const module = keys[0];
  const args = raw[module] ?? {};
  const argSources: Record<string, SourceRef> = {};
  if (isMap(args)) for (const key of Object.keys(args)) argSources[`/${key}`] = ref(src, [...path, module, key]);
  const notify = raw.notify;
  return {
    name: typeof raw.name === 'string' ? raw.name : module,
    module,
    args,
    when: raw.when as Task['when'],
    notify: isMap(notify) ? (notify as Record<string, string>) : notify === undefined ? undefined : list(notify),
    tags: list(raw.tags),
    register: typeof raw.register === 'string' ? raw.register : undefined,
    loop: raw.loop,
    retries: typeof raw.retries === 'number' ? raw.retries : undefined,
    delay: typeof raw.delay === 'number' ? raw.delay : undefined,
    ignoreErrors: raw.ignore_errors === true,
    source: ref(src, path),
    argSources,
  };
}
