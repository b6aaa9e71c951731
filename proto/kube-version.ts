import { KctlError } from './errors.js';
import { parseKubeVersion } from './checks.js';

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
