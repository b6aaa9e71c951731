import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { pino } from 'pino';
import { SqliteStore } from '../store/sqlite-store.js';
import { sqliteAsAsyncStore } from '../store/sqlite-async-store.js';
import type { ApplyJournal } from '../store/store.js';
import { KctlError } from '../../proto/errors.js';
import { Orchestrator, type ApplyEvent, type TaskRunner } from './engine.js';
import { clusterPlanHash, type ClusterPlan, type Phase, type Task } from './plan.js';

const CPS = ['cp-1', 'cp-2', 'cp-3'];
const WORKERS = ['w-1', 'w-2', 'w-3', 'w-4', 'w-5'];

function phase(id: Phase['id'], mode: Phase['mode'], hosts: string[], concurrency = 2): Phase {
  return {
    id,
    title: id,
    mode,
    concurrency,
    tasks: hosts.map((host) => ({
      id: `${id}/${host}`,
      phase: id,
      host,
      title: `${id} on ${host}`,
      input: { host },
    })),
  };
}

function haPlan(): ClusterPlan {
  return {
    cluster: 'demo',
    operation: 'apply',
    phases: [
      phase('preflight', 'parallel', [...CPS, ...WORKERS], 8),
      phase('prepare', 'parallel', [...CPS, ...WORKERS], 3),
      phase('init', 'serial', ['cp-1']),
      phase('join-material', 'serial', ['cp-1']),
      phase('control-planes', 'serial', ['cp-2', 'cp-3']),
      phase('workers', 'parallel', WORKERS, 2),
      phase('cni', 'serial', ['cp-1']),
      phase('verify', 'serial', ['cp-1']),
    ],
  };
}

/** Records every run with start/end order and live concurrency; fails the tasks it is told to. */
class RecordingRunner implements TaskRunner {
  runs: string[] = [];
  timeline: Array<{ event: 'start' | 'end'; id: string }> = [];
  live = new Map<string, number>();
  maxLive = new Map<string, number>();
  failOnce = new Set<string>();
  failAlways = new Set<string>();
  retryableOnce = new Set<string>();

  async run(task: Task): Promise<unknown> {
    this.runs.push(task.id);
    this.timeline.push({ event: 'start', id: task.id });
    const n = (this.live.get(task.phase) ?? 0) + 1;
    this.live.set(task.phase, n);
    this.maxLive.set(task.phase, Math.max(this.maxLive.get(task.phase) ?? 0, n));
    await new Promise((r) => setTimeout(r, 5));
    this.live.set(task.phase, (this.live.get(task.phase) ?? 1) - 1);
    this.timeline.push({ event: 'end', id: task.id });
    if (this.retryableOnce.delete(task.id))
      throw new KctlError('host_offline', 'agent reconnecting', { retryable: true });
    if (this.failOnce.delete(task.id) || this.failAlways.has(task.id))
      throw new KctlError('step_failed', `injected failure in ${task.id}`);
    return { ok: true };
  }
}

