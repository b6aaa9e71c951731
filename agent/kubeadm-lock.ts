import { randomBytes } from 'node:crypto';
import { z } from 'zod';
import type { Logger } from 'pino';
import { KctlError, toWireError } from '../proto/errors.js';
import type { Host, RunOptions, RunResult } from './host/host.js';
import type { StateDir } from './host/state-dir.js';
import { outputTail } from './host/local-host.js';

/** <state>/run/kubeadm.lock: the kubeadm run this agent started (or is about to) and that has not ended yet. */
export const KUBEADM_LOCK_FILE = 'run/kubeadm.lock';

const RUN_ID = /^kubeadm-[0-9a-f]{16}$/;

export const KubeadmLockRecord = z
  .strictObject({
    /** the detached run (<state>/run/<id>.*); the record holds only this from before kubeadm starts */
    id: z.string().regex(RUN_ID).optional(),
    /** the run's wrapper, once it started */
    pid: z.number().int().positive().optional(),
    /** /proc/<pid>/stat field 22 (clock ticks after boot): a reused PID has another one */
    startTime: z.string().regex(/^\d+$/).optional(),
  })
  // a record without an id is one an agent before detached runs wrote: it names a process
  .refine((r) => r.id !== undefined || (r.pid !== undefined && r.startTime !== undefined));
export type KubeadmLockRecord = z.infer<typeof KubeadmLockRecord>;

/** The lock file's record, or undefined when it is not one (a torn or foreign file counts as stale). */
export function parseKubeadmLock(text: string): KubeadmLockRecord | undefined {
  try {
    const parsed = KubeadmLockRecord.safeParse(JSON.parse(text));
    return parsed.success ? parsed.data : undefined;
  } catch {
    return undefined;
  }
}

/** True when the process the lock names still runs: same PID, same start time. */
export function lockHolderAlive(lock: KubeadmLockRecord, currentStartTime: string | undefined): boolean {
  return currentStartTime !== undefined && currentStartTime === lock.startTime;
}

export interface KubeadmLockOptions {
  state: StateDir;
  log: Logger;
  /** how long an op waits for a kubeadm left by an earlier agent process (default 30 min, the longest kubeadm timeout) */
  maxWaitMs?: number;
  pollMs?: number;
  /** progress is repeated this often while waiting (default 30 s) */
  progressEveryMs?: number;
}

/** What the successor learns about a kubeadm an earlier agent process started. */
export interface OrphanHolder {
  pid: number;
}

/**
 * The executor's kubeadm lane is per agent process; this lock carries it over an agent restart.
 * Every kubeadm runs detached from the agent (Host.runDetached: no pipe to the agent, its own
 * session, output and exit status in files under <state>/run), so it survives the agent's death.
 * The lock names the run (an id) before the run starts, so there is no moment at which a kubeadm
 * runs that a restarted agent could not find; the next kubeadm op of that agent waits for it to end
 * before it looks at the host.
 */
export class KubeadmLock {
  private readonly maxWaitMs: number;
  private readonly pollMs: number;
  private readonly progressEveryMs: number;

  constructor(private readonly options: KubeadmLockOptions) {
    this.maxWaitMs = options.maxWaitMs ?? 30 * 60_000;
    this.pollMs = options.pollMs ?? 500;
    this.progressEveryMs = options.progressEveryMs ?? 30_000;
  }

  private get runDir(): string {
    return this.options.state.path('run');
  }

  /**
   * The kubeadm the lock names while it runs, or undefined when there is none, it never started,
   * or it has ended (then its outcome is logged, and the lock and the run's files are removed).
   */
  async liveHolder(host: Host): Promise<OrphanHolder | undefined> {
    const text = await this.options.state.read(KUBEADM_LOCK_FILE);
    if (text === undefined) return undefined;
    const lock = parseKubeadmLock(text);
    const log = this.options.log;
    if (lock?.id !== undefined) {
      const run = await host.findDetachedRun(this.runDir, lock.id);
      if (run.state === 'running') return { pid: run.pid };
      if (run.state === 'ended') {
        // the orphan's own words are the only record of why a half-done join failed
        log.info(
          { id: lock.id, exitCode: run.exitCode ?? null, output: outputTail(run.stderr || run.stdout) },
          'kubeadm started before the agent restarted has ended',
        );
      } else {
        log.info({ id: lock.id }, 'kubeadm lock names a run that never started');
      }
    } else if (lock?.pid !== undefined && lockHolderAlive(lock, await host.processStartTime(lock.pid))) {
      return { pid: lock.pid };
    } else {
      log.info({ lock: lock ?? 'unreadable' }, 'stale kubeadm lock removed');
    }
    await this.options.state.remove(KUBEADM_LOCK_FILE);
    return undefined;
  }

