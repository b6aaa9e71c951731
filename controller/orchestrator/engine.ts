import { randomUUID } from 'node:crypto';
import type { Logger } from 'pino';
import { KctlError, toWireError, type WireError } from '../../proto/errors.js';
import { mapBounded } from '../map-bounded.js';
import type { ApplyStore } from './apply-store.js';
import { clusterPlanHash, type ClusterPlan, type Phase, type Task } from './plan.js';

/** Runs one task on its host (through typed agent ops) and returns a secret-free summary. */
export interface TaskRunner {
  run(task: Task, ctx: TaskContext): Promise<unknown>;
}

export interface TaskContext {
  applyId: string;
  /** counts failed tries; a try cut short by a controller crash keeps its number (see ApplyStore.stepStarted) */
  attempt: number;
  progress(message: string): void;
}

export type ApplyEvent =
  | {
      type: 'apply-start';
      applyId: string;
      resumed: boolean;
      phases: Array<{ id: string; title: string; tasks: number }>;
    }
  | { type: 'no-changes'; cluster: string }
  | {
      /** the newest unfinished apply was asked for something else: it is closed, not resumed */
      type: 'apply-superseded';
      applyId: string;
      cluster: string;
      /** one line per input that differs, e.g. `host w-3 address: 198.18.1.23 -> 198.18.1.99` */
      changed: string[];
      message: string;
    }
  | { type: 'phase-start'; phase: string; title: string; pending: number; skipped: number }
  | { type: 'task-start'; phase: string; taskId: string; host: string; title: string; attempt: number }
  | { type: 'task-progress'; phase: string; taskId: string; host: string; message: string }
  | { type: 'task-done'; phase: string; taskId: string; host: string; durationMs: number }
  | { type: 'task-skipped'; phase: string; taskId: string; host: string }
  | { type: 'task-failed'; phase: string; taskId: string; host: string; error: WireError; willRetry: boolean }
  | { type: 'phase-done'; phase: string }
  | {
      type: 'apply-done';
      applyId: string;
      status: 'succeeded' | 'failed';
      durationMs: number;
      error?: WireError;
    };

export interface ApplyOutcome {
  /** empty when nothing was to be done (no apply was recorded) */
  applyId: string;
  status: 'succeeded' | 'failed';
  resumed: boolean;
  noChanges: boolean;
  ran: string[];
  skipped: string[];
  error?: WireError;
}

export interface OrchestratorOptions {
  store: ApplyStore;
  runner: TaskRunner;
  log: Logger;
  now?: () => number;
  /** attempts for a task failing with a retryable error (host offline, dpkg lock...) */
  maxAttempts?: number;
  retryDelayMs?: number;
}

/** An intent input that differs between a journaled apply and a new request. */
export interface IntentChange {
  input: string;
  was: string | null | undefined;
  now: string | null | undefined;
}

export type IntentComparison = { same: true; unknown: string[] } | { same: false; changed: IntentChange[] };

/**
 * Whether a new request asks for what a journaled apply was asked for. Equal hashes are the same
 * intent. Otherwise the named inputs decide: an input that is null on one side (an observation
 * there was none of, such as an address picked from facts not yet written or lost with a kill -9)
 * is unknown, not a change, so a resume never depends on a write that can be lost; an input that
 * differs, appears or disappears is a change. Without inputs on both sides only the hash can say.
 */
export function compareIntent(
  journaled: { hash: string; inputs: Readonly<Record<string, string | null>> | undefined },
  now: { hash: string; inputs: Readonly<Record<string, string | null>> | undefined },
): IntentComparison {
  if (journaled.hash === now.hash) return { same: true, unknown: [] };
  if (!journaled.inputs || !now.inputs) return { same: false, changed: [] };
  const changed: IntentChange[] = [];
  const unknown: string[] = [];
  for (const input of new Set([...Object.keys(journaled.inputs), ...Object.keys(now.inputs)])) {
    const was = journaled.inputs[input];
    const is = now.inputs[input];
    if (was === is) continue;
    if (was === null || is === null) unknown.push(input);
    else changed.push({ input, was, now: is });
  }
  return changed.length === 0 ? { same: true, unknown } : { same: false, changed };
}

/** `host w-3 address: 198.18.1.23 -> 198.18.1.99`; digests are only said to differ. */
export function describeIntentChange(c: IntentChange): string {
  if (c.was === undefined) return `${c.input}: added (${c.now ?? 'unknown'})`;
  if (c.now === undefined) return `${c.input}: removed (was ${c.was ?? 'unknown'})`;
  if (c.was?.startsWith('sha256:') && c.now?.startsWith('sha256:')) return `${c.input}: changed`;
  return `${c.input}: ${c.was ?? 'unknown'} -> ${c.now ?? 'unknown'}`;
}

