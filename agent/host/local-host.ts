import { constants } from 'node:fs';
import { access, lstat, open, readFile, readdir, stat, statfs } from 'node:fs/promises';
import { createServer } from 'node:net';
import { createHash } from 'node:crypto';
import { join, posix } from 'node:path';
import { performance } from 'node:perf_hooks';
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
import { ioError } from './io-error.js';
import { RootDirs } from './held-dir.js';
import { ManagedFiles } from './managed-files.js';
import { isInsideAllowlist } from './paths.js';
import { httpsNet } from './https-net.js';
import type { Net } from './net.js';
import { parseProcStat } from './proc-stat.js';
import { scrubArgs, scrubSecrets } from './scrub.js';

export { scrubArgs, scrubSecrets };

export const DEFAULT_PROGRAM_PATH = ['/usr/sbin', '/usr/bin', '/sbin', '/bin'];
const SYSCTL_KEY = /^[a-z0-9_]+(\.[a-zA-Z0-9_-]+)+$/;
const PROGRAM_NAME = /^[a-zA-Z0-9][a-zA-Z0-9._+-]{0,63}$/;

const DEFAULT_TIMEOUT_MS = 300_000;
const DEFAULT_MAX_BUFFER = 16 * 1024 * 1024;

export interface LocalHostOptions {
  root?: string;
  /** directories searched for programs, in order (S15: a fixed PATH) */
  programPath?: string[];
  /** program runs are logged at debug level, arguments scrubbed (S19) */
  logger?: Logger;
  /** the network; node:https by default */
  net?: Net;
}

/** The real Host: files under `root`, programs through execa with argument arrays only. */
export class LocalHost implements Host {
  readonly root: string;
  readonly net: Net;
  private readonly programPath: string[];
  private readonly log: Logger | undefined;
  private readonly files: ManagedFiles;
  private readonly dirs: RootDirs;

  constructor(options: LocalHostOptions = {}) {
    const root = options.root ?? '/';
    if (!root.startsWith('/')) throw new KctlError('invalid_config', `Host root "${root}" must be absolute`);
    this.root = root.length > 1 ? root.replace(/\/+$/, '') : root;
    this.programPath = options.programPath ?? DEFAULT_PROGRAM_PATH;
    this.log = options.logger;
    this.files = new ManagedFiles(this.root, this.log);
    this.dirs = new RootDirs(this.root);
    this.net = options.net ?? httpsNet;
  }

  /** Maps a host path under the root. */
  private real(path: string): string {
    if (!path.startsWith('/') || path.includes('\0')) {
      throw new KctlError('path_not_allowed', `Host path ${JSON.stringify(path)} must be absolute`);
    }
    return this.root === '/' ? path : join(this.root, path);
  }

  /**
   * The normal form of a path inside the write allow-list, or undefined for the rest of the host
   * (/proc, /sys, /etc/resolv.conf...). Allow-listed files are the agent's own: they are read, like
   * they are written, without following any link (`ManagedFiles`). The rest is the system's view,
   * read as the system sees it.
   */
  private managed(path: string): string | undefined {
    if (!path.startsWith('/') || path.includes('\0'))
      throw new KctlError('path_not_allowed', `Host path ${JSON.stringify(path)} must be absolute`);
    const normal = posix.normalize(path);
    return isInsideAllowlist(normal) ? normal : undefined;
  }

  async readFile(path: string): Promise<string | undefined> {
    return (await this.readFileBytes(path))?.toString('utf8');
  }

