import { readKubeletVersion } from '../probes/kubelet.js';
import { compareMinor, formatMinor, parseKubeVersion } from '../../proto/checks.js';
import type { Check, CheckOutcome } from './check.js';
import { fail, pass, skip } from './check.js';

/** kubeadm MinimumKubeletVersion: the target minor minus 3 (kubeadm-facts §1.2). */
export const KUBELET_MINOR_SKEW = 3;

export function judgeKubeletVersion(kubelet: string | undefined, target: string): CheckOutcome {
  const want = parseKubeVersion(target);
  if (want === undefined) return skip(`target version ${target} is not a version`, 'a valid target version');
  const oldest = { ...want, minor: Math.max(0, want.minor - KUBELET_MINOR_SKEW) };
  const expected = `kubelet between ${formatMinor(oldest)} and ${formatMinor(want)}`;
  if (kubelet === undefined) return skip('kubelet not installed (kctl apply installs it)', expected);
  const have = parseKubeVersion(kubelet);
  const remedy = `install kubelet ${formatMinor(want)} (kctl apply installs the target version)`;
  if (have === undefined) return fail(`kubelet --version printed ${kubelet}`, expected, remedy);
  if (compareMinor(have, oldest) < 0) return fail(`kubelet ${kubelet} is too old`, expected, remedy);
  if (compareMinor(have, want) > 0) {
    return fail(`kubelet ${kubelet} is newer than the control plane ${target}`, expected, remedy);
  }
  return pass(`kubelet ${kubelet}`, expected);
}

export const kubeletVersionChecks = (): Check[] => [
  {
    id: 'KubeletVersion',
    title: 'installed kubelet within the version skew',
    severity: 'error',
    appliesTo: {},
    run: async ({ host, spec }) =>
      judgeKubeletVersion(await readKubeletVersion(host), spec.kubernetesVersion),
  },
];
