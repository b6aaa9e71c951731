import {
  KeyObject,
  X509Certificate,
  createCipheriv,
  createDecipheriv,
  createHash,
  createPrivateKey,
  createPublicKey,
  randomBytes,
  webcrypto,
} from 'node:crypto';
import { isIP } from 'node:net';
import type * as X509 from '@peculiar/x509';

/**
 * Real certificates for the stand-ins: a cluster CA whose SubjectPublicKeyInfo hash is the
 * discovery hash kubeadm prints, leaf certificates signed by it, the service-account key pair, and
 * the AES-256-GCM sealing kubeadm uses for the certificates it uploads (`kubeadm-certs` Secret).
 */

const subtle = webcrypto.subtle;

let x509Module: Promise<typeof X509> | undefined;
/**
 * @peculiar/x509 is loaded only by the commands that issue certificates: evaluating it (and the
 * Reflect metadata API its tsyringe container needs) costs ~50 ms at every start otherwise.
 */
function loadX509(): Promise<typeof X509> {
  x509Module ??= import('reflect-metadata').then(async () => {
    const x509 = await import('@peculiar/x509');
    x509.cryptoProvider.set(webcrypto as unknown as Crypto);
    return x509;
  });
  return x509Module;
}

export type KeyAlgorithm = 'RSA-2048' | 'RSA-3072' | 'RSA-4096' | 'ECDSA-P256' | 'ECDSA-P384';

export interface CertAndKey {
  certPem: string;
  keyPem: string;
}

const DAY_MS = 24 * 3600_000;
/** kubeadm back-dates certificates a little for clock skew */
const BACKDATE_MS = 5 * 60_000;

function params(alg: KeyAlgorithm): RsaHashedKeyGenParams | EcKeyGenParams {
  if (alg.startsWith('RSA-')) {
    return {
      name: 'RSASSA-PKCS1-v1_5',
      modulusLength: Number(alg.slice(4)),
      publicExponent: new Uint8Array([1, 0, 1]),
      hash: 'SHA-256',
    };
  }
  return { name: 'ECDSA', namedCurve: alg === 'ECDSA-P384' ? 'P-384' : 'P-256' };
}

function signingAlgorithm(alg: KeyAlgorithm): Algorithm {
  return alg.startsWith('RSA-')
    ? ({ name: 'RSASSA-PKCS1-v1_5', hash: 'SHA-256' } as Algorithm)
    : ({ name: 'ECDSA', hash: alg === 'ECDSA-P384' ? 'SHA-384' : 'SHA-256' } as Algorithm);
}

const keyPool = new Map<KeyAlgorithm, Promise<CryptoKeyPair>[]>();

/**
 * Starts generating `count` key pairs in the background. RSA key generation dominates a stand-in
 * init (17 keys); starting them all at once lets the thread pool work while the command validates.
 */
export function prefetchKeys(alg: KeyAlgorithm, count: number): void {
  const pool = keyPool.get(alg) ?? [];
  for (let i = 0; i < count; i++) {
    const p = subtle.generateKey(params(alg), true, ['sign', 'verify']);
    p.catch(() => undefined);
    pool.push(p);
  }
  keyPool.set(alg, pool);
}

async function newKeys(alg: KeyAlgorithm): Promise<CryptoKeyPair> {
  return keyPool.get(alg)?.shift() ?? subtle.generateKey(params(alg), true, ['sign', 'verify']);
}

/** kubeadm writes keys as "RSA PRIVATE KEY" (PKCS#1) or "EC PRIVATE KEY" (SEC 1). */
function privateKeyPem(key: CryptoKey): string {
  const k = KeyObject.from(key);
  return k.export({ type: k.asymmetricKeyType === 'rsa' ? 'pkcs1' : 'sec1', format: 'pem' }).toString();
}

export function algorithmOfKeyPem(keyPem: string): KeyAlgorithm {
  const k = createPrivateKey(keyPem);
  if (k.asymmetricKeyType === 'rsa') {
    const bits = k.asymmetricKeyDetails?.modulusLength ?? 2048;
    return bits >= 4096 ? 'RSA-4096' : bits >= 3072 ? 'RSA-3072' : 'RSA-2048';
  }
  return k.asymmetricKeyDetails?.namedCurve === 'secp384r1' ? 'ECDSA-P384' : 'ECDSA-P256';
}

