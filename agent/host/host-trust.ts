import { KctlError } from '../../proto/errors.js';
import type { Host } from './host.js';
import type { FetchOptions } from './net.js';

/**
 * CA bundles a host's package manager trusts, by distribution family. A repository key is fetched
 * trusting exactly what apt or dnf on that host would trust for the repository itself: never
 * Node's built-in list, so a mirror behind a private CA works when the host trusts that CA, and a
 * test host root trusts only its own test CA.
 */
export const CA_BUNDLE_PATHS = [
  '/etc/ssl/certs/ca-certificates.crt',
  '/etc/pki/tls/certs/ca-bundle.crt',
  '/etc/ssl/ca-bundle.pem',
] as const;

/**
 * GET `url` through the host's `Net`, trusting the host's own CA bundle (read through the Host, so
 * a test root brings its own): how the steps that download (repository keys) reach the internet.
 */
export async function fetchWithHostTrust(
  host: Host,
  url: string,
  options: Omit<FetchOptions, 'ca'> = {},
): Promise<Buffer> {
  for (const path of CA_BUNDLE_PATHS) {
    const ca = await host.readFile(path);
    if (ca?.includes('BEGIN CERTIFICATE')) return host.net.fetchBytes(url, { ...options, ca });
  }
  throw new KctlError('step_failed', `Cannot fetch ${url}: this host has no CA bundle`, {
    details: { remedy: `install ca-certificates (looked for ${CA_BUNDLE_PATHS.join(', ')})` },
  });
}
