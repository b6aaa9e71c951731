import type { Logger } from 'pino';
import type { AsyncStore } from './store/store.js';
import { HostSeenBatch } from './store/host-seen-batch.js';

/** Where the agent endpoint reports that a host was seen. */
export interface SeenRecorder {
  note(hostId: string, at: number, ip: string | null): void;
  forget(hostId: string): void;
}

/** One UPDATE per call: for tests and tools that build an endpoint without the batching writer. */
export function directSeenRecorder(store: AsyncStore): SeenRecorder {
  return {
    note: (hostId, at, ip) => void store.recordHostSeen(hostId, { at, ip }).catch(() => undefined),
    forget: () => undefined,
  };
}

/**
 * Heartbeat times reach the store in batches, one transaction per flush, instead of one
 * synchronous (fsync'd) UPDATE per heartbeat: at 1,000 agents that was most of the controller's CPU
 * and blocked its event loop (docs/benchmarks.md). A last-seen time is not a transition: after a
 * kill -9 at most one flush interval of it is lost, and "online" comes from the registry anyway.
 */
export class LastSeenWriter implements SeenRecorder {
  private readonly batch: HostSeenBatch;

  constructor(deps: { store: AsyncStore; log: Logger; flushEveryMs: number }) {
    this.batch = new HostSeenBatch({ ...deps, what: 'last-seen' });
  }

  /** Notes that a host was seen; written at the next flush. A later note for the host replaces it. */
  note(hostId: string, at: number, ip: string | null): void {
    this.batch.put(hostId, (before) => ({ at: Math.max(at, before?.at ?? 0), ip: ip ?? before?.ip ?? null }));
  }

  /** Drops what is noted for a host (its row was just written directly, or deleted). */
  forget(hostId: string): void {
    this.batch.forget(hostId);
  }

  pendingCount(): number {
    return this.batch.pendingCount();
  }

  /**
   * Writes everything noted, in one transaction. Called by the timer and on shutdown. The next
   * heartbeat notes a host again: a lost last-seen time is not worth a crash.
   */
  flush(): Promise<void> {
    return this.batch.flush();
  }
}
