import type { Logger } from 'pino';
import { KctlError } from '../../proto/errors.js';
import type { OpArgs, OpName, OpResult } from '../../proto/ops.js';
import type { PhaseId } from '../../proto/phases.js';
import type { PlanView, PlannedTask } from '../../proto/plan-api.js';
import { planHash as hashOf } from '../../proto/results.js';
import type { AsyncStore } from '../store/store.js';
import type { ClusterLockService } from '../store/cluster-locks.js';
import type { AgentRegistry } from '../registry.js';
import type { ControllerMetrics } from '../metrics.js';
import { HostClient, stableCommandId, type HostRef } from '../host-client.js';
import type { ApplyStore } from '../orchestrator/apply-store.js';
import { Orchestrator, type ApplyEvent, type ApplyOutcome, type TaskRunner } from '../orchestrator/engine.js';
import { canonicalJson, sha256Of, type ClusterPlan, type Phase, type Task } from '../orchestrator/plan.js';
import { observeCluster, type Observation } from './observe.js';
import { phaseRecord, phasesOf } from './phases/index.js';
import type { PlanningContext, TaskRun } from './phase.js';
import { JoinMaterialCache } from './join-material.js';
import type { PlannedHost, ResolvedCluster } from './resolved-cluster.js';
import type { HostSpec } from '../../proto/host-spec.js';
import { checkBundleCarries, packagesToInstall } from './bundle-packages.js';
import { checkBundleCarriesImages } from '../bundle/images.js';
import { checkRepoCarries, repoNeeds, type ReadIndex } from './repo-versions.js';
import { STATIC_POD_RESTART_WAIT_MS } from './phases/certs.js';

export interface ClusterDeps {
  store: AsyncStore;
  applyStore: ApplyStore;
  registry: AgentRegistry;
  log: Logger;
  /** the URL hosts reach the controller at (bundle package source) */
  controllerUrl?: string | undefined;
  metrics?: ControllerMetrics;
  /** the file paths of the offline bundle this controller serves (its manifest), when it serves one */
  bundlePaths?: () => Promise<readonly string[] | undefined>;
  /** the controller's data dir: the etcd PKI of etcd.mode managed lives there */
  dataDir?: string | undefined;
  /** one operation per cluster: in this process (SQLite), or across replicas (PostgreSQL); default in-process */
  clusterLocks?: ClusterLockService;
}

/** What a plan is for: converge to cluster.yaml (optionally only some phases), or a lifecycle operation. */
export type ClusterOperation =
  | { kind: 'apply'; phases?: readonly PhaseId[] }
  | { kind: 'remove-node'; node: string }
  | { kind: 'reset' }
  | { kind: 'renew-certs'; restartWaitMs?: number };

/** The node `kctl node remove` names, addressed even when cluster.yaml no longer selects it. */
async function targetHost(deps: ClusterDeps, cluster: ResolvedCluster, node: string): Promise<PlannedHost> {
  const inSpec = cluster.hosts.get(node);
  if (inSpec) return inSpec;
  const record = await deps.store.getHostByName(node);
  if (!record || record.state !== 'active')
    throw new KctlError('unknown_host', `No enrolled, active host named "${node}"`);
  const osId = record.facts?.os.id ?? '';
  return {
    name: node,
    role: 'worker',
    first: false,
    address: undefined,
    hostId: record.id,
    kernelRelease: record.facts?.kernel ?? '',
    osId,
    packageFormat: undefined,
    containerdVersion: undefined,
  };
}

/** Every host a plan of this operation may address, by name. */
async function hostRefs(
  deps: ClusterDeps,
  cluster: ResolvedCluster,
  op: ClusterOperation,
): Promise<Map<string, HostRef>> {
  const refs = new Map<string, HostRef>(
    [...cluster.hosts.values(), ...cluster.etcdMembers, ...cluster.loadBalancers].map((h) => [h.name, h]),
  );
  if (op.kind === 'remove-node') refs.set(op.node, await targetHost(deps, cluster, op.node));
  return refs;
}

export interface ClusterPlanResult {
  plan: ClusterPlan;
  view: PlanView;
}

