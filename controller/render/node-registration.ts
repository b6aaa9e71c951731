import { CONTROL_PLANE_TAINT, type NodeTaint } from '../../proto/node-labels.js';

/** What a node's registration depends on in cluster.yaml: its role and its hosts[] entry's fields. */
export interface NodeRegistrationSpec {
  role: 'control-plane' | 'worker';
  nodeLabels?: Readonly<Record<string, string>> | undefined;
  nodeTaints?: readonly NodeTaint[] | undefined;
  schedulable?: boolean | undefined;
}

/** The taints a node should carry: its nodeTaints, and kubeadm's control-plane taint unless schedulable. */
export function desiredTaints(node: NodeRegistrationSpec): NodeTaint[] {
  const own = (node.nodeTaints ?? []).map((t) => ({ ...t }));
  return node.role === 'control-plane' && node.schedulable !== true
    ? [{ ...CONTROL_PLANE_TAINT }, ...own]
    : own;
}

/**
 * nodeRegistration.taints for kubeadm: absent keeps kubeadm's default (the control-plane taint on
 * control planes, none on workers); a list replaces it, `[]` meaning no taint at all.
 */
export function kubeadmTaints(node: NodeRegistrationSpec): NodeTaint[] | undefined {
  const defaultOnly = (node.nodeTaints ?? []).length === 0 && node.schedulable !== true;
  return defaultOnly ? undefined : desiredTaints(node);
}

/** Namespaces a kubelet may set on its own node (k/k pkg/kubelet/apis well_known_labels.go, NodeRestriction). */
const KUBELET_NAMESPACES = ['kubelet.kubernetes.io', 'node.kubernetes.io'];
const RESTRICTED_NAMESPACES = ['kubernetes.io', 'k8s.io'];

const inNamespace = (prefix: string, ns: string): boolean => prefix === ns || prefix.endsWith(`.${ns}`);

/**
 * Whether the kubelet may register with this label (`--node-labels`): a kubelet refuses to start
 * with a kubernetes.io or k8s.io label outside its own namespaces (node-role.kubernetes.io/* among
 * them), so those reach the node through kubectl after it joins.
 */
export function kubeletMaySetLabel(key: string): boolean {
  const slash = key.indexOf('/');
  if (slash === -1) return true;
  const prefix = key.slice(0, slash);
  if (KUBELET_NAMESPACES.some((ns) => inNamespace(prefix, ns))) return true;
  return !RESTRICTED_NAMESPACES.some((ns) => inNamespace(prefix, ns));
}

/** The kubelet's `node-labels` flag value (sorted `k=v,…`), or undefined when none may be set there. */
export function kubeletNodeLabels(labels: Readonly<Record<string, string>> | undefined): string | undefined {
  const allowed = Object.entries(labels ?? {})
    .filter(([k]) => kubeletMaySetLabel(k))
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return allowed.length > 0 ? allowed.map(([k, v]) => `${k}=${v}`).join(',') : undefined;
}
