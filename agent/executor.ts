import type { Logger } from 'pino';
import { KctlError, describeZodError, toWireError } from '../proto/errors.js';
import type { AgentFrame, CommandFrame, Outcome } from '../proto/wire.js';
import type { Host } from './host/host.js';
import type { CommandJournal, JournalEntry } from './journal.js';
import type { MutatingRunLock } from './mutating-run-lock.js';
import type { OpContext, OpImplementations } from './ops/registry.js';
import type { BundleSource } from './steps/bundle-fetch.js';
import { systemClocks, type ControllerClock, type LocalClocks } from './controller-clock.js';

export interface ExecutorDeps {
  ops: OpImplementations;
  journal: CommandJournal;
  host: Host;
  log: Logger;
  hostId: () => string;
  send: (frame: AgentFrame) => void;
  now?: () => number;
  /** monotonic clock for relative deadlines (and the wall clock of the last-resort expiry judgement) */
  clocks?: LocalClocks;
  /** the controller's clock as measured over the channel; freshness is judged on it, not on ours */
  controllerClock?: ControllerClock;
  bundle?: BundleSource;
  /** runs mutating programs detached, one at a time, across agent restarts (absent in unit tests that need none) */
  runLock?: MutatingRunLock;
}

/**
 * Runs commands from the controller: checks they are for this host and fresh (S11), answers
 * re-sent ones from the journal, validates args against the op's schema, and reports one result.
 */
export class CommandExecutor {
  private readonly inFlight = new Map<
    string,
    { promise: Promise<{ outcome: Outcome; replayed: boolean }>; abort: AbortController }
  >();

  /** per exclusive lane: the promise of its last queued run (settled, never rejects) */
  private readonly lanes = new Map<string, Promise<unknown>>();

  constructor(private readonly deps: ExecutorDeps) {}

  /** Runs fn after every earlier run of the same lane has finished; no lane runs at once. */
  private async inLane<T>(lane: string | undefined, fn: () => Promise<T>, log: Logger): Promise<T> {
    if (lane === undefined) return fn();
    const previous = this.lanes.get(lane);
    if (previous) log.info({ lane }, 'waiting for the running op of the same lane');
    const run = (previous ?? Promise.resolve()).then(fn);
    const settled = run.catch(() => undefined);
    this.lanes.set(lane, settled);
    try {
      return await run;
    } finally {
      if (this.lanes.get(lane) === settled) this.lanes.delete(lane);
    }
  }

  private now(): number {
    return this.deps.now?.() ?? Date.now();
  }

  /**
   * S11 freshness, judged so that this host's wall clock cannot decide it: expired once the
   * controller's clock (as measured over the channel) reads >= expiresAt, or once the frame's
   * ttlMs has passed on our monotonic clock since receipt. Only a controller that sends neither
   * leaves the judgement to our own wall clock.
   */
  private isExpired(frame: CommandFrame, receivedMono: number): boolean {
    const clocks = this.deps.clocks ?? systemClocks;
    if (frame.ttlMs !== undefined && clocks.monoNow() >= receivedMono + frame.ttlMs) return true;
    const controllerNow = this.deps.controllerClock?.now();
    if (controllerNow !== undefined) return controllerNow >= frame.expiresAt;
    if (frame.ttlMs !== undefined) return false;
    return (this.deps.now?.() ?? clocks.wallNow()) >= frame.expiresAt;
  }

  async handle(frame: CommandFrame): Promise<void> {
    // taken before any await: the relative deadline runs from when the frame arrived
    const receivedMono = (this.deps.clocks ?? systemClocks).monoNow();
    const log = this.deps.log.child({ commandId: frame.id, op: frame.op });
    const reply = (outcome: Outcome, replayed: boolean): void =>
      this.deps.send({ type: 'result', id: frame.id, replayed, outcome });

    if (frame.hostId !== this.deps.hostId()) {
      log.warn({ forHost: frame.hostId }, 'command for another host refused');
      return reply(
        failure(new KctlError('command_foreign_host', `Command ${frame.id} is addressed to another host`)),
        false,
      );
    }
    const running = this.inFlight.get(frame.id);
    if (running) {
      // re-sent while still running here (reconnect mid-command): answer when the one run finishes
      log.info('command re-sent while running; joining it');
      return reply((await running.promise).outcome, true);
    }
    // registered before the first await, so a concurrent copy always finds it
    const abort = new AbortController();
    const promise = this.process(frame, receivedMono, abort.signal, log);
    this.inFlight.set(frame.id, { promise, abort });
    try {
      const { outcome, replayed } = await promise;
      reply(outcome, replayed);
    } finally {
      this.inFlight.delete(frame.id);
    }
  }

