import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { LocalHost } from '../../agent/host/local-host.js';
import { etcdMemberRemoveOp, etcdMemberStopOp } from '../../agent/ops/etcd-member-ops.js';
import { etcdStatusOp } from '../../agent/ops/etcd-status-ops.js';
import type { OpContext } from '../../agent/ops/registry.js';
import { ClusterSpec } from '../../proto/cluster-spec.js';
import { KctlError } from '../../proto/errors.js';
import type { EtcdStatus } from '../../proto/etcd-ops.js';
import { Ops, type OpArgs, type OpName, type OpResult } from '../../proto/ops.js';
import { memberConnection } from '../../controller/plan/etcd-observe.js';
import type { PlanningContext, TaskRun } from '../../controller/plan/phase.js';
import { etcdRemoveMemberPhase } from '../../controller/plan/phases/etcd-remove.js';
import type { ResolvedCluster } from '../../controller/plan/resolved-cluster.js';
import { tempHost, type TempHost } from '../fixtures/temp-host.js';
import { startEtcdWithHost, type EtcdWithHost, type RealEtcd } from './etcd-real.js';
import { Orchestrator, type ApplyEvent, type TaskRunner } from '../../controller/orchestrator/engine.js';
import type { ClusterPlan, Task } from '../../controller/orchestrator/plan.js';
import { SqliteStore } from '../../controller/store/sqlite-store.js';
import { sqliteAsAsyncStore } from '../../controller/store/sqlite-async-store.js';

/**
 * Removing a managed etcd member against a REAL three-member etcd (Debian's etcd 3.4) on loopback:
 * the etcd-remove-member phase plans from the member list a surviving member reports, its task
 * runs the agent's etcd.memberRemove (through m1's LocalHost) and etcd.memberStop (on the removed
 * member's host: recording systemctl, a data dir under a temp root); the status then shows two
 * members, a second plan is empty, and the same task run again (a resume) does nothing twice.
 * Then the quorum rule against the real cluster: with one of two members down, neither goes.
 */
