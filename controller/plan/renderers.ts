import type { ClusterSpec } from '../../proto/cluster-spec.js';
import { renderKubeadmInit, renderKubeadmJoin } from '../render/kubeadm.js';
import { kubeadmInputFor, kubeVipManifestFor, prepareFilesInputFor } from '../render/cluster-spec-inputs.js';
import { packageFormatFor } from '../render/packages.js';
import { renderPrepareFiles } from '../render/prepare-files.js';
import type { PlannedHost } from './cluster-plan.js';
import type { ConfigRenderers } from './runner.js';

/** Binds the pure renderers (controller/render/) to one cluster spec for the plan and its runner. */
export function clusterRenderers(
  spec: ClusterSpec,
  controllerUrl: string | undefined,
): ConfigRenderers & { prepareFiles(host: PlannedHost): PlannedHost['hostSpec']['files'] } {
  const node = (h: PlannedHost): { name: string; address: string | undefined } => ({
    name: h.name,
    address: h.address,
  });
  // the prepare files depend on the spec and the package format only, not on the host: render them
  // once per format instead of once per host (most of resolving a 1,000-host plan, docs/benchmarks.md)
  const filesByFormat = new Map<string | undefined, PlannedHost['hostSpec']['files']>();
  return {
    prepareFiles: (h) => {
      const packageFormat = packageFormatFor(h.osId);
      let files = filesByFormat.get(packageFormat);
      if (!files) {
        files = renderPrepareFiles(prepareFilesInputFor(spec, { packageFormat, controllerUrl }));
        filesByFormat.set(packageFormat, files);
      }
      return [...files];
    },
    init: (h, secrets) => renderKubeadmInit(kubeadmInputFor(spec, node(h)), secrets),
    join: (h, m) =>
      renderKubeadmJoin(kubeadmInputFor(spec, node(h)), {
        token: m.token,
        caCertHashes: [m.caCertHash],
        controlPlane: h.role === 'control-plane',
        ...(h.role === 'control-plane' ? { certificateKey: m.certificateKey } : {}),
      }),
    kubeVip: (h) => kubeVipManifestFor(spec, h),
  };
}
