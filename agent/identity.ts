// @peculiar/x509 resolves its ASN.1 providers through tsyringe, which needs the Reflect metadata API
import 'reflect-metadata';
import { X509Certificate, webcrypto } from 'node:crypto';
import * as x509 from '@peculiar/x509';
import { HOST_URI_PREFIX } from '../proto/identity-uri.js';

x509.cryptoProvider.set(webcrypto as unknown as Crypto);
const EC_P256 = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' } as const;
/** The controller names hosts with this URN (controller/pki.ts HOST_URI_PREFIX; agent/ cannot import it). */
const HOST_ID = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;

/**
 * The agent's key pair, made on the host (S4): the private key (PKCS#8 PEM) is returned for the
 * caller to store 0600 in the state dir and never travels; only the CSR goes to the controller,
 * which ignores its subject and takes the identity from its own registry.
 */
export async function createAgentKeyAndCsr(): Promise<{ keyPem: string; csrPem: string }> {
  const keys = await webcrypto.subtle.generateKey(EC_P256, true, ['sign', 'verify']);
  const csr = await x509.Pkcs10CertificateRequestGenerator.create({
    name: 'CN=kctl-agent',
    keys,
    signingAlgorithm: EC_P256,
  });
  const der = await webcrypto.subtle.exportKey('pkcs8', keys.privateKey);
  const b64 = Buffer.from(der)
    .toString('base64')
    .replace(/(.{64})/g, '$1\n')
    .trimEnd();
  return {
    keyPem: `-----BEGIN PRIVATE KEY-----\n${b64}\n-----END PRIVATE KEY-----\n`,
    csrPem: csr.toString('pem') + '\n',
  };
}

/** The host id the controller put in our certificate (its one `urn:kctl:host:` URI SAN), if any. */
export function certificateHostId(certPem: string): string | undefined {
  try {
    const san = new x509.X509Certificate(certPem).getExtension(x509.SubjectAlternativeNameExtension);
    const uris = san?.names.items.filter((n) => n.type === 'url').map((n) => n.value) ?? [];
    const uri = uris.length === 1 ? (uris[0] ?? '') : '';
    if (!uri.startsWith(HOST_URI_PREFIX)) return undefined;
    const id = uri.slice(HOST_URI_PREFIX.length);
    return HOST_ID.test(id) ? id : undefined;
  } catch {
    return undefined;
  }
}

/** notAfter in milliseconds since the epoch. */
export function certificateExpiry(certPem: string): number {
  return new Date(new X509Certificate(certPem).validTo).getTime();
}

/** S6: rotate once two thirds of the certificate's lifetime (notBefore..notAfter) have passed. */
export function shouldRotate(certPem: string, now: number): boolean {
  const c = new X509Certificate(certPem);
  const from = new Date(c.validFrom).getTime();
  const to = new Date(c.validTo).getTime();
  return now >= from + ((to - from) * 2) / 3;
}