describe('etcd member removal against a real etcd cluster', () => {
  let lab: EtcdWithHost | undefined;
  let etcd: RealEtcd;
  let host: LocalHost;
  let removed: TempHost;
  const ctx = (h: LocalHost): OpContext => ({
    host: h,
    hostId: 'h-etcd',
    log: pino({ level: 'silent' }),
    signal: new AbortController().signal,
    progress: () => undefined,
  });

  beforeAll(async () => {
    lab = await startEtcdWithHost('etcd-member-remove');
    ({ etcd, host } = lab);
    removed = await tempHost({
      files: {
        '/var/lib/etcd/kctl/member/snap/db': 'data of the cluster',
        '/var/lib/etcd/kctl/member/wal/0000000000000000-0000000000000000.wal': 'wal',
      },
      programs: { systemctl: { stdout: 'loaded\n' } },
    });
  }, 60_000);
  afterAll(async () => {
    await lab?.close();
    await removed.cleanup();
  });

  /** etcd.status as a plan reads it: m1's own client URL and its healthcheck client pair */
  const statusViaM1 = (): Promise<EtcdStatus> =>
    etcdStatusOp.run(memberConnection(etcd.endpoints[0] ?? ''), ctx(host));

  const cluster = {
    spec: ClusterSpec.parse({
      apiVersion: 'kctl.dev/v1alpha1',
      kind: 'Cluster',
      name: 'ext',
      kubernetesVersion: 'v1.31.2',
      controlPlaneEndpoint: { host: '198.18.0.11' },
      etcd: { mode: 'managed' },
      hosts: [{ name: 'cp-1', role: 'control-plane' }],
    }),
    // m3 is out of cluster.yaml already: the member is found by its name, as kctl names members
    etcdMembers: [],
  } as unknown as ResolvedCluster;

  const plan = async (node: string) => {
    const c: PlanningContext = {
      cluster,
      target: { node },
      observed: {
        hosts: new Map(),
        nodes: undefined,
        adminHost: undefined,
        etcdMembership: {
          status: await statusViaM1(),
          via: { host: 'm1', endpoint: etcd.endpoints[0] ?? '' },
        },
      },
    };
    return etcdRemoveMemberPhase.tasks(c);
  };

  /** a TaskRun whose calls reach the agent ops for real, args and results checked by proto's schemas */
  const calls: string[] = [];
  const taskRun = {
    cluster,
    attempt: 1,
    log: pino({ level: 'silent' }),
    progress: () => undefined,
    async call<N extends OpName>(target: string, op: N, args: OpArgs<N>): Promise<OpResult<N>> {
      calls.push(`${target} ${op}`);
      const checked = Ops[op].args.parse(args) as never;
      const r =
        op === 'etcd.memberRemove'
          ? await etcdMemberRemoveOp.run(checked, ctx(host))
          : op === 'etcd.memberStop'
            ? await etcdMemberStopOp.run(checked, ctx(removed.host))
            : undefined;
      return Ops[op].result.parse(r) as OpResult<N>;
    },
  } as unknown as TaskRun;

  it('plans the removal through m1, removes m3, stops and empties it; status shows two members; a second plan is empty', async () => {
    const tasks = await plan('m3');
    expect(tasks).toHaveLength(1);
    const task = tasks[0]!;
    expect(task.host).toBe('m3');
    expect(task.detail).toMatch(
      /^etcdctl member remove [0-9a-f]+ \(m3\) on m1, 2 member\(s\) left; then stop and disable etcd.service on m3 and empty \/var\/lib\/etcd\/kctl$/,
    );
    const result = await etcdRemoveMemberPhase.run(task.input, task.host, taskRun);
    expect(result).toMatchObject({ removed: true, members: 2, unitInstalled: true, cleared: 5 });
    expect(calls).toEqual(['m1 etcd.memberRemove', 'm3 etcd.memberStop']);
    expect((await removed.calls()).map((c) => c.args.join(' '))).toEqual([
      'show --property=LoadState --value -- etcd.service',
      'disable --now -- etcd.service',
    ]);
    expect(await removed.host.listDir('/var/lib/etcd/kctl')).toEqual([]);

    // status shows 2 members, both healthy
    const after = await statusViaM1();
    expect(after.members.map((m) => m.name).sort()).toEqual(['m1', 'm2']);
    expect(after.healthy).toBe(true);
    const list = await etcd.etcdctl(['member', 'list']);
    expect(list.stdout).not.toContain('m3');

    // the second plan for the same node is empty
    expect(await plan('m3')).toEqual([]);

    // the task again, as a resumed task sends it: nothing removed twice, the host cleaned again
    calls.length = 0;
    const again = await etcdRemoveMemberPhase.run(task.input, task.host, taskRun);
    expect(again).toMatchObject({ removed: false, members: 2, cleared: 0 });
    expect(calls).toEqual(['m1 etcd.memberRemove', 'm3 etcd.memberStop']);
  }, 60_000);

  it('refuses to remove either of two members while one is down, naming the quorum; etcd keeps both', async () => {
    await etcd.stop('m2');
    const args = (name: string) => ({
      ...memberConnection(etcd.endpoints[0] ?? ''),
      name,
    });
    // 0 of 2: etcd's endpoint health is a quorum read, so m1 alone answers unhealthy too
    for (const name of ['m2', 'm1']) {
      const err: unknown = await etcdMemberRemoveOp.run(args(name), ctx(host)).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(KctlError);
      expect((err as KctlError).code).toBe('check_failed');
      expect((err as KctlError).message).toBe(
        `etcd member "${name}" cannot be removed: the cluster has no quorum (0 of 2 member(s) healthy, 2 needed)`,
      );
    }
    // and the plan refuses the same way, before anything runs
    await expect(plan('m2')).rejects.toThrow(/"m2" cannot be removed: the cluster has no quorum/);
    const list = await etcd.etcdctl(['member', 'list']);
    expect(list.stdout).toContain('m1');
    expect(list.stdout).toContain('m2');
  }, 60_000);
});

/**
 * A controller killed in the middle of a removal: the first engine journals the task as running and
 * dies after `etcd.memberRemove` answered, before `etcd.memberStop`; a second engine over the same
 * journal resumes the journaled plan (no new plan), runs the task again, finds the member gone
 * (removed: false) and stops the host. The real etcd keeps its other two members.
 */