  private async process(
    frame: CommandFrame,
    receivedMono: number,
    signal: AbortSignal,
    log: Logger,
  ): Promise<{ outcome: Outcome; replayed: boolean }> {
    let journaled: JournalEntry | undefined;
    try {
      journaled = await this.deps.journal.get(frame.id);
    } catch (err) {
      // cannot tell whether it already ran: refuse rather than risk running it twice
      log.error({ err: toWireError(err) }, 'journal read failed');
      return { outcome: failure(err), replayed: false };
    }
    if (journaled?.status === 'done' && journaled.outcome) {
      log.info('command answered from journal');
      return { outcome: journaled.outcome, replayed: true };
    }
    if (this.isExpired(frame, receivedMono)) {
      log.warn(
        {
          expiresAt: frame.expiresAt,
          ttlMs: frame.ttlMs,
          clockOffsetMs: this.deps.controllerClock?.offsetMs(),
        },
        'expired command refused',
      );
      return {
        outcome: failure(new KctlError('command_expired', `Command ${frame.id} expired before it could run`)),
        replayed: false,
      };
    }
    return { outcome: await this.run(frame, journaled, signal, log), replayed: false };
  }

  cancel(id: string): void {
    this.inFlight.get(id)?.abort.abort();
  }

  inFlightCount(): number {
    return this.inFlight.size;
  }

  /** Resolves when no command is running (for a clean stop). */
  async drain(): Promise<void> {
    await Promise.allSettled([...this.inFlight.values()].map((r) => r.promise));
  }

  private async run(
    frame: CommandFrame,
    previous: JournalEntry | undefined,
    signal: AbortSignal,
    log: Logger,
  ): Promise<Outcome> {
    // every op's schemas load with the first command, not at start (issue 13 part 7)
    const { Ops, isOpName } = await import('../proto/ops.js');
    if (!isOpName(frame.op)) {
      return failure(
        new KctlError(
          'unknown_op',
          `Unknown op "${frame.op}"; this agent knows: ${Object.keys(Ops).join(', ')}`,
        ),
      );
    }
    const op = frame.op;
    const args = Ops[op].args.safeParse(frame.args);
    if (!args.success) {
      return failure(new KctlError('invalid_args', `${op}: ${describeZodError(args.error, 'args')}`));
    }
    if (previous?.status === 'running')
      log.warn('command was interrupted by an agent restart; running it again');
    const startedAt = this.now();
    log.info('command started');
    // the registry's mapped type ties each name to its own args; TS cannot follow a union key
    const impl = this.deps.ops[op] as unknown as {
      exclusive?: string;
      secretResult?: true;
      run(a: unknown, c: OpContext): Promise<unknown>;
    };
    // a credential is never written to disk here: such an op is safe to run again instead
    const journaled = impl.secretResult !== true;
    const entry: JournalEntry = { id: frame.id, op, status: 'running', startedAt };
    try {
      if (journaled) await this.deps.journal.begin(frame.id, op, startedAt);
    } catch (err) {
      // without a journal entry a re-send could run twice: refuse rather than risk it
      log.error({ err: toWireError(err) }, 'journal write failed');
      return failure(err);
    }
    const lock = this.deps.runLock;
    // ops that change the host look at it only once a mutating run an earlier agent left has ended
    const waitsForOrphan = impl.exclusive === 'kubeadm' || op === 'host.apply';
    const progress: OpContext['progress'] = (p) =>
      this.deps.send({
        type: 'progress',
        id: frame.id,
        message: p.message.slice(0, 4096),
        ...(p.stepId !== undefined ? { stepId: p.stepId } : {}),
        ...(p.fraction !== undefined ? { fraction: p.fraction } : {}),
      });
    const ctx: OpContext = {
      // every op's mutating programs (package installs, kubeadm join/upgrade/reset...) run detached
      host: lock ? lock.guard(this.deps.host, { progress, signal }) : this.deps.host,
      bundle: this.deps.bundle,
      hostId: frame.hostId,
      log,
      signal,
      progress,
    };
    let outcome: Outcome;
    try {
      const value = await this.inLane(
        impl.exclusive,
        async () => {
          // a run an earlier agent process started may still go on: the op looks at the host after it
          if (waitsForOrphan) await lock?.waitForOrphan(this.deps.host, ctx.progress, signal);
          return impl.run(args.data, ctx);
        },
        log,
      );
      outcome = { ok: true, value };
    } catch (err) {
      outcome = failure(err);
    }
    log.info({ ok: outcome.ok, durationMs: this.now() - startedAt }, 'command finished');
    try {
      if (journaled) await this.deps.journal.finish(entry, outcome, this.now());
    } catch (err) {
      log.error({ err: toWireError(err) }, 'journal write failed after command ran');
      return failure(
        new KctlError(
          'io_error',
          `Command ran but its result could not be journaled: ${toWireError(err).message}`,
        ),
      );
    }
    return outcome;
  }
}

function failure(err: unknown): Outcome {
  return { ok: false, error: toWireError(err) };
}