  async readFileBytes(path: string): Promise<Buffer | undefined> {
    const managed = this.managed(path);
    if (managed !== undefined) return this.files.read(managed);
    try {
      return await readFile(this.real(path));
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'ENOENT' || code === 'ENOTDIR') return undefined;
      throw ioError(`Cannot read "${path}"`, err);
    }
  }

  async readFileRange(path: string, offset: number, length: number): Promise<Buffer | undefined> {
    const managed = this.managed(path);
    if (managed === undefined)
      throw new KctlError('path_not_allowed', `Ranged reads are for the agent's own files, not "${path}"`);
    return this.files.readRange(managed, offset, length);
  }

  async stat(path: string): Promise<FileStat | undefined> {
    const managed = this.managed(path);
    if (managed !== undefined) return this.files.stat(managed);
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

  /** Inside the allow-list: the entry itself exists (a link is not followed). Elsewhere: stat(2). */
  async exists(path: string): Promise<boolean> {
    const managed = this.managed(path);
    if (managed !== undefined) return (await this.files.stat(managed)) !== undefined;
    try {
      await stat(this.real(path));
      return true;
    } catch {
      return false;
    }
  }

  async listDir(path: string): Promise<string[]> {
    const managed = this.managed(path);
    if (managed !== undefined) return this.files.list(managed);
    try {
      return (await readdir(this.real(path))).sort();
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'ENOENT' || code === 'ENOTDIR') return [];
      throw ioError(`Cannot list "${path}"`, err);
    }
  }

  /** S16 + S17 through held directories: no link anywhere on the path (docs/architecture.md). */
  async writeFileAtomic(
    path: string,
    content: string | Buffer,
    options: WriteOptions = {},
  ): Promise<WriteReport> {
    return this.files.writeAtomic(path, content, options);
  }

  async writeFileFromStream(
    path: string,
    source: AsyncIterable<Uint8Array>,
    expect: { sha256: string; size: number; mode?: number },
  ): Promise<WriteReport> {
    return this.files.writeFromStream(path, source, expect);
  }

  async hashFile(path: string): Promise<{ sha256: string; size: number } | undefined> {
    const managed = this.managed(path);
    if (managed !== undefined) return this.files.hash(managed);
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

  async removeFile(path: string): Promise<boolean> {
    return this.files.remove(path);
  }

  async clearDirectory(path: string): Promise<string[]> {
    return this.files.clearDirectory(path);
  }

  async readSysctl(key: string): Promise<string | undefined> {
    if (!SYSCTL_KEY.test(key)) throw new KctlError('invalid_args', `"${key}" is not a sysctl key`);
    return (await this.readFile(`/proc/sys/${key.replaceAll('.', '/')}`))?.trim();
  }

  async writeSysctl(key: string, value: string): Promise<void> {
    if (!SYSCTL_KEY.test(key)) throw new KctlError('invalid_args', `"${key}" is not a sysctl key`);
    if (!/^[A-Za-z0-9 ._:,-]{0,256}$/.test(value))
      throw new KctlError('invalid_args', `sysctl ${key}: value "${value}" is not allowed`);
    const purpose = `set sysctl ${key}`;
    // through held directories with O_NOFOLLOW, like every other write: a test root's /proc/sys
    // (or anything swapped into it) cannot lead the write elsewhere
    await this.dirs
      .withParent(
        `/proc/sys/${key.replaceAll('.', '/')}`,
        { purpose },
        async (dir, name) => {
          const fh = await dir.openFile(name, constants.O_WRONLY | constants.O_TRUNC);
          try {
            await fh.writeFile(`${value}\n`);
          } finally {
            await fh.close();
          }
        },
        () => {
          throw Object.assign(new Error('no such directory'), { code: 'ENOENT' });
        },
      )
      .catch((err: unknown) => {
        throw ioError(`Cannot ${purpose}`, err);
      });
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
    // execa and its ~100 module files load with the first program run, not at every agent start
    const { execa } = await import('execa');
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
      return {
        freeBytes: s.bavail * s.bsize,
        totalBytes: s.blocks * s.bsize,
        freeInodes: s.ffree,
        totalInodes: s.files,
      };
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

  /** Removes temp files an interrupted write left behind (S17); see ManagedFiles. */
  async removeStaleTempFiles(): Promise<string[]> {
    return this.files.removeStaleTempFiles();
  }

  /** Makes a directory under the root (for steps that need one); allow-listed like writes. */
  async ensureDir(path: string, mode = 0o755): Promise<void> {
    await this.files.ensureDir(path, mode);
  }

  async chown(path: string, uid: number, gid: number): Promise<void> {
    await this.files.chown(path, uid, gid);
  }
}

/** The last lines of a program's output, scrubbed of secrets (S19), for an error message. */
export function outputTail(output: string, lines = 8): string {
  return scrubSecrets(output).trim().split('\n').slice(-lines).join('\n').slice(-2000);
}
