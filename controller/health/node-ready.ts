import type { HealthResult } from '../../proto/health.js';
import type { NodeStatus } from '../../proto/kubeadm-ops.js';

const TITLE = 'node Ready';
const REMEDY_NOT_READY =
  'kubectl describe node shows the condition; check the kubelet (journalctl -u kubelet.service) and the CNI pods';

/**
 * Pure judge of a host's node as a control plane sees it. `expectNode`: the cluster spec names the
 * host, so a missing node is critical; without it a host that is not a node gets no finding.
 */
export function judgeNodeReady(
  hostName: string,
  nodes: readonly NodeStatus[] | { error: string },
  expectNode: boolean,
): HealthResult | undefined {
  const id = 'NodeReady';
  if ('error' in nodes) {
    return {
      id,
      title: TITLE,
      severity: 'warning',
      observed: `no control plane could list the nodes: ${nodes.error}`,
      remedy: 'check the API server on the control planes (kubectl get nodes on one of them)',
    };
  }
  const node = nodes.find((n) => n.name === hostName);
  if (!node) {
    if (!expectNode) return undefined;
    return {
      id,
      title: TITLE,
      severity: 'critical',
      observed: `no node named "${hostName}" in the cluster`,
      remedy: 'kctl apply -f cluster.yaml joins it',
    };
  }
  const cordoned = node.unschedulable ? ', cordoned' : '';
  if (node.ready)
    return {
      id,
      title: TITLE,
      severity: 'ok',
      observed: `Ready${cordoned}, kubelet ${node.kubeletVersion}`,
      remedy: '',
    };
  return {
    id,
    title: TITLE,
    severity: 'critical',
    observed: `NotReady${cordoned}, kubelet ${node.kubeletVersion}`,
    remedy: REMEDY_NOT_READY,
  };
}
