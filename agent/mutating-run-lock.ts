import { randomBytes } from 'node:crypto';
import { z } from 'zod';
import type { Logger } from 'pino';
import { KctlError, toWireError } from '../proto/errors.js';
import type { Host, RunOptions, RunResult } from './host/host.js';
import type { StateDir } from './host/state-dir.js';
import { outputTail } from './host/local-host.js';

/** <state>/run/mutating.lock: the mutating run this agent started (or is about to) that has not ended yet. */
export const RUN_LOCK_FILE = 'run/mutating.lock';
/** what agents before package installs ran detached wrote (kubeadm only); read, never written */
const LEGACY_LOCK_FILE = 'run/kubeadm.lock';

/** `<program>-<16 hex>`: the detached run's files are <state>/run/<id>.* */
const RUN_ID = /^[a-z][a-z-]{0,15}-[0-9a-f]{16}$/;

export const RunLockRecord = z
  .strictObject({
    /** the detached run (<state>/run/<id>.*); the record holds only this from before the program starts */
    id: z.string().regex(RUN_ID).optional(),
    /** the program's name (kubeadm, apt-get, dpkg, ...), for messages */
    program: z
      .string()
      .regex(/^[a-z][a-z0-9-]{0,31}$/)
      .optional(),
    /** the run's wrapper, once it started */
    pid: z.number().int().positive().optional(),
    /** /proc/<pid>/stat field 22 (clock ticks after boot): a reused PID has another one */
    startTime: z.string().regex(/^\d+$/).optional(),
  })
  // a record without an id is one an agent before detached runs wrote: it names a kubeadm process
  .refine((r) => r.id !== undefined || (r.pid !== undefined && r.startTime !== undefined));
export type RunLockRecord = z.infer<typeof RunLockRecord>;

/** The lock file's record, or undefined when it is not one (a torn or foreign file counts as stale). */
export function parseRunLock(text: string): RunLockRecord | undefined {
  try {
    const parsed = RunLockRecord.safeParse(JSON.parse(text));
    return parsed.success ? parsed.data : undefined;
  } catch {
    return undefined;
  }
}

/** True when the process the lock names still runs: same PID, same start time. */
export function lockHolderAlive(lock: RunLockRecord, currentStartTime: string | undefined): boolean {
  return currentStartTime !== undefined && currentStartTime === lock.startTime;
}

const positional = (args: readonly string[]): string[] => args.filter((a) => !a.startsWith('-'));

const APT_GET_MUTATING = new Set([
  'update',
  'upgrade',
  'dist-upgrade',
  'full-upgrade',
  'install',
  'reinstall',
  'remove',
  'purge',
  'autoremove',
  'autopurge',
  'build-dep',
  'dselect-upgrade',
]);
const DPKG_MUTATING = new Set([
  '-i',
  '--install',
  '--unpack',
  '--configure',
  '-r',
  '--remove',
  '-P',
  '--purge',
  '--triggers-only',
]);
const DNF_MUTATING = new Set([
  'install',
  'reinstall',
  'upgrade',
  'update',
  'downgrade',
  'remove',
  'erase',
  'autoremove',
  'distro-sync',
  'swap',
]);

/**
 * Whether a program run changes the host for long enough that the agent's death must not cut it
 * short, nor a restarted agent start it a second time beside itself: package installs, updates
 * and holds (a dpkg or rpm transaction killed half-way leaves the package database to repair),
 * and the kubeadm commands that write the node's files. Queries (dpkg-query, `apt-mark showhold`,
 * `dnf versionlock list`, `kubeadm version`, `kubeadm kubeconfig user`) stay on the agent's pipes.
 */
export function isMutatingRun(program: string, args: readonly string[]): boolean {
  const [first, second] = positional(args);
  switch (program) {
    case 'kubeadm':
      return (
        ['init', 'join', 'reset', 'upgrade'].includes(first ?? '') ||
        (first === 'certs' && second === 'renew') ||
        (first === 'token' && (second === 'create' || second === 'delete'))
      );
    case 'apt-get':
      return APT_GET_MUTATING.has(first ?? '');
    case 'apt-mark':
      return ['hold', 'unhold', 'auto', 'manual'].includes(first ?? '');
    case 'dpkg':
      return args.some((a) => DPKG_MUTATING.has(a));
    case 'dnf':
    case 'yum':
      return (
        DNF_MUTATING.has(first ?? '') ||
        (first === 'versionlock' && ['add', 'delete', 'clear', 'exclude'].includes(second ?? '')) ||
        (first === 'history' && ['undo', 'redo', 'rollback'].includes(second ?? ''))
      );
    default:
      return false;
  }
}

