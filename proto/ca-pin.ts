import { X509Certificate, createHash, timingSafeEqual } from 'node:crypto';

/**
 * The CA pin kubeadm uses: `sha256:` + hex SHA-256 over the DER SubjectPublicKeyInfo (S2).
 * Computed from the parsed certificate, never from getPeerCertificate().pubkey, which on Node 20
 * is the raw EC point for P-256 keys and hashes differently.
 */
export function caPinOfDer(raw: Buffer): string {
  return caPinOfCert(new X509Certificate(raw));
}

export function caPinOf(certPem: string): string {
  return caPinOfCert(new X509Certificate(certPem));
}

function caPinOfCert(cert: X509Certificate): string {
  const spki = cert.publicKey.export({ type: 'spki', format: 'der' });
  return `sha256:${createHash('sha256').update(spki).digest('hex')}`;
}

/** Compares a pin against the configured ones in constant time per candidate. */
export function pinMatches(pin: string, pins: readonly string[]): boolean {
  const a = Buffer.from(pin.toLowerCase());
  let match = false;
  for (const candidate of pins) {
    const b = Buffer.from(candidate.toLowerCase());
    if (a.length === b.length && timingSafeEqual(a, b)) match = true;
  }
  return match;
}
