import { sameEtcdServers } from '../../../proto/ops-apiserver-etcd.js';
import { kubeadmInputFor } from '../../render/cluster-spec-inputs.js';
import { etcdClientUrl } from '../../render/etcd.js';
import { renderKubeadmApiserverConfig } from '../../render/kubeadm-apiserver-etcd.js';
import { isMember, plainVersion } from '../observe.js';
import { phase, type DerivedTask, type PlanningContext, type TaskRun } from '../phase.js';
import type { PlannedHost } from '../resolved-cluster.js';
import { STATIC_POD_RESTART_WAIT_MS } from './certs.js';

/**
 * The API servers follow etcd membership (issue 15): kubeadm wrote each control plane's
 * `--etcd-servers` from etcd.external.endpoints once, at init or join. After a managed member is
 * added or removed (or someone edited a manifest), each control plane whose manifest lists another
 * set gets its kube-apiserver manifest regenerated the kubeadm way, ONE AT A TIME, the next only
 * once the restarted API server answers /readyz; the last one also uploads the ClusterConfiguration
 * (kubeadm-config ConfigMap), which control planes joining later read their etcd endpoints from.
 */
export interface ApiserverEtcdInput {
  /** Init/ClusterConfiguration without secrets (render/kubeadm-apiserver-etcd.ts) */
  config: string;
  etcdServers: string[];
  /** what the manifest listed when planned, for the journal and the plan view */
  before: string[];
  uploadConfig: boolean;
  restartWaitMs: number;
  healthTimeoutMs: number;
}

export const APISERVER_READY_TIMEOUT_MS = 180_000;

/** The etcd client URLs kubeadm's etcd.external should name now; undefined for stacked etcd. */
export function wantedEtcdServers(c: PlanningContext, without?: string): string[] | undefined {
  const spec = c.cluster.spec;
  if (spec.etcd.mode === 'external') return [...spec.etcd.endpoints];
  if (spec.etcd.mode !== 'managed') return undefined;
  const members = c.cluster.etcdMembers.filter((m) => m.name !== without);
  return members.length > 0 ? members.map((m) => etcdClientUrl(m.address)) : undefined;
}

/** `--etcd-servers: -a +b` as the plan shows it; `=` when only the order differs. */
export function endpointDiff(before: readonly string[], after: readonly string[]): string {
  const removed = before.filter((e) => !after.includes(e));
  const added = after.filter((e) => !before.includes(e));
  const parts = [...removed.map((e) => `-${e}`), ...added.map((e) => `+${e}`)];
  return `--etcd-servers ${parts.length > 0 ? parts.join(' ') : `= ${after.join(',')}`}`;
}

function tasksFor(
  c: PlanningContext,
  want: string[] | undefined,
  skip: string | undefined,
): Array<DerivedTask<ApiserverEtcdInput>> {
  if (want === undefined) return [];
  const drifted = [...c.cluster.hosts.values()]
    .filter((h) => h.role === 'control-plane' && h.name !== skip)
    .flatMap((h) => {
      const state = c.observed.hosts.get(h.name)?.state;
      const now = state?.etcdServers;
      // not a member yet (kubeadm join takes the list from the kubeadm-config ConfigMap this
      // phase uploads), or an agent too old to report it
      if (!isMember(state) || now === undefined || now === null) return [];
      return sameEtcdServers(now, want)
        ? []
        : [{ h, now, version: plainVersion(state?.controlPlaneVersion) }];
    })
    // the first control plane last, as certificate renewal does
    .sort((a, b) => Number(a.h.first) - Number(b.h.first));
  return drifted.map(({ h, now, version }, i) => {
    const last = i === drifted.length - 1;
    return {
      host: h.name,
      title: 'API server etcd endpoints',
      input: {
        config: configFor(c, h, want, version),
        etcdServers: want,
        before: now,
        uploadConfig: last,
        restartWaitMs: STATIC_POD_RESTART_WAIT_MS,
        healthTimeoutMs: APISERVER_READY_TIMEOUT_MS,
      },
      detail: `${endpointDiff(now, want)}: kubeadm init phase control-plane apiserver${last ? ', upload-config kubeadm' : ''}, then wait for /readyz`,
    };
  });
}

/** The cluster's kubeadm config for this control plane at the version it runs (an upgrade comes later). */
function configFor(c: PlanningContext, h: PlannedHost, want: string[], version: string | undefined): string {
  const spec = c.cluster.spec;
  const input = kubeadmInputFor(
    { ...spec, kubernetesVersion: version ?? spec.kubernetesVersion },
    {
      name: h.name,
      address: h.address,
      role: h.role,
      nodeLabels: h.nodeLabels,
      nodeTaints: h.nodeTaints,
      schedulable: h.schedulable,
    },
    c.cluster.etcdMembers,
  );
  return renderKubeadmApiserverConfig({ ...input, externalEtcd: { endpoints: want } });
}

const common = {
  title: "Point the API servers at etcd's members (one control plane at a time)",
  mode: 'serial' as const,
  concurrency: () => 1,
  async run(input: ApiserverEtcdInput, host: string, t: TaskRun) {
    t.progress(`kube-apiserver --etcd-servers=${input.etcdServers.join(',')}`);
    const r = await t.call(host, 'kubeadm.apiserverEtcd', {
      config: input.config,
      etcdServers: input.etcdServers,
      uploadConfig: input.uploadConfig,
      restartWaitMs: input.restartWaitMs,
      healthTimeoutMs: input.healthTimeoutMs,
    });
    return {
      rewritten: r.rewritten,
      etcdServers: r.etcdServers.length,
      uploaded: r.uploaded,
      readyAfterMs: r.readyAfterMs,
    };
  },
};

/** In apply plans, after the etcd members changed: also repairs a manifest someone edited. */
export const apiserverEtcdEndpointsPhase = phase<ApiserverEtcdInput>({
  ...common,
  id: 'apiserver-etcd-endpoints',
  operation: 'apply',
  summary:
    "etcd.mode managed or external: each control plane whose kube-apiserver lists other etcd servers than cluster.yaml's members gets its manifest regenerated (kubeadm init phase control-plane apiserver), one at a time, /readyz after each",
  tasks: (c) => tasksFor(c, wantedEtcdServers(c), undefined),
});

/** In `kctl node remove` plans of an etcd member, after the member left. */
export const apiserverEtcdAfterRemovalPhase = phase<ApiserverEtcdInput>({
  ...common,
  id: 'apiserver-etcd-after-removal',
  operation: 'remove-node',
  summary:
    'etcd.mode managed, an etcd member removed: the control planes drop it from --etcd-servers (kubeadm init phase control-plane apiserver), one at a time, /readyz after each',
  tasks: (c) => {
    const node = c.target?.node;
    if (node === undefined || c.cluster.spec.etcd.mode !== 'managed') return [];
    const member =
      c.cluster.etcdMembers.some((m) => m.name === node) ||
      (c.observed.etcdMembership?.status.members.some((m) => m.name === node) ?? false);
    if (!member) return [];
    return tasksFor(c, wantedEtcdServers(c, node), node);
  },
});