export interface MutatingRunLockOptions {
  state: StateDir;
  log: Logger;
  /** how long an op waits for a run left by an earlier agent process (default 30 min, the longest run timeout) */
  maxWaitMs?: number;
  pollMs?: number;
  /** progress is repeated this often while waiting (default 30 s) */
  progressEveryMs?: number;
}

/** What the successor learns about a run an earlier agent process started. */
export interface OrphanHolder {
  pid: number;
  program: string;
}

/** Where a wait reports to: an op's progress and cancellation. */
export interface WaitContext {
  progress: (p: { message: string }) => void;
  signal: AbortSignal;
}

/**
 * One per host: every mutating program run (isMutatingRun: package installs and holds, kubeadm
 * init/join/reset/upgrade/certs renew) runs detached from the agent (Host.runDetached: no pipe to
 * the agent, its own session, output and exit status in files under <state>/run), so it survives
 * the agent's death, and one at a time. The lock names the run (an id) before the run starts, so
 * there is no moment at which such a program runs that a restarted agent could not find; that
 * agent waits for it to end, and logs how it ended, before its own op looks at the host or starts
 * a mutating program of its own.
 */
export class MutatingRunLock {
  private readonly maxWaitMs: number;
  private readonly pollMs: number;
  private readonly progressEveryMs: number;
  /** runs this process started: never waited for as orphans, never collected by anyone but their caller */
  private readonly own = new Set<string>();
  /** the end of the last queued mutating run of this process (settled, never rejects) */
  private queue: Promise<unknown> = Promise.resolve();

  constructor(private readonly options: MutatingRunLockOptions) {
    this.maxWaitMs = options.maxWaitMs ?? 30 * 60_000;
    this.pollMs = options.pollMs ?? 500;
    this.progressEveryMs = options.progressEveryMs ?? 30_000;
  }

  private get runDir(): string {
    return this.options.state.path('run');
  }

  /**
   * The run a lock file names while it goes on, or undefined when there is none, it is this
   * process's own, it never started, or it has ended (then how it ended is logged, and the lock
   * and the run's files are removed).
   */
  async liveHolder(host: Host): Promise<OrphanHolder | undefined> {
    for (const file of [RUN_LOCK_FILE, LEGACY_LOCK_FILE]) {
      const holder = await this.holderIn(host, file);
      if (holder) return holder;
    }
    return undefined;
  }

  private async holderIn(host: Host, file: string): Promise<OrphanHolder | undefined> {
    const text = await this.options.state.read(file);
    if (text === undefined) return undefined;
    const lock = parseRunLock(text);
    const log = this.options.log;
    const program = lock?.program ?? 'kubeadm';
    if (lock?.id !== undefined) {
      if (this.own.has(lock.id)) return undefined;
      const run = await host.findDetachedRun(this.runDir, lock.id);
      if (run.state === 'running') return { pid: run.pid, program };
      if (run.state === 'ended') {
        // the orphan's own words are the only record of why a half-done install or join failed
        log.info(
          {
            id: lock.id,
            program,
            exitCode: run.exitCode ?? null,
            output: outputTail(run.stderr || run.stdout),
          },
          `${program} started before the agent restarted has ended`,
        );
      } else {
        log.info({ id: lock.id, program }, 'run lock names a run that never started');
      }
    } else if (lock?.pid !== undefined && lockHolderAlive(lock, await host.processStartTime(lock.pid))) {
      return { pid: lock.pid, program };
    } else {
      log.info({ lock: lock ?? 'unreadable', file }, 'stale run lock removed');
    }
    await this.options.state.remove(file);
    return undefined;
  }

