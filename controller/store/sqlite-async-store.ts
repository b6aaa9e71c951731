import type { AsyncStore, Store, StoreTableKey } from './store.js';
import type { SqliteStore } from './sqlite-store.js';

const TABLES: readonly StoreTableKey[] = ['applies', 'preflight', 'health', 'webTokens'];

/**
 * SqliteStore presented as an AsyncStore, so the controller has one code path for SQLite and
 * PostgreSQL. Each call runs the synchronous statement and resolves with its result. A
 * better-sqlite3 transaction cannot span an `await`, so `transaction(fn)` opens one explicitly
 * (BEGIN IMMEDIATE on the single connection) and holds every other caller's call in a queue until
 * COMMIT or ROLLBACK; only the store handed to `fn` reaches the database meanwhile. Transactions
 * themselves run one after another in the order they were asked for.
 */
export function sqliteAsAsyncStore(sqlite: SqliteStore): AsyncStore {
  /** settles when the transaction holding the connection ends; undefined while none does */
  let held: Promise<void> | undefined;

  /** outside a transaction: waits for the one holding the connection, then runs */
  const outside = async <T>(run: () => T): Promise<T> => {
    while (held) await held;
    return run();
  };
  /** inside the transaction that holds the connection: runs at once */
  const inside: Runner = (run) => Promise.resolve().then(run);

  const transaction = async <T>(fn: (tx: AsyncStore) => Promise<T>): Promise<T> => {
    // checked again after each wake-up: another waiter may have taken the connection first
    while (held) await held;
    let release!: () => void;
    held = new Promise<void>((resolve) => (release = resolve));
    try {
      sqlite.database.exec('BEGIN IMMEDIATE');
      try {
        const result = await fn(txStore);
        sqlite.database.exec('COMMIT');
        return result;
      } catch (err) {
        if (sqlite.database.inTransaction) sqlite.database.exec('ROLLBACK');
        throw err;
      }
    } finally {
      held = undefined;
      release();
    }
  };

  // inside a transaction, a nested one is part of it (as better-sqlite3's own nesting behaves
  // for a caller that cannot tell): fn runs on the same connection and commits with the outer one
  const txStore: AsyncStore = wrap(sqlite, inside, async (fn) => fn(txStore));
  return wrap(sqlite, outside, transaction);
}

type Runner = <T>(run: () => T) => Promise<T>;

function wrap(sqlite: SqliteStore, runner: Runner, transaction: AsyncStore['transaction']): AsyncStore {
  const methods = (target: object): Record<string, unknown> => {
    const out: Record<string, unknown> = {};
    let proto: object | null = target;
    while (proto && proto !== Object.prototype) {
      for (const key of Object.getOwnPropertyNames(proto)) {
        if (key === 'constructor' || key === 'transaction' || key in out) continue;
        const descriptor = Object.getOwnPropertyDescriptor(proto, key);
        if (typeof descriptor?.value !== 'function') continue;
        // looked up at each call, so a test's spy on the SqliteStore is seen
        const call = target as Record<string, (...args: unknown[]) => unknown>;
        out[key] = (...args: unknown[]) => runner(() => call[key]!(...args));
      }
      proto = Object.getPrototypeOf(proto) as object | null;
    }
    return out;
  };
  const store = methods(sqlite);
  for (const table of TABLES) store[table] = methods((sqlite as Store)[table]);
  store.transaction = transaction;
  // SqliteStore's private helpers stay its own; only Store's methods are reachable
  delete store.statement;
  delete store.migrate;
  return store as unknown as AsyncStore;
}
