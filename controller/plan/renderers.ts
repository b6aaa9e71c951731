import { KctlError } from '../../proto/errors.js';
import type { ClusterSpec } from '../../proto/cluster-spec.js';
import type { PlannedHost } from './cluster-plan.js';
import type { ConfigRenderers } from './runner.js';

/**
 * Binds the pure renderers (controller/render/) to one cluster spec. The kubeadm, kube-vip and
 * containerd renderers are being written (issue 4); until they land, prepare converges the kernel
 * settings only and kubeadm tasks refuse with a clear error.
 */
export function clusterRenderers(
  _spec: ClusterSpec,
  _hosts: readonly PlannedHost[],
): ConfigRenderers & { prepareFiles(host: PlannedHost): PlannedHost['hostSpec']['files'] } {
  const missing = (): never => {
    throw new KctlError('internal', 'kubeadm config rendering is not available in this build');
  };
  return { prepareFiles: () => [], init: missing, join: missing, kubeVip: () => undefined };
}
