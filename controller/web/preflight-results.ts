import type { HostPreflight } from '../../proto/admin-api.js';
import type { AsyncStore } from '../store/store.js';

export type { StoredPreflight } from '../store/store.js';

/**
 * Keeps the newest preflight result of a host for the fleet page (store.preflight); the preflight
 * service calls it once per host and run. A host that is not enrolled has nothing kept.
 */
export async function recordPreflight(
  store: AsyncStore,
  result: HostPreflight,
  at = Date.now(),
): Promise<void> {
  const host = await store.getHostByName(result.host);
  if (!host) return;
  await store.preflight.record(host.id, result, at);
}
