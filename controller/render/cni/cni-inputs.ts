/**
 * cluster.yaml -> the CNI templates' inputs, and the manifest the CNI phase applies. Kept beside the
 * templates (as cluster-spec-inputs.ts does for the other renderers) so a schema change is absorbed here.
 */
import type { ClusterSpec } from '../../../proto/cluster-spec.js';
import { CALICO_VERSION, FLANNEL_VERSION } from '../../../proto/images.js';
import { kctlImage } from '../../images/cluster-images.js';
import { renderCalicoManifest } from './calico.js';
import { renderFlannelManifest } from './flannel.js';
import type { CalicoInput, FlannelInput } from './types.js';

type CniSpec = Pick<ClusterSpec, 'cni' | 'networking' | 'imageRepository' | 'images'>;

export function calicoInputFor(spec: CniSpec): CalicoInput {
  return {
    podSubnet: spec.networking.podSubnet,
    mtu: spec.cni.mtu,
    ipAutodetectionMethod: spec.cni.calico?.ipAutodetectionMethod ?? 'first-found',
    images: {
      node: kctlImage(spec, 'calico-node'),
      cni: kctlImage(spec, 'calico-cni'),
      kubeControllers: kctlImage(spec, 'calico-kube-controllers'),
    },
  };
}

export function flannelInputFor(spec: CniSpec): FlannelInput {
  return {
    podSubnet: spec.networking.podSubnet,
    mtu: spec.cni.mtu,
    images: { flannel: kctlImage(spec, 'flannel'), cniPlugin: kctlImage(spec, 'flannel-cni-plugin') },
  };
}

/** What the CNI phase applies: the manifest cluster.yaml names, else kctl's template, else nothing. */
export interface CniManifest {
  plugin: 'calico' | 'flannel';
  /** `file`: cni.manifest, applied as given; `template`: rendered by kctl from cluster.yaml */
  source: 'file' | 'template';
  /** the release the manifest carries: cni.version for a file, the template's own for a template */
  version: string | undefined;
  content: string;
}

export function cniManifestFor(spec: CniSpec, userManifest: string | undefined): CniManifest | undefined {
  const plugin = spec.cni.plugin;
  if (plugin === 'none') return undefined;
  if (userManifest !== undefined)
    return { plugin, source: 'file', version: spec.cni.version, content: userManifest };
  return plugin === 'calico'
    ? {
        plugin,
        source: 'template',
        version: CALICO_VERSION,
        content: renderCalicoManifest(calicoInputFor(spec)),
      }
    : {
        plugin,
        source: 'template',
        version: FLANNEL_VERSION,
        content: renderFlannelManifest(flannelInputFor(spec)),
      };
}
