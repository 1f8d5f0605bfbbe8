// Drives listr2's DefaultRenderer from run events: listr2 draws plays > hosts > tasks, the executor decides every state.
// listr2 runs task functions it knows up front; pgplay learns of tasks as they start, so only each play is a
// real listr2 task (it ends at play_end) and hosts and tasks are listr2 Task objects whose state we set.
import type { Listr, ListrTaskObject } from 'listr2';
import { redact } from '../secrets';
import type { EventOf, TaskStatus } from './events';
import { formatDiff } from './diff';
import { formatDuration, itemLabel, splitMessage } from './format';
import { paintStatus, type Paint } from './paint';
import { paintDiffLine } from './plain';

type ListrModule = typeof import('listr2');
type TaskObject = ListrTaskObject<any, any, any>;
type TaskList = Listr<any, any, any>;
type Result = EventOf<'task_result'>;

export interface LiveTreeOptions {
  stream: NodeJS.WritableStream;
  errStream: NodeJS.WritableStream;
  paint: Paint;
  showDiff: boolean;
}

interface TaskNode {
  name: string;
  task: TaskObject;
  startMs: number;
  results: Result[];
  items?: TaskList;
  notes: string[];
  head: string;
  final: boolean;
}

interface HostNode {
  name: string;
  task: TaskObject;
  tasks?: TaskList;
  current?: TaskNode;
  last?: TaskNode;
  counts: Record<TaskStatus | 'ignored', number>;
  final: boolean;
}

interface PlayNode {
  hostList: TaskList;
  after: string[];
  options: object;
  hosts: Map<string, HostNode>;
  settle(): void;
}

const rank: Record<TaskStatus, number> = { skipped: 0, ok: 1, changed: 2, failed: 3, unreachable: 4 };

export class LiveTree {
  readonly #lib: ListrModule;
  readonly #o: LiveTreeOptions;
  // One renderer at a time owns the terminal: the next play draws after the last one printed its final state.
  #chain: Promise<unknown> = Promise.resolve();
  #exitHooked = false;
  #play?: PlayNode;
  #drawing = false;
  // A second Ctrl-C exits at once; listr2 hid the cursor, so give it back.
  readonly #showCursor = () => {
    if (this.#drawing) this.#o.stream.write('\u001b[?25h');
  };

  // One for the whole run: listr2 keeps the stream's write method when its ProcessOutput is made, so one made
  // while the previous play's renderer holds the stream would write into that renderer's spent buffer.
  readonly #logger: unknown;

  constructor(lib: ListrModule, options: LiveTreeOptions) {
    this.#lib = lib;
    this.#o = options;
    const processOutput = new lib.ProcessOutput(options.stream as NodeJS.WriteStream, options.errStream as NodeJS.WriteStream);
    this.#logger = new lib.ListrLogger({ processOutput, useIcons: true });
  }

