import { spawn } from 'node:child_process';
import { constants } from 'node:fs';
import { open, readFile, readdir, rm } from 'node:fs/promises';
import { join, posix } from 'node:path';
import { performance } from 'node:perf_hooks';
import type { Logger } from 'pino';
import { KctlError } from '../../proto/errors.js';
import type { DetachedRunOptions, DetachedRunState, RunResult } from './host.js';
import { parseProcStat } from './proc-stat.js';
import { scrubArgs, scrubSecrets } from './scrub.js';

/**
 * A program run that outlives the agent. A child on the agent's pipes dies of EPIPE (or SIGPIPE)
 * at its first write after the agent is gone, half-way through whatever it was doing; a detached
 * run has no pipe to the agent at all:
 *
 * - stdin is /dev/null, stdout and stderr are files the agent opens (<dir>/<id>.stdout, .stderr,
 *   0600) and hands over as descriptors;
 * - it runs in its own session and process group (setsid), so a signal to the agent's group does
 *   not reach it;
 * - a fixed sh wrapper (the program and its arguments stay an argv, never a command string)
 *   writes its own PID to <id>.pid first and the program's exit status to <id>.exit last, so an
 *   agent started after this one died can find the run by its id and learn how it ended.
 *
 * The caller records the id before calling (a lock file), so there is no moment at which a run
 * exists that a successor could not find: its files carry the id, and so does the wrapper's argv
 * (/proc/<pid>/cmdline) from the instant of exec, before the PID file is written.
 */

/** argv[0] of the wrapper: how a successor recognises a detached run in /proc/<pid>/cmdline */
export const DETACHED_MARK = 'kctl-detached-run';
const RUN_ID = /^[a-z][a-z0-9-]{0,62}$/;
const DEFAULT_TIMEOUT_MS = 300_000;
/** output read back into the result: the tail, as the files are on disk and may be large */
const DEFAULT_MAX_OUTPUT = 16 * 1024 * 1024;
const KILL_GRACE_MS = 5000;
/** the wrapper's shell: a fixed path, never looked up on PATH */
const SH = '/bin/sh';

// $0 = mark, $1 = dir, $2 = id, the rest = program and arguments
const WRAPPER = [
  'printf "%s\\n" "$$" > "$1/$2.pid" || exit 125',
  'd=$1; i=$2; shift 2',
  '"$@"',
  'rc=$?',
  'printf "%s\\n" "$rc" > "$d/$i.exit"',
  'exit "$rc"',
].join('\n');

export interface DetachedSpawner {
  /** resolves a program name on the fixed PATH (LocalHost.which) */
  which(program: string): Promise<string | undefined>;
  programPath: readonly string[];
  /** the Host's root; passed to programs as KCTL_HOST_ROOT when it is not "/" */
  root: string;
  log?: Logger | undefined;
}

function checkRun(dir: string, id: string): void {
  if (!dir.startsWith('/') || dir.includes('\0')) {
    throw new KctlError('invalid_args', `Detached run directory "${dir}" must be absolute`);
  }
  if (!RUN_ID.test(id)) throw new KctlError('invalid_args', `Detached run id "${id}" is not allowed`);
}

const fileOf = (dir: string, id: string, kind: 'pid' | 'stdout' | 'stderr' | 'exit'): string =>
  join(dir, `${id}.${kind}`);

