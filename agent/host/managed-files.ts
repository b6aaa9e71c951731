import { constants } from 'node:fs';
import type { Stats } from 'node:fs';
import type { FileHandle } from 'node:fs/promises';
import { createHash, randomBytes } from 'node:crypto';
import { posix } from 'node:path';
import type { Logger } from 'pino';
import { KctlError } from '../../proto/errors.js';
import type { FileStat, WriteOptions, WriteReport } from './host.js';
import { HeldDir, HeldEntryError, RootDirs, symlinkRefused, type OpenDirOptions } from './held-dir.js';
import { ioError } from './io-error.js';
import { checkWritablePath, WRITE_ALLOWLIST } from './paths.js';

const BACKUP_DIR = '/var/lib/kctl-agent/backups';
const STREAM_WRITE_BYTES = 1024 * 1024;
const TEMP_NAME = /^\..+\.kctl-tmp-[0-9a-f]+$/;
const MAX_TREE_DEPTH = 32;

/**
 * The files the agent manages: everything inside the write allow-list (S16), for reads as well as
 * writes. Every operation goes through directories held by descriptor from the root down
 * (`RootDirs`), never through a symbolic link: writes meeting a link anywhere are refused, reads
 * find nothing there (and log it), and removal takes a last-component link away as itself.
 */
export class ManagedFiles {
  private readonly dirs: RootDirs;

  constructor(
    root: string,
    private readonly log: Logger | undefined,
  ) {
    this.dirs = new RootDirs(root);
  }

  /**
   * A regular file's bytes; undefined when it or its directory is absent, or when a link stands on
   * the way or in its place: nothing a link points to is ever read, so a plan cannot show it (the
   * write that would follow is refused, naming the link). A directory or FIFO is an io_error.
   */
  async read(path: string): Promise<Buffer | undefined> {
    const purpose = `read "${path}"`;
    return this.dirs.withParent(
      path,
      this.readOptions(purpose),
      async (dir, name) => {
        try {
          return (await dir.readRegular(name))?.bytes;
        } catch (err) {
          if (err instanceof HeldEntryError && err.reason === 'symlink') {
            this.linkNotFollowed(purpose, err.hostPath);
            return undefined;
          }
          throw entryError(purpose, err);
        }
      },
      () => undefined,
    );
  }

  /**
   * Up to `length` bytes of a regular file from `offset` (fewer at its end), read as `read` reads:
   * undefined when absent or behind a link. For files too large to read whole (etcd snapshots).
   */
  async readRange(path: string, offset: number, length: number): Promise<Buffer | undefined> {
    const purpose = `read "${path}"`;
    return this.dirs.withParent(
      path,
      this.readOptions(purpose),
      async (dir, name) => {
        let fh: FileHandle | undefined;
        try {
          fh = await dir.openRegular(name);
        } catch (err) {
          if (err instanceof HeldEntryError) return undefined;
          throw ioError(`Cannot read "${path}"`, err);
        }
        if (!fh) return undefined;
        try {
          const buffer = Buffer.alloc(length);
          const { bytesRead } = await fh.read(buffer, 0, length, offset);
          return buffer.subarray(0, bytesRead);
        } finally {
          await fh.close();
        }
      },
      () => undefined,
    );
  }

  /** lstat: a last-component link is reported as one; below a link on the way there is nothing (undefined). */
  async stat(path: string): Promise<FileStat | undefined> {
    return this.dirs.withParent(
      path,
      this.readOptions(`stat "${path}"`),
      async (dir, name) => {
        const s = await dir.lstat(name);
        return s ? fileStat(s) : undefined;
      },
      () => undefined,
    );
  }

  /** Entries of a real directory; [] when absent, or when it or a directory above it is a link. */
  async list(path: string): Promise<string[]> {
    const dir = await this.dirs.open(path, this.readOptions(`list "${path}"`));
    if (!dir) return [];
    try {
      return await dir.list();
    } finally {
      await dir.close();
    }
  }

