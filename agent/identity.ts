// @peculiar/x509 resolves its ASN.1 providers through tsyringe, which needs the Reflect metadata API
import 'reflect-metadata';
import { X509Certificate, webcrypto } from 'node:crypto';
import * as x509 from '@peculiar/x509';

x509.cryptoProvider.set(webcrypto as unknown as Crypto);
const EC_P256 = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' } as const;

/**
 * The agent's key pair, made on the host (S4): the private key is returned to be stored 0600 in the
 * state dir and never travels; only the CSR goes to the controller, which ignores its subject.
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

/** The host id the controller put in our certificate. */
export function certificateHostId(certPem: string): string | undefined {
  const san = new X509Certificate(certPem).subjectAltName ?? '';
  const m = /URI:urn:kctl:host:([A-Za-z0-9._-]+)/.exec(san);
  return m?.[1];
}

export function certificateExpiry(certPem: string): number {
  return new Date(new X509Certificate(certPem).validTo).getTime();
}

/** S6: rotate at two thirds of the certificate's lifetime. */
export function shouldRotate(certPem: string, now: number): boolean {
  const c = new X509Certificate(certPem);
  const from = new Date(c.validFrom).getTime();
  const to = new Date(c.validTo).getTime();
  return now >= from + ((to - from) * 2) / 3;
}
