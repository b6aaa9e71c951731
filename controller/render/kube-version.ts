import { KctlError } from '../../proto/errors.js';
import { parseKubeVersion } from '../../proto/checks.js';

export interface KubeMinor {
  major: 1;
  minor: number;
  patch: number;
  /** "v1.31.2" */
  text: string;
}

/** "v1.31.2" or "1.31.2" -> its parts; throws on anything else (renderers take validated specs). */
export function kubeVersion(version: string): KubeMinor {
  const v = parseKubeVersion(version);
  if (!v || v.major !== 1 || !/^v?\d+\.\d+\.\d+$/.test(version)) {
    throw new KctlError('invalid_spec', `"${version}" is not a Kubernetes version like v1.31.2`);
  }
  return { major: 1, minor: v.minor, patch: v.patch, text: `v1.${v.minor}.${v.patch}` };
}

export type KubeadmApiVersion = 'kubeadm.k8s.io/v1beta3' | 'kubeadm.k8s.io/v1beta4';

/** v1beta3 is read by kubeadm 1.22-1.35; kctl writes v1beta4 from 1.31, when it became the stored version. */
export function kubeadmApiVersion(version: string): KubeadmApiVersion {
  const { minor } = kubeVersion(version);
  if (minor < 22) throw new KctlError('invalid_spec', `kubeadm ${version} predates the v1beta3 config API`);
  return minor >= 31 ? 'kubeadm.k8s.io/v1beta4' : 'kubeadm.k8s.io/v1beta3';
}

/**
 * The pause image tag kubeadm pulls per minor (`kubeadm config images list`). Sources: kubeadm's
 * constants as listed per release in kubernetes/minikube pkg/minikube/constants/constants_kubeadm_images.go
 * (1.22-1.32), and kubespray's pod_infra_supported_versions (1.33 3.10, 1.34 and 1.35 3.10.1).
 */
export const PAUSE_VERSIONS: Readonly<Record<number, string>> = {
  22: '3.5',
  23: '3.6',
  24: '3.7',
  25: '3.8',
  26: '3.9',
  27: '3.9',
  28: '3.9',
  29: '3.9',
  30: '3.9',
  31: '3.10',
  32: '3.10',
  33: '3.10',
  34: '3.10.1',
  35: '3.10.1',
};

/** kubeadm's sandbox image for this version, from the cluster's image repository. */
export function pauseImage(version: string, imageRepository = 'registry.k8s.io'): string {
  const { minor } = kubeVersion(version);
  const tag = PAUSE_VERSIONS[minor];
  if (tag === undefined)
    throw new KctlError('invalid_spec', `No pause image is known for Kubernetes ${version}`);
  return `${imageRepository}/pause:${tag}`;
}
