// Running one timed command: wall time, exit code, output kept in a log file, peak memory when asked.
import { spawn } from 'node:child_process';
import { appendFileSync, existsSync, readFileSync, rmSync } from 'node:fs';

export interface Timed {
  ms: number;
  code: number | null;
  output: string;
  /** Largest resident set of one process of the tree, in MB (only with peakMemory). */
  peakMb?: number;
  /** CPU seconds (user + system) of the command and its children on this machine (only with peakMemory). */
  cpuS?: number;
}

export interface TimedOptions {
  cwd: string;
  env?: Record<string, string>;
  log: string;
  label: string;
  /** Run under GNU time -v and read "Maximum resident set size". */
  peakMemory?: boolean;
  timeoutMs?: number;
  /** Called with the started process's id (GNU time's, with peakMemory); what it returns is called when it ends. */
  watch?: (pid: number) => () => void;
}

const GNU_TIME = '/usr/bin/time';

export function timed(argv: string[], options: TimedOptions): Promise<Timed> {
  const timeFile = `${options.log}.time`;
  const full = options.peakMemory ? [GNU_TIME, '-v', '-o', timeFile, ...argv] : argv;
  appendFileSync(options.log, `\n===== ${options.label}: ${argv.join(' ')}\n`);
  return new Promise((resolve) => {
    const start = process.hrtime.bigint();
    const child = spawn(full[0], full.slice(1), {
      cwd: options.cwd,
      env: { ...process.env, NO_COLOR: '1', ...options.env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const unwatch = child.pid !== undefined ? options.watch?.(child.pid) : undefined;
    let output = '';
    const keep = (chunk: string) => {
      output += chunk;
      appendFileSync(options.log, chunk);
    };
    child.stdout.setEncoding('utf8').on('data', keep);
    child.stderr.setEncoding('utf8').on('data', keep);
    const timer = setTimeout(() => child.kill('SIGKILL'), options.timeoutMs ?? 300_000);
    child.on('close', (code) => {
      const ms = Number(process.hrtime.bigint() - start) / 1e6;
      clearTimeout(timer);
      unwatch?.();
      appendFileSync(options.log, `\n===== exit ${code} after ${(ms / 1000).toFixed(3)} s\n`);
      const result: Timed = { ms, code, output };
      if (options.peakMemory && existsSync(timeFile)) {
        const text = readFileSync(timeFile, 'utf8');
        const kb = /Maximum resident set size \(kbytes\): (\d+)/.exec(text);
        if (kb) result.peakMb = Number(kb[1]) / 1024;
        const user = /User time \(seconds\): ([\d.]+)/.exec(text);
        const sys = /System time \(seconds\): ([\d.]+)/.exec(text);
        if (user && sys) result.cpuS = Number(user[1]) + Number(sys[1]);
        rmSync(timeFile, { force: true });
      }
      resolve(result);
    });
  });
}

export function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

/**
 * Whether to take another turn of first converges after `taken` of them, given each compared tool's samples in
 * seconds: until `runs`, then while one tool's samples add up to less than `seconds`, at most 3 x `runs` in all.
 */
export function moreFirstRounds(taken: number, samples: number[][], runs: number, seconds: number): boolean {
  if (taken < runs) return true;
  if (taken >= 3 * runs) return false;
  return samples.some((s) => s.reduce((sum, v) => sum + v, 0) < seconds);
}

/** Sum of `changed=N` over the recap lines (Ansible and pgplay print the same shape). */
export function changedInRecap(output: string): number | null {
  const recap = output.lastIndexOf('PLAY RECAP');
  if (recap < 0) return null;
  let sum = 0;
  for (const m of output.slice(recap).matchAll(/\bchanged=(\d+)/g)) sum += Number(m[1]);
  return sum;
}
