import type { PreflightRequest, PreflightResponse, HostPreflight } from '../proto/admin-api.js';
import type { CheckResult, PreflightSpec } from '../proto/checks.js';
import type { OpResult } from '../proto/ops.js';
import { KctlError, toWireError } from '../proto/errors.js';
import type { AsyncStore, HostRecord } from './store/store.js';
import type { AgentRegistry } from './registry.js';
import { HostClient } from './host-client.js';
import { mapBounded } from './map-bounded.js';
import { runFleetChecks } from './fleet-checks.js';
import { ClusterSpec } from '../proto/cluster-spec.js';
import { resolveHostRoles } from './spec/resolve.js';
import { crossFieldRules } from './spec/parse.js';
import { preflightSpecFor } from './plan/resolved-cluster.js';
import { recordPreflight } from './web/preflight-results.js';

type KubeadmState = OpResult<'kubeadm.state'>;

/** The newest Kubernetes version kctl targets when no cluster.yaml says otherwise. */
export const DEFAULT_KUBERNETES_VERSION = 'v1.33.0';

/**
 * A spec for a host that no cluster.yaml describes: its role label (else the role kubeadm gave it,
 * else worker) and the Kubernetes version it already runs (kubeadm.state or its facts), else the default.
 */
export function defaultPreflightSpec(host: HostRecord, state?: KubeadmState): PreflightSpec {
  // without a label, a host kubeadm already set up is judged by the role it has
  const label = host.labels.role;
  const role =
    label === 'control-plane' || label === 'worker' ? label : state?.initialized ? 'control-plane' : 'worker';
  const installedVersion = state?.controlPlaneVersion ?? state?.kubeletVersion;
  const version = [installedVersion, host.facts?.kubeletVersion].find(
    (v): v is string => typeof v === 'string' && /^v\d+\.\d+\.\d+$/.test(v),
  );
  return {
    role,
    kubernetesVersion: version ?? DEFAULT_KUBERNETES_VERSION,
    isFirstControlPlane: false,
    kubeProxyMode: 'iptables',
  };
}

export const CLUSTER_MEMBER_CHECK = 'ClusterMember';

/**
 * Install preflight is for hosts that are not in a cluster yet: on a member, ports in use and kubeadm
 * files present are the signs of a healthy node. A member gets one skipped result saying so
 * (a warning when the role the spec gives differs from the one it has); `kctl health` judges it.
 */
export function clusterMemberResult(state: KubeadmState, spec: PreflightSpec): CheckResult | undefined {
  if (!state.initialized && !state.joined) return undefined;
  const has = state.initialized ? 'control-plane' : 'worker';
  const version = state.controlPlaneVersion ?? state.kubeletVersion;
  const running = version ? `, running ${version}` : '';
  const base = {
    id: CLUSTER_MEMBER_CHECK,
    title: 'host not yet part of a cluster',
    severity: 'error' as const,
    expected: 'a host that kubeadm has not set up yet',
  };
  if (has !== spec.role) {
    return {
      ...base,
      status: 'fail',
      observed: `already part of the cluster as a ${has}${running}, but judged as a ${spec.role}`,
      remedy: `kctl reset the host before it joins as a ${spec.role}, or give it the role it has`,
    };
  }
  const skew =
    version && version !== spec.kubernetesVersion
      ? ` (the spec asks ${spec.kubernetesVersion}: kctl apply upgrades it)`
      : '';
  return {
    ...base,
    status: 'skip',
    observed: `already part of the cluster as a ${has}${running}${skew}`,
    remedy: 'install checks do not apply to a running node: kctl health checks it',
  };
}
export async function selectHosts(
  store: AsyncStore,
  names: readonly string[] | undefined,
): Promise<HostRecord[]> {
  const active = (await store.listHosts()).filter((h) => h.state === 'active');
  if (!names) return active;
  return names.map((name) => {
    const host = active.find((h) => h.name === name);
    if (!host) throw new KctlError('unknown_host', `hosts: no enrolled, active host named "${name}"`);
    return host;
  });
}

/** Runs the checks on every selected host through its agent, then the fleet checks over all facts. */
export async function runFleetPreflight(
  deps: { store: AsyncStore; registry: AgentRegistry },
  request: PreflightRequest,
): Promise<PreflightResponse> {
  const hosts = await selectHosts(
    deps.store,
    request.hosts ?? (request.specs ? Object.keys(request.specs) : undefined),
  );
  const client = new HostClient(deps.registry);
  const perHost = await mapBounded(hosts, 64, async (host): Promise<HostPreflight> => {
    const ref = { hostId: host.id, name: host.name };
    // a host that cannot say is judged as one that is not a member: its install checks run
    const state = await client
      .call(ref, 'kubeadm.state', {}, { timeoutMs: Math.min(request.timeoutMs ?? 60_000, 60_000) })
      .catch(() => undefined);
    const spec = request.specs?.[host.name] ?? defaultPreflightSpec(host, state);
    const member = state ? clusterMemberResult(state, spec) : undefined;
    if (member) return { host: host.name, spec, results: [member], durationMs: 0 };
    try {
      const value = await client.call(
        ref,
        'preflight.run',
        { spec },
        request.timeoutMs !== undefined ? { timeoutMs: request.timeoutMs } : {},
      );
      return { host: host.name, spec, results: value.results, durationMs: value.durationMs };
    } catch (err) {
      return { host: host.name, spec, error: toWireError(err) };
    }
  });
  // the fleet page shows each host's latest result
  await deps.store.transaction(async (tx) => {
    for (const r of perHost) await recordPreflight(tx, r);
  });
  const version = Object.values(request.specs ?? {})[0]?.kubernetesVersion;
  const fleet = runFleetChecks(
    (await deps.store.listHosts())
      .filter((h) => h.state === 'active' && h.facts !== null)
      .map((h) => ({ name: h.name, facts: h.facts! })),
    version ? { kubernetesVersion: version } : {},
  );
  return { hosts: perHost, fleet };
}

/** Check specs from a cluster.yaml: each chosen host judged by its role, the version and the proxy mode. */
export async function preflightSpecsFromCluster(
  store: AsyncStore,
  raw: unknown,
): Promise<Record<string, PreflightSpec>> {
  const parsed = ClusterSpec.safeParse(raw);
  if (!parsed.success) {
    throw new KctlError(
      'invalid_spec',
      parsed.error.issues.map((i) => `${i.path.map(String).join('.')}: ${i.message}`).join('; '),
    );
  }
  const rules = crossFieldRules(parsed.data);
  if (rules.errors.length > 0)
    throw new KctlError('invalid_spec', rules.errors.map((e) => `${e.path}: ${e.message}`).join('; '));
  const enrolled = (await store.listHosts()).filter((h) => h.state === 'active');
  const resolved = resolveHostRoles(
    parsed.data,
    enrolled.map((h) => ({ name: h.name, labels: h.labels, ips: h.facts?.ips ?? [] })),
  );
  if (resolved.errors.length > 0)
    throw new KctlError('invalid_spec', resolved.errors.map((e) => `${e.path}: ${e.message}`).join('; '));
  // a standalone preflight reports everything, including what prepare would fix
  return Object.fromEntries(resolved.assignments.map((a) => [a.name, preflightSpecFor(parsed.data, a, [])]));
}