describe('orchestrator', () => {
  let sqlite: SqliteStore;
  /** the journal read synchronously by the test; the orchestrator gets it as an AsyncStore */
  let store: ApplyJournal;
  let runner: RecordingRunner;
  let orchestrator: Orchestrator;

  beforeEach(() => {
    sqlite = new SqliteStore(':memory:');
    store = sqlite.applies;
    runner = new RecordingRunner();
    orchestrator = new Orchestrator({
      store: sqliteAsAsyncStore(sqlite).applies,
      runner,
      log: pino({ level: 'silent' }),
      retryDelayMs: 1,
    });
  });
  afterEach(() => sqlite.close());

  /** An apply asked for `plan` itself: the same plan asked again resumes an unfinished apply of it. */
  const run = (plan: ClusterPlan, onEvent?: (e: ApplyEvent) => void) =>
    orchestrator.apply(
      { cluster: plan.cluster, intentHash: clusterPlanHash(plan), makePlan: () => Promise.resolve(plan) },
      onEvent,
    );

  const indexOf = (event: 'start' | 'end', id: string): number =>
    runner.timeline.findIndex((t) => t.event === event && t.id === id);

  it('initialises the first control plane before any other joins, joins control planes one at a time, workers within the bound', async () => {
    const r = await run(haPlan());
    expect(r.status).toBe('succeeded');
    expect(indexOf('end', 'init/cp-1')).toBeLessThan(indexOf('start', 'control-planes/cp-2'));
    expect(indexOf('end', 'join-material/cp-1')).toBeLessThan(indexOf('start', 'control-planes/cp-2'));
    expect(indexOf('end', 'control-planes/cp-2')).toBeLessThan(indexOf('start', 'control-planes/cp-3'));
    expect(indexOf('end', 'control-planes/cp-3')).toBeLessThan(
      Math.min(...WORKERS.map((w) => indexOf('start', `workers/${w}`))),
    );
    expect(runner.maxLive.get('control-planes')).toBe(1);
    expect(runner.maxLive.get('workers')).toBe(2);
    expect(runner.maxLive.get('prepare')).toBe(3);
    expect(Math.max(...WORKERS.map((w) => indexOf('end', `workers/${w}`)))).toBeLessThan(
      indexOf('start', 'cni/cp-1'),
    );
    expect(runner.runs).toHaveLength(haPlan().phases.reduce((n, p) => n + p.tasks.length, 0));
  });

  it('records every task before and after it runs', async () => {
    let seenRunning = false;
    const r = await run(haPlan(), (e) => {
      if (e.type === 'task-start') {
        const step = store
          .steps(e.taskId === '' ? '' : store.listApplies(1)[0]!.id)
          .find((s) => s.taskId === e.taskId);
        seenRunning ||= step?.status === 'running';
      }
    });
    expect(seenRunning).toBe(true);
    expect(store.steps(r.applyId).every((s) => s.status === 'done' && s.finishedAt !== null)).toBe(true);
  });

  it.each(haPlan().phases.map((p) => [p.id, p.tasks[p.tasks.length - 1]!.id]))(
    'resumes after a failure injected in phase %s without re-running any completed task',
    async (_phase, failing) => {
      runner.failOnce.add(failing);
      const first = await run(haPlan());
      expect(first.status).toBe('failed');
      expect(first.error?.message).toContain('injected failure');
      const completed = store
        .steps(first.applyId)
        .filter((s) => s.status === 'done')
        .map((s) => s.taskId);
      runner.runs = [];
      const second = await run(haPlan());
      expect(second).toMatchObject({ status: 'succeeded', resumed: true, applyId: first.applyId });
      for (const id of completed) expect(runner.runs).not.toContain(id);
      expect(runner.runs).toContain(failing);
      expect(new Set([...completed, ...runner.runs]).size).toBe(
        haPlan().phases.reduce((n, p) => n + p.tasks.length, 0),
      );
    },
  );

  it('stops at the failing phase: no later phase starts', async () => {
    runner.failAlways.add('control-planes/cp-2');
    const r = await run(haPlan());
    expect(r.status).toBe('failed');
    expect(runner.runs.some((id) => id.startsWith('workers/'))).toBe(false);
    expect(runner.runs).not.toContain('control-planes/cp-3');
  });

  it('re-runs a task that was recorded as running when the controller died', async () => {
    const plan = haPlan();
    const first = await run({ ...plan, phases: plan.phases.slice(0, 3) });
    expect(first.status).toBe('succeeded');
    // simulate a crash mid-task in a fresh apply of the full plan
    const applyId = 'crashed';
    store.createApply({
      id: applyId,
      cluster: 'demo',
      planHash: clusterPlanHash(plan),
      plan,
      now: Date.now() + 1000,
    });
    for (const p of plan.phases.slice(0, 4))
      for (const t of p.tasks) {
        store.stepStarted({ applyId, taskId: t.id, phase: t.phase, host: t.host, now: 2 });
        store.stepFinished({ applyId, taskId: t.id, status: 'done', now: 3 });
      }
    store.stepStarted({
      applyId,
      taskId: 'control-planes/cp-2',
      phase: 'control-planes',
      host: 'cp-2',
      now: 4,
    });
    runner.runs = [];
    const r = await run(plan);
    expect(r).toMatchObject({ applyId, resumed: true, status: 'succeeded' });
    expect(runner.runs[0]).toBe('control-planes/cp-2');
    expect(runner.runs.filter((id) => id.startsWith('init') || id.startsWith('prepare'))).toEqual([]);
    // cut short by the crash, not failed: the same attempt, so its commands keep their ids
    expect(store.steps(applyId).find((s) => s.taskId === 'control-planes/cp-2')?.attempt).toBe(1);
  });

  it('retries a retryable failure within the same apply', async () => {
    runner.retryableOnce.add('workers/w-3');
    const events: ApplyEvent[] = [];
    const r = await run(haPlan(), (e) => events.push(e));
    expect(r.status).toBe('succeeded');
    expect(events.find((e) => e.type === 'task-failed')).toMatchObject({
      taskId: 'workers/w-3',
      willRetry: true,
    });
    expect(runner.runs.filter((id) => id === 'workers/w-3')).toHaveLength(2);
  });

  it('starts a new apply when the plan changed, and a second apply after success runs nothing from the old one', async () => {
    const first = await run(haPlan());
    const plan = haPlan();
    plan.phases[5]!.tasks.push({
      id: 'workers/w-6',
      phase: 'workers',
      host: 'w-6',
      title: 'join w-6',
      input: {},
    });
    const second = await run(plan);
    expect(second.applyId).not.toBe(first.applyId);
    expect(second.resumed).toBe(false);
  });

  it('an empty plan reports no changes, records no apply and runs nothing', async () => {
    const events: ApplyEvent[] = [];
    const r = await run({ cluster: 'demo', operation: 'apply', phases: [] }, (e) => events.push(e));
    expect(r).toMatchObject({ status: 'succeeded', noChanges: true, ran: [] });
    expect(events).toEqual([{ type: 'no-changes', cluster: 'demo' }]);
    expect(store.listApplies()).toEqual([]);
  });

  it('resumes the journaled plan of the same request, not a plan made again from a cluster that moved', async () => {
    runner.failOnce.add('control-planes/cp-2');
    const plan = haPlan();
    const first = await run(plan);
    expect(first.status).toBe('failed');
    runner.runs = [];
    let planned = 0;
    const second = await orchestrator.apply({
      cluster: 'demo',
      intentHash: clusterPlanHash(plan),
      makePlan: () => {
        planned++;
        return Promise.resolve({ cluster: 'demo', operation: 'apply', phases: [] });
      },
    });
    expect(planned).toBe(0);
    expect(second).toMatchObject({ applyId: first.applyId, resumed: true, status: 'succeeded' });
    expect(runner.runs[0]).toBe('control-planes/cp-2');
  });

  it('gives a failed task a new attempt number on its next try', async () => {
    runner.failOnce.add('workers/w-1');
    const first = await run(haPlan());
    expect(first.status).toBe('failed');
    await run(haPlan());
    expect(store.steps(first.applyId).find((s) => s.taskId === 'workers/w-1')?.attempt).toBe(2);
  });
});
