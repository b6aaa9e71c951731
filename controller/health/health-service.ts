import type { HealthRequest, HealthResponse, HostHealth, HealthResult } from '../../proto/health.js';
import { severityRank, worstSeverity } from '../../proto/health.js';
import type { HostSpec } from '../../proto/host-spec.js';
import type { NodeStatus } from '../../proto/kubeadm-ops.js';
import { toWireError } from '../../proto/errors.js';
import type { AsyncStore, HostRecord } from '../store/store.js';
import type { AgentRegistry } from '../registry.js';
import { HostClient, type HostRef } from '../host-client.js';
import { resolveClusterFromStore } from '../plan/resolved-cluster.js';
import { selectHosts } from '../preflight-service.js';
import { mapBounded } from '../map-bounded.js';
import { judgeNodeReady } from './node-ready.js';

export interface HealthDeps {
  store: AsyncStore;
  registry: AgentRegistry;
  controllerUrl?: string | undefined;
  now?: () => Date;
}

const ref = (h: HostRecord): HostRef => ({ hostId: h.id, name: h.name });

/** The nodes as the first control plane that answers sees them; its error when none does. */
async function listNodes(
  client: HostClient,
  candidates: readonly HostRecord[],
): Promise<NodeStatus[] | { error: string }> {
  let last = 'no control plane among the hosts';
  for (const cp of candidates) {
    if (!client.isOnline(ref(cp))) {
      last = `control plane "${cp.name}" is offline`;
      continue;
    }
    try {
      return (await client.call(ref(cp), 'kubectl.nodes', {})).nodes;
    } catch (err) {
      last = `${cp.name}: ${toWireError(err).message}`;
    }
  }
  return { error: last };
}

/**
 * Runs health.run on every selected host (with the spec kctl converged it to, when a cluster.yaml
 * is given) and adds each host's node Ready as one control plane sees it. Hosts worst first.
 */
export async function runFleetHealth(deps: HealthDeps, request: HealthRequest): Promise<HealthResponse> {
  const client = new HostClient(deps.registry);
  const cluster =
    request.cluster === undefined
      ? undefined
      : await resolveClusterFromStore(
          { store: deps.store, controllerUrl: deps.controllerUrl },
          request.cluster,
          undefined,
        );
  const names = request.hosts ?? (cluster ? [...cluster.hosts.keys()] : undefined);
  const hosts = await selectHosts(deps.store, names);
  const specs = new Map<string, HostSpec>();
  if (cluster) {
    for (const h of hosts) {
      const planned = cluster.hosts.get(h.name);
      if (planned) specs.set(h.name, cluster.hostSpecFor(planned));
    }
  }
  const active = (await deps.store.listHosts()).filter((h) => h.state === 'active');
  const labelled = active.filter((h) => h.labels.role === 'control-plane');
  // without a spec or role labels, any host with an admin kubeconfig can answer; none is no finding
  const knownControlPlanes = cluster !== undefined || labelled.length > 0;
  const controlPlanes = cluster
    ? active.filter((h) => cluster.hosts.get(h.name)?.role === 'control-plane')
    : knownControlPlanes
      ? labelled
      : active;
  const listed = await listNodes(client, controlPlanes);
  const nodes = 'error' in listed && !knownControlPlanes ? [] : listed;

  const perHost = await mapBounded(hosts, 64, async (host): Promise<HostHealth> => {
    const spec = specs.get(host.name);
    const nodeReady = judgeNodeReady(host.name, nodes, cluster?.hosts.has(host.name) ?? false);
    const extra: HealthResult[] = nodeReady ? [nodeReady] : [];
    try {
      const r = await client.call(ref(host), 'health.run', spec ? { spec } : {});
      const results = [...extra, ...r.results];
      return { host: host.name, worst: worstSeverity(results), results };
    } catch (err) {
      return { host: host.name, worst: 'critical', results: extra, error: toWireError(err) };
    }
  });
  perHost.sort((a, b) => severityRank(b.worst) - severityRank(a.worst) || a.host.localeCompare(b.host));
  for (const h of perHost) h.results.sort((a, b) => severityRank(b.severity) - severityRank(a.severity));
  return {
    worst: worstSeverity(perHost.map((h) => ({ severity: h.worst }))),
    hosts: perHost,
    checkedAt: (deps.now?.() ?? new Date()).toISOString(),
  };
}
