// Work that hosts running the same task at about the same time share: a replica's check that reads every member of
// the cluster asks for the same reads as the replica beside it, a few milliseconds apart.

/** Results by key: one still coming, or come less than maxAgeMs ago, is given again; an older one is done anew. */
export class RecentWork {
  #entries = new Map<string, { value: Promise<unknown>; doneAt: number | null }>();

  constructor(
    private readonly maxAgeMs: number,
    private readonly clock: () => number = Date.now,
  ) {}

  get<T>(key: string, work: () => Promise<T>): Promise<T> {
    const known = this.#entries.get(key);
    if (known && (known.doneAt === null || this.clock() - known.doneAt < this.maxAgeMs)) return known.value as Promise<T>;
    const entry: { value: Promise<unknown>; doneAt: number | null } = { value: work(), doneAt: null };
    const settle = () => {
      entry.doneAt = this.clock();
    };
    // A failure is not kept for the next host: it asks again.
    entry.value.then(settle, () => {
      if (this.#entries.get(key) === entry) this.#entries.delete(key);
    });
    this.#entries.set(key, entry);
    return entry.value as Promise<T>;
  }
}
