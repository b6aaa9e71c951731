import type { Logger } from 'pino';
import type { HostFacts } from '../../proto/facts.js';
import type { Store } from './store.js';

/** Where the agent endpoint puts a host's facts after a facts frame changed them. */
export interface FactsRecorder {
  note(hostId: string, facts: HostFacts, at: number): void;
  forget(hostId: string): void;
}

/**
 * Facts an agent re-reports (agent/facts-refresh.ts) reach the store in batches, one transaction
 * per flush, as heartbeat times do (controller/last-seen.ts): no synchronous, fsync'd UPDATE per
 * agent per change. A host noted twice before a flush is written once, with its newest facts.
 * Losing a batch (kill -9) loses nothing for good: an agent sends all its facts again in the hello
 * of its next connection, and a restarted controller is a next connection.
 */
export class FactsWriter implements FactsRecorder {
  private readonly pending = new Map<string, { facts: HostFacts; at: number }>();
  private timer: NodeJS.Timeout | undefined;

  constructor(private readonly deps: { store: Store; log: Logger; flushEveryMs: number }) {}

  note(hostId: string, facts: HostFacts, at: number): void {
    this.pending.set(hostId, { facts, at });
    this.timer ??= setTimeout(() => this.flush(), this.deps.flushEveryMs).unref();
  }

  /** Drops what is noted for a host: a hello just wrote all its facts directly, or it was deleted. */
  forget(hostId: string): void {
    this.pending.delete(hostId);
  }

  pendingCount(): number {
    return this.pending.size;
  }

  /** Writes everything noted, in one transaction. Called by the timer and on shutdown. */
  flush(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    if (this.pending.size === 0) return;
    const batch = [...this.pending];
    this.pending.clear();
    try {
      this.deps.store.transaction(() => {
        for (const [hostId, { facts, at }] of batch)
          this.deps.store.recordHostSeen(hostId, { at, ip: null, facts });
      });
    } catch (err) {
      // the agent's next hello carries every fact again
      this.deps.log.error({ err, hosts: batch.length }, 'facts flush failed');
    }
  }
}

/** Merges a facts frame into what the host reported before; the result is checked by the caller. */
export function mergeFacts(
  before: HostFacts,
  changed: Readonly<Record<string, unknown>>,
  removed: readonly string[],
): Record<string, unknown> {
  const merged: Record<string, unknown> = { ...before, ...changed };
  for (const key of removed) delete merged[key];
  return merged;
}