/** The journal keeps the intent's inputs beside the plan, in the apply's plan column. */
interface JournaledPlan extends ClusterPlan {
  intentInputs?: Record<string, string | null>;
}

function splitJournaled(raw: unknown): {
  plan: ClusterPlan;
  inputs: Record<string, string | null> | undefined;
} {
  const { intentInputs, ...plan } = raw as JournaledPlan;
  return { plan, inputs: intentInputs };
}

/**
 * Runs a cluster plan phase by phase. Every task transition is recorded before and after it runs,
 * so after a crash or a failure the next apply of the same plan resumes: tasks recorded as done
 * are skipped, never run again; a task recorded as running (the controller died under it) runs
 * again, which is safe because every task converges by checking the host first.
 */
export class Orchestrator {
  constructor(private readonly options: OrchestratorOptions) {}

  private now(): number {
    return this.options.now?.() ?? Date.now();
  }

  /**
   * Runs a plan, or resumes one. `intentHash` names what the caller asked for (the spec, the hosts,
   * the operation): when the newest unfinished apply of the cluster was asked for the same thing
   * (`compareIntent` over `intentInputs`, journaled with it), its journaled plan is resumed, skipping
   * what is done; otherwise it is closed as superseded, naming each input that changed (an
   * `apply-superseded` event), and `makePlan` builds a new plan from the hosts' state now; an empty
   * one ends here with `noChanges`, touching no host. An apply closed as superseded is never resumed.
   */
  async apply(
    request: {
      cluster: string;
      intentHash: string;
      intentInputs?: Record<string, string | null>;
      makePlan: () => Promise<ClusterPlan>;
    },
    onEvent: (e: ApplyEvent) => void = () => undefined,
  ): Promise<ApplyOutcome> {
    const { store, log } = this.options;
    const latest = await store.latestUnfinished(request.cluster);
    // closed by a newer request already (and left newest by an apply that had nothing to do)
    const previous = latest?.error?.details?.['superseded'] === true ? undefined : latest;
    const journaled = previous ? splitJournaled(previous.plan) : undefined;
    const comparison =
      previous && journaled
        ? compareIntent(
            { hash: previous.planHash, inputs: journaled.inputs },
            { hash: request.intentHash, inputs: request.intentInputs },
          )
        : undefined;
    const resumed = previous !== undefined && comparison?.same === true;
    const plan = resumed && journaled ? journaled.plan : await request.makePlan();
    const applyId = resumed ? previous.id : randomUUID();
    const empty = plan.phases.every((p) => p.tasks.length === 0);
    if (previous && comparison && !comparison.same) {
      const changed = comparison.changed.map(describeIntentChange);
      const message =
        changed.length > 0
          ? `apply ${previous.id} was superseded, not resumed: ${changed.join('; ')}`
          : `apply ${previous.id} was superseded, not resumed: it was asked for another spec, hosts or operation`;
      await store.finishApply(previous.id, 'failed', this.now(), {
        code: 'plan_stale',
        message,
        retryable: false,
        details: { superseded: true, ...(empty ? {} : { supersededBy: applyId }), changed },
      });
      log.warn({ cluster: request.cluster, superseded: previous.id, changed }, 'unfinished apply superseded');
      onEvent({ type: 'apply-superseded', applyId: previous.id, cluster: request.cluster, changed, message });
    }
    if (resumed && comparison?.same && comparison.unknown.length > 0)
      log.info(
        { cluster: request.cluster, applyId, unknown: comparison.unknown },
        'resuming: inputs unknown when the apply started or now are not counted as changes',
      );
    if (!resumed && empty) {
      onEvent({ type: 'no-changes', cluster: request.cluster });
      log.info({ cluster: request.cluster }, 'apply found no changes');
      return { applyId: '', status: 'succeeded', resumed: false, noChanges: true, ran: [], skipped: [] };
    }
    if (resumed) await store.reopenApply(applyId);
    else
      await store.createApply({
        id: applyId,
        cluster: request.cluster,
        planHash: request.intentHash,
        plan: request.intentInputs ? { ...plan, intentInputs: request.intentInputs } : plan,
        now: this.now(),
      });
    const alog = log.child({ applyId, cluster: plan.cluster });
    const done = new Set(
      (await store.steps(applyId)).filter((s) => s.status === 'done').map((s) => s.taskId),
    );
    const started = this.now();
    const ran: string[] = [];
    const skipped: string[] = [];
    onEvent({
      type: 'apply-start',
      applyId,
      resumed,
      phases: plan.phases.map((p) => ({ id: p.id, title: p.title, tasks: p.tasks.length })),
    });
    alog.info({ resumed, operation: plan.operation, planHash: clusterPlanHash(plan) }, 'apply started');

    for (const phase of plan.phases) {
      const pending = phase.tasks.filter((t) => !done.has(t.id));
      for (const t of phase.tasks.filter((t) => done.has(t.id))) {
        skipped.push(t.id);
        onEvent({ type: 'task-skipped', phase: phase.id, taskId: t.id, host: t.host });
      }
      onEvent({
        type: 'phase-start',
        phase: phase.id,
        title: phase.title,
        pending: pending.length,
        skipped: phase.tasks.length - pending.length,
      });
      const failure = await this.runPhase(applyId, phase, pending, onEvent, ran);
      if (failure) {
        await store.finishApply(applyId, 'failed', this.now(), failure);
        alog.error({ phase: phase.id, code: failure.code }, 'apply failed');
        onEvent({
          type: 'apply-done',
          applyId,
          status: 'failed',
          durationMs: this.now() - started,
          error: failure,
        });
        return { applyId, status: 'failed', resumed, noChanges: false, ran, skipped, error: failure };
      }
      onEvent({ type: 'phase-done', phase: phase.id });
    }
    await store.finishApply(applyId, 'succeeded', this.now());
    alog.info({ ran: ran.length, skipped: skipped.length }, 'apply succeeded');
    onEvent({ type: 'apply-done', applyId, status: 'succeeded', durationMs: this.now() - started });
    return { applyId, status: 'succeeded', resumed, noChanges: false, ran, skipped };
  }