  /** Waits (bounded) until no mutating run recorded by an earlier agent process goes on. */
  async waitForOrphan(
    host: Host,
    progress: (p: { message: string }) => void,
    signal: AbortSignal,
  ): Promise<void> {
    const started = Date.now();
    let lastProgress = 0;
    for (;;) {
      const holder = await this.liveHolder(host);
      if (!holder) return;
      const { pid, program } = holder;
      const now = Date.now();
      if (now - started >= this.maxWaitMs) {
        throw new KctlError(
          'timeout',
          `${program} (pid ${pid}) started before the agent restarted still runs after ${Math.round(this.maxWaitMs / 1000)} s`,
          {
            retryable: true,
            details: { pid, program, remedy: `check what ${program} process ${pid} is waiting for` },
          },
        );
      }
      if (signal.aborted) throw new KctlError('timeout', `command cancelled while waiting for ${program}`);
      if (lastProgress === 0 || now - lastProgress >= this.progressEveryMs) {
        this.options.log.info({ pid, program }, `waiting for ${program} started before the agent restarted`);
        progress({ message: `waiting for ${program} (pid ${pid}) started before the agent restarted` });
        lastProgress = now;
      }
      await new Promise((r) => setTimeout(r, this.pollMs));
    }
  }

  /**
   * Runs a program; a mutating one runs detached, after any run of an earlier agent process and
   * of this one, named in the lock from before its start until its end. A lock that cannot be
   * written refuses the run: an unrecorded one is one a restarted agent would start again beside.
   */
  async run(
    host: Host,
    program: string,
    args: readonly string[],
    options: RunOptions = {},
    wait?: WaitContext,
  ): Promise<RunResult> {
    if (!isMutatingRun(program, args)) return host.run(program, args, options);
    if (options.input !== undefined) {
      throw new KctlError('invalid_args', `${program} runs detached from the agent and takes no input`);
    }
    const turn = this.queue.then(async () => {
      await this.waitForOrphan(
        host,
        wait?.progress ?? (() => undefined),
        wait?.signal ?? new AbortController().signal,
      );
      return this.runRecorded(host, program, args, options);
    });
    this.queue = turn.catch(() => undefined);
    return turn;
  }

  private async runRecorded(
    host: Host,
    program: string,
    args: readonly string[],
    options: RunOptions,
  ): Promise<RunResult> {
    const id = `${program}-${randomBytes(8).toString('hex')}`;
    await this.options.state.write(RUN_LOCK_FILE, JSON.stringify({ id, program }));
    this.own.add(id);
    try {
      return await host.runDetached(program, args, {
        dir: this.runDir,
        id,
        ...(options.timeoutMs !== undefined ? { timeoutMs: options.timeoutMs } : {}),
        ...(options.env !== undefined ? { env: options.env } : {}),
        ...(options.allowFailure !== undefined ? { allowFailure: options.allowFailure } : {}),
        ...(options.maxBufferBytes !== undefined ? { maxBufferBytes: options.maxBufferBytes } : {}),
        onSpawn: async (pid) => {
          await this.record(host, id, program, pid);
          await options.onSpawn?.(pid);
        },
      });
    } finally {
      await this.release(id);
      this.own.delete(id);
    }
  }

  /** A Host whose runs go through `run` above; everything else is the host itself. */
  guard(host: Host, wait?: WaitContext): Host {
    return new Proxy(host, {
      get: (target, prop) => {
        if (prop === 'run') {
          return (program: string, args: readonly string[], options?: RunOptions) =>
            this.run(target, program, args, options, wait);
        }
        const value: unknown = Reflect.get(target, prop, target);
        return typeof value === 'function' ? (value as (...a: unknown[]) => unknown).bind(target) : value;
      },
    });
  }

  /** Adds the wrapper's PID to the record, for a person reading it; the id alone finds the run. */
  private async record(host: Host, id: string, program: string, pid: number): Promise<void> {
    try {
      const startTime = await host.processStartTime(pid);
      if (startTime === undefined) return;
      await this.options.state.write(RUN_LOCK_FILE, JSON.stringify({ id, program, pid, startTime }));
    } catch (err) {
      this.options.log.warn({ pid, program, err: toWireError(err) }, 'run lock pid not recorded');
    }
  }

  private async release(id: string): Promise<void> {
    try {
      const text = await this.options.state.read(RUN_LOCK_FILE);
      if (text !== undefined && parseRunLock(text)?.id === id) await this.options.state.remove(RUN_LOCK_FILE);
    } catch (err) {
      this.options.log.warn({ id, err: toWireError(err) }, 'run lock not removed');
    }
  }
}