  /** SHA-256 and size of a regular file; undefined when absent, a link, below a link or not a regular file. */
  async hash(path: string): Promise<{ sha256: string; size: number } | undefined> {
    return this.dirs.withParent(
      path,
      this.readOptions(`read "${path}"`),
      async (dir, name) => {
        let fh: FileHandle | undefined;
        try {
          fh = await dir.openRegular(name);
        } catch (err) {
          if (err instanceof HeldEntryError) return undefined;
          throw ioError(`Cannot read "${path}"`, err);
        }
        if (!fh) return undefined;
        const hash = createHash('sha256');
        let size = 0;
        try {
          for await (const chunk of fh.createReadStream({ autoClose: false }) as AsyncIterable<Buffer>) {
            hash.update(chunk);
            size += chunk.length;
          }
        } finally {
          await fh.close();
        }
        return { sha256: hash.digest('hex'), size };
      },
      () => undefined,
    );
  }

  /** S16 + S17: allow-listed path, no link anywhere, temp + fsync + rename + fsync(dir), backup of the old content. */
  async writeAtomic(
    path: string,
    content: string | Buffer,
    options: WriteOptions = {},
  ): Promise<WriteReport> {
    const target = checkWritablePath(path);
    const purpose = `write "${target}"`;
    const bytes = typeof content === 'string' ? Buffer.from(content) : content;
    return this.inParentForWrite(target, purpose, async (dir, name) => {
      let previous: { bytes: Buffer; stat: Stats } | undefined;
      try {
        previous = await dir.readRegular(name);
      } catch (err) {
        throw entryError(purpose, err);
      }
      const mode = options.mode ?? (previous ? previous.stat.mode & 0o7777 : 0o644);
      const uid = options.uid ?? previous?.stat.uid;
      const gid = options.gid ?? previous?.stat.gid;
      if (
        previous?.bytes.equals(bytes) &&
        (previous.stat.mode & 0o7777) === mode &&
        (uid === undefined || previous.stat.uid === uid) &&
        (gid === undefined || previous.stat.gid === gid)
      ) {
        return { path: target, changed: false };
      }
      let backupPath: string | undefined;
      if (previous && !target.startsWith(`${BACKUP_DIR}/`)) {
        try {
          backupPath = await this.backup(previous.bytes);
        } catch (err) {
          // name the file the caller asked for first: the backup is only why it could not be written
          const cause = err instanceof KctlError ? err.message : String(err);
          throw new KctlError(
            'io_error',
            `Cannot ${purpose}: its old content could not be backed up: ${cause}`,
            {
              cause: err,
              retryable: err instanceof KctlError ? err.retryable : false,
              details: { path: target, remedy: `free space or fix permissions under ${BACKUP_DIR}` },
            },
          );
        }
      }
      await replaceViaTemp(dir, name, purpose, mode, async (fh) => {
        await fh.writeFile(bytes);
        await fh.chmod(mode);
        // -1 leaves that id as created; only root may give a file away
        if ((uid !== undefined || gid !== undefined) && process.getuid?.() === 0)
          await fh.chown(uid ?? -1, gid ?? -1);
      });
      this.log?.debug({ path: target, mode, backupPath }, 'file written');
      return { path: target, changed: true, ...(backupPath ? { backupPath } : {}) };
    });
  }

  async writeFromStream(
    path: string,
    source: AsyncIterable<Uint8Array>,
    expect: { sha256: string; size: number; mode?: number },
  ): Promise<WriteReport> {
    const target = checkWritablePath(path);
    const purpose = `write "${target}"`;
    return this.inParentForWrite(target, purpose, async (dir, name) => {
      if ((await dir.lstat(name))?.isSymbolicLink()) throw symlinkRefused(purpose, target);
      const mode = expect.mode ?? 0o644;
      const hash = createHash('sha256');
      let size = 0;
      await replaceViaTemp(dir, name, purpose, 0o600, async (fh) => {
        // network chunks are small (TLS records): gather them into ~1 MiB writes
        let pending: Uint8Array[] = [];
        let pendingBytes = 0;
        for await (const chunk of source) {
          size += chunk.length;
          // a sender that goes on past the promised size is cut off, not written to disk
          if (size > expect.size) break;
          hash.update(chunk);
          pending.push(chunk);
          pendingBytes += chunk.length;
          if (pendingBytes >= STREAM_WRITE_BYTES) {
            await fh.writev(pending);
            pending = [];
            pendingBytes = 0;
          }
        }
        if (pendingBytes > 0) await fh.writev(pending);
        if (size !== expect.size || hash.digest('hex') !== expect.sha256) {
          throw new KctlError(
            'step_failed',
            size !== expect.size
              ? `"${path}": received ${size > expect.size ? `more than ${expect.size}` : size} bytes, the signed manifest says ${expect.size}; the previous copy is kept`
              : `"${path}": SHA-256 does not match the signed manifest (want ${expect.sha256}); the previous copy is kept`,
            { details: { path, expectedSha256: expect.sha256, expectedSize: expect.size } },
          );
        }
        await fh.chmod(mode);
        if (process.getuid?.() === 0) await fh.chown(0, 0);
      });
      this.log?.debug({ path: target, mode, size }, 'file written from stream');
      return { path: target, changed: true };
    });
  }

