// What the playbook schema's errors say: names of plays and tasks, and hints for the habits people bring
// (Ansible keywords and modules, key=value arguments, arguments not indented under their module).
import { allModules, findModule } from '../modules/registry';
import { HANDLER_KEYWORDS, PLAY_KEYWORDS, TASK_KEYWORDS } from './schemas';
import type { SchemaContext } from './schema-check';
import { closest, didYouMean } from './suggest';
import type { YamlPath, YamlSource } from './yaml';

type Raw = Record<string, unknown>;
const isMap = (v: unknown): v is Raw => v !== null && typeof v === 'object' && !Array.isArray(v);
const moduleNames = () => allModules().map((m) => m.name);

/** Keys other tools put on tasks and plays, with what to do in pgplay instead. */
const FOREIGN_KEYS: Record<string, string> = {
  with_items: "pgplay loops with 'loop'",
  become: "pgplay's PostgreSQL modules run as the PostgreSQL OS user by themselves; command and template take 'become: USER' as an argument",
  become_user: "command and template take 'become: USER' as an argument",
  become_method: 'set become_method in the inventory',
  remote_user: 'set ansible_user in the inventory',
  connection: 'set connection in the inventory',
  gather_facts: 'pgplay gathers no facts: modules read the state they need',
  until: "use 'retries' and 'delay' with an assert task",
  delegate_to: 'tasks run on the hosts of their play',
  vars: 'task variables are not supported: use play vars',
  roles: "pgplay has no roles: put the role's tasks in the play",
  pre_tasks: 'put them first in tasks',
  post_tasks: 'put them last in tasks',
  serial: 'the hosts of a play run in parallel; --forks limits how many at once',
  block: 'pgplay has no blocks: write the tasks one by one',
  changed_when: 'modules report changed themselves',
  failed_when: 'check results with an assert task',
  check_mode: 'use --check for the whole run',
};

/** Plays that are not plays in pgplay: the key is the whole problem, not the missing hosts. */
const PLAY_REPLACING = new Set(['import_playbook', 'include', 'include_playbook']);
const IMPORT_MESSAGE = 'pgplay has no imports: run each playbook with its own pgplay run, or copy its plays into this file';

/** Ansible modules, and the pgplay module that does their job here. */
const ANSIBLE_MODULES: Record<string, string> = {
  postgresql_user: "'ensure_role'",
  postgresql_pg_hba: "'ensure_hba_line'",
  postgresql_set: "'ensure_conf'",
  shell: "'command'",
  raw: "'command'",
  systemd: "'service'",
  systemd_service: "'service'",
  copy: "'template'",
  lineinfile: "'ensure_conf' (postgresql.conf) or 'ensure_hba_line' (pg_hba.conf)",
  fail: "'assert'",
  include_tasks: 'tasks written in this play (pgplay has no includes)',
  import_tasks: 'tasks written in this play (pgplay has no includes)',
};

function valueAt(root: unknown, path: YamlPath): unknown {
  let v = root;
  for (const p of path) v = v && typeof v === 'object' ? (v as Raw)[String(p)] : undefined;
  return v;
}

const isTask = (path: YamlPath) => path.length === 3 && (path[1] === 'tasks' || path[1] === 'handlers');
const keywordsOf = (path: YamlPath) => (path[1] === 'handlers' ? HANDLER_KEYWORDS : TASK_KEYWORDS);

