// The resolved shapes the loaders produce and the executor consumes.
import type { Diagnostic } from '../errors';

/** A place in a file the user wrote, kept on every model object for later errors. */
export interface SourceRef {
  file: string;
  line: number;
  col: number;
}

export interface Loaded<T> {
  value: T | null;
  errors: Diagnostic[];
}

export interface InventoryHost {
  name: string;
  /** Variables with Ansible's precedence already applied (all < parent groups < child groups < host). */
  vars: Record<string, unknown>;
  groups: string[]; // every group the host belongs to, 'all' included
  source: SourceRef;
}

export interface InventoryGroup {
  name: string;
  hosts: string[]; // direct and through children, in inventory order
  children: string[];
  vars: Record<string, unknown>;
  source: SourceRef;
}

export interface Inventory {
  file: string;
  hosts: Map<string, InventoryHost>; // in inventory order
  groups: Map<string, InventoryGroup>;
}

export interface Task {
  name: string;
  module: string;
  /** Arguments as written: strings may hold {{ expr }}, rendered per host at run time. */
  args: unknown;
  when?: string | boolean | Array<string | boolean>;
  /** Handlers to notify when changed: names, or a map from what the module reported (restart, reload) to a handler. */
  notify?: string[] | Record<string, string>;
  tags: string[];
  register?: string;
  loop?: unknown;
  retries?: number;
  delay?: number; // seconds
  ignoreErrors: boolean;
  /** no_log: the task's message, diff, item, progress, errors and registered output are hidden. */
  noLog: boolean;
  source: SourceRef;
  /** Where each argument was written, by JSON pointer, for errors found late. */
  argSources: Record<string, SourceRef>;
}

export interface Handler extends Task {
  listen: string[];
}

export interface Play {
  name: string;
  hosts: string; // pattern
  vars: Record<string, unknown>;
  tasks: Task[];
  handlers: Handler[];
  source: SourceRef;
}

export interface Playbook {
  file: string;
  dir: string; // templates are looked up relative to it and to the project
  plays: Play[];
}
