import type { AsyncStore, HostRecord, Store } from './store.js';

export type HostState = Pick<HostRecord, 'name' | 'state' | 'certSerial'>;

/** What the per-frame and per-connection checks read: a host's standing, without a database round trip. */
export type HostStateReader = Pick<Store, 'getHostState'>;

/** The writes that change a host's name, state or certificate serial. */
const HOST_STATE_WRITES = new Set<PropertyKey>([
  'createHost',
  'setHostCertificate',
  'revokeHost',
  'deleteHost',
]);

/**
 * Every host's name, state and current certificate serial, kept in memory so that authorising an
 * upgrade, an HTTP request or a command (S6) reads no database: on PostgreSQL each such read would
 * be a round trip per frame. Loaded once at start; the store returned by `track` refreshes a host's
 * entry from the database after each write that changes it (after COMMIT when the write was in a
 * transaction), so the cache is exact while this process is the only writer of hosts. Replicas
 * (several writers) will need a notification from the database to refresh it (issue 16, later part).
 */
export class HostStateCache implements HostStateReader {
  private readonly states = new Map<string, HostState>();
  /** called after each committed host write made through `track` (replicas tell each other) */
  private readonly writeListeners = new Set<(hostId: string) => void>();

  private constructor(private readonly store: AsyncStore) {}

  /** Loads every host's standing from the store. */
  static async load(store: AsyncStore): Promise<HostStateCache> {
    const cache = new HostStateCache(store);
    for (const h of await store.listHosts()) cache.set(h.id, h);
    return cache;
  }

  getHostState(id: string): HostState | undefined {
    return this.states.get(id);
  }

  /** Reads one host's standing from the store again. */
  async refresh(id: string): Promise<void> {
    const state = await this.store.getHostState(id);
    if (state) this.set(id, state);
    else this.states.delete(id);
  }

  /**
   * The store the controller writes through: host writes refresh this cache once they are
   * committed. Everything else is the store itself.
   */
  onWrite(listener: (hostId: string) => void): void {
    this.writeListeners.add(listener);
  }

  private written(id: string): void {
    for (const l of this.writeListeners) l(id);
  }

  track(store: AsyncStore = this.store): AsyncStore {
    return this.tracked(store, undefined);
  }

  private set(id: string, h: HostState): void {
    this.states.set(id, { name: h.name, state: h.state, certSerial: h.certSerial });
  }

  /** `touched` collects the hosts written inside a transaction, refreshed after it commits */
  private tracked(store: AsyncStore, touched: Set<string> | undefined): AsyncStore {
    return new Proxy(store, {
      get: (target, key, receiver) => {
        const value: unknown = Reflect.get(target, key, receiver);
        if (typeof value !== 'function') return value;
        const method = value as (...args: unknown[]) => Promise<unknown>;
        if (key === 'transaction') {
          return async (fn: (tx: AsyncStore) => Promise<unknown>): Promise<unknown> => {
            const inner = new Set<string>();
            const result = await method.call(target, (tx: AsyncStore) => fn(this.tracked(tx, inner)));
            for (const id of inner) {
              if (touched) touched.add(id);
              else {
                await this.refresh(id);
                this.written(id);
              }
            }
            return result;
          };
        }
        if (!HOST_STATE_WRITES.has(key)) return method.bind(target);
        return async (...args: unknown[]): Promise<unknown> => {
          const first = args[0];
          const id = typeof first === 'string' ? first : (first as { id: string }).id;
          const result = await method.apply(target, args);
          if (touched) touched.add(id);
          else {
            await this.refresh(id);
            this.written(id);
          }
          return result;
        };
      },
    });
  }
}
