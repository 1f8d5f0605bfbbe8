// ANSI colours by hand: plain output and the recap must not load a colour library to say "changed".
import type { TaskStatus } from './events';

export interface Paint {
  green(text: string): string;
  yellow(text: string): string;
  red(text: string): string;
  cyan(text: string): string;
  magenta(text: string): string;
  dim(text: string): string;
  bold(text: string): string;
}

const codes: Record<keyof Paint, [number, number]> = {
  green: [32, 39],
  yellow: [33, 39],
  red: [31, 39],
  cyan: [36, 39],
  magenta: [35, 39],
  dim: [2, 22],
  bold: [1, 22],
};

export function createPaint(enabled: boolean): Paint {
  const wrap = ([open, close]: [number, number]) => (text: string) => (enabled && text ? `\u001b[${open}m${text}\u001b[${close}m` : text);
  return {
    green: wrap(codes.green),
    yellow: wrap(codes.yellow),
    red: wrap(codes.red),
    cyan: wrap(codes.cyan),
    magenta: wrap(codes.magenta),
    dim: wrap(codes.dim),
    bold: wrap(codes.bold),
  };
}

/** The colour Ansible users expect for each result. */
export function paintStatus(paint: Paint, status: TaskStatus, text: string = status): string {
  switch (status) {
    case 'ok':
      return paint.green(text);
    case 'changed':
      return paint.yellow(text);
    case 'skipped':
      return paint.cyan(text);
    case 'failed':
    case 'unreachable':
      return paint.red(text);
  }
}

/** FORCE_COLOR=0 or false turns colours off like NO_COLOR; any other value forces them. */
export function colorForced(env: NodeJS.ProcessEnv): boolean {
  const v = env.FORCE_COLOR;
  return v !== undefined && v !== '0' && v.toLowerCase() !== 'false';
}

const ANSI = /\u001b\[[0-9;?]*[ -/]*[@-~]|\u001b\][^\u0007]*\u0007/g;

export function stripAnsi(text: string): string {
  return text.replace(ANSI, '');
}
