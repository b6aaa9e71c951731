import type { Logger } from 'pino';
import type { HostFacts } from '../../proto/facts.js';
import type { Store } from './store.js';
import { HostSeenBatch } from './host-seen-batch.js';

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
  private readonly batch: HostSeenBatch;

  constructor(deps: { store: Store; log: Logger; flushEveryMs: number }) {
    this.batch = new HostSeenBatch({ ...deps, what: 'facts' });
  }

  note(hostId: string, facts: HostFacts, at: number): void {
    this.batch.put(hostId, () => ({ at, ip: null, facts }));
  }

  /** Drops what is noted for a host: a hello just wrote all its facts directly, or it was deleted. */
  forget(hostId: string): void {
    this.batch.forget(hostId);
  }

  pendingCount(): number {
    return this.batch.pendingCount();
  }

  /** Writes everything noted, in one transaction. Called by the timer and on shutdown. */
  flush(): void {
    this.batch.flush();
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
