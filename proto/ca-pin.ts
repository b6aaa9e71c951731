import { X509Certificate, createHash, timingSafeEqual } from 'node:crypto';

/** A CA pin as kubeadm writes it: `sha256:` and 64 lowercase hex digits. */
export const CA_PIN_PATTERN = /^sha256:[0-9a-f]{64}$/;

/**
 * The CA pin kubeadm uses: `sha256:` + hex SHA-256 over the DER SubjectPublicKeyInfo (S2).
 * Computed from the parsed certificate, never from getPeerCertificate().pubkey, which on Node 20
 * is the raw EC point for P-256 keys and hashes differently. Throws if `raw` is not a certificate.
 */
export function caPinOfDer(raw: Buffer | Uint8Array): string {
  return caPinOfCert(new X509Certificate(raw));
}

/** The pin of the first certificate in `certPem`. Throws if there is none. */
export function caPinOf(certPem: string): string {
  return caPinOfCert(new X509Certificate(certPem));
}

function caPinOfCert(cert: X509Certificate): string {
  const spki = cert.publicKey.export({ type: 'spki', format: 'der' });
  return `sha256:${createHash('sha256').update(spki).digest('hex')}`;
}

/**
 * Whether `pin` is one of `pins` (several are allowed, for CA rotation). Every candidate is compared
 * in constant time and the loop does not stop at a match, so timing does not say which one matched.
 * Case is ignored in the hex (pins are hashes, and people paste them in upper case).
 */
export function pinMatches(pin: string, pins: readonly string[]): boolean {
  const a = Buffer.from(pin.toLowerCase(), 'utf8');
  if (!CA_PIN_PATTERN.test(a.toString('utf8'))) return false;
  let match = false;
  for (const candidate of pins) {
    const b = Buffer.from(candidate.toLowerCase(), 'utf8');
    if (a.length === b.length && timingSafeEqual(a, b)) match = true;
  }
  return match;
}
