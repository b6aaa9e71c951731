import { KctlError } from '../../../proto/errors.js';
import { phase, type PlanningContext } from '../phase.js';
import { isMember } from '../observe.js';

/**
 * Node removal and reset are plans like any apply: shown first, confirmed, journaled, resumable.
 * Each task looks at the host and the API server before it acts, so a resumed task skips what its
 * last try finished, and nothing is decided from an error message's text.
 */
export interface RemoveNodeInput {
  /** where kubectl runs (drain, delete node); absent when no other control plane has admin.conf */
  admin?: string;
  registered: boolean;
  member: boolean;
}

export const removeNodePhase = phase<RemoveNodeInput>({
  id: 'remove-node',
  operation: 'remove-node',
  title: 'Remove a node',
  summary:
    'drain it (from another control plane), kubeadm reset on it, clean CNI and packet filters, delete the Node',
  mode: 'serial',
  concurrency: () => 1,
  tasks: (c: PlanningContext) => {
    const node = c.target?.node;
    if (!node) return [];
    const state = c.observed.hosts.get(node)?.state;
    const registered = c.observed.nodes?.some((n) => n.name === node) ?? false;
    const member = isMember(state);
    if (!member && !registered) return [];
    const admin = c.observed.adminHost;
    // kubeadm reset's remove-etcd-member phase: a stacked control plane's etcd member leaves with it
    const stackedEtcd =
      c.cluster.spec.etcd.mode === 'stacked' &&
      (c.cluster.hosts.get(node)?.role === 'control-plane' || (state?.controlPlaneVersion ?? null) !== null);
    if (!admin && registered) {
      throw new KctlError(
        'not_found',
        `No other control plane with admin.conf is online to drain "${node}"`,
        {
          details: { remedy: 'to take down the last control plane use kctl reset' },
        },
      );
    }
    const steps = [
      ...(registered ? [`drain (kubectl on ${admin ?? '?'})`] : []),
      ...(member ? [`kubeadm reset -f${stackedEtcd ? ' (removes its stacked etcd member)' : ''}`] : []),
      ...(member ? ['clean /etc/cni/net.d, iptables, ipvs'] : []),
      ...(registered ? ['delete the Node'] : []),
    ];
    return [
      {
        host: node,
        title: 'drain, reset, delete',
        input: { ...(admin ? { admin } : {}), registered, member },
        detail: steps.join(', '),
      },
    ];
  },
  async run(input, host, t) {
    const report = { drained: false, reset: false, deleted: false, cleaned: [] as string[] };
    const registered = input.admin
      ? (await t.call(input.admin, 'kubectl.nodes', {})).nodes.some((n) => n.name === host)
      : false;
    if (registered && input.admin) {
      t.progress('drain');
      await t.call(input.admin, 'kubectl.drain', { node: host });
      report.drained = true;
    }
    t.progress('kubeadm reset');
    const r = await t.call(host, 'kubeadm.reset', {});
    report.reset = r.wasMember;
    report.cleaned = r.cleaned;
    if (registered && input.admin) {
      t.progress('delete the Node');
      report.deleted = (await t.call(input.admin, 'kubectl.deleteNode', { node: host })).deleted;
    }
    return report;
  },
});

export const resetPhase = phase<{ member: boolean }>({
  id: 'reset',
  operation: 'reset',
  title: 'Reset every host (workers first, the first control plane last)',
  summary: 'kubeadm reset -f and CNI and packet-filter cleanup on every host of the cluster',
  mode: 'serial',
  concurrency: () => 1,
  tasks: (c) => {
    const hosts = [...c.cluster.hosts.values()];
    const rank = (h: (typeof hosts)[number]): number => (h.role === 'worker' ? 0 : h.first ? 2 : 1);
    return hosts
      .sort((a, b) => rank(a) - rank(b))
      .map((h) => {
        const member = isMember(c.observed.hosts.get(h.name)?.state);
        return {
          host: h.name,
          title: 'kubeadm reset',
          input: { member },
          detail: member
            ? 'kubeadm reset -f, clean CNI and packet filters'
            : 'not a member: clean CNI and packet filters',
        };
      });
  },
  async run(_input, host, t) {
    const r = await t.call(host, 'kubeadm.reset', {});
    return { wasMember: r.wasMember, cleaned: r.cleaned };
  },
});
