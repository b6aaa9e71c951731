import type { Logger } from 'pino';
import { KctlError } from '../../proto/errors.js';
import { ClusterSpec, type SpecIssue } from '../../proto/cluster-spec.js';
import type { PlanView, PlannedTask } from '../../proto/plan-api.js';
import type { OpName, OpResult } from '../../proto/ops.js';
import { planHash as hashOf } from '../../proto/results.js';
import type { Store } from '../store/store.js';
import type { AgentRegistry } from '../registry.js';
import type { ControllerMetrics } from '../metrics.js';
import { crossFieldRules } from '../spec/parse.js';
import { resolveHostRoles } from '../spec/resolve.js';
import { ApplyStore } from '../orchestrator/apply-store.js';
import { Orchestrator, type ApplyEvent, type ApplyOutcome } from '../orchestrator/engine.js';
import type { ClusterPlan } from '../orchestrator/plan.js';
import { mapBounded } from '../preflight-service.js';
import { buildClusterPlan, type PlannedHost } from './cluster-plan.js';
import { prepareHostSpec } from './host-spec.js';
import { packageFormatFor } from '../render/packages.js';
import { ClusterTaskRunner, type ConfigRenderers } from './runner.js';

export interface ClusterDeps {
  store: Store;
  applyStore: ApplyStore;
  registry: AgentRegistry;
  log: Logger;
  /** the URL hosts reach the controller at (bundle package source) */
  controllerUrl?: string | undefined;
  metrics?: ControllerMetrics;
  renderers: (
    spec: ClusterSpec,
    controllerUrl: string | undefined,
  ) => ConfigRenderers & { prepareFiles(host: PlannedHost): PlannedHost['hostSpec']['files'] };
}

export interface ResolvedCluster {
  spec: ClusterSpec;
  hosts: Map<string, PlannedHost & { hostId: string }>;
  plan: ClusterPlan;
  warnings: SpecIssue[];
  renderers: ConfigRenderers;
}

function specError(issues: SpecIssue[]): KctlError {
  return new KctlError('invalid_spec', issues.map((i) => `${i.path}: ${i.message}`).join('; '), {
    details: { issues },
  });
}

/** cluster.yaml (already parsed) + enrolled hosts -> the plan; every problem named by its path. */
export function resolveCluster(
  deps: ClusterDeps,
  raw: unknown,
  cniManifest: string | undefined,
  onlyPhases?: readonly string[],
): ResolvedCluster {
  const parsed = ClusterSpec.safeParse(raw);
  if (!parsed.success)
    throw specError(
      parsed.error.issues.map((i) => ({ path: i.path.map(String).join('.'), message: i.message })),
    );
  const spec = parsed.data;
  const rules = crossFieldRules(spec);
  if (rules.errors.length > 0) throw specError(rules.errors);
  const enrolled = deps.store.listHosts().filter((h) => h.state === 'active');
  const resolved = resolveHostRoles(
    spec,
    enrolled.map((h) => ({ name: h.name, labels: h.labels, ips: h.facts?.ips ?? [] })),
  );
  if (resolved.errors.length > 0) throw specError(resolved.errors);
  const byName = new Map(enrolled.map((h) => [h.name, h]));
  const planned: Array<PlannedHost & { hostId: string }> = resolved.assignments.map((a) => {
    const record = byName.get(a.name);
    if (!record) throw new KctlError('unknown_host', `Host "${a.name}" is not enrolled`);
    const kernelRelease = record.facts?.kernel ?? '';
    const osId = record.facts?.os.id ?? '';
    const packageFormat = packageFormatFor(osId);
    return {
      ...a,
      hostId: record.id,
      kernelRelease,
      osId,
      hostSpec: prepareHostSpec(spec, a, { kernelRelease, packageFormat }),
    };
  });
  const renderers = deps.renderers(spec, deps.controllerUrl);
  for (const h of planned) h.hostSpec = { ...h.hostSpec, files: renderers.prepareFiles(h) };
  const full = buildClusterPlan(spec, planned, {
    concurrency: spec.rollout.concurrency,
    ...(cniManifest === undefined ? {} : { cniManifest }),
  });
  const plan = onlyPhases ? { ...full, phases: full.phases.filter((p) => onlyPhases.includes(p.id)) } : full;
  return {
    spec,
    hosts: new Map(planned.map((h) => [h.name, h])),
    plan,
    warnings: [...rules.warnings, ...resolved.warnings],
    renderers,
  };
}

async function ask<N extends OpName>(
  deps: ClusterDeps,
  hostId: string,
  op: N,
  args: Record<string, unknown>,
): Promise<OpResult<N>> {
  const r = await deps.registry.sendCommand(hostId, op, args, { timeoutMs: 120_000 });
  if (!r.outcome.ok) throw KctlError.fromWire(r.outcome.error);
  // the registry has already checked the value against Ops[op].result (validateOutcome)
  return r.outcome.value as OpResult<N>;
}

