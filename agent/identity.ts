import { X509Certificate, generateKeyPair } from 'node:crypto';
import { promisify } from 'node:util';
import { HOST_URI_PREFIX } from '../proto/identity-uri.js';
import { ecdsaCsrDer, pem } from './csr-der.js';

const generateKeyPairAsync = promisify(generateKeyPair);

/** The controller names hosts with this URN (controller/pki.ts HOST_URI_PREFIX; agent/ cannot import it). */
const HOST_ID = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;

/**
 * The agent's key pair, made on the host (S4): the private key (PKCS#8 PEM) is returned for the
 * caller to store 0600 in the state dir and never travels; only the CSR goes to the controller,
 * which ignores its subject and takes the identity from its own registry.
 */
export async function createAgentKeyAndCsr(): Promise<{ keyPem: string; csrPem: string }> {
  const { publicKey, privateKey } = await generateKeyPairAsync('ec', { namedCurve: 'P-256' });
  return {
    keyPem: privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
    csrPem: pem('CERTIFICATE REQUEST', ecdsaCsrDer('kctl-agent', publicKey, privateKey)),
  };
}

/** Node's subjectAltName text as [type, value] pairs; Node quotes (JSON) a value with special characters. */
export function parseSubjectAltName(text: string): Array<[string, string]> {
  const entries: Array<[string, string]> = [];
  const entry = /([A-Za-z ]+):("(?:[^"\\]|\\.)*"|[^,]*)(?:, |$)/y;
  while (entry.lastIndex < text.length) {
    const m = entry.exec(text);
    if (!m) throw new Error(`subjectAltName: cannot read "${text}"`);
    const raw = m[2] ?? '';
    entries.push([m[1] ?? '', raw.startsWith('"') ? (JSON.parse(raw) as string) : raw]);
  }
  return entries;
}

/** The host id the controller put in our certificate (its one `urn:kctl:host:` URI SAN), if any. */
export function certificateHostId(certPem: string): string | undefined {
  try {
    const san = new X509Certificate(certPem).subjectAltName ?? '';
    const uris = parseSubjectAltName(san)
      .filter(([type]) => type === 'URI')
      .map(([, value]) => value);
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
