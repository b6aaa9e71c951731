import { constants } from 'node:fs';
import type { Stats } from 'node:fs';
import { lstat, mkdir, open, readdir, readlink, realpath, rename, rmdir, unlink } from 'node:fs/promises';
import type { FileHandle } from 'node:fs/promises';
import { posix } from 'node:path';
import { KctlError } from '../../proto/errors.js';
import { ioError } from './io-error.js';

/*
 * Node has no openat(2). What it does have is Linux's /proc/self/fd/<n>: a path that starts there
 * is resolved by the kernel from the open file behind descriptor <n>, not from its name. So a
 * directory is opened once (O_DIRECTORY | O_NOFOLLOW, relative to its already held parent), and
 * every later operation on an entry of it uses "/proc/self/fd/<n>/<name>": the kernel looks <name>
 * up in the directory we hold, whatever has been renamed or symlinked along the path since.
 * open, mkdir, rename, unlink and rmdir never follow a symlink in the last component when called
 * with O_NOFOLLOW (or by their nature), so no operation here goes through a link.
 */

const DIR_FLAGS = constants.O_RDONLY | constants.O_DIRECTORY | constants.O_NOFOLLOW;
/** O_NONBLOCK: opening a FIFO someone put in place returns at once (and fstat then refuses it) */
const READ_FLAGS = constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK;
const MAX_DEPTH = 64;

export type Child =
  { kind: 'dir'; dir: HeldDir } | { kind: 'absent' } | { kind: 'symlink' } | { kind: 'other' };

/** A directory held open by descriptor; `hostPath` is where it was when it was opened. */
export class HeldDir {
  constructor(
    readonly hostPath: string,
    private readonly fh: FileHandle,
  ) {}

  /** The path of an entry, resolved by the kernel inside this open directory (never by name from the root). */
  entry(name: string): string {
    if (name === '' || name === '.' || name === '..' || name.includes('/') || name.includes('\0'))
      throw new KctlError('path_not_allowed', `"${name}" is not a file name (in "${this.hostPath}")`);
    return `/proc/self/fd/${this.fh.fd}/${name}`;
  }

  childPath(name: string): string {
    return posix.join(this.hostPath, name);
  }

  /** lstat of an entry: a symlink is reported as itself */
  async lstat(name: string): Promise<Stats | undefined> {
    try {
      return await lstat(this.entry(name));
    } catch (err) {
      if (errno(err) === 'ENOENT') return undefined;
      throw err;
    }
  }

  /** Opens a subdirectory without following a symlink; `create` makes it (0755) when absent. */
  async child(name: string, create = false): Promise<Child> {
    const path = this.entry(name);
    for (let attempt = 0; attempt < 2; attempt++) {
      try {
        return { kind: 'dir', dir: new HeldDir(this.childPath(name), await open(path, DIR_FLAGS)) };
      } catch (err) {
        const code = errno(err);
        if (code === 'ENOENT') {
          if (!create || attempt > 0) return { kind: 'absent' };
          try {
            await mkdir(path, 0o755);
          } catch (e) {
            if (errno(e) !== 'EEXIST') throw e;
          }
          continue;
        }
        // O_DIRECTORY | O_NOFOLLOW on a link gives ENOTDIR (ELOOP on some kernels): tell the two apart
        if (code === 'ENOTDIR' || code === 'ELOOP')
          return (await this.lstat(name))?.isSymbolicLink() ? { kind: 'symlink' } : { kind: 'other' };
        throw err;
      }
    }
    return { kind: 'absent' };
  }

  /** Opens an entry with O_NOFOLLOW added to `flags`; a symlink fails with ELOOP. */
  async openFile(name: string, flags: number, mode?: number): Promise<FileHandle> {
    return open(this.entry(name), flags | constants.O_NOFOLLOW, mode);
  }

  /**
   * A regular file's content and stat, read through a no-follow descriptor; undefined when absent.
   * Throws `symlink` / `not-regular` as a `HeldEntryError` so callers word the refusal.
   */
  async readRegular(name: string): Promise<{ bytes: Buffer; stat: Stats } | undefined> {
    const fh = await this.openRegular(name);
    if (!fh) return undefined;
    try {
      return { stat: await fh.stat(), bytes: await fh.readFile() };
    } finally {
      await fh.close();
    }
  }

