import type pg from 'pg';

interface Pending {
  payload: string;
  resolve(): void;
  reject(err: unknown): void;
}

/**
 * NOTIFYs on one channel sent in batches: what is raised while a batch is on its way goes out in
 * the next one, as one statement (one round trip, one transaction). A fan-out through another
 * replica raises a notice per command at once; sent one query each, they queued behind each other
 * on the pool (bench/replica-fanout.ts). Order is kept: one batch at a time, each in the order raised
 * (a function scan of unnest yields the array in order, and PostgreSQL delivers a transaction's
 * notifications in the order they were raised).
 */
export class NotifyBatcher {
  private queue: Pending[] = [];
  private flushing = false;

  constructor(
    private readonly db: Pick<pg.Pool, 'query'>,
    private readonly channel: string,
    /** notices per statement at most */
    private readonly maxBatch = 500,
  ) {}

  /** Resolves once the notice is committed (sent to the listeners), rejects if its batch failed. */
  notify(payload: string): Promise<void> {
    return new Promise((resolve, reject) => {
      this.queue.push({ payload, resolve, reject });
      if (this.flushing) return;
      this.flushing = true;
      // the rest of this turn's notices (a fan-out issues its commands in one loop) join the batch
      setImmediate(() => void this.flush());
    });
  }

  private async flush(): Promise<void> {
    while (this.queue.length > 0) {
      const batch = this.queue.splice(0, this.maxBatch);
      try {
        await this.db.query('SELECT pg_notify($1, p) FROM unnest($2::text[]) AS p', [
          this.channel,
          batch.map((b) => b.payload),
        ]);
        for (const b of batch) b.resolve();
      } catch (err) {
        for (const b of batch) b.reject(err);
      }
    }
    this.flushing = false;
  }
}
