import type { Logger } from 'pino';
import { KctlError } from '../../proto/errors.js';
import { Ops, type OpName, type OpResult } from '../../proto/ops.js';
import type { Store, HostRecord } from '../store/store.js';
import type { AgentRegistry } from '../registry.js';
import type { ClusterSpec } from '../../proto/cluster-spec.js';
import type { HostSpec } from '../../proto/host-spec.js';
import { parseKubeVersion } from '../../proto/checks.js';
import type { PlannedHost } from './cluster-plan.js';

export interface LifecycleDeps {
  store: Store;
  registry: AgentRegistry;
  log: Logger;
}

async function ask<N extends OpName>(
  deps: LifecycleDeps,
  host: HostRecord,
  op: N,
  args: Record<string, unknown> = {},
): Promise<OpResult<N>> {
  const r = await deps.registry.sendCommand(host.id, op, args, { timeoutMs: 15 * 60_000 });
  if (!r.outcome.ok) throw KctlError.fromWire(r.outcome.error);
  return Ops[op].result.parse(r.outcome.value) as OpResult<N>;
}

/** Another host of the cluster that holds admin.conf: where kubectl runs. */
async function adminHost(deps: LifecycleDeps, except: string | undefined): Promise<HostRecord | undefined> {
  for (const h of deps.store.listHosts()) {
    if (h.state !== 'active' || h.name === except || !deps.registry.isOnline(h.id)) continue;
    const s = await ask(deps, h, 'kubeadm.state').catch(() => undefined);
    if (s?.initialized) return h;
  }
  return undefined;
}

export interface RemoveReport {
  node: string;
  drained: boolean;
  reset: boolean;
  deleted: boolean;
  cleaned: string[];
}

/**
 * `kctl node remove NAME`: drain (from another control plane), kubeadm reset on the node (which
 * also removes its etcd member), clean CNI and packet-filter state, then delete the Node object.
 */
export async function removeNode(deps: LifecycleDeps, name: string): Promise<RemoveReport> {
  const node = deps.store.getHostByName(name);
  if (!node) throw new KctlError('unknown_host', `No enrolled host named "${name}"`);
  const admin = await adminHost(deps, name);
  if (!admin) {
    throw new KctlError('not_found', `No other control plane with admin.conf is online to drain "${name}"`, {
      details: { remedy: 'to take down the last control plane use kctl reset' },
    });
  }
  let drained = false;
  try {
    await ask(deps, admin, 'kubectl.drain', { node: name });
    drained = true;
  } catch (err) {
    // a node that never joined (or is already gone) has nothing to drain
    if (!/not found/i.test((err as Error).message)) throw err;
  }
  const reset = await ask(deps, node, 'kubeadm.reset');
  const deleted = await ask(deps, admin, 'kubectl.deleteNode', { node: name });
  deps.log.info({ node: name, drained, deleted: deleted.deleted }, 'node removed');
  return { node: name, drained, reset: reset.wasMember, deleted: deleted.deleted, cleaned: reset.cleaned };
}

/** `kctl reset`: every member host reset, workers first, control planes last (the first one last of all). */
export async function resetCluster(
  deps: LifecycleDeps,
  hostNames: readonly string[],
): Promise<Array<{ host: string; wasMember: boolean }>> {
  const hosts = hostNames.map((n) => {
    const h = deps.store.getHostByName(n);
    if (!h) throw new KctlError('unknown_host', `No enrolled host named "${n}"`);
    return h;
  });
  const states = await Promise.all(hosts.map(async (h) => ({ h, s: await ask(deps, h, 'kubeadm.state') })));
  const order = [
    ...states.filter((x) => x.s.joined && !x.s.initialized),
    ...states.filter((x) => x.s.initialized),
    ...states.filter((x) => !x.s.joined && !x.s.initialized),
  ];
  const out: Array<{ host: string; wasMember: boolean }> = [];
  for (const { h } of order)
    out.push({ host: h.name, wasMember: (await ask(deps, h, 'kubeadm.reset')).wasMember });
  return out;
}

export interface UpgradeStepReport {
  host: string;
  steps: string[];
}

/**
 * `kctl upgrade --to vX.Y.Z`: the kubeadm way. The first control plane runs `kubeadm upgrade apply`,
 * then the other control planes and the workers, one at a time, are drained, upgraded with
 * `kubeadm upgrade node` and uncordoned. Before each host's upgrade its packages move to the new
 * minor's repository (unless they are preinstalled). Skew: one minor at a time, never down.
 */
export async function upgradeCluster(
  deps: LifecycleDeps,
  cluster: { spec: ClusterSpec; hosts: ReadonlyMap<string, PlannedHost & { hostId: string }> },
  to: string,
  hostSpecFor: (host: PlannedHost, version: string) => HostSpec,
): Promise<UpgradeStepReport[]> {
  const from = parseKubeVersion(cluster.spec.kubernetesVersion);
  const target = parseKubeVersion(to);
  if (!from || !target || !/^v\d+\.\d+\.\d+$/.test(to))
    throw new KctlError('invalid_args', `--to: "${to}" is not a version like v1.32.1`);
  if (
    target.major !== from.major ||
    target.minor < from.minor ||
    (target.minor === from.minor && target.patch < from.patch)
  ) {
    throw new KctlError(
      'invalid_args',
      `--to: ${to} is older than the cluster's ${cluster.spec.kubernetesVersion}; kubeadm does not downgrade`,
    );
  }
  if (target.minor > from.minor + 1) {
    throw new KctlError(
      'invalid_args',
      `--to: ${to} skips a minor; upgrade to v1.${from.minor + 1}.x first (kubeadm's skew policy)`,
    );
  }
  const hosts = [...cluster.hosts.values()];
  const first = hosts.find((h) => h.first);
  if (!first) throw new KctlError('invalid_spec', 'no first control plane');
  const record = (h: PlannedHost & { hostId: string }): HostRecord => {
    const r = deps.store.getHost(h.hostId);
    if (!r) throw new KctlError('unknown_host', `Host "${h.name}" is not enrolled`);
    return r;
  };
  const packages = async (h: PlannedHost & { hostId: string }, steps: string[]): Promise<void> => {
    if (cluster.spec.packages.source === 'preinstalled') return;
    const r = await ask(deps, record(h), 'host.apply', { spec: hostSpecFor(h, to) });
    const failed = r.reports.find((s) => s.status === 'failed');
    if (failed)
      throw new KctlError('step_failed', `${h.name}: ${failed.title}: ${failed.error?.message ?? 'failed'}`);
    steps.push('packages');
  };
  const reports: UpgradeStepReport[] = [];
  const firstSteps: string[] = [];
  await packages(first, firstSteps);
  await ask(deps, record(first), 'kubeadm.upgradeApply', { version: to });
  firstSteps.push(`kubeadm upgrade apply ${to}`);
  reports.push({ host: first.name, steps: firstSteps });
  const rest = [
    ...hosts.filter((h) => h.role === 'control-plane' && !h.first),
    ...hosts.filter((h) => h.role === 'worker'),
  ];
  for (const h of rest) {
    const steps: string[] = [];
    await ask(deps, record(first), 'kubectl.drain', { node: h.name });
    steps.push('drain');
    await packages(h, steps);
    await ask(deps, record(h), 'kubeadm.upgradeNode');
    steps.push('kubeadm upgrade node');
    await ask(deps, record(first), 'kubectl.uncordon', { node: h.name });
    steps.push('uncordon');
    reports.push({ host: h.name, steps });
    deps.log.info({ host: h.name }, 'node upgraded');
  }
  return reports;
}
