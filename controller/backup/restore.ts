import Database from 'better-sqlite3';
import { X509Certificate, createPrivateKey, createPublicKey, randomBytes } from 'node:crypto';
import { chmod, mkdir, open, readFile, readdir, rename, rm, rmdir } from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';
import { KctlError, describeZodError } from '../../proto/errors.js';
import { caPinOf } from '../../proto/ca-pin.js';
import { MIGRATIONS } from '../store/migrations.js';
import { ControllerSettings } from '../data-dir.js';
import { decodeBackup, MemberName, type BackupManifest } from './archive.js';
import { exists, fsyncDir } from './backup.js';

export interface RestoreResult {
  dataDir: string;
  caPin: string;
  advertiseUrl: string;
  sans: string[];
  manifest: BackupManifest;
  /** where the data dir that was there before went (with --force) */
  replaced?: string;
}

/**
 * `kctl controller restore`: (for a backup of a PostgreSQL controller: the CA and settings only, the
 * manifest's `store` names the database) verifies every member against the manifest, refuses a schema newer
 * than this code, builds the new data dir beside the target (0700, files 0600) and renames it into
 * place, so a failure half-way leaves no half-restored directory. A directory that already holds
 * controller state is replaced only with force, and then kept aside as DIR.replaced-<time>.
 */
export async function restoreController(options: {
  from: string;
  dataDir: string;
  force?: boolean;
  now?: Date;
}): Promise<RestoreResult> {
  const dataDir = resolve(options.dataDir);
  let text: string;
  try {
    text = await readFile(options.from, 'utf8');
  } catch (err) {
    throw new KctlError(
      'invalid_args',
      `--from: cannot read "${options.from}": ${(err as NodeJS.ErrnoException).code ?? String(err)}`,
    );
  }
  const { manifest, members } = decodeBackup(text, options.from);
  if (manifest.schemaVersion > MIGRATIONS.length) {
    throw new KctlError(
      'invalid_config',
      `Backup "${options.from}" has database schema version ${manifest.schemaVersion}, newer than this kctl knows (${MIGRATIONS.length})`,
      {
        details: {
          remedy: `restore with kctl ${manifest.kctlVersion} or newer`,
          kctlVersion: manifest.kctlVersion,
        },
      },
    );
  }
  const settings = parseSettings(members['controller.json'], options.from);
  const caPin = checkKeyPair(members['ca.crt'], members['ca.key'], 'ca', options.from);
  checkKeyPair(members['server.crt'], members['server.key'], 'server', options.from);

  const existing = await controllerFilesIn(dataDir);
  if (existing.length > 0 && !options.force) {
    throw new KctlError(
      'invalid_config',
      `Refusing to restore into "${dataDir}": it already holds controller state (${existing.map((f) => `"${f}"`).join(', ')})`,
      {
        details: {
          remedy: `restore into a new directory, or pass --force to keep "${dataDir}" aside as ${basename(dataDir)}.replaced-<time> and restore in its place`,
        },
      },
    );
  }

  const parent = dirname(dataDir);
  await mkdir(parent, { recursive: true });
  const staging = join(parent, `.${basename(dataDir)}.restore-${randomBytes(6).toString('hex')}`);
  await mkdir(staging, { mode: 0o700 });
  try {
    await chmod(staging, 0o700);
    for (const name of MemberName.options) {
      const data = members[name];
      if (data === undefined) continue;
      const handle = await open(join(staging, name), 'wx', 0o600);
      try {
        await handle.writeFile(data);
        await handle.sync();
      } finally {
        await handle.close();
      }
    }
    // a PostgreSQL controller's state stays in its database (pg_dump/pg_restore), not in the data dir
    if (manifest.store === undefined)
      checkDatabase(join(staging, 'state.db'), manifest.schemaVersion, options.from);
    await fsyncDir(staging);

    let replaced: string | undefined;
    if (existing.length > 0) {
      replaced = `${dataDir}.replaced-${(options.now ?? new Date()).toISOString().replace(/[:.]/g, '-')}`;
      await rename(dataDir, replaced);
    } else if (await exists(dataDir)) {
      await removeEmptyOrRefuse(dataDir);
    }
    await rename(staging, dataDir);
    await fsyncDir(parent);
    return {
      dataDir,
      caPin,
      advertiseUrl: settings.advertiseUrl,
      sans: settings.sans,
      manifest,
      ...(replaced !== undefined ? { replaced } : {}),
    };
  } catch (err) {
    await rm(staging, { recursive: true, force: true });
    throw err;
  }
}

function parseSettings(data: Buffer | undefined, source: string): ControllerSettings {
  let json: unknown;
  try {
    json = JSON.parse((data ?? Buffer.alloc(0)).toString('utf8'));
  } catch (err) {
    throw new KctlError(
      'invalid_config',
      `Backup "${source}": controller.json is not JSON: ${(err as Error).message}`,
    );
  }
  const parsed = ControllerSettings.safeParse(json);
  if (!parsed.success) {
    throw new KctlError(
      'invalid_config',
      `Backup "${source}": controller.json: ${describeZodError(parsed.error)}`,
    );
  }
  return parsed.data;
}

/** The certificate parses and the key is its key; returns the certificate's pin. */
function checkKeyPair(
  cert: Buffer | undefined,
  key: Buffer | undefined,
  stem: 'ca' | 'server',
  source: string,
): string {
  try {
    const x509 = new X509Certificate(cert ?? Buffer.alloc(0));
    const spki = (k: ReturnType<typeof createPublicKey>): Buffer => k.export({ type: 'spki', format: 'der' });
    const fromKey = createPublicKey(createPrivateKey(key ?? Buffer.alloc(0)));
    if (!spki(fromKey).equals(spki(x509.publicKey)))
      throw new Error('the key does not belong to the certificate');
    return caPinOf(cert?.toString('utf8') ?? '');
  } catch (err) {
    // the message of a key parse error never contains the key itself
    throw new KctlError(
      'invalid_config',
      `Backup "${source}": members "${stem}.crt" and "${stem}.key" are not a usable pair: ${(err as Error).message}`,
    );
  }
}

/** The restored file must be a sound SQLite database whose user_version is the manifest's. */
function checkDatabase(file: string, schemaVersion: number, source: string): void {
  let db: Database.Database | undefined;
  try {
    db = new Database(file, { fileMustExist: true });
    const result = db.pragma('integrity_check', { simple: true }) as string;
    const version = db.pragma('user_version', { simple: true }) as number;
    if (result !== 'ok') throw new Error(`integrity_check: ${result}`);
    if (version !== schemaVersion) {
      throw new Error(`schema version ${version}, but the manifest says ${schemaVersion}`);
    }
  } catch (err) {
    throw new KctlError(
      'invalid_config',
      `Backup "${source}": member "state.db" is not usable: ${(err as Error).message}`,
    );
  } finally {
    db?.close();
  }
}

async function controllerFilesIn(dir: string): Promise<string[]> {
  const found: string[] = [];
  for (const name of MemberName.options) if (await exists(join(dir, name))) found.push(join(dir, name));
  return found;
}

async function removeEmptyOrRefuse(dir: string): Promise<void> {
  const entries = await readdir(dir);
  if (entries.length > 0) {
    throw new KctlError(
      'invalid_config',
      `Refusing to restore into "${dir}": it is not empty (${entries.slice(0, 5).join(', ')})`,
      { details: { remedy: 'restore into a new or empty directory' } },
    );
  }
  await rmdir(dir);
}
