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

/** Where a variable's value is written; textCol is the column of its text's first character when it is on one line. */
export interface VarSource extends SourceRef {
  textCol?: number;
}

/** Variables of one place (a group in an inventory file, a group_vars file, a host line) and where each is written. */
export interface VarLayer {
  vars: Record<string, unknown>;
  sources: Record<string, VarSource>;
}

export interface InventoryHost {
  name: string;
  /**
   * Variables with Ansible's precedence applied: inventory group vars (all < parent < child groups), group_vars/all
   * beside the inventory < beside the playbook, group_vars/GROUP likewise, then the host's own, host_vars/ likewise.
   */
  vars: Record<string, unknown>;
  /** Where each variable's winning value is written. */
  varSources: Record<string, VarSource>;
  groups: string[]; // every group the host belongs to, 'all' included, in precedence order
  source: SourceRef;
}

export interface InventoryGroup {
  name: string;
  hosts: string[]; // direct and through children, in inventory order
  children: string[];
  vars: Record<string, unknown>;
  varSources: Record<string, VarSource>;
  source: SourceRef;
}

/** group_vars/ and host_vars/ of one directory: beside the inventory, or beside the playbook. */
export interface VarsDir {
  dir: string;
  kind: 'inventory' | 'playbook';
  groups: Map<string, VarLayer>;
  hosts: Map<string, VarLayer>;
}

export interface Inventory {
  file: string;
  hosts: Map<string, InventoryHost>; // in inventory order
  groups: Map<string, InventoryGroup>;
  /** Each host's own variables as the inventory files give them. */
  hostLayers: Map<string, VarLayer>;
  /** The group_vars/ and host_vars/ read so far, in the order Ansible applies them. */
  varsDirs: VarsDir[];
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
  /** Where each play variable is written. */
  varSources: Record<string, SourceRef>;
  tasks: Task[];
  handlers: Handler[];
  source: SourceRef;
}

export interface Playbook {
  file: string;
  dir: string; // templates are looked up relative to it and to the project
  plays: Play[];
}
