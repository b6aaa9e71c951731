import { readFileSync } from 'node:fs';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { pino } from 'pino';
import { SqliteStore } from '../store/sqlite-store.js';
import { sqliteAsAsyncStore } from '../store/sqlite-async-store.js';
import type { Store } from '../store/store.js';
import { parseClusterSpec } from '../spec/parse.js';
import { resolveCluster, type ResolvedCluster } from './resolved-cluster.js';
import { intentHash, intentInputs, type ClusterOperation } from './cluster-service.js';
import {
  compareIntent,
  describeIntentChange,
  Orchestrator,
  type ApplyEvent,
  type TaskRunner,
} from '../orchestrator/engine.js';
import type { ClusterPlan, Task } from '../orchestrator/plan.js';
import { ApplyEventLine } from '../../proto/plan-api.js';
import { renderEventLine } from '../cli/apply-cmd.js';

/**
 * Whether a rerun after a controller crash resumes the killed apply (controller-random-kill, trial 9
 * of seed 1374599439: `resumed: false` under load). The intent hashed each host's address, which
 * kctl picks from the IPs the agent reports when cluster.yaml names none. Those facts are written in
 * batches (a kill -9 loses the pending one) and read from the host's /proc: an agent whose facts
 * refresh ran while the fault test was replacing its host root reported no IPs, the killed apply
 * hashed "no address", the restarted controller got the full facts in the hello, and the rerun's
 * hash differed. These tests drive the engine with two controllers over one journal, as the kill does.
 */

const HOSTS = ['cp-1', 'cp-2', 'cp-3', 'w-1', 'w-2'];
const APPLY: ClusterOperation = { kind: 'apply' };

/** cluster.yaml fixture bound to enrolled hosts; `ips` overrides what a host's facts report. */
function resolve(
  over: { ips?: Record<string, string[]>; ids?: Record<string, string> } = {},
): ResolvedCluster {
  const parsed = parseClusterSpec(readFileSync('test/fixtures/cluster/full.yaml', 'utf8'));
  if (!parsed.ok) throw new Error(JSON.stringify(parsed.errors));
  const store = {
    listHosts: () =>
      HOSTS.map((name, i) => ({
        id: over.ids?.[name] ?? `id-${name}`,
        name,
        labels: name.startsWith('w-') ? { role: 'worker' } : {},
        state: 'active',
        facts: { ips: over.ips?.[name] ?? [`198.18.0.${11 + i}`], kernel: '6.1.0', os: { id: 'debian' } },
      })),
  } as unknown as Store;
  return resolveCluster({ store, controllerUrl: 'https://198.18.0.1:7443' }, parsed.spec, 'kind: List\n');
}

function plan(): ClusterPlan {
  const tasks = (phase: 'prepare' | 'workers', hosts: string[]): Task[] =>
    hosts.map((host) => ({
      id: `${phase}/${host}`,
      phase,
      host,
      title: `${phase} ${host}`,
      input: { host },
    }));
  return {
    cluster: 'demo',
    operation: 'apply',
    phases: [
      { id: 'prepare', title: 'prepare', mode: 'parallel', concurrency: 5, tasks: tasks('prepare', HOSTS) },
      {
        id: 'workers',
        title: 'workers',
        mode: 'serial',
        concurrency: 1,
        tasks: tasks('workers', ['w-1', 'w-2']),
      },
    ],
  };
}

/** Runs tasks; `hangAt` never finishes, standing for the controller killed while it ran. */
class Runner implements TaskRunner {
  runs: string[] = [];
  constructor(private readonly hangAt?: string) {}
  run(task: Task): Promise<unknown> {
    this.runs.push(task.id);
    if (task.id === this.hangAt) return new Promise(() => undefined);
    return Promise.resolve({ ok: true });
  }
}