  /** Removes one allow-listed non-directory entry; a symlink is removed itself, never its target. */
  async remove(path: string): Promise<boolean> {
    const target = checkWritablePath(path);
    return this.dirs.withParent(
      target,
      { purpose: `remove "${target}"` },
      async (dir, name) => {
        try {
          return await dir.unlink(name);
        } catch (err) {
          throw ioError(`Cannot remove "${path}"`, err);
        }
      },
      () => false,
    );
  }

  /**
   * Removes everything below an allow-listed directory, depth first, through held directories:
   * links inside are removed as links, and when the directory itself is a link, the link is
   * removed and its target left alone. Returns the host paths removed.
   */
  async clearDirectory(path: string): Promise<string[]> {
    const target = checkWritablePath(path);
    const purpose = `clear "${target}"`;
    return this.dirs.withParent(
      target,
      { purpose },
      async (parent, name) => {
        const child = await parent.child(name);
        switch (child.kind) {
          case 'absent':
            return [];
          case 'symlink':
            return (await parent.unlink(name)) ? [target] : [];
          case 'other':
            throw new KctlError('io_error', `Cannot ${purpose}: it is not a directory`);
          case 'dir': {
            const removed: string[] = [];
            try {
              await emptyHeld(child.dir, removed, 0);
            } catch (err) {
              throw ioError(`Cannot ${purpose}`, err);
            } finally {
              await child.dir.close();
            }
            return removed;
          }
        }
      },
      () => [],
    );
  }

  /**
   * Removes temp files an interrupted write left behind (S17), in the allow-listed directories
   * (a few levels deep, no link followed). Returns the host paths removed.
   */
  async removeStaleTempFiles(): Promise<string[]> {
    const removed: string[] = [];
    const sweep = async (dir: HeldDir, depth: number): Promise<void> => {
      for (const name of await dir.list()) {
        const s = await dir.lstat(name);
        if (s?.isFile() && TEMP_NAME.test(name)) {
          if (await dir.unlink(name)) removed.push(dir.childPath(name));
        } else if (s?.isDirectory() && depth > 0) {
          const child = await dir.child(name);
          if (child.kind !== 'dir') continue;
          try {
            await sweep(child.dir, depth - 1);
          } finally {
            await child.dir.close();
          }
        }
      }
    };
    const roots = new Map<string, number>();
    for (const a of WRITE_ALLOWLIST) {
      if (a.kind === 'dir') roots.set(a.path, 3);
      else if (!roots.has(posix.dirname(a.path))) roots.set(posix.dirname(a.path), 0);
    }
    for (const [path, depth] of roots) {
      let dir: HeldDir | undefined;
      try {
        dir = await this.dirs.open(path, { purpose: `sweep temp files in "${path}"` });
      } catch (err) {
        this.log?.warn({ path, err }, 'temp file sweep skipped a directory');
        continue;
      }
      if (!dir) continue;
      try {
        await sweep(dir, depth);
      } finally {
        await dir.close();
      }
    }
    return removed.sort();
  }

  /** Makes an allow-listed directory (and the missing ones above it), no link on the way. */
  async ensureDir(path: string, mode: number): Promise<void> {
    const target = checkWritablePath(path);
    const dir = await this.dirs.open(target, {
      purpose: `create "${target}"`,
      create: true,
      rootOwned: true,
    });
    try {
      await dir?.chmod(mode);
    } finally {
      await dir?.close();
    }
  }