export function playbookContext(src: YamlSource): Required<SchemaContext> {
  const taskLabel = (path: YamlPath) => {
    const raw = valueAt(src.value, path);
    const name = isMap(raw) && typeof raw.name === 'string' ? raw.name : undefined;
    const kind = path[1] === 'handlers' ? 'handler' : 'task';
    return name ? `${kind} '${name}'` : `${kind} ${Number(path[2]) + 1} of play ${Number(path[0]) + 1}`;
  };
  const label = (path: YamlPath): string => {
    if (path.length === 0) return 'the playbook';
    if (path.length === 1) {
      const raw = valueAt(src.value, path);
      return isMap(raw) && typeof raw.name === 'string' ? `play '${raw.name}'` : `play ${Number(path[0]) + 1}`;
    }
    if (path.length === 2) return String(path[1]);
    if (isTask(path)) return taskLabel(path);
    const rest = path[1] === 'tasks' || path[1] === 'handlers' ? path.slice(3) : path.slice(1);
    return rest.map((p, i) => (typeof p === 'number' ? `[${p}]` : `${i > 0 ? '.' : ''}${p}`)).join('');
  };
  return {
    label,
    unknownKey(path, key, allowed, data) {
      const foreign = FOREIGN_KEYS[key] ?? (key.startsWith('with_') ? FOREIGN_KEYS.with_items : undefined);
      if (path.length === 1) {
        if (PLAY_REPLACING.has(key)) return { message: `'${key}': ${IMPORT_MESSAGE}`, covers: path };
        if (foreign && key !== 'vars') return `unknown play keyword '${key}': ${foreign}`;
        return `unknown play keyword '${key}'${didYouMean(key, PLAY_KEYWORDS)}; a play has ${PLAY_KEYWORDS.join(', ')}`;
      }
      if (isTask(path)) return unknownTaskKey(path, key, data, foreign);
      if (path.length === 4 && isTask(path.slice(0, 3)) && path[3] === 'notify') {
        return `notify has no key '${key}'${didYouMean(key, allowed)}: a notify mapping picks the handler by what the module reports (${allowed.join(', ')})`;
      }
      if (path.length === 4 && isTask(path.slice(0, 3))) {
        return `${String(path[3])} has no argument '${key}'${didYouMean(key, allowed)}; its arguments are ${allowed.join(', ')}`;
      }
      return null;
    },
    oneOfKeys(path, data, matched) {
      if (!isTask(path) || !isMap(data)) return null;
      const found = Object.keys(data).filter((k) => !keywordsOf(path).includes(k));
      if (matched > 1) return `${taskLabel(path)} has more than one module (${found.join(', ')}): a task runs exactly one, split it in two`;
      return `${taskLabel(path)} has no module: add one of ${moduleNames().join(', ')}`;
    },
    wrongType(path, data, expected, got) {
      if (path.length === 0) {
        const play = isMap(data) && ('hosts' in data || 'tasks' in data) ? " (a play starts with '- ', as in '- hosts: all')" : '';
        return `the playbook must be a list of plays, got ${got}${play}`;
      }
      if (path.length === 2 && (path[1] === 'tasks' || path[1] === 'handlers') && isMap(data)) {
        return `${path[1]} must be a list, got a mapping (each ${path[1] === 'tasks' ? 'task' : 'handler'} starts with '- ', as in '- name: ...')`;
      }
      if (isTask(path)) return `${taskLabel(path)} must be a mapping (a name and one module with its arguments), got ${got}`;
      const module = path.length === 4 && isTask(path.slice(0, 3)) ? findModule(String(path[3])) : undefined;
      if (module && typeof data === 'string' && /^\s*\w+=/.test(data)) {
        const pairs = data.trim().split(/\s+/).map((p) => p.replace('=', ': ')).join(', ');
        return `${module.name} takes its arguments as a mapping, not key=value text: write ${module.name}: {${pairs}}`;
      }
      return null;
    },
    isSecret(path) {
      const module = path.length === 5 && isTask(path.slice(0, 3)) ? findModule(String(path[3])) : undefined;
      return Boolean(module?.secretArgs?.includes(String(path[4])));
    },
  };
}

function unknownTaskKey(path: YamlPath, key: string, data: unknown, foreign: string | undefined): string | { message: string; covers: YamlPath } {
  if (foreign) return `'${key}' is not a pgplay task keyword: ${foreign}`;
  const keywords = keywordsOf(path);
  const task = isMap(data) ? data : {};
  // An argument written at the task's level, beside a module that needs it: the module's own errors follow from it.
  const present = Object.keys(task).flatMap((k) => findModule(k) ?? []);
  const owner = present.length === 1 && key in ((present[0].schema.properties ?? {}) as object) ? present[0] : undefined;
  if (owner) {
    const message = `'${key}' is an argument of ${owner.name}: indent it under '${owner.name}:'`;
    return isMap(task[owner.name]) ? message : { message, covers: [...path, owner.name] };
  }
  const short = key.includes('.') ? key.slice(key.lastIndexOf('.') + 1) : key;
  if (short !== key && findModule(short)) return `unknown module '${key}': pgplay's modules have short names, as in '${short}'`;
  const ansible = ANSIBLE_MODULES[short];
  if (ansible) return `unknown module '${key}': pgplay does this with ${ansible}`;
  const modules = moduleNames();
  const hint = closest(key, [...modules, ...keywords]);
  if (hint && keywords.includes(hint)) return `unknown task keyword '${key}' (did you mean '${hint}'?)`;
  if (hint) return `unknown module '${key}' (did you mean '${hint}'?)`;
  return `unknown module '${key}': the modules are ${modules.join(', ')}`;
}
