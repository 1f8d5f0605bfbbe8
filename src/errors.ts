// Exit codes follow ansible-playbook; one place (main.ts) turns errors into them.
export const ExitCode = {
  ok: 0,
  error: 1,
  hostFailed: 2,
  hostUnreachable: 3,
  invalidInput: 4,
  badOptions: 5,
  interrupted: 99,
} as const;
export type ExitCodeValue = (typeof ExitCode)[keyof typeof ExitCode];

/** A problem in a file the user wrote, with where it is. */
export interface Diagnostic {
  file: string;
  line: number; // 1-based
  col: number; // 1-based
  message: string;
}

/** The same problem found twice (by two checks, or for two playbooks) is said once. */
export function dedupeDiagnostics(errors: Diagnostic[]): Diagnostic[] {
  const seen = new Set<string>();
  return errors.filter((e) => {
    const key = `${e.file}:${e.line}:${e.col}:${e.message}`;
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  });
}

export function formatDiagnostic(d: Diagnostic): string {
  return `${d.file}:${d.line}:${d.col}: ${d.message}`;
}

export class PgplayError extends Error {
  constructor(
    message: string,
    readonly exitCode: ExitCodeValue,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = new.target.name;
  }
}

/** Parse, schema or semantic errors: all of them at once, exit 4. */
export class InvalidInputError extends PgplayError {
  constructor(readonly diagnostics: Diagnostic[]) {
    super(diagnostics.map(formatDiagnostic).join('\n'), ExitCode.invalidInput);
  }
}

/** Bad command-line options, exit 5. */
export class BadOptionsError extends PgplayError {
  constructor(message: string) {
    super(message, ExitCode.badOptions);
  }
}

/** The host cannot be reached (connection refused, host key refused, auth failed). */
export class UnreachableError extends PgplayError {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, ExitCode.hostUnreachable, options);
  }
}

/** A task failed on a host; the message is for people and holds no secret. */
export class TaskFailedError extends PgplayError {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, ExitCode.hostFailed, options);
  }
}

/** The run was interrupted by SIGINT or SIGTERM. */
export class InterruptedError extends PgplayError {
  constructor(message = 'interrupted') {
    super(message, ExitCode.interrupted);
  }
}

export function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
