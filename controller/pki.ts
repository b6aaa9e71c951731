// @peculiar/x509 resolves its ASN.1 providers through tsyringe, which needs the Reflect metadata API
import 'reflect-metadata';
import {
  X509Certificate as NodeX509,
  createHash,
  createPublicKey,
  randomBytes,
  webcrypto,
} from 'node:crypto';
import { isIP } from 'node:net';
import * as x509 from '@peculiar/x509';
import { KctlError } from '../proto/errors.js';
import { ADMIN_URI_PREFIX, HOST_URI_PREFIX } from '../proto/identity-uri.js';

x509.cryptoProvider.set(webcrypto as unknown as Crypto);
const subtle = webcrypto.subtle;

export const EC_P256 = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' } as const;
const DAY_MS = 24 * 3600_000;
/** S6: host certificates live at most 30 days. */
export const MAX_AGENT_CERT_DAYS = 30;
/** Generous for a PEM CSR of a P-256 or Ed25519 key; anything larger is not ours. */
const MAX_CSR_PEM_CHARS = 16_384;
/** Host ids (UUIDs from the registry) and admin names: they go into a DN and a URN, so no DN syntax. */
const IDENTITY_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;

export interface CaKeyPair {
  certPem: string;
  keyPem: string;
}

export interface SignedCertificate {
  certPem: string;
  /** Lowercase hex, as certificateSerial() reads it back. */
  serial: string;
  /** Milliseconds since the epoch, exactly as encoded in the certificate (whole seconds). */
  notAfter: number;
}

export { ADMIN_URI_PREFIX, HOST_URI_PREFIX };

export function pem(label: string, der: ArrayBuffer): string {
  const b64 = Buffer.from(der)
    .toString('base64')
    .replace(/(.{64})/g, '$1\n')
    .trimEnd();
  return `-----BEGIN ${label}-----\n${b64}\n-----END ${label}-----\n`;
}

export function derOf(pemText: string): Buffer {
  return Buffer.from(pemText.replace(/-----[^-]+-----/g, '').replace(/\s+/g, ''), 'base64');
}

export function randomSerial(): string {
  // 128 bits from the CSPRNG; @peculiar/x509 encodes the hex as a positive, minimal DER INTEGER
  for (;;) {
    const hex = randomBytes(16).toString('hex');
    if (/[^0]/.test(hex)) return hex;
  }
}

export async function newKeys(): Promise<CryptoKeyPair> {
  return subtle.generateKey(EC_P256, true, ['sign', 'verify']);
}

export async function exportKeyPem(key: CryptoKey): Promise<string> {
  return pem('PRIVATE KEY', await subtle.exportKey('pkcs8', key));
}

export async function importCaKey(keyPem: string): Promise<CryptoKey> {
  return subtle.importKey('pkcs8', derOf(keyPem), EC_P256, false, ['sign']);
}

function checkDays(days: number, max: number, what: string): number {
  if (!Number.isFinite(days) || days <= 0 || days > max) {
    throw new KctlError(
      'invalid_args',
      `${what} validity must be more than 0 and at most ${max} days, got ${days}`,
    );
  }
  return days;
}

function checkIdentityName(value: string, what: string): string {
  if (!IDENTITY_NAME.test(value)) {
    throw new KctlError('invalid_args', `${what} "${value}" must match ${IDENTITY_NAME.source}`);
  }
  return value;
}

function validity(days: number, now: number): { notBefore: Date; notAfter: Date } {
  // a minute of slack for clock skew between controller and hosts
  return { notBefore: new Date(now - 60_000), notAfter: new Date(now + days * DAY_MS) };
}

