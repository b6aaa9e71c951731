import { readFile } from 'node:fs/promises';
import { hostname } from 'node:os';
import { resolve } from 'node:path';
import type { Logger } from 'pino';
import { KctlError } from '../../proto/errors.js';
import type { AsyncStore } from './store.js';
import type { StoreLocation } from './store-location.js';
import { LocalClusterLocks, type ClusterLockService } from './cluster-locks.js';
import type { PgRelay, RelayHost } from './pg-relay.js';
import { SqliteStore } from './sqlite-store.js';
import { sqliteAsAsyncStore } from './sqlite-async-store.js';
import { PgStore, redactConnectionString } from './pg-store.js';

export interface OpenedStore {
  store: AsyncStore;
  /** one operation per cluster: in this process on SQLite, across replicas on PostgreSQL */
  clusterLocks: ClusterLockService;
  /** PostgreSQL: commands and host notices between replicas; absent on SQLite (one controller) */
  startRelay?: (host: RelayHost) => Promise<PgRelay>;
  /** what logs and errors may show: the file, or the connection string without its password */
  describe: string;
}

/**
 * Opens the store the controller runs on; the only place the controller picks a database. Files
 * named by the location are read relative to `baseDir` (the data dir).
 */
export async function openControllerStore(options: {
  location: StoreLocation | undefined;
  dbFile: string;
  baseDir: string;
  log: Logger;
}): Promise<OpenedStore> {
  const { location, log } = options;
  if (location === undefined || location === 'sqlite') {
    const sqlite = new SqliteStore(options.dbFile, { log });
    return {
      store: sqliteAsAsyncStore(sqlite),
      clusterLocks: new LocalClusterLocks(),
      describe: options.dbFile,
    };
  }
  const where = typeof location === 'string' ? { url: location } : location;
  const read = async (file: string | undefined, what: string): Promise<string | undefined> => {
    if (file === undefined) return undefined;
    const path = resolve(options.baseDir, file);
    try {
      return await readFile(path, 'utf8');
    } catch (err) {
      throw new KctlError(
        'invalid_config',
        `Cannot read the store's ${what} "${path}": ${(err as NodeJS.ErrnoException).code ?? 'error'}`,
      );
    }
  };
  const caPem = await read(where.caFile, 'CA file');
  const certPem = await read(where.certFile, 'client certificate');
  const keyPem = await read(where.keyFile, 'client key');
  if ((certPem === undefined) !== (keyPem === undefined))
    throw new KctlError(
      'invalid_config',
      "The store's client certificate needs its key and the key its certificate",
    );
  const tls =
    caPem !== undefined || certPem !== undefined || where.servername !== undefined
      ? {
          ...(caPem !== undefined ? { caPem } : {}),
          ...(certPem !== undefined ? { certPem } : {}),
          ...(keyPem !== undefined ? { keyPem } : {}),
          ...(where.servername !== undefined ? { servername: where.servername } : {}),
        }
      : undefined;
  // this replica's name in locks and relay notices: unique per process
  const replica = `${hostname()}:${process.pid}`;
  const store = await PgStore.open({ connectionString: where.url, ...(tls ? { tls } : {}), log });
  return {
    store,
    clusterLocks: store.clusterLocks(replica),
    startRelay: (host) => store.startRelay(replica, host, log.child({ component: 'relay' })),
    describe: redactConnectionString(where.url),
  };
}
