import type { HealthResult } from '../../proto/health.js';
import { readSwaps, type SwapEntry } from '../probes/swaps.js';
import type { HealthCheck } from './health-check.js';
import { finding } from './health-check.js';

/** Pure judge: any active swap is critical (the kubelet refuses to run with swap unless configured for it). */
export function judgeSwap(entries: readonly SwapEntry[]): HealthResult {
  const title = 'swap off';
  if (entries.length === 0) return finding('Swap', title, 'ok', 'no active swap');
  return finding(
    'Swap',
    title,
    'critical',
    `swap is on: ${entries.map((e) => `${e.filename} (${e.sizeKiB} KiB)`).join(', ')}`,
    'swapoff -a, then kctl apply -f cluster.yaml to comment it out of /etc/fstab again',
  );
}

export const swapCheck: HealthCheck = {
  id: 'Swap',
  run: async ({ host }) => [judgeSwap(await readSwaps(host))],
};