/**
 * Hosts asked at once by `kctl plan`. Planning is read-only and each host works on its own, so the
 * bound only caps the controller's commands in flight: with 32, 1,000 hosts taking 200 ms each
 * needed 6.6 s; with 256, about 1 s (bench/plan-1000.ts, docs/benchmarks.md).
 */
export const PLAN_FANOUT = 256;

/** `kctl plan`: what every phase would do on every host, read from the hosts; nothing is touched. */
export async function reviewCluster(deps: ClusterDeps, cluster: ResolvedCluster): Promise<PlanView> {
  const hosts = [...cluster.hosts.values()];
  const states = new Map(
    await mapBounded(
      hosts,
      PLAN_FANOUT,
      async (h) => [h.name, await ask(deps, h.hostId, 'kubeadm.state', {})] as const,
    ),
  );
  const prep = new Map(
    await mapBounded(
      hosts,
      PLAN_FANOUT,
      async (h) => [h.name, await ask(deps, h.hostId, 'host.plan', { spec: h.hostSpec })] as const,
    ),
  );
  const inCluster = (name: string): boolean =>
    (states.get(name)?.initialized ?? false) || (states.get(name)?.joined ?? false);
  const first = hosts.find((h) => h.first);
  let nodesReady = false;
  if (first && states.get(first.name)?.initialized) {
    try {
      const { nodes } = await ask(deps, first.hostId, 'kubectl.nodes', {});
      nodesReady = hosts.every((h) => nodes.some((n) => n.name === h.name && n.ready));
    } catch {
      nodesReady = false;
    }
  }
  const phases = cluster.plan.phases.map((phase) => ({
    id: phase.id,
    title: phase.title,
    tasks: phase.tasks.map((t): PlannedTask => {
      const base = { taskId: t.id, host: t.host, title: t.title };
      switch (t.kind) {
        case 'preflight':
          return {
            ...base,
            pending: !inCluster(t.host),
            detail: inCluster(t.host) ? 'already in the cluster' : 'checks will run',
            changes: [],
          };
        case 'prepare': {
          const changes = (prep.get(t.host)?.steps ?? []).flatMap((s) => s.changes);
          return { ...base, pending: changes.length > 0, detail: `${changes.length} change(s)`, changes };
        }
        case 'init':
          return {
            ...base,
            pending: !inCluster(t.host),
            detail: inCluster(t.host) ? 'initialised' : 'kubeadm init --upload-certs',
            changes: [],
          };
        case 'join-material': {
          const joiners = (t.input.joiners as string[] | undefined) ?? [];
          const needed = joiners.some((j) => !inCluster(j));
          return {
            ...base,
            pending: needed,
            detail: needed ? 'token (30m) and certificate upload' : 'no host left to join',
            changes: [],
          };
        }
        case 'join-control-plane':
        case 'join-worker':
          return {
            ...base,
            pending: !inCluster(t.host),
            detail: inCluster(t.host) ? 'joined' : t.title,
            changes: [],
          };
        case 'cni':
        case 'verify':
          return {
            ...base,
            pending: !nodesReady,
            detail: nodesReady ? 'all nodes Ready' : t.title,
            changes: [],
          };
      }
    }),
  }));
  const flat = phases.flatMap((p) =>
    p.tasks.map((t) => ({ stepId: t.taskId, title: String(t.pending), changes: t.changes })),
  );
  return {
    cluster: cluster.spec.name,
    planHash: hashOf(flat),
    warnings: cluster.warnings,
    phases,
    empty: phases.every((p) => p.tasks.every((t) => !t.pending)),
  };
}

/** `kctl apply`: runs (or resumes) the plan; events stream to the caller. */
export async function applyCluster(
  deps: ClusterDeps,
  cluster: ResolvedCluster,
  onEvent: (e: ApplyEvent) => void,
  options: { expectPlanHash?: string; maxAttempts?: number } = {},
): Promise<ApplyOutcome> {
  if (options.expectPlanHash !== undefined) {
    const review = await reviewCluster(deps, cluster);
    if (review.planHash !== options.expectPlanHash) {
      throw new KctlError('plan_stale', 'The saved plan no longer matches the hosts; run kctl plan again', {
        details: { saved: options.expectPlanHash, now: review.planHash },
      });
    }
  }
  const runner = new ClusterTaskRunner({
    registry: deps.registry,
    hosts: cluster.hosts,
    renderers: cluster.renderers,
    log: deps.log,
  });
  const orchestrator = new Orchestrator({
    store: deps.applyStore,
    runner,
    log: deps.log,
    ...(options.maxAttempts !== undefined ? { maxAttempts: options.maxAttempts } : {}),
  });
  try {
    return await orchestrator.apply(cluster.plan, onEvent);
  } finally {
    runner.forgetSecrets();
  }
}
