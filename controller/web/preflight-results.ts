import type { HostPreflight } from '../../proto/admin-api.js';
import type { Store } from '../store/store.js';

export type { StoredPreflight } from '../store/store.js';

/**
 * Keeps the newest preflight result of a host for the fleet page (store.preflight); the preflight
 * service calls it once per host and run. A host that is not enrolled has nothing kept.
 */
export function recordPreflight(store: Store, result: HostPreflight, at = Date.now()): void {
  const host = store.getHostByName(result.host);
  if (!host) return;
  store.preflight.record(host.id, result, at);
}