async function importSigningKey(keyPem: string, alg: KeyAlgorithm): Promise<CryptoKey> {
  const der = createPrivateKey(keyPem).export({ type: 'pkcs8', format: 'der' });
  return subtle.importKey('pkcs8', der, params(alg), false, ['sign']);
}

function serialNumber(): string {
  const b = randomBytes(16);
  b[0] = (b[0] ?? 0) & 0x7f;
  return b.toString('hex');
}

function certPem(cert: X509.X509Certificate): string {
  return `${cert.toString('pem')}\n`;
}

/** A self-signed CA as kubeadm makes them (10 years by default). */
export async function createCa(options: {
  commonName: string;
  algorithm: KeyAlgorithm;
  now: number;
  validityMs?: number | undefined;
}): Promise<CertAndKey> {
  const x509 = await loadX509();
  const keys = await newKeys(options.algorithm);
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: serialNumber(),
    name: `CN=${options.commonName}`,
    notBefore: new Date(options.now - BACKDATE_MS),
    notAfter: new Date(options.now + (options.validityMs ?? 3650 * DAY_MS)),
    signingAlgorithm: signingAlgorithm(options.algorithm),
    keys,
    extensions: [
      new x509.BasicConstraintsExtension(true, undefined, true),
      new x509.KeyUsagesExtension(
        x509.KeyUsageFlags.digitalSignature |
          x509.KeyUsageFlags.keyEncipherment |
          x509.KeyUsageFlags.keyCertSign,
        true,
      ),
      await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
    ],
  });
  return { certPem: certPem(cert), keyPem: privateKeyPem(keys.privateKey) };
}

export interface LeafOptions {
  commonName: string;
  organizations?: string[];
  usages: ('server' | 'client')[];
  altNames?: string[];
  algorithm: KeyAlgorithm;
  now: number;
  validityMs?: number | undefined;
}

/** A leaf certificate signed by `ca` (1 year by default), with SANs split into DNS names and IPs. */
export async function issueCert(ca: CertAndKey, options: LeafOptions): Promise<CertAndKey> {
  const x509 = await loadX509();
  const keys = await newKeys(options.algorithm);
  const caCert = new x509.X509Certificate(ca.certPem);
  const caAlgorithm = algorithmOfKeyPem(ca.keyPem);
  const subject = [...(options.organizations ?? []).map((o) => `O=${o}`), `CN=${options.commonName}`].join(
    ', ',
  );
  const sans = [...new Set(options.altNames ?? [])].map((s): X509.JsonGeneralName =>
    isIP(s) ? { type: 'ip', value: s } : { type: 'dns', value: s },
  );
  const ekus = options.usages.map((u) =>
    u === 'server' ? x509.ExtendedKeyUsage.serverAuth : x509.ExtendedKeyUsage.clientAuth,
  );
  const keyUsage = options.algorithm.startsWith('RSA-')
    ? x509.KeyUsageFlags.digitalSignature | x509.KeyUsageFlags.keyEncipherment
    : x509.KeyUsageFlags.digitalSignature;
  const cert = await x509.X509CertificateGenerator.create({
    serialNumber: serialNumber(),
    subject,
    issuer: caCert.subject,
    notBefore: new Date(options.now - BACKDATE_MS),
    notAfter: new Date(options.now + (options.validityMs ?? 365 * DAY_MS)),
    signingAlgorithm: signingAlgorithm(caAlgorithm),
    publicKey: keys.publicKey,
    signingKey: await importSigningKey(ca.keyPem, caAlgorithm),
    extensions: [
      new x509.BasicConstraintsExtension(false, undefined, true),
      new x509.KeyUsagesExtension(keyUsage, true),
      new x509.ExtendedKeyUsageExtension(ekus, false),
      ...(sans.length > 0 ? [new x509.SubjectAlternativeNameExtension(sans, false)] : []),
      await x509.AuthorityKeyIdentifierExtension.create(caCert, false),
    ],
  });
  return { certPem: certPem(cert), keyPem: privateKeyPem(keys.privateKey) };
}

