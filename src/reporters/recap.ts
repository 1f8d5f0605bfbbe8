// The PLAY RECAP block, the same in plain and live output.
import type { EventOf, HostRecap } from './events';
import { formatDuration } from './format';
import { createPaint, type Paint } from './paint';

const columns: Array<keyof HostRecap> = ['ok', 'changed', 'unreachable', 'failed', 'skipped', 'ignored'];

function paintCount(paint: Paint, key: keyof HostRecap, count: number, text: string): string {
  if (count === 0) return text;
  switch (key) {
    case 'ok':
      return paint.green(text);
    case 'changed':
      return paint.yellow(text);
    case 'unreachable':
    case 'failed':
      return paint.red(text);
    case 'skipped':
      return paint.cyan(text);
    case 'ignored':
      return paint.magenta(text);
  }
}

function paintHost(paint: Paint, r: HostRecap, text: string): string {
  if (r.failed > 0 || r.unreachable > 0) return paint.red(text);
  if (r.changed > 0) return paint.yellow(text);
  return paint.green(text);
}

/** `PLAY RECAP`, one aligned line per host (`pg1  ok=5 changed=2 unreachable=0 ...`), then the wall time. */
export function recapLines(event: EventOf<'recap'>, paint: Paint = createPaint(false)): string[] {
  const hosts = Object.entries(event.hosts);
  const nameWidth = Math.max(0, ...hosts.map(([name]) => name.length));
  const widths = columns.map((key) => Math.max(...hosts.map(([, r]) => `${key}=${r[key]}`.length), 0));
  const lines = ['PLAY RECAP'];
  for (const [name, r] of hosts) {
    const fields = columns.map((key, i) => {
      const text = `${key}=${r[key]}`;
      const padded = i < columns.length - 1 ? text.padEnd(widths[i]) : text;
      return paintCount(paint, key, r[key], padded);
    });
    lines.push(`${paintHost(paint, r, name.padEnd(nameWidth))}  ${fields.join(' ')}`);
  }
  if (hosts.length === 0) lines.push('no host ran a task');
  lines.push(`wall time ${formatDuration(event.durationMs)}${event.interrupted ? paint.red(' (interrupted: not every task ran)') : ''}`);
  return lines;
}