  async chown(path: string, uid: number, gid: number): Promise<void> {
    const target = checkWritablePath(path);
    const purpose = `chown "${target}"`;
    await this.dirs.withParent(
      target,
      { purpose },
      async (dir, name) => {
        let fh: FileHandle;
        try {
          fh = await dir.openFile(name, constants.O_RDONLY | constants.O_NONBLOCK);
        } catch (err) {
          if ((err as NodeJS.ErrnoException).code === 'ELOOP') throw symlinkRefused(purpose, target);
          throw ioError(`Cannot ${purpose}`, err);
        }
        try {
          await fh.chown(uid, gid);
        } finally {
          await fh.close();
        }
      },
      () => {
        throw new KctlError('io_error', `Cannot ${purpose}: its directory does not exist`);
      },
    );
  }

  private readOptions(purpose: string): OpenDirOptions {
    return { purpose, onLink: (at) => this.linkNotFollowed(purpose, at) };
  }

  private linkNotFollowed(purpose: string, link: string): void {
    this.log?.warn({ purpose, link }, 'symbolic link not followed');
  }

  private async inParentForWrite<T>(
    target: string,
    purpose: string,
    fn: (dir: HeldDir, name: string) => Promise<T>,
  ): Promise<T> {
    return this.dirs.withParent(target, { purpose, create: true, rootOwned: true }, fn, () => {
      throw new KctlError('io_error', `Cannot ${purpose}: its directory could not be created`);
    });
  }

  /** Content-addressed backup of the previous content (S17). */
  private async backup(old: Buffer): Promise<string> {
    const sha = createHash('sha256').update(old).digest('hex');
    const path = `${BACKUP_DIR}/${sha}`;
    if (!(await this.stat(path))) await this.writeAtomic(path, old, { mode: 0o600 });
    return path;
  }
}

/**
 * S17's one way to replace a file: a fresh temp file in the held directory (O_EXCL, O_NOFOLLOW),
 * filled by `fill`, fsynced, renamed over the target inside the same directory, then the directory
 * fsynced. On any failure the temp file goes and the target is untouched.
 */
async function replaceViaTemp(
  dir: HeldDir,
  name: string,
  purpose: string,
  createMode: number,
  fill: (fh: FileHandle) => Promise<void>,
): Promise<void> {
  const tmp = `.${name}.kctl-tmp-${randomBytes(6).toString('hex')}`;
  try {
    const fh = await dir.openFile(tmp, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL, createMode);
    try {
      await fill(fh);
      await fh.sync(); // an fsync error fails the step (S17)
    } finally {
      await fh.close();
    }
    await dir.rename(tmp, name);
    await dir.sync();
  } catch (err) {
    await dir.unlink(tmp).catch(() => false);
    throw ioError(`Cannot ${purpose}`, err);
  }
}

/** Empties a held directory depth first; an entry swapped for a link meanwhile is removed as a link. */
async function emptyHeld(dir: HeldDir, removed: string[], depth: number): Promise<void> {
  if (depth > MAX_TREE_DEPTH)
    throw new KctlError('io_error', `"${dir.hostPath}" is nested more than ${MAX_TREE_DEPTH} levels deep`);
  for (const name of await dir.list()) {
    const s = await dir.lstat(name);
    if (!s) continue;
    if (!s.isDirectory()) {
      if (await dir.unlink(name)) removed.push(dir.childPath(name));
      continue;
    }
    const child = await dir.child(name);
    if (child.kind === 'dir') {
      try {
        await emptyHeld(child.dir, removed, depth + 1);
      } finally {
        await child.dir.close();
      }
      await dir.rmdir(name);
      removed.push(dir.childPath(name));
    } else if (child.kind !== 'absent' && (await dir.unlink(name))) {
      removed.push(dir.childPath(name));
    }
  }
}

function fileStat(s: Stats): FileStat {
  return {
    mode: s.mode & 0o7777,
    uid: s.uid,
    gid: s.gid,
    size: s.size,
    isFile: s.isFile(),
    isDirectory: s.isDirectory(),
    isSymlink: s.isSymbolicLink(),
  };
}

/** A refusal for a link or a non-regular file, or an io_error for anything else. */
function entryError(purpose: string, err: unknown): KctlError {
  if (err instanceof HeldEntryError) {
    return err.reason === 'symlink'
      ? symlinkRefused(purpose, err.hostPath)
      : new KctlError('io_error', `Cannot ${purpose}: "${err.hostPath}" is not a regular file`);
  }
  return ioError(`Cannot ${purpose}`, err);
}
