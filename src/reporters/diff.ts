// A unified diff of a module's before/after, so --diff output reads like `diff -u` and `git diff`.
import type { Diff } from '../modules/types';

type Op = { kind: ' ' | '-' | '+'; text: string };

// Beyond this many LCS cells the diff shows the whole middle as replaced rather than use much memory.
const MAX_CELLS = 4_000_000;

function toLines(text: string): string[] {
  if (text === '') return [];
  const lines = text.replace(/\r\n/g, '\n').split('\n');
  if (lines[lines.length - 1] === '') lines.pop();
  return lines;
}

/** The edit script from a to b: common prefix and suffix kept, the middle from a longest common subsequence. */
export function lineEdits(a: string[], b: string[]): Op[] {
  let start = 0;
  while (start < a.length && start < b.length && a[start] === b[start]) start++;
  let endA = a.length;
  let endB = b.length;
  while (endA > start && endB > start && a[endA - 1] === b[endB - 1]) {
    endA--;
    endB--;
  }
  const ops: Op[] = a.slice(0, start).map((text) => ({ kind: ' ', text }));
  const midA = a.slice(start, endA);
  const midB = b.slice(start, endB);
  ops.push(...middleEdits(midA, midB));
  ops.push(...a.slice(endA).map((text): Op => ({ kind: ' ', text })));
  return ops;
}

function middleEdits(a: string[], b: string[]): Op[] {
  const n = a.length;
  const m = b.length;
  if (n === 0 || m === 0 || (n + 1) * (m + 1) > MAX_CELLS) {
    return [...a.map((text): Op => ({ kind: '-', text })), ...b.map((text): Op => ({ kind: '+', text }))];
  }
  // lcs[i][j] = length of the LCS of a[i..] and b[j..], in one flat array.
  const width = m + 1;
  const lcs = new Uint32Array((n + 1) * width);
  for (let i = n - 1; i >= 0; i--) {
    for (let j = m - 1; j >= 0; j--) {
      lcs[i * width + j] = a[i] === b[j] ? lcs[(i + 1) * width + j + 1] + 1 : Math.max(lcs[(i + 1) * width + j], lcs[i * width + j + 1]);
    }
  }
  const ops: Op[] = [];
  let i = 0;
  let j = 0;
  while (i < n && j < m) {
    if (a[i] === b[j]) {
      ops.push({ kind: ' ', text: a[i] });
      i++;
      j++;
    } else if (lcs[(i + 1) * width + j] >= lcs[i * width + j + 1]) {
      ops.push({ kind: '-', text: a[i++] });
    } else {
      ops.push({ kind: '+', text: b[j++] });
    }
  }
  while (i < n) ops.push({ kind: '-', text: a[i++] });
  while (j < m) ops.push({ kind: '+', text: b[j++] });
  return ops;
}

/** Hunks with `context` unchanged lines around each change, headed by @@ -a,n +b,m @@; empty when equal. */
export function unifiedHunks(before: string, after: string, context = 3): string[] {
  const ops = lineEdits(toLines(before), toLines(after));
  const changed = ops.flatMap((op, index) => (op.kind === ' ' ? [] : [index]));
  if (changed.length === 0) return [];
  // Group changes whose unchanged gap is small enough that their contexts touch.
  const groups: Array<[number, number]> = [];
  for (const index of changed) {
    const last = groups[groups.length - 1];
    if (last && index - last[1] <= 2 * context + 1) last[1] = index;
    else groups.push([index, index]);
  }
  // Line numbers in a and b at the start of each op.
  const posA: number[] = [];
  const posB: number[] = [];
  let la = 1;
  let lb = 1;
  for (const op of ops) {
    posA.push(la);
    posB.push(lb);
    if (op.kind !== '+') la++;
    if (op.kind !== '-') lb++;
  }
  const out: string[] = [];
  for (const [first, last] of groups) {
    const from = Math.max(0, first - context);
    const to = Math.min(ops.length - 1, last + context);
    const slice = ops.slice(from, to + 1);
    const countA = slice.filter((op) => op.kind !== '+').length;
    const countB = slice.filter((op) => op.kind !== '-').length;
    // diff -u names the line before an empty range, hence the -1.
    const startA = countA === 0 ? posA[from] - 1 : posA[from];
    const startB = countB === 0 ? posB[from] - 1 : posB[from];
    out.push(`@@ -${startA},${countA} +${startB},${countB} @@`);
    for (const op of slice) out.push(`${op.kind}${op.text}`);
  }
  return out;
}

/** A module's diff as `--- path (before)` / `+++ path (after)` and its hunks. */
export function formatDiff(diff: Diff, context = 3): string[] {
  const hunks = unifiedHunks(diff.before, diff.after, context);
  if (hunks.length === 0) return [];
  return [`--- ${diff.path} (before)`, `+++ ${diff.path} (after)`, ...hunks];
}
