import type { SwapEntry } from '../probes/swaps.js';
import type { Check, CheckOutcome } from './check.js';
import { fail, pass } from './check.js';

export function judgeSwap(swaps: readonly SwapEntry[]): CheckOutcome {
  const expected = 'no active swap (/proc/swaps lists nothing)';
  if (swaps.length === 0) return pass('no active swap', expected);
  const listed = swaps.map((s) => `${s.filename} (${s.type}, ${s.sizeKiB} KiB)`).join(', ');
  return fail(
    `swap on: ${listed}`,
    expected,
    'disable swap (kctl apply runs the swap-off step: swapoff -a, comment swap in /etc/fstab, mask swap units), or configure the kubelet for swap on cgroup v2',
  );
}

export const swapChecks = (): Check[] => [
  {
    id: 'Swap',
    title: 'swap is off',
    // a warning since kubeadm 1.22 (kubeadm-facts §1.5)
    severity: 'warning',
    appliesTo: {},
    run: async ({ probes }) => judgeSwap(await probes.swaps()),
  },
];
