import Database from 'better-sqlite3';
import { randomBytes } from 'node:crypto';
import { access, mkdtemp, open, readFile, rename, rm, unlink } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, dirname, join } from 'node:path';
import { KctlError } from '../../proto/errors.js';
import { caPinOf } from '../../proto/ca-pin.js';
import { KCTL_VERSION } from '../../proto/version.js';
import { SqliteStore } from '../store/sqlite-store.js';
import { StoreLocation } from '../store/store-location.js';
import { redactConnectionString } from '../store/pg-connection.js';
import { describeZodError } from '../../proto/errors.js';
import { encodeBackup, MemberName, OPTIONAL_MEMBERS, type BackupManifest } from './archive.js';

/** The database a backup leaves out: a PostgreSQL store, which pg_dump backs up. */
export interface DatabaseElsewhere {
  /** the connection string, password replaced by *** */
  url: string;
  /** where the setting came from: `--store` or `controller.json "store"` */
  setting: string;
  /** the store's TLS files (caFile, certFile, keyFile): paths in controller.json, not copied */
  tlsFiles: string[];
}

export interface BackupResult {
  out: string;
  manifest: BackupManifest;
  caPin: string;
  /** set when the state is in PostgreSQL: the backup holds the CA and settings only */
  storeElsewhere?: DatabaseElsewhere;
}

/**
 * The PostgreSQL store this controller runs on, or undefined for SQLite: `--store` when given (as
 * `kctl controller run --store` overrides controller.json), else controller.json's `store`.
 */
export function postgresStoreOf(
  settingsJson: Uint8Array | undefined,
  flag: StoreLocation | undefined,
  dataDir: string,
): DatabaseElsewhere | undefined {
  let location = flag;
  let setting = '--store';
  if (location === undefined && settingsJson !== undefined) {
    let raw: unknown;
    try {
      raw = (JSON.parse(Buffer.from(settingsJson).toString('utf8')) as { store?: unknown }).store;
    } catch {
      raw = undefined; // restore checks controller.json as a whole; the store setting is all that matters here
    }
    if (raw !== undefined) {
      const parsed = StoreLocation.safeParse(raw);
      if (!parsed.success)
        throw new KctlError(
          'invalid_config',
          `"${join(dataDir, 'controller.json')}": store: ${describeZodError(parsed.error)}`,
        );
      location = parsed.data;
      setting = 'controller.json "store"';
    }
  }
  if (location === undefined || location === 'sqlite') return undefined;
  const where = typeof location === 'string' ? { url: location } : location;
  return {
    url: redactConnectionString(where.url),
    setting,
    tlsFiles: [where.caFile, where.certFile, where.keyFile].filter((f) => f !== undefined),
  };
}

/**
 * `kctl controller backup`: an online copy of state.db through SQLite's backup API (consistent
 * even with WAL and a running controller writing), checked with integrity_check, plus the CA,
 * the serving certificate, the settings and the admin client config, in one file written 0600.
 * A controller on PostgreSQL gets the CA and settings only: its state is in the database (shared
 * by every replica), which pg_dump copies consistently; a state.db in the data dir would be stale
 * or empty, and restoring it would look like a success.
 */
export async function backupController(options: {
  dataDir: string;
  out: string;
  force?: boolean;
  now?: Date;
  /** --store: the store the controller runs on, when not (or not as) in controller.json */
  store?: StoreLocation;
}): Promise<BackupResult> {
  const { dataDir, out } = options;
  if (!options.force && (await exists(out))) {
    throw new KctlError('invalid_args', `--out: "${out}" exists; refusing to overwrite it`, {
      details: { remedy: 'choose a new file name, or pass --force to replace it' },
    });
  }
  const members: Partial<Record<MemberName, Uint8Array>> = {};
  for (const name of MemberName.options) {
    if (name === 'state.db') continue;
    const path = join(dataDir, name);
    try {
      members[name] = await readFile(path);
    } catch (err) {
      if (OPTIONAL_MEMBERS.includes(name) && (err as NodeJS.ErrnoException).code === 'ENOENT') continue;
      throw new KctlError(
        'invalid_config',
        `Cannot read "${path}": ${(err as NodeJS.ErrnoException).code ?? String(err)}`,
        { details: { remedy: `is "${dataDir}" a controller data dir (kctl controller init)?` } },
      );
    }
  }
  const database = postgresStoreOf(members['controller.json'], options.store, dataDir);
  let schemaVersion = 0;
  if (database === undefined) {
    const db = await copyDatabase(join(dataDir, 'state.db'));
    members['state.db'] = db.bytes;
    schemaVersion = db.schemaVersion;
  }
  const { text, manifest } = encodeBackup({
    kctlVersion: KCTL_VERSION,
    schemaVersion,
    createdAt: options.now ?? new Date(),
    members,
    ...(database ? { store: { kind: 'postgres' as const, url: database.url } } : {}),
  });
  await writeFileAtomic(out, text);
  const caCrt = members['ca.crt'];
  return {
    out,
    manifest,
    caPin: caPinOf(Buffer.from(caCrt ?? new Uint8Array()).toString('utf8')),
    ...(database ? { storeElsewhere: database } : {}),
  };
}

async function copyDatabase(file: string): Promise<{ bytes: Buffer; schemaVersion: number }> {
  const work = await mkdtemp(join(tmpdir(), 'kctl-backup-'));
  const copy = join(work, 'state.db');
  try {
    if (await exists(file)) {
      // read-only: the backup never writes the live database, and a busy writer only makes it retry
      const source = new Database(file, { readonly: true, fileMustExist: true });
      try {
        source.pragma('busy_timeout = 5000');
        await source.backup(copy);
      } finally {
        source.close();
      }
    } else {
      // right after init, before the first run: the empty state the controller would create
      new SqliteStore(copy).close();
    }
    const check = new Database(copy, { readonly: true, fileMustExist: true });
    let schemaVersion: number;
    try {
      const result = check.pragma('integrity_check', { simple: true }) as string;
      if (result !== 'ok') {
        throw new KctlError('io_error', `The copy of "${file}" fails PRAGMA integrity_check: ${result}`, {
          details: { remedy: 'the live database may be damaged; keep the previous backup' },
        });
      }
      schemaVersion = check.pragma('user_version', { simple: true }) as number;
    } finally {
      check.close();
    }
    return { bytes: await readFile(copy), schemaVersion };
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}

/** Temp file beside the target (0600, exclusive), fsync, rename, fsync the directory (as S17). */
export async function writeFileAtomic(path: string, content: string | Uint8Array): Promise<void> {
  const tmp = join(dirname(path), `.${basename(path)}.kctl-tmp-${randomBytes(6).toString('hex')}`);
  const handle = await open(tmp, 'wx', 0o600);
  try {
    try {
      await handle.writeFile(content);
      await handle.chmod(0o600);
      await handle.sync();
    } finally {
      await handle.close();
    }
    await rename(tmp, path);
  } catch (err) {
    await unlink(tmp).catch(() => undefined);
    throw err;
  }
  await fsyncDir(dirname(path));
}

export async function fsyncDir(dir: string): Promise<void> {
  const handle = await open(dir, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

export async function exists(path: string): Promise<boolean> {
  try {
    await access(path);
    return true;
  } catch {
    return false;
  }
}