/** The service-account signing key pair: sa.key and sa.pub (PKIX public key). */
export async function createServiceAccountKey(
  algorithm: KeyAlgorithm,
): Promise<{ keyPem: string; pubPem: string }> {
  const keys = await newKeys(algorithm);
  const keyPem = privateKeyPem(keys.privateKey);
  const pubPem = createPublicKey(keyPem).export({ type: 'spki', format: 'pem' }).toString();
  return { keyPem, pubPem };
}

/** `sha256:<hex>` over the certificate's DER SubjectPublicKeyInfo: kubeadm's discovery-token-ca-cert-hash. */
export function caCertHashOf(certPem: string): string {
  const spki = new X509Certificate(certPem).publicKey.export({ type: 'spki', format: 'der' });
  return `sha256:${createHash('sha256').update(spki).digest('hex')}`;
}

export interface CertInfo {
  commonName: string;
  organizations: string[];
  notBefore: number;
  notAfter: number;
}

export function certInfo(certPem: string): CertInfo {
  const c = new X509Certificate(certPem);
  const subject = c.subject.split('\n');
  return {
    commonName: subject.find((l) => l.startsWith('CN='))?.slice(3) ?? '',
    organizations: subject.filter((l) => l.startsWith('O=')).map((l) => l.slice(2)),
    notBefore: Date.parse(c.validFrom),
    notAfter: Date.parse(c.validTo),
  };
}

/** Whether `certPem` carries a signature made by the key of `caPem`. */
export function isSignedBy(certPem: string, caPem: string): boolean {
  try {
    return new X509Certificate(certPem).verify(new X509Certificate(caPem).publicKey);
  } catch {
    return false;
  }
}

/** Whether the private key in `keyPem` belongs to the certificate. */
export function keyMatchesCert(keyPem: string, certPem: string): boolean {
  try {
    return new X509Certificate(certPem).checkPrivateKey(createPrivateKey(keyPem));
  } catch {
    return false;
  }
}

/** Errors worded as Go's crypto and encoding packages word them. */
export class CipherError extends Error {}

function aesKey(keyHex: string): Buffer {
  if (!/^[0-9a-fA-F]*$/.test(keyHex) || keyHex.length % 2 !== 0) {
    const bad = [...keyHex].find((c) => !/[0-9a-fA-F]/.test(c));
    throw new CipherError(
      bad === undefined
        ? 'encoding/hex: odd length hex string'
        : `encoding/hex: invalid byte: U+${(bad.codePointAt(0) ?? 0).toString(16).toUpperCase().padStart(4, '0')} ${JSON.stringify(bad).replace(/"/g, "'")}`,
    );
  }
  const key = Buffer.from(keyHex, 'hex');
  if (key.length !== 32) throw new CipherError(`crypto/aes: invalid key size ${key.length}`);
  return key;
}

/** AES-256-GCM as kubeadm's cryptoutil.EncryptBytes: nonce || ciphertext || tag. */
export function sealBytes(keyHex: string, data: Buffer): Buffer {
  const nonce = randomBytes(12);
  const cipher = createCipheriv('aes-256-gcm', aesKey(keyHex), nonce);
  const body = Buffer.concat([cipher.update(data), cipher.final()]);
  return Buffer.concat([nonce, body, cipher.getAuthTag()]);
}

export function openBytes(keyHex: string, sealed: Buffer): Buffer {
  const key = aesKey(keyHex);
  if (sealed.length < 12 + 16) throw new CipherError('size of data is less than the nonce');
  const decipher = createDecipheriv('aes-256-gcm', key, sealed.subarray(0, 12));
  decipher.setAuthTag(sealed.subarray(sealed.length - 16));
  try {
    return Buffer.concat([decipher.update(sealed.subarray(12, sealed.length - 16)), decipher.final()]);
  } catch {
    throw new CipherError('cipher: message authentication failed');
  }
}
