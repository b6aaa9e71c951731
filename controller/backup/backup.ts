import Database from 'better-sqlite3';
import { randomBytes } from 'node:crypto';
import { access, mkdtemp, open, readFile, rename, rm, unlink } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, dirname, join } from 'node:path';
import { KctlError } from '../../proto/errors.js';
import { caPinOf } from '../../proto/ca-pin.js';
import { KCTL_VERSION } from '../../proto/version.js';
import { SqliteStore } from '../store/sqlite-store.js';
import { encodeBackup, MemberName, OPTIONAL_MEMBERS, type BackupManifest } from './archive.js';

export interface BackupResult {
  out: string;
  manifest: BackupManifest;
  caPin: string;
}

/**
 * `kctl controller backup`: an online copy of state.db through SQLite's backup API (consistent
 * even with WAL and a running controller writing), checked with integrity_check, plus the CA,
 * the serving certificate, the settings and the admin client config, in one file written 0600.
 */
export async function backupController(options: {
  dataDir: string;
  out: string;
  force?: boolean;
  now?: Date;
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
  const db = await copyDatabase(join(dataDir, 'state.db'));
  members['state.db'] = db.bytes;
  const { text, manifest } = encodeBackup({
    kctlVersion: KCTL_VERSION,
    schemaVersion: db.schemaVersion,
    createdAt: options.now ?? new Date(),
    members,
  });
  await writeFileAtomic(out, text);
  const caCrt = members['ca.crt'];
  return {
    out,
    manifest,
    caPin: caPinOf(Buffer.from(caCrt ?? new Uint8Array()).toString('utf8')),
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
