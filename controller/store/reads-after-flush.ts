import type { Store } from './store.js';

/** The store's reads of whole host rows: what a batched hello or facts write changes. */
export const HOST_ROW_READS = ['getHost', 'getHostByName', 'listHosts'] as const satisfies ReadonlyArray<
  keyof Store
>;

/**
 * The store as readers should see it while hello and facts writes wait in a batch
 * (store/facts-writer.ts): each read of host rows first writes what is pending, so a plan,
 * preflight, `kctl hosts` or the fleet page right after a hello sees that hello's facts. A flush
 * with nothing pending costs a Map size check (and waits for a flush still committing). Hot paths that need no facts (authorising an
 * upgrade or a request) read `getHostState`, which is passed through, so a storm of handshakes
 * does not break the batch up. Everything else is the store itself.
 */
export function readsAfterFlush<S extends object>(store: S, flush: () => Promise<void>): S {
  const reads = new Set<PropertyKey>(HOST_ROW_READS);
  return new Proxy(store, {
    get(target, key, receiver) {
      const value: unknown = Reflect.get(target, key, receiver);
      if (!reads.has(key) || typeof value !== 'function') return value;
      return async (...args: unknown[]): Promise<unknown> => {
        await flush();
        return (value as (...a: unknown[]) => unknown).apply(receiver, args);
      };
    },
  });
}
