import { z } from 'zod';
import type { Logger } from 'pino';
import { KctlError, toWireError } from '../proto/errors.js';
import type { Host, RunOptions, RunResult } from './host/host.js';
import type { StateDir } from './host/state-dir.js';

/** <state>/run/kubeadm.lock: the kubeadm process this agent started and that has not ended yet. */
export const KUBEADM_LOCK_FILE = 'run/kubeadm.lock';

export const KubeadmLockRecord = z.strictObject({
  pid: z.number().int().positive(),
  /** /proc/<pid>/stat field 22 (clock ticks after boot): a reused PID has another one */
  startTime: z.string().regex(/^\d+$/),
});
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

/**
 * The executor's kubeadm lane is per agent process; this lock carries it over an agent restart.
 * Each kubeadm process the agent starts is recorded (PID and start time) while it runs; an agent
 * killed meanwhile leaves its kubeadm running (execa cleanup: false) and the record in place, and
 * the next kubeadm op of the restarted agent waits for that process to end before it looks at
 * the host.
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

  /** The lock's record, or undefined when there is none or it names a process that has ended (then it is removed). */
  async liveHolder(host: Host): Promise<KubeadmLockRecord | undefined> {
    const text = await this.options.state.read(KUBEADM_LOCK_FILE);
    if (text === undefined) return undefined;
    const lock = parseKubeadmLock(text);
    if (lock && lockHolderAlive(lock, await host.processStartTime(lock.pid))) return lock;
    this.options.log.info({ lock: lock ?? 'unreadable' }, 'stale kubeadm lock removed');
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

  /** Runs a program; a kubeadm run is recorded in the lock from its start until it ends. */
  async run(
    host: Host,
    program: string,
    args: readonly string[],
    options: RunOptions = {},
  ): Promise<RunResult> {
    if (program !== 'kubeadm') return host.run(program, args, options);
    let pid: number | undefined;
    try {
      return await host.run(program, args, {
        ...options,
        onSpawn: async (p) => {
          pid = p;
          await this.record(host, p);
          await options.onSpawn?.(p);
        },
      });
    } finally {
      if (pid !== undefined) await this.release(pid);
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

  private async record(host: Host, pid: number): Promise<void> {
    try {
      const startTime = await host.processStartTime(pid);
      // ended already: nothing to wait for after a restart
      if (startTime === undefined) return;
      await this.options.state.write(KUBEADM_LOCK_FILE, JSON.stringify({ pid, startTime }));
    } catch (err) {
      // the run goes on unrecorded: only a restart during it loses the wait
      this.options.log.warn({ pid, err: toWireError(err) }, 'kubeadm lock not written');
    }
  }

  private async release(pid: number): Promise<void> {
    try {
      const text = await this.options.state.read(KUBEADM_LOCK_FILE);
      if (text !== undefined && parseKubeadmLock(text)?.pid === pid) {
        await this.options.state.remove(KUBEADM_LOCK_FILE);
      }
    } catch (err) {
      this.options.log.warn({ pid, err: toWireError(err) }, 'kubeadm lock not removed');
    }
  }
}
