/**
 * The URI SANs that carry identity in kctl's client certificates. The controller writes them
 * (controller/pki.ts) and the agent reads its own back (agent/identity.ts): one definition for both.
 */
export const HOST_URI_PREFIX = 'urn:kctl:host:';
export const ADMIN_URI_PREFIX = 'urn:kctl:admin:';
