import type { Store } from './store/store.js';

/** Serial numbers as hex, compared without case, colons or leading zeros. */
export function sameSerial(a: string | undefined, b: string): boolean {
  const norm = (x: string): string => x.toLowerCase().replace(/:/g, '').replace(/^0+/, '');
  return a !== undefined && norm(a) === norm(b);
}

/**
 * Whether a live session's certificate still speaks for its host (S6): `revoked` when the host is
 * gone or revoked, `superseded` when the host's current certificate is another (rotated, or
 * replaced elsewhere). Reads name, state and serial only, from the controller's HostStateCache.
 */
export type SessionStanding = 'current' | 'revoked' | 'superseded';

export function sessionStanding(
  store: Pick<Store, 'getHostState'>,
  hostId: string,
  certSerial: string,
): SessionStanding {
  const host = store.getHostState(hostId);
  if (!host || host.state !== 'active') return 'revoked';
  return sameSerial(certSerial, host.certSerial) ? 'current' : 'superseded';
}
