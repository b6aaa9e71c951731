import type { Net } from './net.js';

/**
 * The Host layer: every side effect of the agent goes through this interface.
 * Paths are always absolute host paths ("/etc/sysctl.d/99-kctl.conf"); an implementation maps them
 * under its root (default "/"), so tests run the same code against a temp directory.
 */
export interface FileStat {
  mode: number; // permission bits only (e.g. 0o644)
  uid: number;
  gid: number;
  size: number;
  isFile: boolean;
  isDirectory: boolean;
  isSymlink: boolean;
}

export interface WriteOptions {
  mode?: number;
  uid?: number;
  gid?: number;
}

export interface WriteReport {
  path: string;
  changed: boolean;
  /** content-addressed backup of the previous content, when there was one */
  backupPath?: string;
}

export interface RunOptions {
  timeoutMs?: number;
  input?: string;
  /** extra variables on top of the fixed environment (S15) */
  env?: Record<string, string>;
  /** when false (default) a non-zero exit throws KctlError('program_failed') */
  allowFailure?: boolean;
  maxBufferBytes?: number;
  /** called with the child's PID once it has started, before its end is awaited */
  onSpawn?: (pid: number) => Promise<void>;
}

export interface RunResult {
  exitCode: number;
  stdout: string;
  stderr: string;
}

export interface DetachedRunOptions {
  /**
   * Directory of the run's files (<dir>/<id>.pid, .stdout, .stderr, .exit): the agent's own state
   * directory (run/), a real path, never mapped under the root.
   */
  dir: string;
  /** names the run; the caller records it before the call, so a successor can find the run */
  id: string;
  timeoutMs?: number;
  /** extra variables on top of the fixed environment (S15) */
  env?: Record<string, string>;
  allowFailure?: boolean;
  /** how much of each output file's tail is read back into the result (default 16 MiB) */
  maxBufferBytes?: number;
  /** called with the wrapper's PID once it has started, before its end is awaited */
  onSpawn?: (pid: number) => Promise<void>;
}

/** What became of a detached run, as an agent started after the one that began it sees it. */
export type DetachedRunState =
  | { state: 'running'; pid: number }
  /** exitCode undefined: killed by a signal, or no status was written; the run's files are removed */
  | { state: 'ended'; exitCode: number | undefined; stdout: string; stderr: string }
  /** no trace of it: it never started */
  | { state: 'absent' };

export interface FsSpace {
  /** bytes available to unprivileged users (statfs f_bavail * f_bsize), as df's "Avail" */
  freeBytes: number;
  totalBytes: number;
  /** inodes free and in all (statfs f_ffree, f_files); 0 in all on filesystems without a fixed count */
  freeInodes?: number;
  totalInodes?: number;
}

export interface Host {
  readonly root: string;
  /** the network: HTTPS to the controller and to package mirrors, name lookups (agent/host/net.ts) */
  readonly net: Net;
  readFile(path: string): Promise<string | undefined>;
  readFileBytes(path: string): Promise<Buffer | undefined>;
  /** up to `length` bytes of an allow-listed regular file from `offset`; undefined when absent (read's rules) */
  readFileRange(path: string, offset: number, length: number): Promise<Buffer | undefined>;
  stat(path: string): Promise<FileStat | undefined>;
  exists(path: string): Promise<boolean>;
  listDir(path: string): Promise<string[]>;
  /** temp file + fsync + rename + fsync(dir); keeps mode/owner; backs up old content; path allowlisted (S16, S17) */
  writeFileAtomic(path: string, content: string | Buffer, options?: WriteOptions): Promise<WriteReport>;
  /**
   * Streams `source` into `path` (allow-listed, S16) through a temp file in the same directory,
   * hashing as it writes; only when the size and SHA-256 equal the expected ones is it fsynced and
   * renamed over the target (S17, S18). Otherwise the temp file is removed, the target is left as
   * it was, and a KctlError names the file. No backup: the expected hash is the file's identity.
   */
  writeFileFromStream(
    path: string,
    source: AsyncIterable<Uint8Array>,
    expect: { sha256: string; size: number; mode?: number },
  ): Promise<WriteReport>;
  /** SHA-256 (hex) and size of a regular file, read as a stream; undefined when absent or not a regular file */
  hashFile(path: string): Promise<{ sha256: string; size: number } | undefined>;
  /** removes one allow-listed entry; a symbolic link is removed itself, never its target */
  removeFile(path: string): Promise<boolean>;
  /**
   * Empties an allow-listed directory without following any link (links inside are removed as
   * links; a directory that is itself a link is removed as a link). Returns the host paths removed.
   */
  clearDirectory(path: string): Promise<string[]>;
  /** value of /proc/sys/<key with dots as slashes>, trimmed; undefined when the key does not exist */
  readSysctl(key: string): Promise<string | undefined>;
  writeSysctl(key: string, value: string): Promise<void>;
  /** runs an allowlisted program by name with an argument array; never a shell (S15) */
  run(program: string, args: readonly string[], options?: RunOptions): Promise<RunResult>;
  /**
   * Runs a program as `run` does, but detached from the agent (agent/host/detached-run.ts): stdin
   * /dev/null, stdout and stderr to files, its own session, so it survives the agent's death and
   * a later agent process can find it with `findDetachedRun`. No `input`.
   */
  runDetached(program: string, args: readonly string[], options: DetachedRunOptions): Promise<RunResult>;
  /** Running, ended (status and output read, files removed) or absent: a detached run by its id. */
  findDetachedRun(dir: string, id: string): Promise<DetachedRunState>;
  /**
   * Start time (/proc/<pid>/stat field 22) of a process of this machine that is running (not a
   * zombie), or undefined. PIDs are the agent's own PID namespace, never mapped under the root.
   */
  processStartTime(pid: number): Promise<string | undefined>;
  /** absolute path of a program on the host's PATH, or undefined */
  which(program: string): Promise<string | undefined>;
  /** space on the filesystem holding the path (statfs); undefined when the path does not exist */
  statfs(path: string): Promise<FsSpace | undefined>;
  /** true when a TCP listen on the port succeeds right now */
  canBind(port: number): Promise<boolean>;
  /** effective uid of the agent process */
  uid(): number;
}