/** Starts the program detached (see above), waits for it and returns its result, like Host.run. */
export async function runDetached(
  spawner: DetachedSpawner,
  program: string,
  args: readonly string[],
  options: DetachedRunOptions,
): Promise<RunResult> {
  checkRun(options.dir, options.id);
  if (program.includes('/') && !program.startsWith('/')) {
    throw new KctlError('invalid_args', `Program "${program}" must be a bare name or an absolute path`);
  }
  const file = await spawner.which(program);
  if (!file) {
    throw new KctlError(
      'program_failed',
      `Program "${program}" was not found in ${spawner.programPath.join(':')}`,
      { details: { program, remedy: `install ${posix.basename(program)} on the host` } },
    );
  }
  // the same fixed environment as Host.run (S15)
  const env: Record<string, string> = {
    ...options.env,
    PATH: spawner.programPath.join(':'),
    LC_ALL: 'C.UTF-8',
    DEBIAN_FRONTEND: 'noninteractive',
    ...(spawner.root !== '/' ? { KCTL_HOST_ROOT: spawner.root } : {}),
  };
  const { dir, id } = options;
  // leftovers of an earlier run with this id would be read as this run's outcome
  await removeRunFiles(dir, id);
  const flags = constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW;
  const out = await open(fileOf(dir, id, 'stdout'), flags, 0o600);
  const err = await open(fileOf(dir, id, 'stderr'), flags, 0o600).catch(async (e: unknown) => {
    await out.close();
    throw e;
  });
  const started = performance.now();
  const timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  let pid: number | undefined;
  let ended: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  try {
    const child = spawn(SH, ['-c', WRAPPER, DETACHED_MARK, dir, id, file, ...args], {
      detached: true,
      stdio: ['ignore', out.fd, err.fd],
      env,
      shell: false,
    });
    ended = new Promise((resolve) => {
      child.once('error', () => resolve({ code: null, signal: null }));
      child.once('exit', (code, signal) => resolve({ code, signal }));
    });
    // the agent may exit while this runs; the run must not keep it alive, nor die with it
    child.unref();
    pid = child.pid;
  } finally {
    await out.close();
    await err.close();
  }
  if (pid === undefined) {
    await removeRunFiles(dir, id);
    throw new KctlError('program_failed', `${program} could not be started (detached)`, {
      details: { program },
    });
  }
  await options.onSpawn?.(pid);

  let timer: NodeJS.Timeout | undefined;
  const timedOut = new Promise<'timeout'>((resolve) => {
    timer = setTimeout(() => resolve('timeout'), timeoutMs);
  });
  const first = await Promise.race([ended, timedOut]);
  clearTimeout(timer);
  const command = `${program} ${scrubArgs(args).join(' ')}`.trim();
  if (first === 'timeout') {
    await killGroup(pid, ended);
    await removeRunFiles(dir, id);
    throw new KctlError('timeout', `${command} timed out after ${timeoutMs} ms`, {
      details: { program, timeoutMs },
      retryable: true,
    });
  }
  const collected = await collectRun(dir, id, options.maxBufferBytes);
  const exitCode = collected.exitCode ?? first.code ?? undefined;
  spawner.log?.debug(
    {
      program: file,
      args: scrubArgs(args),
      exitCode,
      detached: true,
      durationMs: Math.round(performance.now() - started),
    },
    'program run',
  );
  const { stdout, stderr } = collected;
  if (exitCode === undefined) {
    const why = first.signal ? `was killed by ${first.signal}` : 'could not be started';
    if (options.allowFailure) return { exitCode: 1, stdout, stderr };
    throw new KctlError('program_failed', `${command} ${why}`, { details: { program } });
  }
  if (exitCode !== 0 && !options.allowFailure) {
    const tail = scrubSecrets(stderr || stdout)
      .trim()
      .split('\n')
      .slice(-8)
      .join('\n')
      .slice(-2000);
    throw new KctlError('program_failed', `${command} exited with ${exitCode}${tail ? `: ${tail}` : ''}`, {
      details: { program, exitCode },
      retryable: /Could not get lock|dpkg.*lock/i.test(stderr),
    });
  }
  return { exitCode, stdout, stderr };
}

/** SIGTERM to the run's process group, SIGKILL after a grace period. */
async function killGroup(pid: number, ended: Promise<unknown>): Promise<void> {
  const signal = (s: NodeJS.Signals): void => {
    try {
      process.kill(-pid, s);
    } catch {
      // the group is gone already
    }
  };
  signal('SIGTERM');
  let timer: NodeJS.Timeout | undefined;
  const grace = new Promise<'grace'>((r) => (timer = setTimeout(() => r('grace'), KILL_GRACE_MS)));
  if ((await Promise.race([ended, grace])) === 'grace') signal('SIGKILL');
  clearTimeout(timer);
}

