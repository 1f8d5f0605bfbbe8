// The memory a group of processes holds at one moment, each page counted once. A pgplay run and its keeper of kept
// connections are two Node processes: both map the same node binary, whose pages in memory are one set, shared.
// Adding their resident sets counts those pages twice (about 40 MB here); this counts them once, as the machine
// holds them: every process's anonymous pages (its own, never shared between these unrelated processes) plus the
// file pages any of them maps, each file's pages counted once whoever maps them (/proc/PID/pagemap says which are
// resident).
import { closeSync, openSync, readFileSync, readSync } from 'node:fs';

const PAGE = 4096;

/** The process and all its descendants that are still there. */
export function processTree(pid: number): number[] {
  const all: number[] = [];
  const walk = (p: number) => {
    all.push(p);
    let children = '';
    try {
      children = readFileSync(`/proc/${p}/task/${p}/children`, 'utf8');
    } catch {
      return; // gone
    }
    for (const c of children.split(' ').filter(Boolean)) walk(Number(c));
  };
  walk(pid);
  return all;
}

export interface MemoryAtOnce {
  /** Each page once: the anonymous pages of every process plus the distinct file pages they map, in bytes. */
  bytes: number;
  /** The resident sets added up, as summing VmRSS would, in bytes (for comparison). */
  rssSumBytes: number;
}

/** A size field of /proc/PID/status (VmRSS, VmHWM, RssAnon, ...), in bytes; 0 when the field is not there. */
export function statusBytes(status: string, field: string): number {
  return Number(new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? 0) * 1024;
}

/** Each process's anonymous pages and resident set, from its status (cheap: no page walk). */
function ownPages(pids: Set<number>): { anon: number; rssSum: number } {
  let anon = 0;
  let rssSum = 0;
  for (const pid of pids) {
    let status: string;
    try {
      status = readFileSync(`/proc/${pid}/status`, 'utf8');
    } catch {
      continue; // gone
    }
    anon += statusBytes(status, 'RssAnon') + statusBytes(status, 'RssShmem');
    rssSum += statusBytes(status, 'VmRSS');
  }
  return { anon, rssSum };
}

/**
 * The distinct file pages the processes have resident, in pages. A page of a file at one offset is one page of the
 * page cache whoever maps it, so each file gets a bitmap of its pages; /proc/PID/pagemap says which are present
 * (bit 63) and still the file's (bit 61: a private copy made by a write is anonymous, counted by ownPages).
 */
function filePages(pids: Set<number>): number {
  const files = new Map<string, Uint8Array>();
  let count = 0;
  for (const pid of pids) {
    let maps: string;
    let fd: number;
    try {
      maps = readFileSync(`/proc/${pid}/maps`, 'utf8');
      fd = openSync(`/proc/${pid}/pagemap`, 'r');
    } catch {
      continue; // gone
    }
    try {
      for (const line of maps.split('\n')) {
        // start-end perms offset dev inode path: file mappings have an inode and a path.
        const m = /^([0-9a-f]+)-([0-9a-f]+) \S+ ([0-9a-f]+) (\S+) (\d+)\s+\//.exec(line);
        if (!m || m[5] === '0') continue;
        const start = parseInt(m[1], 16) / PAGE;
        const pages = parseInt(m[2], 16) / PAGE - start;
        const first = parseInt(m[3], 16) / PAGE;
        const key = `${m[4]}:${m[5]}`;
        let seen = files.get(key);
        if (!seen || seen.length < first + pages) {
          const grown = new Uint8Array(first + pages);
          if (seen) grown.set(seen);
          files.set(key, (seen = grown));
        }
        const entries = new Uint32Array(pages * 2);
        const got = readSync(fd, entries, 0, entries.byteLength, start * 8) / 4;
        for (let i = 0; i + 1 < got; i += 2) {
          const high = entries[i + 1];
          if (high >>> 31 === 0 || ((high >>> 29) & 1) === 0) continue;
          const at = first + i / 2;
          if (seen[at] === 0) {
            seen[at] = 1;
            count++;
          }
        }
      }
    } catch {
      // gone while read
    } finally {
      closeSync(fd);
    }
  }
  return count;
}

/** The memory the processes hold right now. */
export function memoryAtOnce(pids: number[]): MemoryAtOnce {
  const unique = new Set(pids);
  const { anon, rssSum } = ownPages(unique);
  return { bytes: anon + filePages(unique) * PAGE, rssSumBytes: rssSum };
}

/** The largest values samples saw, in MB. */
export interface MemoryPeak {
  peakMb: number;
  rssSumPeakMb: number;
}

/**
 * Samples the memory the processes hold at once until stopped: their own pages every everyMs, the file pages they
 * share (which change slowly: code as it is first run) every fileEveryMs, as a page walk costs a few milliseconds
 * of this process's CPU.
 */
export function sampleMemory(pids: () => number[], everyMs = 50, fileEveryMs = 500): { stop(): MemoryPeak | null } {
  let peak = 0;
  let rssSumPeak = 0;
  let files = 0;
  let lastWalk = 0;
  const take = (walk: boolean) => {
    const now = new Set(pids());
    if (walk || Date.now() - lastWalk >= fileEveryMs) {
      files = filePages(now);
      lastWalk = Date.now();
    }
    const own = ownPages(now);
    peak = Math.max(peak, own.anon + files * PAGE);
    rssSumPeak = Math.max(rssSumPeak, own.rssSum);
  };
  const timer = setInterval(() => take(false), everyMs);
  return {
    stop() {
      clearInterval(timer);
      take(true);
      const mb = (b: number) => Math.round((b / 1048576) * 10) / 10;
      return peak > 0 ? { peakMb: mb(peak), rssSumPeakMb: mb(rssSumPeak) } : null;
    },
  };
}
