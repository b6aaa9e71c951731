import type { Logger } from 'pino';
import type { HostFacts } from '../../proto/facts.js';
import type { AsyncStore } from './store.js';
import { HostSeenBatch } from './host-seen-batch.js';

/** What an accepted hello writes to the host's row. */
export interface HelloSeen {
  at: number;
  ip: string | null;
  agentVersion: string;
  facts: HostFacts;
}

/** Where the agent endpoint puts what a hello reported, and a host's facts after a facts frame changed them. */
export interface FactsRecorder {
  noteHello(hostId: string, seen: HelloSeen): void;
  note(hostId: string, facts: HostFacts, at: number): void;
  forget(hostId: string): void;
}

/**
 * What hellos report (address, agent version, all facts) and the facts an agent re-reports
 * (agent/facts-refresh.ts) reach the store in batches, one transaction per flush, as heartbeat
 * times do (controller/last-seen.ts): no synchronous, fsync'd UPDATE per hello or change. In a
 * reconnect storm that is one transaction a second instead of thousands (issue 12, finding 12).
 * A host noted twice before a flush is written once, with its newest facts. Readers of host rows
 * must not see the store behind a hello: the controller reads hosts through `readsAfterFlush`
 * (store/reads-after-flush.ts), which flushes what is pending first.
 * Losing a batch (kill -9) loses nothing for good: an agent sends all its facts again in the hello
 * of its next connection, and a restarted controller is a next connection.
 */
export class FactsWriter implements FactsRecorder {
  private readonly batch: HostSeenBatch;

  constructor(deps: { store: AsyncStore; log: Logger; flushEveryMs: number }) {
    this.batch = new HostSeenBatch({ ...deps, what: 'facts' });
  }

  /** A hello replaces whatever was pending for the host: it carries all the facts. */
  noteHello(hostId: string, seen: HelloSeen): void {
    this.batch.put(hostId, () => ({ ...seen }));
  }

  /** A facts frame's merged facts; what a pending hello noted besides them (address, version) stays. */
  note(hostId: string, facts: HostFacts, at: number): void {
    this.batch.put(hostId, (before) => ({
      ...before,
      at: Math.max(at, before?.at ?? 0),
      ip: before?.ip ?? null,
      facts,
    }));
  }

  /** Drops what is noted for a host (it was deleted). */
  forget(hostId: string): void {
    this.batch.forget(hostId);
  }

  pendingCount(): number {
    return this.batch.pendingCount();
  }

  /** Writes everything noted, in one transaction. Called by the timer and on shutdown. */
  flush(): Promise<void> {
    return this.batch.flush();
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