/**
 * What became of the detached run `id`, which this or an earlier agent process started:
 * running (its wrapper is alive: by its PID file, or by a /proc scan when the wrapper had no time
 * to write one), ended (its files are read and removed), or absent (no trace: it never started).
 */
export async function findDetachedRun(
  dir: string,
  id: string,
  maxOutputBytes?: number,
): Promise<DetachedRunState> {
  checkRun(dir, id);
  const pidText = await readIfExists(fileOf(dir, id, 'pid'));
  const recorded = pidText === undefined ? undefined : Number(pidText.trim());
  if (recorded !== undefined && Number.isInteger(recorded) && recorded > 0) {
    if (await isWrapperOf(recorded, dir, id)) return { state: 'running', pid: recorded };
  } else {
    const found = await scanForWrapper(dir, id);
    if (found !== undefined) return { state: 'running', pid: found };
  }
  const traces = (await readdir(dir).catch(() => [] as string[])).filter((f) => f.startsWith(`${id}.`));
  if (traces.length === 0) return { state: 'absent' };
  const collected = await collectRun(dir, id, maxOutputBytes);
  return { state: 'ended', ...collected };
}

/** Reads a finished run's exit status and output (their tails), then removes its files. */
async function collectRun(
  dir: string,
  id: string,
  maxOutputBytes = DEFAULT_MAX_OUTPUT,
): Promise<{ exitCode: number | undefined; stdout: string; stderr: string }> {
  const exitText = (await readIfExists(fileOf(dir, id, 'exit')))?.trim();
  const exitCode = exitText !== undefined && /^\d{1,3}$/.test(exitText) ? Number(exitText) : undefined;
  const stdout = await readTail(fileOf(dir, id, 'stdout'), maxOutputBytes);
  const stderr = await readTail(fileOf(dir, id, 'stderr'), maxOutputBytes);
  // the output may hold what kubeadm prints (join commands, certificate keys): it does not stay on disk
  await removeRunFiles(dir, id);
  return { exitCode, stdout, stderr };
}

export async function removeRunFiles(dir: string, id: string): Promise<void> {
  checkRun(dir, id);
  for (const kind of ['pid', 'stdout', 'stderr', 'exit'] as const) {
    await rm(fileOf(dir, id, kind), { force: true });
  }
}

async function readIfExists(path: string): Promise<string | undefined> {
  try {
    return await readFile(path, 'utf8');
  } catch {
    return undefined;
  }
}

async function readTail(path: string, maxBytes: number): Promise<string> {
  let fh;
  try {
    fh = await open(path, constants.O_RDONLY | constants.O_NOFOLLOW);
  } catch {
    return '';
  }
  try {
    const { size } = await fh.stat();
    const length = Math.min(size, maxBytes);
    const buf = Buffer.alloc(length);
    await fh.read(buf, 0, length, size - length);
    return buf.toString('utf8');
  } finally {
    await fh.close();
  }
}

/** True when `pid` is a live (not zombie) wrapper of this run: argv is [sh, -c, script, mark, dir, id, ...]. */
async function isWrapperOf(pid: number, dir: string, id: string): Promise<boolean> {
  const [cmdline, stat] = await Promise.all([
    readIfExists(`/proc/${pid}/cmdline`),
    readIfExists(`/proc/${pid}/stat`),
  ]);
  if (cmdline === undefined || stat === undefined) return false;
  const argv = cmdline.split('\0');
  const state = parseProcStat(stat)?.state;
  return argv[3] === DETACHED_MARK && argv[4] === dir && argv[5] === id && state !== 'Z' && state !== 'X';
}

async function scanForWrapper(dir: string, id: string): Promise<number | undefined> {
  const entries = await readdir('/proc').catch(() => [] as string[]);
  for (const entry of entries) {
    if (!/^\d+$/.test(entry)) continue;
    const pid = Number(entry);
    if (await isWrapperOf(pid, dir, id)) return pid;
  }
  return undefined;
}