  startPlay(name: string, hosts: string[]): void {
    this.endPlay();
    const { Listr, DefaultRenderer, ListrDefaultRendererLogLevels, figures } = this.#lib;
    const rendererOptions = {
      collapseSubtasks: false,
      collapseErrors: false,
      showErrorMessage: true,
      collapseSkips: true,
      showSkipMessage: false,
      // listr2 marks a failed parent with the same pointer as a running one; a cross tells them apart.
      icon: { [ListrDefaultRendererLogLevels.FAILED_WITH_FAILED_SUBTASKS]: figures.cross },
      logger: this.#logger,
    };
    const options = {
      concurrent: false,
      exitOnError: false,
      collectErrors: false as const,
      // pgplay handles Ctrl-C itself (stop tasks, exit 99); listr2's handler would exit 127 at once.
      registerSignalListeners: false,
      renderer: DefaultRenderer,
      fallbackRenderer: DefaultRenderer,
      rendererOptions,
      fallbackRendererOptions: rendererOptions,
    };
    let settle!: () => void;
    const done = new Promise<void>((resolve) => (settle = resolve));
    const root: TaskList = new Listr([{ title: redact(`PLAY [${name}]`), task: () => done }], options as any);
    const hostList: TaskList = new Listr([], options as any, root.tasks[0]);
    root.tasks[0].subtasks = hostList.tasks;
    const play: PlayNode = { hostList, after: [], options, hosts: new Map(), settle };
    this.#play = play;
    for (const host of hosts) this.#host(host);
    if (!this.#exitHooked) process.once('exit', this.#showCursor);
    this.#exitHooked = true;
    this.#chain = this.#chain
      .then(() => {
        this.#drawing = true;
        return root.run();
      })
      .catch(() => undefined)
      .then(() => {
        this.#drawing = false;
        this.#write(play.after);
      });
  }

  /** Lines for the terminal: under the open play's final tree, or in turn between plays. */
  print(lines: string[]): void {
    const play = this.#play;
    if (play) play.after.push(...lines);
    else this.#chain = this.#chain.then(() => this.#write(lines));
  }

  startTask(host: string, task: string, time: string): void {
    const h = this.#host(host);
    if (!h) return;
    this.#finishTask(h);
    if (h.final) return;
    if (h.task.state === this.#lib.ListrTaskState.WAITING) h.task.state$ = this.#lib.ListrTaskState.STARTED;
    h.tasks ??= this.#childList(h.task);
    const node: TaskNode = { name: task, task: this.#addChild(h.tasks, task), startMs: Date.parse(time), results: [], notes: [], head: task, final: false };
    node.task.state$ = this.#lib.ListrTaskState.STARTED;
    h.current = node;
    h.last = node;
  }

  progress(host: string, task: string, message: string): void {
    const node = this.#host(host)?.current;
    if (!node || node.name !== task || node.final) return;
    node.head = `${task} ${this.#o.paint.dim(`- ${splitMessage(message).first}`)}`;
    this.#retitle(node);
  }

  result(e: Result): void {
    const h = this.#host(e.host);
    if (!h) return;
    if (!h.current || h.current.name !== e.task || h.current.final) this.startTask(e.host, e.task, e.time);
    const node = h.current;
    if (!node) return;
    node.results.push(e);
    if (e.item !== undefined) {
      node.items ??= this.#childList(node.task);
      const item = this.#addChild(node.items, itemLabel(e.item));
      this.#show(item, e.status, this.#line(itemLabel(e.item), e), e.message, this.#notes(e));
      node.head = `${node.name} ${this.#o.paint.dim(`- ${node.results.length} item${node.results.length === 1 ? '' : 's'}`)}`;
      this.#retitle(node);
    } else {
      node.notes.push(...this.#notes(e));
      this.#finishTask(h);
    }
    // The executor stops a host on its first unignored failure (after the whole loop) or when it is unreachable.
    if (e.status === 'unreachable' || (e.status === 'failed' && !e.ignored && e.item === undefined)) this.#finishHost(h);
  }

  notified(host: string, handler: string): void {
    const node = this.#host(host)?.last;
    if (!node) return;
    node.notes.push(this.#o.paint.dim(`notify: ${handler}`));
    this.#retitle(node);
  }

  endPlay(): void {
    const play = this.#play;
    if (!play) return;
    for (const h of play.hosts.values()) this.#finishHost(h);
    this.#play = undefined;
    play.settle();
  }

  /** Close any open play and wait until the last tree is printed in its final state. */
  async close(): Promise<void> {
    this.endPlay();
    await this.#chain;
    process.off('exit', this.#showCursor);
    this.#exitHooked = false;
  }

  #write(lines: string[]): void {
    for (const line of lines) this.#o.stream.write(`${redact(line)}\n`);
  }

  #host(name: string): HostNode | undefined {
    const play = this.#play;
    if (!play) return undefined;
    let h = play.hosts.get(name);
    if (!h) {
      const counts = { ok: 0, changed: 0, skipped: 0, failed: 0, unreachable: 0, ignored: 0 };
      h = { name, task: this.#addChild(play.hostList, name), counts, final: false };
      play.hosts.set(name, h);
    }
    return h;
  }

  #childList(parent: TaskObject): TaskList {
    const list: TaskList = new this.#lib.Listr([], (this.#play?.options ?? {}) as any, parent);
    parent.subtasks = list.tasks;
    return list;
  }

  #addChild(list: TaskList, title: string): TaskObject {
    list.add({ title: redact(title), task: () => undefined });
    const task = list.tasks[list.tasks.length - 1];
    // listr2 draws a task only once check() has marked it enabled.
    void task.check({});
    return task;
  }

  #line(label: string, e: { status: TaskStatus; durationMs: number; message?: string; ignored?: boolean }): string {
    const { paint } = this.#o;
    const status = e.ignored ? 'failed (ignored)' : e.status;
    const first = e.status === 'failed' || e.status === 'unreachable' ? '' : splitMessage(e.message).first;
    return `${label}  ${paintStatus(paint, e.status, status)} ${paint.dim(`(${formatDuration(e.durationMs)})`)}${first ? paint.dim(` - ${first}`) : ''}`;
  }

  #notes(e: Result): string[] {
    if (!this.#o.showDiff) return [];
    return (e.diffs ?? []).flatMap((d) => formatDiff(d)).map((l) => paintDiffLine(this.#o.paint, l));
  }

  #retitle(node: TaskNode): void {
    node.task.title$ = redact([node.head, ...node.notes].join('\n'));
  }

  #show(task: TaskObject, status: TaskStatus, title: string, message: string | undefined, notes: string[]): void {
    const { ListrTaskState } = this.#lib;
    task.title$ = redact([title, ...notes].join('\n'));
    if (status === 'failed' || status === 'unreachable') {
      if (message) task.message$ = { error: redact(message) };
      task.state$ = ListrTaskState.FAILED;
    } else {
      task.state$ = status === 'skipped' ? ListrTaskState.SKIPPED : ListrTaskState.COMPLETED;
    }
  }

  #finishTask(h: HostNode): void {
    const node = h.current;
    if (!node || node.final) return;
    node.final = true;
    h.current = undefined;
    const results = node.results;
    if (results.length === 0) {
      this.#show(node.task, 'failed', `${node.name}  ${this.#o.paint.red('no result')}`, 'the run stopped before this task finished', node.notes);
      return;
    }
    let status: TaskStatus = results[0].status;
    for (const r of results) if (rank[r.status] > rank[status]) status = r.status;
    // As in the executor: a loop where some items ran is not skipped.
    if (status === 'skipped' && results.some((r) => r.status !== 'skipped')) status = 'ok';
    const ignored = status === 'failed' && results.every((r) => r.status !== 'failed' || r.ignored);
    h.counts[ignored ? 'ignored' : status]++;
    const single = results.length === 1 && results[0].item === undefined ? results[0] : undefined;
    const durationMs = single ? single.durationMs : Math.max(0, Date.parse(results[results.length - 1].time) - node.startMs);
    const title = this.#line(node.name, { status, durationMs, message: single?.message, ignored });
    node.head = title;
    this.#show(node.task, status, title, single?.message, node.notes);
  }

  #finishHost(h: HostNode): void {
    if (h.final) return;
    this.#finishTask(h);
    h.final = true;
    const { ListrTaskState } = this.#lib;
    const { paint } = this.#o;
    const c = h.counts;
    const summary = (['ok', 'changed', 'skipped', 'failed', 'unreachable', 'ignored'] as const)
      .filter((k) => c[k] > 0)
      .map((k) => (k === 'ignored' ? paint.magenta(`${c[k]} ignored`) : paintStatus(paint, k, `${c[k]} ${k}`)))
      .join(paint.dim(', '));
    if (!h.last) {
      h.task.title$ = redact(`${h.name}  ${paint.dim('- no task ran')}`);
      h.task.state$ = ListrTaskState.SKIPPED;
      return;
    }
    h.task.title$ = redact(`${h.name}  ${paint.dim('-')} ${summary}`);
    h.task.state$ = c.failed > 0 || c.unreachable > 0 ? ListrTaskState.FAILED : ListrTaskState.COMPLETED;
  }
}
