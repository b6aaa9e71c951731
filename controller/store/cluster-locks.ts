import { KctlError } from '../../proto/errors.js';

/**
 * One apply or lifecycle operation per cluster at a time. `LocalClusterLocks` holds it in this
 * process (one controller on SQLite); `PgClusterLocks` (pg-cluster-locks.ts) across every replica
 * on one PostgreSQL. The store the controller opens decides which (open-store.ts).
 */
export interface ClusterLockService {
  /** runs `fn` holding the cluster, or throws `cluster_busy` naming what holds it */
  with<T>(cluster: string, what: string, fn: (signal: AbortSignal) => Promise<T>): Promise<T>;
}

/** The cluster lock of a single controller: a map in this process. */
export class LocalClusterLocks implements ClusterLockService {
  private readonly held = new Map<string, string>();

  async with<T>(cluster: string, what: string, fn: (signal: AbortSignal) => Promise<T>): Promise<T> {
    const running = this.held.get(cluster);
    if (running !== undefined) {
      throw new KctlError(
        'cluster_busy',
        `Cluster "${cluster}" is busy: ${running} is running; wait for it (kctl status) and try again`,
        { retryable: true, details: { running } },
      );
    }
    this.held.set(cluster, what);
    try {
      // nothing outside this process can take the lock away
      return await fn(new AbortController().signal);
    } finally {
      this.held.delete(cluster);
    }
  }
}
