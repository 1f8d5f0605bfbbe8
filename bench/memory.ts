// The memory a group of processes holds at one moment, each page counted once. A pgplay run and its keeper of kept
// connections are two Node processes: both map the same node binary, whose pages in memory are one set, shared.
// Adding their resident sets counts those pages twice (about 40 MB here); this counts them once, as the machine
// holds them: every process's anonymous pages (its own, never shared between these unrelated processes) plus the
// file pages any of them maps, told apart by their page frame number (/proc/PID/pagemap, which shows frame
// numbers to root).
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

/** The memory the processes hold right now; null when frame numbers cannot be read (not root). */
export function memoryAtOnce(pids: number[]): MemoryAtOnce | null {
  const frames = new Set<number>();
  let anon = 0;
  let rssSum = 0;
  for (const pid of new Set(pids)) {
    let status: string;
    let maps: string;
    try {
      status = readFileSync(`/proc/${pid}/status`, 'utf8');
      maps = readFileSync(`/proc/${pid}/maps`, 'utf8');
    } catch {
      continue; // gone
    }
    const kb = (field: string) => Number(new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? 0) * 1024;
    anon += kb('RssAnon') + kb('RssShmem');
    rssSum += kb('VmRSS');
    let fd: number;
    try {
      fd = openSync(`/proc/${pid}/pagemap`, 'r');
    } catch {
      continue;
    }
    try {
      for (const line of maps.split('\n')) {
        // start-end perms offset dev inode path: file mappings have an inode and a path.
        const m = /^([0-9a-f]+)-([0-9a-f]+) \S+ \S+ \S+ (\d+)\s+(\/.*)$/.exec(line);
        if (!m || m[3] === '0') continue;
        const start = parseInt(m[1], 16) / PAGE;
        const pages = parseInt(m[2], 16) / PAGE - start;
        const buf = Buffer.alloc(pages * 8);
        const got = readSync(fd, buf, 0, buf.length, start * 8);
        for (let i = 0; i + 8 <= got; i += 8) {
          const high = buf.readUInt32LE(i + 4);
          // Bit 63: present; bit 61: a file page (a private copy made by a write is anonymous, counted above).
          if (high >>> 31 === 0 || ((high >>> 29) & 1) === 0) continue;
          const frame = (high & 0x7fffff) * 2 ** 32 + buf.readUInt32LE(i);
          if (frame === 0) return null;
          frames.add(frame);
        }
      }
    } catch {
      // gone while read
    } finally {
      closeSync(fd);
    }
  }
  return { bytes: anon + frames.size * PAGE, rssSumBytes: rssSum };
}

/** The largest values samples saw, in MB. */
export interface MemoryPeak {
  peakMb: number;
  rssSumPeakMb: number;
}

/** Samples memoryAtOnce every everyMs until stopped. */
export function sampleMemory(pids: () => number[], everyMs = 50): { stop(): MemoryPeak | null } {
  let peak: MemoryAtOnce | null = null;
  let rssSumPeak = 0;
  const take = () => {
    const now = memoryAtOnce(pids());
    if (!now) return;
    if (!peak || now.bytes > peak.bytes) peak = now;
    rssSumPeak = Math.max(rssSumPeak, now.rssSumBytes);
  };
  const timer = setInterval(take, everyMs);
  return {
    stop() {
      clearInterval(timer);
      take();
      const mb = (b: number) => Math.round((b / 1048576) * 10) / 10;
      return peak ? { peakMb: mb((peak as MemoryAtOnce).bytes), rssSumPeakMb: mb(rssSumPeak) } : null;
    },
  };
}