describe('etcd member removal resumed after a controller kill', () => {
  let lab: EtcdWithHost | undefined;
  let removedHost: TempHost;
  let sqlite: SqliteStore;
  const log = pino({ level: 'silent' });
  const ctx = (h: LocalHost): OpContext => ({
    host: h,
    hostId: 'h-etcd',
    log,
    signal: new AbortController().signal,
    progress: () => undefined,
  });

  beforeAll(async () => {
    lab = await startEtcdWithHost('etcd-member-remove-kill');
    removedHost = await tempHost({
      files: { '/var/lib/etcd/kctl/member/snap/db': 'data of the cluster' },
      programs: { systemctl: { stdout: 'loaded\n' } },
    });
    sqlite = new SqliteStore(':memory:');
  }, 60_000);
  afterAll(async () => {
    sqlite.close();
    await lab?.close();
    await removedHost.cleanup();
  });

  /** Runs the phase's task with calls to the real agent ops; `dieBefore` never answers, as a killed controller. */
  class Runner implements TaskRunner {
    calls: Array<{ op: string; result: unknown }> = [];
    constructor(private readonly dieBefore?: OpName) {}
    run(task: Task): Promise<unknown> {
      const { host } = lab as EtcdWithHost;
      const t = {
        attempt: 1,
        log,
        progress: () => undefined,
        call: async (_target: string, op: OpName, args: unknown): Promise<unknown> => {
          if (op === this.dieBefore) return new Promise(() => undefined);
          const checked = Ops[op].args.parse(args) as never;
          const result =
            op === 'etcd.memberRemove'
              ? await etcdMemberRemoveOp.run(checked, ctx(host))
              : await etcdMemberStopOp.run(checked, ctx(removedHost.host));
          this.calls.push({ op, result });
          return result;
        },
      } as unknown as TaskRun;
      return etcdRemoveMemberPhase.run(task.input as never, task.host, t);
    }
  }

  it('resumes the journaled removal: m3 removed once, stopped, m1 and m2 stay', async () => {
    const { etcd, host } = lab as EtcdWithHost;
    const status = await etcdStatusOp.run(memberConnection(etcd.endpoints[0] ?? ''), ctx(host));
    const via = { host: 'm1', endpoint: etcd.endpoints[0] ?? '' };
    const c: PlanningContext = {
      cluster: {
        spec: ClusterSpec.parse({
          apiVersion: 'kctl.dev/v1alpha1',
          kind: 'Cluster',
          name: 'ext',
          kubernetesVersion: 'v1.31.2',
          controlPlaneEndpoint: { host: '198.18.0.11' },
          etcd: { mode: 'managed' },
          hosts: [{ name: 'cp-1', role: 'control-plane' }],
        }),
        etcdMembers: [],
      } as unknown as ResolvedCluster,
      target: { node: 'm3' },
      observed: { hosts: new Map(), nodes: undefined, adminHost: undefined, etcdMembership: { status, via } },
    };
    const derived = etcdRemoveMemberPhase.tasks(c);
    const plan: ClusterPlan = {
      cluster: 'ext',
      operation: 'remove-node',
      phases: [
        {
          id: 'etcd-remove-member',
          title: etcdRemoveMemberPhase.title,
          mode: 'serial',
          concurrency: 1,
          tasks: derived.map((d) => ({
            id: `etcd-remove-member/${d.host}`,
            phase: 'etcd-remove-member',
            host: d.host,
            title: d.title,
            input: d.input,
          })),
        },
      ],
    };
    const planned = { n: 0 };
    const apply = (runner: Runner, events: ApplyEvent[]) =>
      new Orchestrator({ store: sqliteAsAsyncStore(sqlite).applies, runner, log, retryDelayMs: 1 }).apply(
        {
          cluster: 'ext',
          intentHash: 'remove-node m3',
          makePlan: () => {
            planned.n++;
            return Promise.resolve(plan);
          },
        },
        (e) => events.push(e),
      );

    // the first controller: killed once member remove answered, before the host was stopped
    const killed = new Runner('etcd.memberStop');
    const firstEvents: ApplyEvent[] = [];
    void apply(killed, firstEvents);
    const deadline = Date.now() + 45_000;
    while (killed.calls.length === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
    expect(killed.calls).toEqual([
      { op: 'etcd.memberRemove', result: expect.objectContaining({ removed: true }) },
    ]);
    const start = firstEvents.find((e) => e.type === 'apply-start');
    if (start?.type !== 'apply-start') throw new Error('the first apply did not start');
    expect(sqlite.applies.steps(start.applyId).map((s) => [s.taskId, s.status])).toEqual([
      ['etcd-remove-member/m3', 'running'],
    ]);

    // the restarted controller: resumes the same apply from the journal, no new plan
    const resumed = new Runner();
    const outcome = await apply(resumed, []);
    expect(outcome).toMatchObject({ applyId: start.applyId, resumed: true, status: 'succeeded' });
    expect(planned.n).toBe(1);
    expect(resumed.calls).toEqual([
      { op: 'etcd.memberRemove', result: { removed: false, members: 2 } },
      { op: 'etcd.memberStop', result: expect.objectContaining({ unitInstalled: true }) },
    ]);
    expect(await removedHost.host.listDir('/var/lib/etcd/kctl')).toEqual([]);
    const list = await etcd.etcdctl(['member', 'list']);
    expect(list.stdout).toMatch(/\bm1\b/);
    expect(list.stdout).toMatch(/\bm2\b/);
    expect(list.stdout).not.toMatch(/\bm3\b/);
  }, 90_000);
});
