// A small Language Server Protocol client over stdio: starts yaml-language-server as an editor would and
// speaks JSON-RPC with Content-Length framing. Only what the editor tests need.
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { pathToFileURL } from 'node:url';
import { join } from 'node:path';
import { ROOT } from './cli';

export interface Position {
  line: number; // 0-based, as in LSP
  character: number;
}

export interface Diagnostic {
  range: { start: Position; end: Position };
  message: string;
  severity?: number;
  source?: string;
}

export interface CompletionItem {
  label: string;
  kind?: number;
  documentation?: string | { kind: string; value: string };
  insertText?: string;
  textEdit?: { newText: string };
}

type Pending = { resolve: (v: unknown) => void; reject: (e: Error) => void };

/** The settings the client gives the server: no schema store, no Kubernetes schemas (no network at all). */
const SETTINGS = {
  yaml: {
    validate: true,
    hover: true,
    completion: true,
    schemaStore: { enable: false, url: '' },
    kubernetesCRDStore: { enable: false },
    schemas: {},
  },
  http: { proxy: '', proxyStrictSSL: false },
  '[yaml]': {},
  editor: {},
};

export class YamlLanguageServer {
  private readonly child: ChildProcessWithoutNullStreams;
  private buffer = Buffer.alloc(0);
  private nextId = 1;
  private readonly pending = new Map<number, Pending>();
  private readonly diagnostics = new Map<string, Diagnostic[]>();
  private readonly diagnosticWaiters: Array<{ uri: string; version: number; resolve: (d: Diagnostic[]) => void }> = [];
  private readonly versions = new Map<string, number>();
  private readonly diagnosticVersions = new Map<string, number>();
  stderr = '';

  constructor() {
    const bin = join(ROOT, 'node_modules', 'yaml-language-server', 'bin', 'yaml-language-server');
    this.child = spawn(process.execPath, [bin, '--stdio'], { stdio: ['pipe', 'pipe', 'pipe'] });
    this.child.stdout.on('data', (chunk: Buffer) => this.receive(chunk));
    this.child.stderr.setEncoding('utf8').on('data', (c: string) => (this.stderr += c));
    this.child.on('exit', () => {
      for (const p of this.pending.values()) p.reject(new Error(`yaml-language-server exited: ${this.stderr}`));
      this.pending.clear();
    });
  }

  async initialize(rootDir: string): Promise<{ serverInfo?: { name: string; version: string } }> {
    const result = (await this.request('initialize', {
      processId: process.pid,
      rootUri: pathToFileURL(rootDir).href,
      workspaceFolders: [{ uri: pathToFileURL(rootDir).href, name: 'pgplay' }],
      capabilities: {
        workspace: { configuration: true },
        textDocument: {
          completion: { completionItem: { snippetSupport: true, documentationFormat: ['markdown', 'plaintext'] } },
          hover: { contentFormat: ['markdown', 'plaintext'] },
          publishDiagnostics: { versionSupport: true },
        },
      },
    })) as { serverInfo?: { name: string; version: string } };
    this.notify('initialized', {});
    return result;
  }

  /** Open a document with the given text (default: the file's own text); resolves with its first diagnostics. */
  open(path: string, text = readFileSync(path, 'utf8')): Promise<Diagnostic[]> {
    const uri = pathToFileURL(path).href;
    const version = (this.versions.get(uri) ?? 0) + 1;
    this.versions.set(uri, version);
    const published = this.waitForDiagnostics(uri, version);
    if (version === 1) this.notify('textDocument/didOpen', { textDocument: { uri, languageId: 'yaml', version, text } });
    else this.notify('textDocument/didChange', { textDocument: { uri, version }, contentChanges: [{ text }] });
    return published;
  }

  async completion(path: string, position: Position): Promise<CompletionItem[]> {
    const result = (await this.request('textDocument/completion', { textDocument: { uri: pathToFileURL(path).href }, position })) as
      | { items: CompletionItem[] }
      | CompletionItem[]
      | null;
    return Array.isArray(result) ? result : (result?.items ?? []);
  }

