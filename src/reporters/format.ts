// Small text helpers shared by the plain, live and JUnit reporters.

/** 35 ms, 1.2 s, 2 min 03 s: short enough for a result line, exact enough to compare runs. */
export function formatDuration(ms: number): string {
  if (!Number.isFinite(ms) || ms < 0) return '0 ms';
  if (ms < 1000) return `${Math.round(ms)} ms`;
  // Below 59.95 s the one decimal never rounds up to 60.0.
  if (ms < 59_950) return `${(ms / 1000).toFixed(1)} s`;
  const total = Math.round(ms / 1000);
  const hours = Math.floor(total / 3600);
  const minutes = Math.floor((total % 3600) / 60);
  const seconds = String(total % 60).padStart(2, '0');
  return hours > 0 ? `${hours} h ${String(minutes).padStart(2, '0')} min ${seconds} s` : `${minutes} min ${seconds} s`;
}

/** A loop item as a short label: strings as they are, anything else as compact JSON. */
export function itemLabel(item: unknown, max = 60): string {
  let text: string;
  if (typeof item === 'string') text = item;
  else {
    try {
      text = JSON.stringify(item) ?? String(item);
    } catch {
      text = String(item);
    }
  }
  text = text.replace(/\s+/g, ' ');
  return text.length > max ? `${text.slice(0, max - 1)}…` : text;
}

/** A task's display name, with its loop item when it has one. */
export function taskLabel(task: string, item: unknown): string {
  return item === undefined ? task : `${task} (item=${itemLabel(item)})`;
}

/** First line of a message for the result line, the rest for the lines under it. */
export function splitMessage(message: string | undefined): { first: string; rest: string[] } {
  const lines = (message ?? '').replace(/\r\n/g, '\n').split('\n').map((l) => l.trimEnd());
  while (lines.length > 0 && lines[lines.length - 1] === '') lines.pop();
  const first = lines.shift() ?? '';
  return { first, rest: lines };
}
