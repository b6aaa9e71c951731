import type { ClusterSpec, SpecIssue } from '../../proto/cluster-spec.js';
import { CONTROL_PLANE_TAINT, taintId } from '../../proto/node-labels.js';

/** hosts[].nodeLabels, nodeTaints and schedulable against each entry's role. */
export function checkNodeLabels(
  spec: ClusterSpec,
  out: { errors: SpecIssue[]; warnings: SpecIssue[] },
): void {
  spec.hosts.forEach((h, i) => {
    if (h.role === 'etcd' || h.role === 'lb') {
      for (const field of ['nodeLabels', 'nodeTaints', 'schedulable'] as const) {
        if (h[field] !== undefined)
          out.errors.push({
            path: `hosts[${i}].${field}`,
            message: `role ${h.role} is no Kubernetes node: it has no labels, taints or scheduling`,
          });
      }
      return;
    }
    if (h.schedulable !== undefined && h.role !== 'control-plane')
      out.errors.push({
        path: `hosts[${i}].schedulable`,
        message: 'only control planes carry the NoSchedule taint that schedulable removes',
      });
    const seen = new Map<string, number>();
    (h.nodeTaints ?? []).forEach((t, j) => {
      const id = taintId(t);
      const prior = seen.get(id);
      if (prior !== undefined)
        out.errors.push({
          path: `hosts[${i}].nodeTaints[${j}]`,
          message: `${id} is already given at nodeTaints[${prior}]: a node has one taint per key and effect`,
        });
      seen.set(id, j);
      if (id === taintId(CONTROL_PLANE_TAINT))
        out.errors.push({
          path: `hosts[${i}].nodeTaints[${j}]`,
          message: `${id} is kubeadm's control-plane taint: use schedulable (false keeps it, true removes it)`,
        });
    });
  });
}
