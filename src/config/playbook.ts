// Playbooks: YAML with positions, checked against the schema built from the modules, then for meaning.
import { dirname, resolve } from 'node:path';
import { dedupeDiagnostics, type Diagnostic } from '../errors';
import { checkPlaybook } from './playbook-checks';
import { playbookContext } from './playbook-messages';
import { HANDLER_KEYWORDS, TASK_KEYWORDS } from './schemas';
import { schemaDiagnostics, type SchemaDiagnostic } from './schema-check';
import { playbookValidator } from './validators';
import type { Handler, Inventory, Loaded, Play, Playbook, SourceRef, Task } from './types';
import { readTextFile } from './text-file';
import { parseYamlFile, type YamlPath, type YamlSource } from './yaml';

export interface PlaybookOptions {
  /** With an inventory, host patterns and variables are checked too. */
  inventory?: Inventory;
  extraVars: Record<string, unknown>;
  /** For a run: the environment that `env.NAME` must be set in. */
  environment?: Record<string, string | undefined>;
}

type Raw = Record<string, unknown>;

export function loadPlaybook(file: string, options: PlaybookOptions): Loaded<Playbook> {
  const read = readTextFile(file, 'playbook');
  return read.error ? { value: null, errors: [read.error] } : parsePlaybook(file, read.text, options);
}

export function parsePlaybook(file: string, text: string, options: PlaybookOptions): Loaded<Playbook> {
  const src = parseYamlFile(file, text);
  if (src.errors.length > 0) return { value: null, errors: src.errors };
  if (src.value === null || src.value === undefined || (Array.isArray(src.value) && src.value.length === 0)) {
    return { value: null, errors: [{ file, line: 1, col: 1, message: 'the playbook is empty: expected a list of plays, each with hosts and tasks' }] };
  }
  const schemaErrors = schemaDiagnostics(src, playbookValidator(), playbookContext(src));
  if (!Array.isArray(src.value)) return { value: null, errors: strip(schemaErrors) };
  const playbook: Playbook = { file, dir: dirname(resolve(file)), plays: [] };
  const clean = (path: YamlPath) => !schemaErrors.some((e) => startsWith(e.path, path) || startsWith(path, e.path));
  for (const [i, raw] of (src.value as unknown[]).entries()) {
    if (isMap(raw)) playbook.plays.push(buildPlay(raw, i, src, clean));
  }
  const wrongType = (path: YamlPath) => schemaErrors.some((e) => e.keyword === 'type' && startsWith(path, e.path));
  const errors: Diagnostic[] = [...strip(schemaErrors), ...checkPlaybook(playbook, src, { ...options, clean, wrongType })];
  errors.sort((a, b) => (a.file === b.file ? a.line - b.line || a.col - b.col : a.file.localeCompare(b.file)));
  return { value: errors.length === 0 ? playbook : null, errors: dedupeDiagnostics(errors) };
}

function strip(errors: SchemaDiagnostic[]): Diagnostic[] {
  return errors.map(({ file, line, col, message }) => ({ file, line, col, message }));
}


function startsWith(path: YamlPath, prefix: YamlPath): boolean {
  return prefix.length <= path.length && prefix.every((p, i) => p === path[i]);
}

export function isMap(v: unknown): v is Raw {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

function moduleKeys(raw: Raw, keywords: string[]): string[] {
  return Object.keys(raw).filter((k) => !keywords.includes(k));
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
    varSources: isMap(raw.vars) ? Object.fromEntries(Object.keys(raw.vars).map((k) => [k, ref(src, [i, 'vars', k])])) : {},
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
    noLog: raw.no_log === true,
    source: ref(src, path),
    argSources,
  };
}
