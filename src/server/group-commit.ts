// Group commit without a timer: an item is written at once when fewer than `maxInFlight` writes
// are in flight, otherwise together with everything that arrived while the current ones
// committed. A lone item never waits; a busy caller writes a few large statements instead of one
// per item, and one fsync serves many. Each caller's promise settles only after its write has.

interface Waiting<T, R> {
  item: T;
  resolve: (result: R) => void;
  reject: (err: unknown) => void;
}

export class GroupWriter<T, R> {
  private queue: Waiting<T, R>[] = [];
  private inFlight = 0;

  /** `write` stores the items and returns one result per item, in their order. */
  constructor(
    private readonly write: (items: T[]) => Promise<R[]>,
    private readonly opts: { maxBatch: number; maxInFlight: number },
  ) {}

  add(item: T): Promise<R> {
    return new Promise((resolve, reject) => {
      this.queue.push({ item, resolve, reject });
      this.kick();
    });
  }

  private kick(): void {
    while (this.queue.length > 0 && this.inFlight < this.opts.maxInFlight) {
      const batch = this.queue.splice(0, this.opts.maxBatch);
      this.inFlight++;
      void this.flush(batch).finally(() => {
        this.inFlight--;
        this.kick();
      });
    }
  }

  private async flush(batch: Waiting<T, R>[]): Promise<void> {
    try {
      const results = await this.write(batch.map((w) => w.item));
      batch.forEach((w, i) => {
        w.resolve(results[i] as R);
      });
    } catch (err) {
      for (const w of batch) w.reject(err);
    }
  }
}