  async hover(path: string, position: Position): Promise<string> {
    const result = (await this.request('textDocument/hover', { textDocument: { uri: pathToFileURL(path).href }, position })) as {
      contents: string | { value: string } | Array<string | { value: string }>;
    } | null;
    if (!result) return '';
    const parts = [result.contents].flat();
    return parts.map((p) => (typeof p === 'string' ? p : p.value)).join('\n');
  }

  async close(): Promise<void> {
    try {
      await Promise.race([this.request('shutdown', null), new Promise((r) => setTimeout(r, 2000))]);
      this.notify('exit', null);
    } catch {
      // already gone
    }
    await new Promise<void>((resolve) => {
      if (this.child.exitCode !== null || this.child.signalCode !== null) return resolve();
      const timer = setTimeout(() => this.child.kill('SIGKILL'), 3000);
      this.child.once('exit', () => {
        clearTimeout(timer);
        resolve();
      });
    });
  }

  private waitForDiagnostics(uri: string, version: number): Promise<Diagnostic[]> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no diagnostics for ${uri} within 20 s; server said: ${this.stderr}`)), 20_000);
      this.diagnosticWaiters.push({
        uri,
        version,
        resolve: (d) => {
          clearTimeout(timer);
          resolve(d);
        },
      });
    });
  }

  private request(method: string, params: unknown): Promise<unknown> {
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      this.send({ jsonrpc: '2.0', id, method, params });
    });
  }

  private notify(method: string, params: unknown): void {
    this.send({ jsonrpc: '2.0', method, params });
  }

  private send(message: unknown): void {
    const body = Buffer.from(JSON.stringify(message), 'utf8');
    this.child.stdin.write(Buffer.concat([Buffer.from(`Content-Length: ${body.length}\r\n\r\n`, 'ascii'), body]));
  }

  private receive(chunk: Buffer): void {
    this.buffer = Buffer.concat([this.buffer, chunk]);
    for (;;) {
      const headerEnd = this.buffer.indexOf('\r\n\r\n');
      if (headerEnd < 0) return;
      const length = Number(/Content-Length: (\d+)/i.exec(this.buffer.subarray(0, headerEnd).toString('ascii'))?.[1]);
      if (this.buffer.length < headerEnd + 4 + length) return;
      const body = this.buffer.subarray(headerEnd + 4, headerEnd + 4 + length).toString('utf8');
      this.buffer = this.buffer.subarray(headerEnd + 4 + length);
      this.dispatch(JSON.parse(body) as { id?: number; method?: string; params?: unknown; result?: unknown; error?: { message: string } });
    }
  }

  private dispatch(message: { id?: number; method?: string; params?: unknown; result?: unknown; error?: { message: string } }): void {
    if (message.method && message.id !== undefined) {
      // A request from the server: configuration is answered, everything else (registrations, progress) accepted.
      const result =
        message.method === 'workspace/configuration'
          ? ((message.params as { items: Array<{ section?: string }> }).items ?? []).map((i) => SETTINGS[i.section as keyof typeof SETTINGS] ?? null)
          : null;
      this.send({ jsonrpc: '2.0', id: message.id, result });
      return;
    }
    if (message.method === 'textDocument/publishDiagnostics') {
      const { uri, diagnostics, version } = message.params as { uri: string; diagnostics: Diagnostic[]; version?: number };
      this.diagnostics.set(uri, diagnostics);
      this.diagnosticVersions.set(uri, version ?? this.versions.get(uri) ?? 0);
      const current = this.diagnosticVersions.get(uri) ?? 0;
      for (const w of [...this.diagnosticWaiters]) {
        if (w.uri === uri && current >= w.version) {
          this.diagnosticWaiters.splice(this.diagnosticWaiters.indexOf(w), 1);
          w.resolve(diagnostics);
        }
      }
      return;
    }
    if (message.id !== undefined && this.pending.has(message.id)) {
      const p = this.pending.get(message.id) as Pending;
      this.pending.delete(message.id);
      if (message.error) p.reject(new Error(message.error.message));
      else p.resolve(message.result);
    }
  }
}