/** The plan: each phase's tasks, derived from the spec and what the hosts report now. Touches nothing. */
export async function planCluster(
  deps: ClusterDeps,
  cluster: ResolvedCluster,
  op: ClusterOperation,
): Promise<ClusterPlanResult> {
  const client = new HostClient(deps.registry);
  const extra =
    op.kind === 'remove-node' && !cluster.hosts.has(op.node)
      ? [await targetHost(deps, cluster, op.node)]
      : [];
  const observed: Observation = await observeCluster(client, cluster, {
    prepare: op.kind === 'apply',
    extraHosts: extra,
    ...(op.kind === 'remove-node' ? { adminExcept: op.node, etcdMembershipExcept: op.node } : {}),
    certificates: op.kind === 'renew-certs',
  });
  const ctx: PlanningContext = {
    cluster,
    observed,
    ...(op.kind === 'remove-node' ? { target: { node: op.node } } : {}),
    ...(op.kind === 'renew-certs'
      ? { renew: { restartWaitMs: op.restartWaitMs ?? STATIC_POD_RESTART_WAIT_MS } }
      : {}),
  };
  const only = op.kind === 'apply' ? op.phases : undefined;
  const phases: Phase[] = [];
  const shown: PlanView['phases'] = [];
  for (const record of phasesOf(op.kind)) {
    if (only && !only.includes(record.id)) continue;
    const derived = record.tasks(ctx);
    if (derived.length === 0) continue;
    phases.push({
      id: record.id,
      title: record.title,
      mode: record.mode,
      concurrency: Math.max(1, record.concurrency(cluster.spec)),
      tasks: derived.map((d): Task => ({
        id: `${record.id}/${d.host}`,
        phase: record.id,
        host: d.host,
        title: d.title,
        input: d.input,
      })),
    });
    shown.push({
      id: record.id,
      title: record.title,
      tasks: derived.map((d): PlannedTask => ({
        taskId: `${record.id}/${d.host}`,
        host: d.host,
        title: d.title,
        pending: true,
        detail: d.detail,
        changes: d.changes ?? [],
      })),
    });
  }
  const warnings = [...cluster.warnings];
  if (observed.nodesError !== undefined) {
    warnings.push({
      path: 'hosts',
      message: `the node list could not be read (${observed.nodesError}): nodes whose packages already match kubernetesVersion but whose kubelet still runs an older version are not in this plan`,
    });
  }
  if (cluster.spec.packages.source === 'bundle') {
    const paths = await deps.bundlePaths?.();
    if (paths) {
      checkBundleCarries(
        hostSpecsOf(phases).map((s) => s.spec),
        paths,
        packagesToInstall(shown),
      );
      if (op.kind === 'apply') checkBundleCarriesImages(cluster.spec, paths);
    }
  } else {
    const refs = await hostRefs(deps, cluster, op);
    const read: ReadIndex = async (host, args) => {
      const ref = refs.get(host);
      if (!ref)
        throw new KctlError('unknown_host', `Host "${host}" is not part of cluster "${cluster.spec.name}"`);
      return client.call(ref, 'packages.available', args);
    };
    warnings.push(
      ...(await checkRepoCarries(repoNeeds(hostSpecsOf(phases), cluster.spec.kubernetesVersion), read)),
    );
  }
  const selected = (node: string): boolean =>
    cluster.hosts.has(node) || cluster.etcdMembers.some((m) => m.name === node);
  if (op.kind === 'remove-node' && selected(op.node)) {
    warnings.push({
      path: 'hosts',
      message: `${op.node} is still selected by cluster.yaml: the next kctl apply joins it again unless you take it out`,
    });
  }
  const flat = shown.flatMap((p) =>
    p.tasks.map((t) => ({ stepId: t.taskId, title: t.detail, changes: t.changes })),
  );
  return {
    plan: { cluster: cluster.spec.name, operation: op.kind, phases },
    view: {
      cluster: cluster.spec.name,
      planHash: hashOf(flat),
      warnings,
      phases: shown,
      empty: phases.length === 0,
    },
  };
}

/** Every host spec a plan's tasks converge hosts to (prepare, and both stages of an upgrade). */
function hostSpecsOf(phases: readonly Phase[]): Array<{ host: string; spec: HostSpec }> {
  const specs: Array<{ host: string; spec: HostSpec }> = [];
  for (const t of phases.flatMap((p) => p.tasks)) {
    const input = t.input as { hostSpec?: HostSpec; kubeadmStage?: HostSpec; finalStage?: HostSpec };
    for (const spec of [input.hostSpec, input.kubeadmStage, input.finalStage])
      if (spec) specs.push({ host: t.host, spec });
  }
  return specs;
}

/**
 * What an apply is asked to do: a later request for the same thing resumes an unfinished apply of it.
 * The engine compares `intentInputs` when this hash differs, to say which input changed.
 */
export function intentHash(cluster: ResolvedCluster, op: ClusterOperation): string {
  return sha256Of({
    op,
    spec: cluster.spec,
    hosts: [...cluster.hosts.values()].map((h) => [h.name, h.hostId, h.role, h.first, h.address ?? null]),
    cni: cluster.cniManifest === undefined ? null : sha256Of(cluster.cniManifest),
    ...(cluster.etcdMembers.length > 0
      ? { etcd: cluster.etcdMembers.map((m) => [m.name, m.hostId, m.address]) }
      : {}),
    ...(cluster.loadBalancers.length > 0
      ? { lb: cluster.loadBalancers.map((m) => [m.name, m.hostId, m.address]) }
      : {}),
  });
}

/**
 * The intent's inputs by name, journaled with an apply so that a later request can name what differs.
 * A host's address that cluster.yaml does not give is picked from the IPs its agent reports (facts,
 * written in batches a kill -9 can lose, and empty while a host's /proc is unreadable): null when
 * there was none to pick, which the engine treats as unknown, not as a change.
 */