/** The controller's own CA (ECDSA P-256, 10 years by default). */
export async function createCa(options: {
  commonName: string;
  validityDays?: number;
  now?: number;
}): Promise<CaKeyPair> {
  if (!/^[A-Za-z0-9][A-Za-z0-9 ._-]{0,63}$/.test(options.commonName)) {
    throw new KctlError(
      'invalid_args',
      `CA common name "${options.commonName}" has characters a DN cannot hold`,
    );
  }
  const keys = await newKeys();
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: randomSerial(),
    name: `CN=${options.commonName}`,
    ...validity(checkDays(options.validityDays ?? 3650, 36_500, 'CA'), options.now ?? Date.now()),
    signingAlgorithm: EC_P256,
    keys,
    extensions: [
      // pathLen 0: this CA signs leaf certificates only
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
    publicKey: CryptoKey | x509.PublicKey;
    sans: x509.JsonGeneralName[];
    eku: string;
    validityDays: number;
    now: number | undefined;
  },
): Promise<SignedCertificate> {
  const caCert = new x509.X509Certificate(ca.certPem);
  const signingKey = await importCaKey(ca.keyPem);
  const cert = await x509.X509CertificateGenerator.create({
    serialNumber: randomSerial(),
    subject: options.subject,
    issuer: caCert.subject,
    ...validity(options.validityDays, options.now ?? Date.now()),
    signingAlgorithm: EC_P256,
    publicKey: options.publicKey,
    signingKey,
    extensions: [
      new x509.BasicConstraintsExtension(false, undefined, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
      new x509.ExtendedKeyUsageExtension([options.eku], true),
      new x509.SubjectAlternativeNameExtension(options.sans, false),
      await x509.SubjectKeyIdentifierExtension.create(options.publicKey),
      await x509.AuthorityKeyIdentifierExtension.create(caCert, false),
    ],
  });
  const certPem = cert.toString('pem') + '\n';
  return { certPem, serial: certificateSerial(certPem), notAfter: certificateNotAfter(certPem) };
}

/** The controller's serving certificate: serverAuth only, each SAN an IP address or a DNS name. */
export async function issueServerCert(
  ca: CaKeyPair,
  options: { sans: readonly string[]; validityDays?: number; now?: number },
): Promise<CaKeyPair> {
  if (options.sans.length === 0) {
    throw new KctlError('invalid_args', 'a serving certificate needs at least one SAN (DNS name or IP)');
  }
  const sans = options.sans.map((s): x509.JsonGeneralName => {
    if (isIP(s) !== 0) return { type: 'ip', value: s };
    if (
      !/^(\*\.)?[A-Za-z0-9]([A-Za-z0-9-]{0,62})(\.[A-Za-z0-9]([A-Za-z0-9-]{0,62}))*$/.test(s) ||
      s.length > 253
    ) {
      throw new KctlError('invalid_args', `SAN "${s}" is neither an IP address nor a DNS name`);
    }
    return { type: 'dns', value: s };
  });
  const keys = await newKeys();
  const { certPem } = await issue(ca, {
    subject: 'CN=kctl-controller',
    publicKey: keys.publicKey,
    sans,
    eku: x509.ExtendedKeyUsage.serverAuth,
    validityDays: checkDays(options.validityDays ?? 365, 3650, 'serving certificate'),
    now: options.now,
  });
  return { certPem, keyPem: await exportKeyPem(keys.privateKey) };
}

/** Parses a CSR and checks that it proves possession of an ECDSA P-256 or Ed25519 key. */
async function verifiedCsrKey(csrPem: string): Promise<x509.PublicKey> {
  if (csrPem.length > MAX_CSR_PEM_CHARS) {
    throw new KctlError('csr_invalid', `certificate request is larger than ${MAX_CSR_PEM_CHARS} characters`);
  }
  if (!csrPem.includes('-----BEGIN CERTIFICATE REQUEST-----')) {
    throw new KctlError('csr_invalid', 'certificate request must be a PEM "CERTIFICATE REQUEST" block');
  }
  let csr: x509.Pkcs10CertificateRequest;
  let keyType: string | undefined;
  let curve: string | undefined;
  try {
    csr = new x509.Pkcs10CertificateRequest(csrPem);
    const key = createPublicKey({ key: Buffer.from(csr.publicKey.rawData), format: 'der', type: 'spki' });
    keyType = key.asymmetricKeyType;
    curve = key.asymmetricKeyDetails?.namedCurve;
  } catch (err) {
    throw new KctlError('csr_invalid', `certificate request cannot be parsed: ${(err as Error).message}`);
  }
  const supported = (keyType === 'ec' && curve === 'prime256v1') || keyType === 'ed25519';
  if (!supported) {
    throw new KctlError(
      'csr_invalid',
      `certificate request key must be ECDSA P-256 or Ed25519, got ${[keyType ?? 'unknown', curve].filter(Boolean).join(' ')}`,
    );
  }
  let valid = false;
  try {
    // verify() checks the request's signature with the request's own public key
    valid = await csr.verify();
  } catch {
    valid = false;
  }
  if (!valid) throw new KctlError('csr_invalid', 'certificate request signature does not verify');
  return csr.publicKey;
}

/**
 * SHA-256 (hex) of the SubjectPublicKeyInfo of a CSR whose signature verifies: which key an
 * enrollment was for, so a retry with the same key can be answered with the same certificate.
 */
export async function csrKeySha256(csrPem: string): Promise<string> {
  const key = await verifiedCsrKey(csrPem);
  return createHash('sha256').update(Buffer.from(key.rawData)).digest('hex');
}

/**
 * Signs a host's CSR. The CSR only proves possession of the key; the certificate's identity comes
 * from the registry (a host id the controller chose), never from the CSR's subject or SANs (S4).
 * The role is carried by the URN namespace: `urn:kctl:host:` is the agent role.
 */
export async function signAgentCsr(
  ca: CaKeyPair,
  csrPem: string,
  options: { hostId: string; role?: 'agent'; validityDays?: number; now?: number },
): Promise<SignedCertificate> {
  const hostId = checkIdentityName(options.hostId, 'host id');
  const validityDays = checkDays(
    options.validityDays ?? MAX_AGENT_CERT_DAYS,
    MAX_AGENT_CERT_DAYS,
    'host certificate',
  );
  const publicKey = await verifiedCsrKey(csrPem);
  return issue(ca, {
    subject: `CN=kctl-host:${hostId}`,
    publicKey,
    sans: [{ type: 'url', value: `${HOST_URI_PREFIX}${hostId}` }],
    eku: x509.ExtendedKeyUsage.clientAuth,
    validityDays,
    now: options.now,
  });
}

/** The admin credential kctl uses. */
export async function issueAdminCert(
  ca: CaKeyPair,
  options: { name: string; validityDays?: number; now?: number },
): Promise<CaKeyPair> {
  const name = checkIdentityName(options.name, 'admin name');
  const keys = await newKeys();
  const { certPem } = await issue(ca, {
    subject: `CN=kctl-admin:${name}`,
    publicKey: keys.publicKey,
    sans: [{ type: 'url', value: `${ADMIN_URI_PREFIX}${name}` }],
    eku: x509.ExtendedKeyUsage.clientAuth,
    validityDays: checkDays(options.validityDays ?? 365, 3650, 'admin certificate'),
    now: options.now,
  });
  return { certPem, keyPem: await exportKeyPem(keys.privateKey) };
}

export type PeerIdentity = { kind: 'host'; hostId: string } | { kind: 'admin'; name: string };

/** id-kp-clientAuth (RFC 5280 4.2.1.12) */
const EKU_CLIENT_AUTH = '1.3.6.1.5.5.7.3.2';

/**
 * Who a verified client certificate speaks for: its one URI SAN, and only with EKU clientAuth on a
 * non-CA certificate. The caller must already have verified the chain (TLS did, against our CA only).
 * Read with Node's own (OpenSSL) parser: this runs for every agent connection and request, and it
 * is about 8x cheaper than the JavaScript ASN.1 reader (a reconnect storm of 10,000 agents after a
 * controller restart). Node quotes any SAN value with separators or quotes in it, and such a value
 * cannot pass IDENTITY_NAME, so splitting on ", " cannot forge a second identity.
 */
export function identityOfPeer(cert: Buffer | Uint8Array | string): PeerIdentity | undefined {
  let parsed: NodeX509;
  try {
    parsed = new NodeX509(typeof cert === 'string' ? cert : Buffer.from(cert));
  } catch {
    return undefined;
  }
  if (parsed.ca) return undefined;
  if (!(parsed.keyUsage ?? []).includes(EKU_CLIENT_AUTH)) return undefined;
  const uris = (parsed.subjectAltName ?? '')
    .split(', ')
    .filter((entry) => entry.startsWith('URI:'))
    .map((entry) => entry.slice('URI:'.length));
  const uri = uris.length === 1 ? (uris[0] ?? '') : '';
  const name = (prefix: string): string | undefined => {
    const rest = uri.startsWith(prefix) ? uri.slice(prefix.length) : undefined;
    return rest !== undefined && IDENTITY_NAME.test(rest) ? rest : undefined;
  };
  const hostId = name(HOST_URI_PREFIX);
  if (hostId !== undefined) return { kind: 'host', hostId };
  const admin = name(ADMIN_URI_PREFIX);
  if (admin !== undefined) return { kind: 'admin', name: admin };
  return undefined;
}

/** notAfter in milliseconds since the epoch. */
export function certificateNotAfter(certPem: string): number {
  return new Date(new NodeX509(certPem).validTo).getTime();
}

/** The serial as lowercase hex without leading zeros (Node's reading of the DER INTEGER). */
export function certificateSerial(certPem: string): string {
  return new NodeX509(certPem).serialNumber.toLowerCase();
}