  /** Waits (bounded) until no kubeadm recorded by an earlier agent process runs. */
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
      const now = Date.now();
      if (now - started >= this.maxWaitMs) {
        throw new KctlError(
          'timeout',
          `kubeadm (pid ${holder.pid}) started before the agent restarted still runs after ${Math.round(this.maxWaitMs / 1000)} s`,
          {
            retryable: true,
            details: { pid: holder.pid, remedy: `check what kubeadm process ${holder.pid} is waiting for` },
          },
        );
      }
      if (signal.aborted) throw new KctlError('timeout', 'command cancelled while waiting for kubeadm');
      if (lastProgress === 0 || now - lastProgress >= this.progressEveryMs) {
        const message = `waiting for kubeadm (pid ${holder.pid}) started before the agent restarted`;
        this.options.log.info({ pid: holder.pid }, 'waiting for kubeadm started before the agent restarted');
        progress({ message });
        lastProgress = now;
      }
      await new Promise((r) => setTimeout(r, this.pollMs));
    }
  }

  /**
   * Runs a program; kubeadm runs detached, named in the lock from before its start until its end.
   * A lock that cannot be written refuses the run: an unrecorded kubeadm is one a restarted agent
   * would start a second time beside.
   */
  async run(
    host: Host,
    program: string,
    args: readonly string[],
    options: RunOptions = {},
  ): Promise<RunResult> {
    if (program !== 'kubeadm') return host.run(program, args, options);
    if (options.input !== undefined) {
      throw new KctlError('invalid_args', 'kubeadm runs detached from the agent and takes no input');
    }
    const id = `kubeadm-${randomBytes(8).toString('hex')}`;
    await this.options.state.write(KUBEADM_LOCK_FILE, JSON.stringify({ id }));
    try {
      return await host.runDetached(program, args, {
        dir: this.runDir,
        id,
        ...(options.timeoutMs !== undefined ? { timeoutMs: options.timeoutMs } : {}),
        ...(options.env !== undefined ? { env: options.env } : {}),
        ...(options.allowFailure !== undefined ? { allowFailure: options.allowFailure } : {}),
        ...(options.maxBufferBytes !== undefined ? { maxBufferBytes: options.maxBufferBytes } : {}),
        onSpawn: async (pid) => {
          await this.record(host, id, pid);
          await options.onSpawn?.(pid);
        },
      });
    } finally {
      await this.release(id);
    }
  }

  /** A Host whose runs go through `run` above; everything else is the host itself. */
  guard(host: Host): Host {
    return new Proxy(host, {
      get: (target, prop) => {
        if (prop === 'run') {
          return (program: string, args: readonly string[], options?: RunOptions) =>
            this.run(target, program, args, options);
        }
        const value: unknown = Reflect.get(target, prop, target);
        return typeof value === 'function' ? (value as (...a: unknown[]) => unknown).bind(target) : value;
      },
    });
  }

  /** Adds the wrapper's PID to the record, for a person reading it; the id alone finds the run. */
  private async record(host: Host, id: string, pid: number): Promise<void> {
    try {
      const startTime = await host.processStartTime(pid);
      if (startTime === undefined) return;
      await this.options.state.write(KUBEADM_LOCK_FILE, JSON.stringify({ id, pid, startTime }));
    } catch (err) {
      this.options.log.warn({ pid, err: toWireError(err) }, 'kubeadm lock pid not recorded');
    }
  }

  private async release(id: string): Promise<void> {
    try {
      const text = await this.options.state.read(KUBEADM_LOCK_FILE);
      if (text !== undefined && parseKubeadmLock(text)?.id === id) {
        await this.options.state.remove(KUBEADM_LOCK_FILE);
      }
    } catch (err) {
      this.options.log.warn({ id, err: toWireError(err) }, 'kubeadm lock not removed');
    }
  }
}
