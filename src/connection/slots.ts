// A counting semaphore: sshd refuses an 11th session on one connection (MaxSessions 10), so channel opens queue.
export class Slots {
  #free: number;
  #waiting: Array<() => void> = [];

  constructor(readonly limit: number) {
    this.#free = limit;
  }

  /** Wait for a free slot; the returned function gives it back (calling it twice is harmless). */
  async acquire(): Promise<() => void> {
    if (this.#free > 0) this.#free--;
    else await new Promise<void>((resolve) => this.#waiting.push(resolve));
    let released = false;
    return () => {
      if (released) return;
      released = true;
      const next = this.#waiting.shift();
      if (next) next();
      else this.#free++;
    };
  }

  get inUse(): number {
    return this.limit - this.#free;
  }

  get queued(): number {
    return this.#waiting.length;
  }
}