describe('resume after a controller crash', () => {
  let sqlite: SqliteStore;
  const log = pino({ level: 'silent' });

  beforeEach(() => {
    sqlite = new SqliteStore(':memory:');
  });
  afterEach(() => sqlite.close());

  /** One controller's apply of `cluster`; `planned` counts plans made (a resume makes none). */
  const applyOn = (runner: Runner, cluster: ResolvedCluster, events: ApplyEvent[], planned = { n: 0 }) =>
    new Orchestrator({ store: sqliteAsAsyncStore(sqlite).applies, runner, log, retryDelayMs: 1 }).apply(
      {
        cluster: 'demo',
        intentHash: intentHash(cluster, APPLY),
        intentInputs: intentInputs(cluster, APPLY),
        makePlan: () => {
          planned.n++;
          return Promise.resolve(plan());
        },
      },
      (e) => events.push(e),
    );

  /** The first controller's apply, killed while `workers/w-1` runs: what is journaled stays. */
  const killedApply = async (cluster: ResolvedCluster): Promise<string> => {
    const events: ApplyEvent[] = [];
    void applyOn(new Runner('workers/w-1'), cluster, events);
    await new Promise((r) => setTimeout(r, 20));
    const start = events.find((e) => e.type === 'apply-start');
    if (start?.type !== 'apply-start') throw new Error('the first apply did not start');
    expect(sqlite.applies.steps(start.applyId).find((s) => s.taskId === 'workers/w-1')?.status).toBe(
      'running',
    );
    return start.applyId;
  };

  it('resumes the killed apply when a host reported no IPs to it and its address is known again after the restart', async () => {
    // the killed apply saw w-2 with no IPs (facts read while its root was replaced, or not yet written)
    const before = resolve({ ips: { 'w-2': [] } });
    expect(before.host('w-2').address).toBeUndefined();
    const killed = await killedApply(before);

    // restarted controller: the hello carried w-2's facts again
    const after = resolve();
    expect(after.host('w-2').address).toBe('198.18.0.15');
    expect(intentHash(after, APPLY)).not.toBe(intentHash(before, APPLY)); // what made trial 9 start anew
    const events: ApplyEvent[] = [];
    const planned = { n: 0 };
    const runner = new Runner();
    const outcome = await applyOn(runner, after, events, planned);

    expect(outcome).toMatchObject({ applyId: killed, resumed: true, status: 'succeeded' });
    expect(planned.n).toBe(0);
    expect(events.some((e) => e.type === 'apply-superseded')).toBe(false);
    expect(runner.runs).toEqual(['workers/w-1', 'workers/w-2']);
  });

  it('resumes as well when the address was known to the killed apply and is unknown now', async () => {
    const killed = await killedApply(resolve());
    const outcome = await applyOn(new Runner(), resolve({ ips: { 'cp-2': [] } }), []);
    expect(outcome).toMatchObject({ applyId: killed, resumed: true, status: 'succeeded' });
  });

  it.each([
    [
      'a host address changed',
      resolve({ ips: { 'w-2': ['198.18.0.99'] } }),
      ['host w-2 address: 198.18.0.15 -> 198.18.0.99'],
    ],
    [
      'a host was enrolled again',
      resolve({ ids: { 'w-1': 'id-w-1-again' } }),
      ['host w-1: hostId id-w-1, worker -> hostId id-w-1-again, worker'],
    ],
  ])('supersedes the killed apply, naming the input, when %s', async (_what, changedCluster, changed) => {
    const killed = await killedApply(resolve());
    const events: ApplyEvent[] = [];
    const outcome = await applyOn(new Runner(), changedCluster, events);

    expect(outcome).toMatchObject({ resumed: false, status: 'succeeded' });
    expect(outcome.applyId).not.toBe(killed);
    const superseded = events[0];
    expect(superseded).toMatchObject({ type: 'apply-superseded', applyId: killed, cluster: 'demo', changed });
    if (superseded?.type !== 'apply-superseded') return;
    expect(superseded.message).toContain(`apply ${killed} was superseded, not resumed: ${changed[0]}`);
    // what kctl shows: the wire schema takes the event, the plain output prints its message
    const line = ApplyEventLine.parse(JSON.parse(JSON.stringify(superseded)));
    expect(renderEventLine(line)).toBe(superseded.message);
    expect(events[1]).toMatchObject({ type: 'apply-start', resumed: false });
    const record = sqlite.applies.getApply(killed);
    expect(record).toMatchObject({
      status: 'failed',
      error: { code: 'plan_stale', message: superseded.message },
    });
    expect(record?.error?.details).toMatchObject({
      superseded: true,
      supersededBy: outcome.applyId,
      changed,
    });
  });

  it('never resumes an apply it closed as superseded, even when the old intent is asked for again', async () => {
    const original = resolve();
    const killed = await killedApply(original);
    // another intent supersedes it and finds nothing to do: the killed apply stays the newest row
    const events: ApplyEvent[] = [];
    const other = resolve({ ips: { 'w-2': ['198.18.0.99'] } });
    await new Orchestrator({ store: sqliteAsAsyncStore(sqlite).applies, runner: new Runner(), log }).apply(
      {
        cluster: 'demo',
        intentHash: intentHash(other, APPLY),
        intentInputs: intentInputs(other, APPLY),
        makePlan: () => Promise.resolve({ cluster: 'demo', operation: 'apply', phases: [] }),
      },
      (e) => events.push(e),
    );
    expect(events.map((e) => e.type)).toEqual(['apply-superseded', 'no-changes']);
    expect(sqlite.applies.getApply(killed)?.error?.details).not.toHaveProperty('supersededBy');

    const again = await applyOn(new Runner(), original, []);
    expect(again.resumed).toBe(false);
    expect(again.applyId).not.toBe(killed);
  });

  it('resumes an apply journaled without inputs (an older controller) when the hash is the same', async () => {
    const cluster = resolve();
    const p = plan();
    sqlite.applies.createApply({
      id: 'old',
      cluster: 'demo',
      planHash: intentHash(cluster, APPLY),
      plan: p,
      now: 1,
    });
    const outcome = await applyOn(new Runner(), cluster, []);
    expect(outcome).toMatchObject({ applyId: 'old', resumed: true, status: 'succeeded' });
  });
});

