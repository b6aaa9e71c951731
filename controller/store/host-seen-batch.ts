import type { Logger } from 'pino';
import type { Store } from './store.js';

export type HostSeen = Parameters<Store['recordHostSeen']>[1];

/**
 * Pending `recordHostSeen` writes by host, written in one transaction per flush instead of one
 * synchronous (fsync'd) UPDATE each: what heartbeat times (controller/last-seen.ts) and refreshed
 * facts (facts-writer.ts) share. A host noted twice before a flush is written once, with what
 * `merge` made of the two. A failed flush is logged, not thrown: both writers' data comes again.
 */
export class HostSeenBatch {
  private readonly pending = new Map<string, HostSeen>();
  private timer: NodeJS.Timeout | undefined;

  constructor(private readonly deps: { store: Store; log: Logger; flushEveryMs: number; what: string }) {}

  put(hostId: string, merge: (before: HostSeen | undefined) => HostSeen): void {
    this.pending.set(hostId, merge(this.pending.get(hostId)));
    this.timer ??= setTimeout(() => this.flush(), this.deps.flushEveryMs).unref();
  }

  forget(hostId: string): void {
    this.pending.delete(hostId);
  }

  pendingCount(): number {
    return this.pending.size;
  }

  flush(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    if (this.pending.size === 0) return;
    const batch = [...this.pending];
    this.pending.clear();
    try {
      this.deps.store.transaction(() => {
        for (const [hostId, seen] of batch) this.deps.store.recordHostSeen(hostId, seen);
      });
    } catch (err) {
      this.deps.log.error({ err, hosts: batch.length }, `${this.deps.what} flush failed`);
    }
  }
}
