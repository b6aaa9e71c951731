// @peculiar/x509 resolves its ASN.1 providers through tsyringe, which needs the Reflect metadata API
import 'reflect-metadata';
import { X509Certificate as NodeX509, randomBytes, webcrypto } from 'node:crypto';
import { isIP } from 'node:net';
import * as x509 from '@peculiar/x509';
import { KctlError } from '../proto/errors.js';

x509.cryptoProvider.set(webcrypto as unknown as Crypto);
const subtle = webcrypto.subtle;

const EC_P256 = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' } as const;
const DAY_MS = 24 * 3600_000;

export interface CaKeyPair {
  certPem: string;
  keyPem: string;
}

export const HOST_URI_PREFIX = 'urn:kctl:host:';
export const ADMIN_URI_PREFIX = 'urn:kctl:admin:';

function pem(label: string, der: ArrayBuffer): string {
  const b64 = Buffer.from(der)
    .toString('base64')
    .replace(/(.{64})/g, '$1\n')
    .trimEnd();
  return `-----BEGIN ${label}-----\n${b64}\n-----END ${label}-----\n`;
}

function derOf(pemText: string): Buffer {
  return Buffer.from(pemText.replace(/-----[^-]+-----/g, '').replace(/\s+/g, ''), 'base64');
}

function serial(): string {
  // 128 random bits, top bit cleared so the DER integer stays positive
  const b = randomBytes(16);
  b[0] = (b[0] ?? 0) & 0x7f;
  return b.toString('hex');
}

async function newKeys(): Promise<CryptoKeyPair> {
  return subtle.generateKey(EC_P256, true, ['sign', 'verify']);
}

async function exportKeyPem(key: CryptoKey): Promise<string> {
  return pem('PRIVATE KEY', await subtle.exportKey('pkcs8', key));
}

async function importCaKey(keyPem: string): Promise<CryptoKey> {
  return subtle.importKey('pkcs8', derOf(keyPem), EC_P256, false, ['sign']);
}

function validity(days: number): { notBefore: Date; notAfter: Date } {
  // a minute of slack for clock skew between controller and hosts
  const now = Date.now();
  return { notBefore: new Date(now - 60_000), notAfter: new Date(now + days * DAY_MS) };
}

/** The controller's own CA (ECDSA P-256, 10 years by default). */
export async function createCa(options: { commonName: string; validityDays?: number }): Promise<CaKeyPair> {
  const keys = await newKeys();
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: serial(),
    name: `CN=${options.commonName}`,
    ...validity(options.validityDays ?? 3650),
    signingAlgorithm: EC_P256,
    keys,
    extensions: [
      new x509.BasicConstraintsExtension(true, 0, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
      await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
    ],
  });
  return { certPem: cert.toString('pem') + '\n', keyPem: await exportKeyPem(keys.privateKey) };
}

