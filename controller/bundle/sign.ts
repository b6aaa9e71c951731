import { sign } from 'node:crypto';
import { manifestSignedBytes, manifestSignatureValid } from '../../proto/bundle.js';
import { KctlError } from '../../proto/errors.js';

/**
 * Signs the manifest text with the controller's CA key (ECDSA P-256, SHA-256, DER, base64). The
 * CA key itself rather than a delegated key: agents already pin this CA (S2), so they need no new
 * trust anchor, and the signed bytes carry a context prefix that no certificate can begin with.
 */
export function signManifest(manifestText: string, caKeyPem: string, caCertPem: string): string {
  const signature = sign('sha256', manifestSignedBytes(manifestText), caKeyPem).toString('base64');
  // a key that does not belong to the CA would make every agent refuse: say so here instead
  if (!manifestSignatureValid(manifestText, signature, caCertPem))
    throw new KctlError('internal', 'The CA key does not match the CA certificate; cannot sign the bundle');
  return signature;
}
