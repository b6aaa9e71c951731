import { constants } from 'node:fs';
import {
  chmod,
  chown,
  lstat,
  mkdir,
  open,
  readFile,
  readdir,
  realpath,
  rename,
  rm,
  stat,
  statfs,
} from 'node:fs/promises';
import { createServer } from 'node:net';
import { createHash, randomBytes } from 'node:crypto';
import { dirname, join, basename } from 'node:path';
import { execa } from 'execa';
import { KctlError } from '../../proto/errors.js';
import type { FileStat, FsSpace, Host, RunOptions, RunResult, WriteOptions, WriteReport } from './host.js';
import { checkWritablePath, isInsideAllowlist } from './paths.js';
import { scrubSecrets } from './scrub.js';

export const DEFAULT_PROGRAM_PATH = ['/usr/sbin', '/usr/bin', '/sbin', '/bin'];
const BACKUP_DIR = '/var/lib/kctl-agent/backups';
const SYSCTL_KEY = /^[a-z0-9_]+(\.[a-zA-Z0-9_-]+)+$/;
const PROGRAM_NAME = /^[a-zA-Z0-9][a-zA-Z0-9._+-]{0,63}$/;

export interface LocalHostOptions {
  root?: string;
  /** directories searched for programs, in order (S15: a fixed PATH) */
  programPath?: string[];
}

/** The real Host: files under `root`, programs through execa with argument arrays only. */
export class LocalHost implements Host {
  readonly root: string;
  private readonly programPath: string[];

  constructor(options: LocalHostOptions = {}) {
    this.root = options.root ?? '/';
    this.programPath = options.programPath ?? DEFAULT_PROGRAM_PATH;
  }

  /** Maps a host path under the root. */
  private real(path: string): string {
    if (!path.startsWith('/') || path.includes('\0')) {
      throw new KctlError('path_not_allowed', `Host path ${JSON.stringify(path)} must be absolute`);
    }
    return this.root === '/' ? path : join(this.root, path);
  }

  async readFile(path: string): Promise<string | undefined> {
    return (await this.readFileBytes(path))?.toString('utf8');
  }

