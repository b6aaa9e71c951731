import type { ClusterSpec } from '../../proto/cluster-spec.js';
import type { HostSpec } from '../../proto/host-spec.js';
import { renderKubeadmInit, renderKubeadmJoin } from '../render/kubeadm.js';
import {
  kubeadmInputFor,
  kubeVipManifestFor,
  prepareFilesInputFor,
  type SpecNode,
} from '../render/cluster-spec-inputs.js';
import { packageFormatFor } from '../render/packages.js';
import { renderPrepareFiles } from '../render/prepare-files.js';
import type { JoinMaterial } from './join-material.js';
import type { PlannedHost } from './planned-host.js';

/** Renders the kubeadm and kube-vip files a task needs; secrets come in as arguments and go nowhere else. */
export interface ConfigRenderers {
  prepareFiles(host: PlannedHost): HostSpec['files'];
  init(host: PlannedHost, secrets: { token: string; certificateKey: string }): string;
  join(host: PlannedHost, material: JoinMaterial): string;
  kubeVip(host: PlannedHost): { path: string; content: string } | undefined;
}

/** Binds the pure renderers (controller/render/) to one cluster spec for the plan and its tasks. */
export function clusterRenderers(spec: ClusterSpec, controllerUrl: string | undefined): ConfigRenderers {
  const node = (h: PlannedHost): SpecNode => ({
    name: h.name,
    address: h.address,
    role: h.role,
    nodeLabels: h.nodeLabels,
    nodeTaints: h.nodeTaints,
    schedulable: h.schedulable,
  });
  // the prepare files depend on the spec and the package format only, not on the host: render them
  // once per format instead of once per host (most of resolving a 1,000-host plan, docs/benchmarks.md)
  const filesByFormat = new Map<string | undefined, HostSpec['files']>();
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