describe('compareIntent', () => {
  const inputs = (o: Record<string, string | null>) => o;
  it.each([
    [
      'equal hashes are the same intent',
      { hash: 'a', inputs: undefined },
      { hash: 'a', inputs: undefined },
      { same: true, unknown: [] },
    ],
    [
      'other hashes without inputs to compare are another intent',
      { hash: 'a', inputs: undefined },
      { hash: 'b', inputs: inputs({ x: '1' }) },
      { same: false, changed: [] },
    ],
    [
      'an input unknown on one side is not a change',
      { hash: 'a', inputs: inputs({ x: '1', y: null }) },
      { hash: 'b', inputs: inputs({ x: '1', y: '2' }) },
      { same: true, unknown: ['y'] },
    ],
    [
      'a differing input is a change',
      { hash: 'a', inputs: inputs({ x: '1' }) },
      { hash: 'b', inputs: inputs({ x: '2' }) },
      { same: false, changed: [{ input: 'x', was: '1', now: '2' }] },
    ],
    [
      'an added input is a change',
      { hash: 'a', inputs: inputs({}) },
      { hash: 'b', inputs: inputs({ x: '2' }) },
      { same: false, changed: [{ input: 'x', was: undefined, now: '2' }] },
    ],
  ])('%s', (_name, journaled, now, want) => {
    expect(compareIntent(journaled, now)).toEqual(want);
  });

  it.each([
    [{ input: 'spec', was: 'sha256:aa', now: 'sha256:bb' }, 'spec: changed'],
    [{ input: 'host w-9', was: undefined, now: 'hostId x worker' }, 'host w-9: added (hostId x worker)'],
    [
      { input: 'host w-9', was: 'hostId x worker', now: undefined },
      'host w-9: removed (was hostId x worker)',
    ],
    [
      { input: 'operation', was: '{"kind":"apply"}', now: '{"kind":"reset"}' },
      'operation: {"kind":"apply"} -> {"kind":"reset"}',
    ],
  ])('describes %j as %s', (change, text) => {
    expect(describeIntentChange(change)).toBe(text);
  });
});