  async readFileBytes(path: string): Promise<Buffer | undefined> {
    try {
      return await readFile(this.real(path));
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'ENOENT' || code === 'ENOTDIR') return undefined;
      throw ioError(`Cannot read "${path}"`, err);
    }
  }

  async stat(path: string): Promise<FileStat | undefined> {
    try {
      const s = await lstat(this.real(path));
      return {
        mode: s.mode & 0o7777,
        uid: s.uid,
        gid: s.gid,
        size: s.size,
        isFile: s.isFile(),
        isDirectory: s.isDirectory(),
        isSymlink: s.isSymbolicLink(),
      };
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'ENOENT' || code === 'ENOTDIR') return undefined;
      throw ioError(`Cannot stat "${path}"`, err);
    }
  }

  async exists(path: string): Promise<boolean> {
    try {
      await stat(this.real(path));
      return true;
    } catch {
      return false;
    }
  }

  async listDir(path: string): Promise<string[]> {
    try {
      return (await readdir(this.real(path))).sort();
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'ENOENT' || code === 'ENOTDIR') return [];
      throw ioError(`Cannot list "${path}"`, err);
    }
  }

  /** S16 + S17: allow-listed path, parent inside the allow-list after symlinks, temp + fsync + rename + fsync(dir). */
  async writeFileAtomic(
    path: string,
    content: string | Buffer,
    options: WriteOptions = {},
  ): Promise<WriteReport> {
    const target = checkWritablePath(path);
    const bytes = typeof content === 'string' ? Buffer.from(content) : content;
    const realTarget = this.real(target);
    const parent = dirname(realTarget);
    await mkdir(parent, { recursive: true, mode: 0o755 });
    await this.checkParent(target, parent);

    const previous = await this.stat(target);
    if (previous?.isSymlink)
      throw new KctlError('path_not_allowed', `Refusing to write "${path}": it is a symbolic link`);
    const old = previous ? await readFile(realTarget) : undefined;
    const mode = options.mode ?? previous?.mode ?? 0o644;
    const uid = options.uid ?? previous?.uid;
    const gid = options.gid ?? previous?.gid;
    if (
      old?.equals(bytes) &&
      previous?.mode === mode &&
      (uid === undefined || previous.uid === uid) &&
      (gid === undefined || previous.gid === gid)
    ) {
      return { path: target, changed: false };
    }
    let backupPath: string | undefined;
    if (old && !target.startsWith(`${BACKUP_DIR}/`)) backupPath = await this.backup(old);

    const tmp = join(parent, `.${basename(realTarget)}.kctl-tmp-${randomBytes(6).toString('hex')}`);
    try {
      const fh = await open(
        tmp,
        constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW,
        mode,
      );
      try {
        await fh.writeFile(bytes);
        await fh.chmod(mode);
        if (uid !== undefined && gid !== undefined && process.getuid?.() === 0) await fh.chown(uid, gid);
        await fh.sync(); // an fsync error fails the step (S17)
      } finally {
        await fh.close();
      }
      await rename(tmp, realTarget);
      const dh = await open(parent, constants.O_RDONLY);
      try {
        await dh.sync();
      } finally {
        await dh.close();
      }
    } catch (err) {
      await rm(tmp, { force: true });
      throw ioError(`Cannot write "${path}"`, err);
    }
    return { path: target, changed: true, ...(backupPath ? { backupPath } : {}) };
  }

  /** The parent, after resolving symlinks, must still be inside the root and the allow-list. */
  private async checkParent(target: string, realParent: string): Promise<void> {
    const resolved = await realpath(realParent);
    const rootReal = await realpath(this.root);
    const hostView =
      rootReal === '/'
        ? resolved
        : resolved.startsWith(`${rootReal}/`)
          ? resolved.slice(rootReal.length)
          : undefined;
    const parentOfTarget = dirname(target);
    if (
      hostView === undefined ||
      !(isInsideAllowlist(hostView) || (hostView === parentOfTarget && isInsideAllowlist(target)))
    ) {
      throw new KctlError(
        'path_not_allowed',
        `Refusing to write "${target}": its directory resolves outside the allow-list`,
      );
    }
    if (process.getuid?.() === 0) {
      const s = await stat(resolved);
      if (s.uid !== 0 || (s.mode & 0o022) !== 0) {
        throw new KctlError(
          'path_not_allowed',
          `Refusing to write "${target}": its directory is writable by a user other than root`,
        );
      }
    }
  }

  /** Content-addressed backup of the previous content (S17). */
  private async backup(old: Buffer): Promise<string> {
    const sha = createHash('sha256').update(old).digest('hex');
    const path = `${BACKUP_DIR}/${sha}`;
    if (!(await this.exists(path))) await this.writeFileAtomic(path, old, { mode: 0o600 });
    return path;
  }

  async removeFile(path: string): Promise<boolean> {
    const target = checkWritablePath(path);
    try {
      await rm(this.real(target));
      return true;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return false;
      throw ioError(`Cannot remove "${path}"`, err);
    }
  }

  async readSysctl(key: string): Promise<string | undefined> {
    if (!SYSCTL_KEY.test(key)) throw new KctlError('invalid_args', `"${key}" is not a sysctl key`);
    return (await this.readFile(`/proc/sys/${key.replaceAll('.', '/')}`))?.trim();
  }

  async writeSysctl(key: string, value: string): Promise<void> {
    if (!SYSCTL_KEY.test(key)) throw new KctlError('invalid_args', `"${key}" is not a sysctl key`);
    if (!/^[A-Za-z0-9 ._:,-]{0,256}$/.test(value))
      throw new KctlError('invalid_args', `sysctl ${key}: value "${value}" is not allowed`);
    const path = this.real(`/proc/sys/${key.replaceAll('.', '/')}`);
    try {
      const fh = await open(path, constants.O_WRONLY | constants.O_TRUNC);
      try {
        await fh.writeFile(`${value}\n`);
      } finally {
        await fh.close();
      }
    } catch (err) {
      throw ioError(`Cannot set sysctl ${key}`, err);
    }
  }

  async which(program: string): Promise<string | undefined> {
    if (!PROGRAM_NAME.test(program)) return undefined;
    for (const dir of this.programPath) {
      const candidate = join(dir, program);
      try {
        await import('node:fs/promises').then((fs) => fs.access(candidate, constants.X_OK));
        return candidate;
      } catch {
        // not here
      }
    }
    return undefined;
  }

  /** S15: argv arrays only, no shell, fixed environment, timeout and output cap; `--` is the caller's. */
  async run(program: string, args: readonly string[], options: RunOptions = {}): Promise<RunResult> {
    const file = await this.which(program);
    if (!file) {
      throw new KctlError(
        'program_failed',
        `Program "${program}" was not found in ${this.programPath.join(':')}`,
        {
          details: { remedy: `install ${program} on the host` },
        },
      );
    }
    const env: Record<string, string> = {
      PATH: this.programPath.join(':'),
      LC_ALL: 'C.UTF-8',
      DEBIAN_FRONTEND: 'noninteractive',
      ...(this.root !== '/' ? { KCTL_HOST_ROOT: this.root } : {}),
      ...options.env,
    };
    const result = await execa(file, [...args], {
      shell: false,
      extendEnv: false,
      env,
      reject: false,
      timeout: options.timeoutMs ?? 300_000,
      maxBuffer: options.maxBufferBytes ?? 16 * 1024 * 1024,
      ...(options.input !== undefined ? { input: options.input } : { stdin: 'ignore' }),
      stripFinalNewline: false,
    });
    const stdout = typeof result.stdout === 'string' ? result.stdout : '';
    const stderr = typeof result.stderr === 'string' ? result.stderr : '';
    const exitCode = result.exitCode ?? (result.timedOut ? 124 : 1);
    if (result.timedOut) {
      throw new KctlError('timeout', `${program} timed out after ${options.timeoutMs ?? 300_000} ms`, {
        retryable: true,
      });
    }
    if (exitCode !== 0 && !options.allowFailure) {
      const tail = scrubSecrets(stderr || stdout)
        .trim()
        .split('\n')
        .slice(-8)
        .join('\n');
      throw new KctlError(
        'program_failed',
        `${program} ${scrubSecrets(args.join(' '))} exited with ${exitCode}: ${tail}`,
        {
          details: { program, exitCode },
          retryable: /Could not get lock|dpkg.*lock/i.test(stderr),
        },
      );
    }
    return { exitCode, stdout, stderr };
  }

  async statfs(path: string): Promise<FsSpace | undefined> {
    try {
      const s = await statfs(this.real(path));
      return { freeBytes: s.bavail * s.bsize, totalBytes: s.blocks * s.bsize };
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'ENOENT' || code === 'ENOTDIR') return undefined;
      throw ioError(`Cannot statfs "${path}"`, err);
    }
  }

  /**
   * A listen test. Another preflight on the same machine may hold the port for a moment, so a
   * refusal is tried twice more after a short pause; a real listener still fails all three.
   */
  async canBind(port: number): Promise<boolean> {
    for (let attempt = 0; attempt < 3; attempt++) {
      if (attempt > 0) await new Promise((r) => setTimeout(r, 15 + Math.random() * 35));
      const ok = await new Promise<boolean>((resolve) => {
        const server = createServer();
        server.once('error', () => resolve(false));
        server.listen({ port, host: '0.0.0.0', exclusive: true }, () => server.close(() => resolve(true)));
      });
      if (ok) return true;
    }
    return false;
  }

  uid(): number {
    return process.getuid?.() ?? -1;
  }

  /** Makes a directory under the root (for steps that need one); allow-listed like writes. */
  async ensureDir(path: string, mode = 0o755): Promise<void> {
    const target = checkWritablePath(path);
    await mkdir(this.real(target), { recursive: true, mode });
    await chmod(this.real(target), mode);
  }

  async chown(path: string, uid: number, gid: number): Promise<void> {
    await chown(this.real(checkWritablePath(path)), uid, gid);
  }
}

function ioError(message: string, cause: unknown): KctlError {
  const code = (cause as NodeJS.ErrnoException).code;
  if (cause instanceof KctlError) return cause;
  return new KctlError('io_error', `${message}: ${code ?? (cause as Error).message}`, {
    cause,
    retryable: code === 'EAGAIN' || code === 'EBUSY',
  });
}