export function intentInputs(cluster: ResolvedCluster, op: ClusterOperation): Record<string, string | null> {
  const inputs: Record<string, string | null> = {
    operation: canonicalJson(op),
    spec: sha256Of(cluster.spec),
    'cni manifest': cluster.cniManifest === undefined ? 'none' : sha256Of(cluster.cniManifest),
  };
  for (const h of cluster.hosts.values()) {
    inputs[`host ${h.name}`] = `hostId ${h.hostId}, ${h.first ? 'first ' : ''}${h.role}`;
    inputs[`host ${h.name} address`] = h.address ?? null;
  }
  for (const m of cluster.etcdMembers) {
    inputs[`etcd member ${m.name}`] = `hostId ${m.hostId}`;
    inputs[`etcd member ${m.name} address`] = m.address;
  }
  for (const m of cluster.loadBalancers) {
    inputs[`lb host ${m.name}`] = `hostId ${m.hostId}`;
    inputs[`lb host ${m.name} address`] = m.address;
  }
  return inputs;
}

/**
 * The spec a cluster converged to is what scheduled health judges drift against: kept after an
 * apply that succeeded (or had nothing to do), forgotten after a reset.
 */
async function rememberSpec(
  store: AsyncStore,
  cluster: ResolvedCluster,
  op: ClusterOperation,
  outcome: ApplyOutcome,
): Promise<void> {
  if (outcome.status !== 'succeeded') return;
  if (op.kind === 'reset') await store.deleteClusterSpec(cluster.spec.name);
  else if (op.kind === 'apply' && op.phases === undefined)
    await store.saveClusterSpec({
      name: cluster.spec.name,
      spec: cluster.spec,
      // the operator's own manifest; kctl's template is rendered from the spec again
      cniManifest: cluster.cni?.source === 'file' ? cluster.cni.content : undefined,
      appliedAt: Date.now(),
    });
}

/** Runs each journaled task through its phase record, with typed calls whose command ids survive a crash. */
class PhaseTaskRunner implements TaskRunner {
  constructor(
    private readonly deps: {
      client: HostClient;
      cluster: ResolvedCluster;
      refs: ReadonlyMap<string, HostRef>;
      material: JoinMaterialCache;
      log: Logger;
    },
  ) {}

  run(
    task: Task,
    ctx: { applyId: string; attempt: number; progress(message: string): void },
  ): Promise<unknown> {
    const { client, cluster, refs, material, log } = this.deps;
    let seq = 0;
    const ref = (name: string): HostRef => {
      const r = refs.get(name);
      if (!r)
        throw new KctlError('unknown_host', `Host "${name}" is not part of cluster "${cluster.spec.name}"`);
      return r;
    };
    const run: TaskRun = {
      cluster,
      material,
      log: log.child({ taskId: task.id }),
      attempt: ctx.attempt,
      progress: (m) => ctx.progress(m),
      call: <N extends OpName>(host: string, op: N, args: OpArgs<N>): Promise<OpResult<N>> =>
        client.call(ref(host), op, args, {
          commandId: stableCommandId([ctx.applyId, task.id, ctx.attempt, seq++, host, op], args),
          onProgress: (m) => ctx.progress(m),
        }),
    };
    return phaseRecord(task.phase).run(task.input, task.host, run);
  }
}

/** `kctl apply`, `kctl node remove`, `kctl reset`: resume the unfinished plan of the same request, or plan and run. */
export async function runClusterOperation(
  deps: ClusterDeps,
  cluster: ResolvedCluster,
  op: ClusterOperation,
  onEvent: (e: ApplyEvent) => void,
  options: { expectPlanHash?: string; maxAttempts?: number } = {},
): Promise<ApplyOutcome> {
  const client = new HostClient(deps.registry);
  const refs = await hostRefs(deps, cluster, op);
  const first = cluster.first;
  const material = new JoinMaterialCache(async (secrets) => {
    if (!first) throw new KctlError('invalid_spec', 'The cluster has no first control plane');
    return client.call(first, 'kubeadm.joinMaterial', secrets);
  }, deps.log);
  const orchestrator = new Orchestrator({
    store: deps.applyStore,
    runner: new PhaseTaskRunner({ client, cluster, refs, material, log: deps.log }),
    log: deps.log,
    ...(options.maxAttempts !== undefined ? { maxAttempts: options.maxAttempts } : {}),
  });
  try {
    // a saved plan is what the operator reviewed: refuse it, before anything runs or resumes, once the hosts moved
    let planned: ClusterPlanResult | undefined;
    if (options.expectPlanHash !== undefined) {
      planned = await planCluster(deps, cluster, op);
      if (planned.view.planHash !== options.expectPlanHash) {
        throw new KctlError('plan_stale', 'The saved plan no longer matches the hosts; run kctl plan again', {
          details: { saved: options.expectPlanHash, now: planned.view.planHash },
        });
      }
    }
    const outcome = await orchestrator.apply(
      {
        cluster: cluster.spec.name,
        intentHash: intentHash(cluster, op),
        intentInputs: intentInputs(cluster, op),
        makePlan: async () => (planned ?? (await planCluster(deps, cluster, op))).plan,
      },
      onEvent,
    );
    await rememberSpec(deps.store, cluster, op, outcome);
    return outcome;
  } finally {
    material.forget();
  }
}
