import type { ClusterSpec } from '../../proto/cluster-spec.js';
import { renderKubeadmInit, renderKubeadmJoin } from '../render/kubeadm.js';
import { kubeVipManifestFor } from '../render/kube-vip.js';
import { containerdFiles } from '../render/containerd.js';
import { CRICTL_CONFIG_PATH, renderCrictlConfig } from '../render/crictl.js';
import { packageFormatFor } from '../render/packages.js';
import { renderPrepareFiles } from '../render/prepare-files.js';
import type { PlannedHost } from './cluster-plan.js';
import type { ConfigRenderers } from './runner.js';

/** Binds the pure renderers (controller/render/) to one cluster spec for the plan and its runner. */
export function clusterRenderers(
  spec: ClusterSpec,
  controllerUrl: string | undefined,
): ConfigRenderers & { prepareFiles(host: PlannedHost): PlannedHost['hostSpec']['files'] } {
  const node = (
    h: PlannedHost,
  ): { name: string; role: PlannedHost['role']; address: string | undefined } => ({
    name: h.name,
    role: h.role,
    address: h.address,
  });
  return {
    prepareFiles(h) {
      const packageFormat = packageFormatFor(h.osId);
      if (spec.packages.source === 'preinstalled' || packageFormat === undefined) {
        return [
          ...containerdFiles(spec),
          { path: CRICTL_CONFIG_PATH, content: renderCrictlConfig(), mode: 0o644, sensitive: false },
        ];
      }
      return renderPrepareFiles(spec, { packageFormat, controllerUrl });
    },
    init: (h, secrets) => renderKubeadmInit(spec, node(h), secrets),
    join: (h, m) =>
      renderKubeadmJoin(spec, node(h), {
        token: m.token,
        caCertHashes: [m.caCertHash],
        ...(h.role === 'control-plane' ? { certificateKey: m.certificateKey } : {}),
      }),
    kubeVip: (h) => kubeVipManifestFor(spec, h),
  };
}
