import { constants } from 'node:fs';
import {
  access,
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
import type { FileHandle } from 'node:fs/promises';
import { createServer } from 'node:net';
import { createHash, randomBytes } from 'node:crypto';
import { basename, dirname, join, posix } from 'node:path';
import { performance } from 'node:perf_hooks';
import { execa } from 'execa';
import type { Logger } from 'pino';
import { KctlError } from '../../proto/errors.js';
import type {
  DetachedRunOptions,
  DetachedRunState,
  FileStat,
  FsSpace,
  Host,
  RunOptions,
  RunResult,
  WriteOptions,
  WriteReport,
} from './host.js';
import { findDetachedRun, runDetached } from './detached-run.js';
import { checkWritablePath, isInsideAllowlist, WRITE_ALLOWLIST } from './paths.js';
import { parseProcStat } from './proc-stat.js';
import { scrubArgs, scrubSecrets } from './scrub.js';

export { scrubArgs, scrubSecrets };

export const DEFAULT_PROGRAM_PATH = ['/usr/sbin', '/usr/bin', '/sbin', '/bin'];
const BACKUP_DIR = '/var/lib/kctl-agent/backups';
const SYSCTL_KEY = /^[a-z0-9_]+(\.[a-zA-Z0-9_-]+)+$/;
const PROGRAM_NAME = /^[a-zA-Z0-9][a-zA-Z0-9._+-]{0,63}$/;

const DEFAULT_TIMEOUT_MS = 300_000;
const STREAM_WRITE_BYTES = 1024 * 1024;
const DEFAULT_MAX_BUFFER = 16 * 1024 * 1024;

export interface LocalHostOptions {
  root?: string;
  /** directories searched for programs, in order (S15: a fixed PATH) */
  programPath?: string[];
  /** program runs are logged at debug level, arguments scrubbed (S19) */
  logger?: Logger;
}

/** The real Host: files under `root`, programs through execa with argument arrays only. */
export class LocalHost implements Host {
  readonly root: string;
  private readonly programPath: string[];
  private readonly log: Logger | undefined;

  constructor(options: LocalHostOptions = {}) {
    const root = options.root ?? '/';
    if (!root.startsWith('/')) throw new KctlError('invalid_config', `Host root "${root}" must be absolute`);
    this.root = root.length > 1 ? root.replace(/\/+$/, '') : root;
    this.programPath = options.programPath ?? DEFAULT_PROGRAM_PATH;
    this.log = options.logger;
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
    await this.makeParentDirs(target);
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

    await this.replaceViaTemp(path, realTarget, mode, async (fh) => {
      await fh.writeFile(bytes);
      await fh.chmod(mode);
      // -1 leaves that id as created; only root may give a file away
      if ((uid !== undefined || gid !== undefined) && process.getuid?.() === 0)
        await fh.chown(uid ?? -1, gid ?? -1);
    });
    this.log?.debug({ path: target, mode, backupPath }, 'file written');
    return { path: target, changed: true, ...(backupPath ? { backupPath } : {}) };
  }

  async writeFileFromStream(
    path: string,
    source: AsyncIterable<Uint8Array>,
    expect: { sha256: string; size: number; mode?: number },
  ): Promise<WriteReport> {
    const target = checkWritablePath(path);
    const realTarget = this.real(target);
    const parent = dirname(realTarget);
    await this.makeParentDirs(target);
    await this.checkParent(target, parent);
    if ((await this.stat(target))?.isSymlink)
      throw new KctlError('path_not_allowed', `Refusing to write "${path}": it is a symbolic link`);
    const mode = expect.mode ?? 0o644;
    const hash = createHash('sha256');
    let size = 0;
    await this.replaceViaTemp(path, realTarget, 0o600, async (fh) => {
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
  }

  /**
   * S17's one way to replace a file: a fresh temp file beside the target (O_EXCL, O_NOFOLLOW),
   * filled by `fill`, fsynced, renamed over the target, then the directory fsynced. On any failure
   * the temp file goes and the target is untouched.
   */
  private async replaceViaTemp(
    path: string,
    realTarget: string,
    createMode: number,
    fill: (fh: FileHandle) => Promise<void>,
  ): Promise<void> {
    const parent = dirname(realTarget);
    const tmp = join(parent, `.${basename(realTarget)}.kctl-tmp-${randomBytes(6).toString('hex')}`);
    try {
      const fh = await open(
        tmp,
        constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW,
        createMode,
      );
      try {
        await fill(fh);
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
  }

  async hashFile(path: string): Promise<{ sha256: string; size: number } | undefined> {
    const s = await this.stat(path);
    if (!s?.isFile) return undefined;
    const hash = createHash('sha256');
    let size = 0;
    try {
      const fh = await open(this.real(path), constants.O_RDONLY | constants.O_NOFOLLOW);
      try {
        for await (const chunk of fh.createReadStream({ autoClose: false }) as AsyncIterable<Buffer>) {
          hash.update(chunk);
          size += chunk.length;
        }
      } finally {
        await fh.close();
      }
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'ENOENT' || code === 'ELOOP') return undefined;
      throw ioError(`Cannot read "${path}"`, err);
    }
    return { sha256: hash.digest('hex'), size };
  }

  /**
   * Creates the missing directories above `target`, but only after the nearest existing one has
   * been checked: a symlinked ancestor must not let `mkdir -p` create directories outside the
   * allow-list (or outside the root).
   */
  private async makeParentDirs(target: string): Promise<void> {
    let ancestor = dirname(target);
    while (ancestor !== '/' && !(await this.exists(ancestor))) ancestor = dirname(ancestor);
    if (ancestor === dirname(target)) return;
    const hostView = await this.hostView(this.real(ancestor));
    if (hostView === undefined || !(hostView === ancestor || isInsideAllowlist(hostView))) {
      throw new KctlError(
        'path_not_allowed',
        `Refusing to write "${target}": "${ancestor}" resolves outside the allow-list`,
      );
    }
    await mkdir(this.real(dirname(target)), { recursive: true, mode: 0o755 });
  }

  /** The host path a real path stands for after symlinks are resolved, or undefined outside the root. */
  private async hostView(realPath: string): Promise<string | undefined> {
    const resolved = await realpath(realPath);
    const rootReal = await realpath(this.root);
    if (rootReal === '/') return resolved;
    if (resolved === rootReal) return '/';
    return resolved.startsWith(`${rootReal}/`) ? resolved.slice(rootReal.length) : undefined;
  }

  /** The parent, after resolving symlinks, must still be inside the root and the allow-list. */
  private async checkParent(target: string, realParent: string): Promise<void> {
    const resolved = await realpath(realParent);
    const hostView = await this.hostView(realParent);
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

  /**
   * A bare program name is searched in the program path; an absolute path is accepted only when
   * it lies directly in one of those directories. Anything else (relative paths, odd names) is
   * not a program the agent will run.
   */
  async which(program: string): Promise<string | undefined> {
    const candidates = program.startsWith('/')
      ? this.programPath.includes(posix.dirname(program)) && PROGRAM_NAME.test(posix.basename(program))
        ? [program]
        : []
      : PROGRAM_NAME.test(program)
        ? this.programPath.map((dir) => join(dir, program))
        : [];
    for (const candidate of candidates) {
      try {
        await access(candidate, constants.X_OK);
        return candidate;
      } catch {
        // not here
      }
    }
    return undefined;
  }

  /** S15: argv arrays only, no shell, fixed environment, timeout and output cap; `--` is the caller's. */
  async run(program: string, args: readonly string[], options: RunOptions = {}): Promise<RunResult> {
    if (program.includes('/') && !program.startsWith('/')) {
      throw new KctlError('invalid_args', `Program "${program}" must be a bare name or an absolute path`);
    }
    const file = await this.which(program);
    if (!file) {
      throw new KctlError(
        'program_failed',
        `Program "${program}" was not found in ${this.programPath.join(':')}`,
        {
          details: { program, remedy: `install ${posix.basename(program)} on the host` },
        },
      );
    }
    // the fixed variables win over the caller's extras (S15)
    const env: Record<string, string> = {
      ...options.env,
      PATH: this.programPath.join(':'),
      LC_ALL: 'C.UTF-8',
      DEBIAN_FRONTEND: 'noninteractive',
      ...(this.root !== '/' ? { KCTL_HOST_ROOT: this.root } : {}),
    };
    const timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
    const started = performance.now();
    const child = execa(file, [...args], {
      // an agent restart must not kill a running dpkg or kubeadm: the child outlives us and the
      // re-sent command finds its result on the host (security.md, reliability rules)
      cleanup: false,
      shell: false,
      extendEnv: false,
      env,
      reject: false,
      timeout: timeoutMs,
      maxBuffer: options.maxBufferBytes ?? DEFAULT_MAX_BUFFER,
      ...(options.input !== undefined ? { input: options.input } : { stdin: 'ignore' }),
      stripFinalNewline: false,
    });
    if (child.pid !== undefined) await options.onSpawn?.(child.pid);
    const result = await child;
    const stdout = typeof result.stdout === 'string' ? result.stdout : '';
    const stderr = typeof result.stderr === 'string' ? result.stderr : '';
    const exitCode = result.exitCode ?? (result.timedOut ? 124 : 1);
    const command = `${program} ${scrubArgs(args).join(' ')}`.trim();
    this.log?.debug(
      {
        program: file,
        args: scrubArgs(args),
        exitCode,
        durationMs: Math.round(performance.now() - started),
      },
      'program run',
    );
    if (result.timedOut) {
      throw new KctlError('timeout', `${command} timed out after ${timeoutMs} ms`, {
        details: { program, timeoutMs },
        retryable: true,
      });
    }
    if (result.isMaxBuffer) {
      throw new KctlError(
        'program_failed',
        `${command}: output exceeded ${options.maxBufferBytes ?? DEFAULT_MAX_BUFFER} bytes`,
        {
          details: { program },
        },
      );
    }
    if (result.exitCode === undefined && !options.allowFailure) {
      // never started (EACCES, ENOEXEC) or killed by a signal
      const why = result.signal ? `was killed by ${result.signal}` : 'could not be started';
      throw new KctlError('program_failed', `${command} ${why}: ${scrubSecrets(result.shortMessage ?? '')}`, {
        details: { program },
      });
    }
    if (exitCode !== 0 && !options.allowFailure) {
      const tail = outputTail(stderr || stdout);
      throw new KctlError('program_failed', `${command} exited with ${exitCode}${tail ? `: ${tail}` : ''}`, {
        details: { program, exitCode },
        retryable: /Could not get lock|dpkg.*lock/i.test(stderr),
      });
    }
    return { exitCode, stdout, stderr };
  }

  /** `run`, detached from the agent's pipes and process group (detached-run.ts) */
  runDetached(program: string, args: readonly string[], options: DetachedRunOptions): Promise<RunResult> {
    const { programPath, root, log } = this;
    return runDetached({ which: (p) => this.which(p), programPath, root, log }, program, args, options);
  }

  findDetachedRun(dir: string, id: string): Promise<DetachedRunState> {
    return findDetachedRun(dir, id);
  }

  async processStartTime(pid: number): Promise<string | undefined> {
    if (!Number.isInteger(pid) || pid <= 0) return undefined;
    let text: string;
    try {
      // the real /proc, not the root's: PIDs are of this machine
      text = await readFile(`/proc/${pid}/stat`, 'utf8');
    } catch {
      return undefined;
    }
    const stat = parseProcStat(text);
    // a zombie has ended; only its parent has not reaped it yet
    return stat && stat.state !== 'Z' && stat.state !== 'X' ? stat.startTime : undefined;
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

  /**
   * Removes temp files an interrupted write left behind (S17), in the allow-listed directories
   * (a few levels deep, symlinks not followed). Returns the host paths removed.
   */
  async removeStaleTempFiles(): Promise<string[]> {
    const removed: string[] = [];
    const sweep = async (dir: string, depth: number): Promise<void> => {
      let entries;
      try {
        entries = await readdir(this.real(dir), { withFileTypes: true });
      } catch {
        return; // absent or not a directory
      }
      for (const e of entries) {
        const path = posix.join(dir, e.name);
        if (e.isFile() && /^\..+\.kctl-tmp-[0-9a-f]+$/.test(e.name)) {
          await rm(this.real(path), { force: true });
          removed.push(path);
        } else if (e.isDirectory() && depth > 0) {
          await sweep(path, depth - 1);
        }
      }
    };
    const dirs = new Map<string, number>();
    for (const a of WRITE_ALLOWLIST) {
      if (a.kind === 'dir') dirs.set(a.path, 3);
      else if (!dirs.has(posix.dirname(a.path))) dirs.set(posix.dirname(a.path), 0);
    }
    for (const [dir, depth] of dirs) await sweep(dir, depth);
    return removed.sort();
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

/** The last lines of a program's output, scrubbed of secrets (S19), for an error message. */
export function outputTail(output: string, lines = 8): string {
  return scrubSecrets(output).trim().split('\n').slice(-lines).join('\n').slice(-2000);
}

function ioError(message: string, cause: unknown): KctlError {
  const code = (cause as NodeJS.ErrnoException).code;
  if (cause instanceof KctlError) return cause;
  return new KctlError('io_error', `${message}: ${code ?? (cause as Error).message}`, {
    cause,
    retryable: code === 'EAGAIN' || code === 'EBUSY',
  });
}
