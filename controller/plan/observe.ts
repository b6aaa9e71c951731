import type { CertificateInfo } from '../../proto/certs.js';
import type { NodeStatus } from '../../proto/kubeadm-ops.js';
import type { OpResult } from '../../proto/ops.js';
import type { StepPlan } from '../../proto/results.js';
import { parseKubeVersion } from '../../proto/checks.js';
import type { HostClient } from '../host-client.js';
import { mapBounded } from '../map-bounded.js';
import {
  observeEtcd,
  observeEtcdMembership,
  type EtcdMembership,
  type EtcdObservation,
} from './etcd-observe.js';
import { observeLoadBalancers, type LoadBalancerObservation } from './lb-observe.js';
import type { PlannedHost, ResolvedCluster } from './resolved-cluster.js';

export type KubeadmState = OpResult<'kubeadm.state'>;

export interface HostObservation {
  state: KubeadmState;
  /** the Kubernetes version whose packages the prepare phase converges to (see prepareVersionOf) */
  prepareVersion: string;
  /** what converging to the prepare spec would change, step by step (absent when not asked for) */
  prepare?: StepPlan[];
  /** the node's certificates (control planes, when a certificate renewal is planned) */
  certificates?: CertificateInfo[];
}

/** What the hosts of a cluster report now; the phases derive their tasks from this and the spec. */
export interface Observation {
  hosts: ReadonlyMap<string, HostObservation>;
  /** the node list as the API server sees it, when a control plane with admin.conf answered */
  nodes: NodeStatus[] | undefined;
  /** the host whose admin.conf kubectl uses (drain, uncordon, delete node, nodes) */
  adminHost: string | undefined;
  /** why the node list could not be read although a control plane has admin.conf */
  nodesError?: string;
  /** etcd.mode managed: the etcd members' plans and the running cluster's members (when prepare is asked for) */
  etcd?: EtcdObservation;
  /** ha.mode haproxy-keepalived with lb hosts: their plans (when prepare is asked for) */
  loadBalancers?: LoadBalancerObservation;
  /** etcd.mode managed, a plan that removes a member: the running cluster as a surviving member sees it */
  etcdMembership?: EtcdMembership;
}

/**
 * Hosts asked at once by a plan. Planning is read-only and each host works on its own, so the
 * bound only caps the controller's commands in flight: with 32, 1,000 hosts taking 200 ms each
 * needed 6.6 s; with 256, about 1 s (bench/plan-1000.ts, docs/benchmarks.md).
 */
export const PLAN_FANOUT = 256;
const NODE_LIST_TRIES = 3;
const NODE_LIST_RETRY_MS = 1000;

export function isMember(state: KubeadmState | undefined): boolean {
  return (state?.initialized ?? false) || (state?.joined ?? false);
}

/** `v1.31.2` from `v1.31.2`, `v1.31.2-1.1`, `1.31.2`; undefined for anything else. */
export function plainVersion(raw: string | null | undefined): string | undefined {
  const v = raw ? parseKubeVersion(raw) : undefined;
  return v ? `v${v.major}.${v.minor}.${v.patch}` : undefined;
}

/**
 * A member of the cluster keeps the kube packages it runs until the upgrade phases move them, in
 * kubeadm's order; prepare never upgrades (or downgrades) a running node's packages on its own.
 */
export function prepareVersionOf(cluster: ResolvedCluster, state: KubeadmState): string {
  const installed = plainVersion(state.kubeletVersion);
  return isMember(state) && installed !== undefined ? installed : cluster.spec.kubernetesVersion;
}

export async function observeCluster(
  client: HostClient,
  cluster: ResolvedCluster,
  options: {
    prepare: boolean;
    extraHosts?: readonly PlannedHost[];
    adminExcept?: string;
    /** read the certificates of the control planes that are members */
    certificates?: boolean;
    /** etcd.mode managed: read the running member list through a member other than this one */
    etcdMembershipExcept?: string;
  } = {
    prepare: true,
  },
): Promise<Observation> {
  const hosts = [...cluster.hosts.values(), ...(options.extraHosts ?? [])];
  const observed = new Map(
    await mapBounded(hosts, PLAN_FANOUT, async (h) => {
      const state = await client.call(h, 'kubeadm.state', {});
      const prepareVersion = prepareVersionOf(cluster, state);
      const o: HostObservation = { state, prepareVersion };
      if (options.prepare) {
        const spec = cluster.hostSpecFor(h, prepareVersion, { member: isMember(state) });
        const plan = await client.call(h, 'host.plan', { spec });
        o.prepare = plan.steps;
      }
      if (options.certificates && h.role === 'control-plane' && isMember(state)) {
        o.certificates = (await client.call(h, 'certs.check', {})).certificates;
      }
      return [h.name, o] as const;
    }),
  );
  const etcd =
    options.prepare && cluster.etcdMembers.length > 0 ? await observeEtcd(client, cluster) : undefined;
  const etcdMembership =
    options.etcdMembershipExcept !== undefined && cluster.etcdMembers.length > 0
      ? await observeEtcdMembership(client, cluster, options.etcdMembershipExcept)
      : undefined;
  const loadBalancers =
    options.prepare && cluster.loadBalancers.length > 0
      ? await observeLoadBalancers(client, cluster)
      : undefined;
  const candidates = hosts.filter(
    (h) => h.name !== options.adminExcept && observed.get(h.name)?.state.initialized === true,
  );
  // the first control plane when it can answer, else any control plane with admin.conf
  const admin = candidates.find((h) => h.first) ?? candidates[0];
  let nodes: NodeStatus[] | undefined;
  let nodesError: string | undefined;
  // an API server not up (yet) is a state to plan from, not an error; a busy one gets two more tries,
  // since node versions decide which nodes an upgrade still has to move
  for (let attempt = 0; admin && nodes === undefined && attempt < NODE_LIST_TRIES; attempt++) {
    if (attempt > 0) await new Promise((r) => setTimeout(r, NODE_LIST_RETRY_MS));
    try {
      nodes = (await client.call(admin, 'kubectl.nodes', {})).nodes;
      nodesError = undefined;
    } catch (err) {
      nodesError = `${admin.name}: ${err instanceof Error ? err.message : String(err)}`;
    }
  }
  return {
    hosts: observed,
    nodes,
    adminHost: admin?.name,
    ...(nodesError ? { nodesError } : {}),
    ...(etcd ? { etcd } : {}),
    ...(loadBalancers ? { loadBalancers } : {}),
    ...(etcdMembership ? { etcdMembership } : {}),
  };
}