  /** Runs a phase; in a parallel phase the tasks already running finish before it reports a failure. */
  private async runPhase(
    applyId: string,
    phase: Phase,
    tasks: Task[],
    onEvent: (e: ApplyEvent) => void,
    ran: string[],
  ): Promise<WireError | undefined> {
    let failure: WireError | undefined;
    const limit = phase.mode === 'serial' ? 1 : Math.max(1, phase.concurrency);
    await mapBounded(tasks, limit, async (task) => {
      if (failure) return; // stop starting new tasks after the first failure
      const error = await this.runTask(applyId, task, onEvent);
      if (error) failure ??= { ...error, message: `${task.host}: ${task.title}: ${error.message}` };
      else ran.push(task.id);
    });
    return failure;
  }

  private async runTask(
    applyId: string,
    task: Task,
    onEvent: (e: ApplyEvent) => void,
  ): Promise<WireError | undefined> {
    const { store, runner } = this.options;
    const maxAttempts = this.options.maxAttempts ?? 3;
    for (;;) {
      const attempt = await store.stepStarted({
        applyId,
        taskId: task.id,
        phase: task.phase,
        host: task.host,
        now: this.now(),
      });
      const t0 = this.now();
      onEvent({
        type: 'task-start',
        phase: task.phase,
        taskId: task.id,
        host: task.host,
        title: task.title,
        attempt,
      });
      try {
        const output = await runner.run(task, {
          applyId,
          attempt,
          progress: (message) =>
            onEvent({ type: 'task-progress', phase: task.phase, taskId: task.id, host: task.host, message }),
        });
        await store.stepFinished({ applyId, taskId: task.id, status: 'done', now: this.now(), output });
        onEvent({
          type: 'task-done',
          phase: task.phase,
          taskId: task.id,
          host: task.host,
          durationMs: this.now() - t0,
        });
        return undefined;
      } catch (err) {
        const error = toWireError(err);
        const willRetry = error.retryable && attempt < maxAttempts;
        await store.stepFinished({ applyId, taskId: task.id, status: 'failed', now: this.now(), error });
        onEvent({
          type: 'task-failed',
          phase: task.phase,
          taskId: task.id,
          host: task.host,
          error,
          willRetry,
        });
        if (!willRetry) return error;
        await new Promise((r) => setTimeout(r, (this.options.retryDelayMs ?? 2000) * attempt));
      }
    }
  }
}

export function assertPlanUnchanged(expectedHash: string, plan: ClusterPlan): void {
  const actual = clusterPlanHash(plan);
  if (actual !== expectedHash) {
    throw new KctlError(
      'plan_stale',
      `The saved plan (${expectedHash.slice(0, 19)}…) no longer matches the hosts (${actual.slice(0, 19)}…)`,
      {
        details: { remedy: 'run "kctl plan" again and review the changes' },
      },
    );
  }
}