  /** A no-follow read descriptor on a regular file, or undefined when absent. */
  async openRegular(name: string): Promise<FileHandle | undefined> {
    let fh: FileHandle;
    try {
      fh = await open(this.entry(name), READ_FLAGS);
    } catch (err) {
      const code = errno(err);
      if (code === 'ENOENT') return undefined;
      if (code === 'ELOOP') throw new HeldEntryError('symlink', this.childPath(name));
      throw err;
    }
    const s = await fh.stat().catch(async (err: unknown) => {
      await fh.close();
      throw err;
    });
    if (!s.isFile()) {
      await fh.close();
      throw new HeldEntryError('not-regular', this.childPath(name));
    }
    return fh;
  }

  async list(): Promise<string[]> {
    return (await readdir(`/proc/self/fd/${this.fh.fd}`)).sort();
  }

  /** Removes a non-directory entry (a link itself, never its target); false when absent. */
  async unlink(name: string): Promise<boolean> {
    try {
      await unlink(this.entry(name));
      return true;
    } catch (err) {
      if (errno(err) === 'ENOENT') return false;
      throw err;
    }
  }

  async rmdir(name: string): Promise<void> {
    await rmdir(this.entry(name));
  }

  /** rename(2) inside this directory; it replaces a link at `to` rather than writing through it. */
  async rename(from: string, to: string): Promise<void> {
    await rename(this.entry(from), this.entry(to));
  }

  async stat(): Promise<Stats> {
    return this.fh.stat();
  }

  async sync(): Promise<void> {
    await this.fh.sync();
  }

  async chmod(mode: number): Promise<void> {
    await this.fh.chmod(mode);
  }

  /** Where the kernel says this directory is now: it moves with a rename of any directory above it. */
  async currentPath(): Promise<string> {
    return readlink(`/proc/self/fd/${this.fh.fd}`);
  }

  async close(): Promise<void> {
    await this.fh.close();
  }
}

/** What an entry turned out to be when an operation needed a regular file. */
export class HeldEntryError extends Error {
  constructor(
    readonly reason: 'symlink' | 'not-regular',
    readonly hostPath: string,
  ) {
    super(`${hostPath}: ${reason === 'symlink' ? 'a symbolic link' : 'not a regular file'}`);
  }
}

export interface OpenDirOptions {
  /** create missing directories (0755) on the way */
  create?: boolean;
  /** S16 when running as root: every directory below the root must be root's and not group/other writable */
  rootOwned?: boolean;
  /** for messages: `write "/etc/x"` */
  purpose: string;
  /**
   * Reads pass this: a link on the way then makes the path absent for them (undefined) instead of
   * a refusal, and is reported here. Writes and removals leave it out and are refused.
   */
  onLink?: (at: string) => void;
}

/**
 * Opens directories beneath a root one component at a time, each with O_DIRECTORY | O_NOFOLLOW
 * relative to the descriptor of the one above: a symlink anywhere below the root is refused, and
 * once a directory is held, swapping a name on its path for a symlink cannot redirect what is done
 * in it. The root itself is configuration and is trusted.
 */
export class RootDirs {
  private rootReal: string | undefined;
  private procChecked = false;

  constructor(readonly root: string) {}

  /** Components of a normal absolute host path; `..` and NUL are refused, empty and `.` dropped. */
  static components(hostPath: string): string[] {
    if (!hostPath.startsWith('/') || hostPath.includes('\0'))
      throw new KctlError('path_not_allowed', `Host path ${JSON.stringify(hostPath)} must be absolute`);
    const parts = hostPath.split('/').filter((p) => p !== '' && p !== '.');
    if (parts.includes('..'))
      throw new KctlError('path_not_allowed', `Host path "${hostPath}" contains ".."`);
    return parts;
  }

