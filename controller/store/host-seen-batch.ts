import type { Logger } from 'pino';
import type { AsyncStore, Store } from './store.js';

export type HostSeen = Parameters<Store['recordHostSeen']>[1];

/**
 * Pending `recordHostSeen` writes by host, written in one transaction per flush instead of one
 * synchronous (fsync'd) UPDATE each: what heartbeat times (controller/last-seen.ts) and refreshed
 * facts (facts-writer.ts) share. A host noted twice before a flush is written once, with what
 * `merge` made of the two. A failed flush is logged, not thrown: both writers' data comes again.
 * Flushes run one after another: a flush settles only after every earlier one committed, so a
 * reader that awaits `flush()` sees everything noted before it (store/reads-after-flush.ts).
 */
export class HostSeenBatch {
  private readonly pending = new Map<string, HostSeen>();
  private timer: NodeJS.Timeout | undefined;
  private inFlight: Promise<void> = Promise.resolve();

  constructor(
    private readonly deps: { store: AsyncStore; log: Logger; flushEveryMs: number; what: string },
  ) {}

  put(hostId: string, merge: (before: HostSeen | undefined) => HostSeen): void {
    this.pending.set(hostId, merge(this.pending.get(hostId)));
    this.timer ??= setTimeout(() => void this.flush(), this.deps.flushEveryMs).unref();
  }

  forget(hostId: string): void {
    this.pending.delete(hostId);
  }

  pendingCount(): number {
    return this.pending.size;
  }

  flush(): Promise<void> {
    clearTimeout(this.timer);
    this.timer = undefined;
    if (this.pending.size === 0) return this.inFlight;
    // rows in one order (host id) for every batch: two flushing at once (facts and last seen, or two
    // replicas) then wait for each other on PostgreSQL instead of deadlocking and losing one
    const batch = [...this.pending].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    this.pending.clear();
    const previous = this.inFlight;
    this.inFlight = (async () => {
      await previous;
      try {
        await this.deps.store.transaction(async (tx) => {
          for (const [hostId, seen] of batch) await tx.recordHostSeen(hostId, seen);
        });
      } catch (err) {
        this.deps.log.error({ err, hosts: batch.length }, `${this.deps.what} flush failed`);
      }
    })();
    return this.inFlight;
  }
}