async function issue(
  ca: CaKeyPair,
  options: {
    subject: string;
    publicKey: CryptoKey;
    sans: x509.JsonGeneralName[];
    eku: string;
    validityDays: number;
  },
): Promise<{ certPem: string; serial: string; notAfter: number }> {
  const caCert = new x509.X509Certificate(ca.certPem);
  const signingKey = await importCaKey(ca.keyPem);
  const serialNumber = serial();
  const times = validity(options.validityDays);
  const cert = await x509.X509CertificateGenerator.create({
    serialNumber,
    subject: options.subject,
    issuer: caCert.subject,
    ...times,
    signingAlgorithm: EC_P256,
    publicKey: options.publicKey,
    signingKey,
    extensions: [
      new x509.BasicConstraintsExtension(false, undefined, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
      new x509.ExtendedKeyUsageExtension([options.eku], true),
      new x509.SubjectAlternativeNameExtension(options.sans, false),
      await x509.AuthorityKeyIdentifierExtension.create(caCert, false),
    ],
  });
  return { certPem: cert.toString('pem') + '\n', serial: serialNumber, notAfter: times.notAfter.getTime() };
}

/** The controller's serving certificate: serverAuth only, SANs split into DNS names and IPs. */
export async function issueServerCert(
  ca: CaKeyPair,
  options: { sans: string[]; validityDays?: number },
): Promise<CaKeyPair> {
  const keys = await newKeys();
  const sans = options.sans.map((s): x509.JsonGeneralName =>
    isIP(s) ? { type: 'ip', value: s } : { type: 'dns', value: s },
  );
  const { certPem } = await issue(ca, {
    subject: 'CN=kctl-controller',
    publicKey: keys.publicKey,
    sans,
    eku: x509.ExtendedKeyUsage.serverAuth,
    validityDays: options.validityDays ?? 365,
  });
  return { certPem, keyPem: await exportKeyPem(keys.privateKey) };
}

/**
 * Signs a host's CSR. The CSR only proves possession of the key; the certificate's identity comes
 * from the registry (a host id the controller chose), never from the CSR's subject or SANs (S4).
 */
export async function signAgentCsr(
  ca: CaKeyPair,
  csrPem: string,
  options: { hostId: string; validityDays?: number },
): Promise<{ certPem: string; serial: string; notAfter: number }> {
  let csr: x509.Pkcs10CertificateRequest;
  try {
    csr = new x509.Pkcs10CertificateRequest(csrPem);
  } catch (err) {
    throw new KctlError('csr_invalid', `certificate request cannot be parsed: ${(err as Error).message}`);
  }
  const alg = csr.publicKey.algorithm as EcKeyAlgorithm;
  if (alg.name !== 'ECDSA' || alg.namedCurve !== 'P-256') {
    throw new KctlError(
      'csr_invalid',
      `certificate request key must be ECDSA P-256, got ${alg.name} ${alg.namedCurve ?? ''}`.trim(),
    );
  }
  let valid = false;
  try {
    valid = await csr.verify();
  } catch {
    valid = false;
  }
  if (!valid) throw new KctlError('csr_invalid', 'certificate request signature does not verify');
  const publicKey = await csr.publicKey.export(EC_P256, ['verify']);
  return issue(ca, {
    subject: `CN=kctl-host:${options.hostId}`,
    publicKey,
    sans: [{ type: 'url', value: `${HOST_URI_PREFIX}${options.hostId}` }],
    eku: x509.ExtendedKeyUsage.clientAuth,
    validityDays: options.validityDays ?? 30,
  });
}

/** The admin credential kctl uses. */
export async function issueAdminCert(
  ca: CaKeyPair,
  options: { name: string; validityDays?: number },
): Promise<CaKeyPair> {
  const keys = await newKeys();
  const { certPem } = await issue(ca, {
    subject: `CN=kctl-admin:${options.name}`,
    publicKey: keys.publicKey,
    sans: [{ type: 'url', value: `${ADMIN_URI_PREFIX}${options.name}` }],
    eku: x509.ExtendedKeyUsage.clientAuth,
    validityDays: options.validityDays ?? 365,
  });
  return { certPem, keyPem: await exportKeyPem(keys.privateKey) };
}

export type PeerIdentity = { kind: 'host'; hostId: string } | { kind: 'admin'; name: string };

/**
 * Who a verified client certificate speaks for: its URI SAN, and only with EKU clientAuth.
 * The caller must already have verified the chain (TLS did, against our CA only).
 */
export function identityOfPeer(cert: Buffer | string): PeerIdentity | undefined {
  let parsed: x509.X509Certificate;
  try {
    parsed = new x509.X509Certificate(typeof cert === 'string' ? cert : new Uint8Array(cert));
  } catch {
    return undefined;
  }
  const eku = parsed.getExtension(x509.ExtendedKeyUsageExtension);
  if (!eku?.usages.includes(x509.ExtendedKeyUsage.clientAuth)) return undefined;
  const san = parsed.getExtension(x509.SubjectAlternativeNameExtension);
  const uris = san?.names.items.filter((n) => n.type === 'url').map((n) => n.value) ?? [];
  if (uris.length !== 1) return undefined;
  const uri = uris[0] ?? '';
  if (uri.startsWith(HOST_URI_PREFIX)) return { kind: 'host', hostId: uri.slice(HOST_URI_PREFIX.length) };
  if (uri.startsWith(ADMIN_URI_PREFIX)) return { kind: 'admin', name: uri.slice(ADMIN_URI_PREFIX.length) };
  return undefined;
}

export function certificateNotAfter(certPem: string): number {
  return new Date(new NodeX509(certPem).validTo).getTime();
}

export function certificateSerial(certPem: string): string {
  return new NodeX509(certPem).serialNumber.toLowerCase();
}