  /**
   * The directory at `hostDir`, held open, or undefined when a component is absent or not a
   * directory (and `create` is off). A symbolic link on the way is refused with path_not_allowed,
   * or, with `onLink`, reported there and taken as absent.
   * Before returning, the kernel's idea of where the directory is must equal the path walked: a
   * directory renamed away mid-walk is refused too.
   */
  async open(hostDir: string, options: OpenDirOptions): Promise<HeldDir | undefined> {
    const parts = RootDirs.components(hostDir);
    if (parts.length > MAX_DEPTH)
      throw new KctlError('path_not_allowed', `Host path "${hostDir}" is nested too deeply`);
    this.rootReal ??= await realpath(this.root).catch(() => this.root);
    let dir: HeldDir;
    try {
      dir = new HeldDir('/', await open(this.rootReal, constants.O_RDONLY | constants.O_DIRECTORY));
    } catch (err) {
      throw ioError(`Cannot ${options.purpose}: the host root "${this.root}" cannot be opened`, err);
    }
    if (!this.procChecked) {
      // everything below rests on /proc/self/fd: without it, say so instead of seeing no files
      const seen = await dir.currentPath().catch(() => undefined);
      if (seen !== this.rootReal) {
        await dir.close();
        throw new KctlError(
          'io_error',
          `Cannot ${options.purpose}: /proc/self/fd does not show the host root (is /proc mounted?)`,
        );
      }
      this.procChecked = true;
    }
    try {
      for (const name of parts) {
        const next = await dir.child(name, options.create === true);
        const at = dir.childPath(name);
        if (next.kind === 'symlink') {
          if (!options.onLink) throw symlinkRefused(options.purpose, at);
          options.onLink(at);
          await dir.close();
          return undefined;
        }
        if (next.kind === 'absent' || next.kind === 'other') {
          if (options.create && next.kind === 'other')
            throw new KctlError('io_error', `Cannot ${options.purpose}: "${at}" is not a directory`);
          await dir.close();
          return undefined;
        }
        await dir.close();
        dir = next.dir;
        if (options.rootOwned) await checkRootOwned(dir, options.purpose);
      }
      const want =
        this.rootReal === '/' ? dir.hostPath : `${this.rootReal}${dir.hostPath === '/' ? '' : dir.hostPath}`;
      const now = await dir.currentPath();
      if (now !== want) {
        throw new KctlError(
          'path_not_allowed',
          `Cannot ${options.purpose}: "${dir.hostPath}" was moved while it was being opened`,
          { retryable: true },
        );
      }
      return dir;
    } catch (err) {
      await dir.close().catch(() => undefined);
      throw ioError(`Cannot ${options.purpose}`, err);
    }
  }

  /** Runs `fn` with the held parent directory of `hostPath` and the last component; closes it after. */
  async withParent<T>(
    hostPath: string,
    options: OpenDirOptions,
    fn: (dir: HeldDir, name: string) => Promise<T>,
    whenAbsent: () => T,
  ): Promise<T> {
    const parts = RootDirs.components(hostPath);
    const name = parts.pop();
    if (name === undefined)
      throw new KctlError('path_not_allowed', `Cannot ${options.purpose}: "/" is not a file`);
    const dir = await this.open(`/${parts.join('/')}`, options);
    if (!dir) return whenAbsent();
    try {
      return await fn(dir, name);
    } finally {
      await dir.close();
    }
  }
}

export function symlinkRefused(purpose: string, at: string): KctlError {
  return new KctlError('path_not_allowed', `Refusing to ${purpose}: "${at}" is a symbolic link`, {
    details: {
      path: at,
      remedy:
        'replace the link with the real file or directory; the agent never follows links in paths it manages',
    },
  });
}

async function checkRootOwned(dir: HeldDir, purpose: string): Promise<void> {
  if (process.getuid?.() !== 0) return;
  const s = await dir.stat();
  if (s.uid !== 0 || (s.mode & 0o022) !== 0) {
    throw new KctlError(
      'path_not_allowed',
      `Refusing to ${purpose}: its directory "${dir.hostPath}" is writable by a user other than root`,
    );
  }
}

function errno(err: unknown): string | undefined {
  return (err as NodeJS.ErrnoException | undefined)?.code;
}
