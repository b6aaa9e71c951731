import 'reflect-metadata';
import { X509Certificate, createPrivateKey, createPublicKey } from 'node:crypto';
import * as x509 from '@peculiar/x509';
import { beforeAll, describe, expect, it } from 'vitest';
import { certificateExpiry, certificateHostId, createAgentKeyAndCsr, shouldRotate } from './identity.js';

x509.cryptoProvider.set(globalThis.crypto);
const subtle = globalThis.crypto.subtle;
const EC_P256 = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' } as const;
const DAY_MS = 86_400_000;

/** agent/ may not import the controller's PKI, so the test signs its own certificates. */
let caKeys: CryptoKeyPair;
beforeAll(async () => {
  caKeys = await subtle.generateKey(EC_P256, true, ['sign', 'verify']);
});

async function cert(options: {
  sans?: x509.JsonGeneralName[];
  notBefore?: number;
  notAfter?: number;
}): Promise<string> {
  const keys = await subtle.generateKey(EC_P256, true, ['sign', 'verify']);
  const sans = options.sans ?? [];
  const c = await x509.X509CertificateGenerator.create({
    serialNumber: '01',
    subject: 'CN=kctl-host:test',
    issuer: 'CN=test CA',
    notBefore: new Date(options.notBefore ?? Date.now() - 60_000),
    notAfter: new Date(options.notAfter ?? Date.now() + 30 * DAY_MS),
    signingAlgorithm: EC_P256,
    publicKey: keys.publicKey,
    signingKey: caKeys.privateKey,
    extensions: sans.length > 0 ? [new x509.SubjectAlternativeNameExtension(sans)] : [],
  });
  return c.toString('pem');
}

describe('createAgentKeyAndCsr', () => {
  it('makes an ECDSA P-256 private key in PKCS#8 PEM', async () => {
    const { keyPem } = await createAgentKeyAndCsr();
    expect(keyPem).toMatch(/^-----BEGIN PRIVATE KEY-----\n[A-Za-z0-9+/=\n]+\n-----END PRIVATE KEY-----\n$/);
    const key = createPrivateKey(keyPem);
    expect(key.asymmetricKeyType).toBe('ec');
    expect(key.asymmetricKeyDetails?.namedCurve).toBe('prime256v1');
  });

  it('makes a CSR that is signed by that key and carries its public key', async () => {
    const { keyPem, csrPem } = await createAgentKeyAndCsr();
    const csr = new x509.Pkcs10CertificateRequest(csrPem);
    expect(await csr.verify()).toBe(true);
    expect(Buffer.from(csr.publicKey.rawData)).toEqual(
      createPublicKey(keyPem).export({ type: 'spki', format: 'der' }),
    );
    expect(csr.subject).toBe('CN=kctl-agent');
  });

  it('puts nothing of the private key in the CSR', async () => {
    const { keyPem, csrPem } = await createAgentKeyAndCsr();
    const d = createPrivateKey(keyPem).export({ format: 'jwk' }).d ?? '';
    expect(d).not.toBe('');
    expect(
      Buffer.from(csrPem.replace(/-----[^-]+-----|\s/g, ''), 'base64').includes(Buffer.from(d, 'base64url')),
    ).toBe(false);
    expect(csrPem).not.toContain('PRIVATE KEY');
  });

  it('makes a new key every time', async () => {
    const [a, b] = await Promise.all([createAgentKeyAndCsr(), createAgentKeyAndCsr()]);
    expect(a.keyPem).not.toBe(b.keyPem);
    expect(a.csrPem).not.toBe(b.csrPem);
  });
});

describe('certificateHostId', () => {
  it.each<[string, x509.JsonGeneralName[], string | undefined]>([
    ['reads the host id from the host URN', [{ type: 'url', value: 'urn:kctl:host:h-123' }], 'h-123'],
    [
      'reads a UUID host id',
      [{ type: 'url', value: 'urn:kctl:host:1b4e28ba-2fa1-11d2-883f-0016d3cca427' }],
      '1b4e28ba-2fa1-11d2-883f-0016d3cca427',
    ],
    ['gives nothing for an admin URN', [{ type: 'url', value: 'urn:kctl:admin:ops' }], undefined],
    ['gives nothing without a SAN', [], undefined],
    ['gives nothing for a DNS SAN', [{ type: 'dns', value: 'h-123' }], undefined],
    [
      'gives nothing for two URNs',
      [
        { type: 'url', value: 'urn:kctl:host:a' },
        { type: 'url', value: 'urn:kctl:host:b' },
      ],
      undefined,
    ],
    ['gives nothing for an empty id', [{ type: 'url', value: 'urn:kctl:host:' }], undefined],
    ['gives nothing for an id with a colon', [{ type: 'url', value: 'urn:kctl:host:a:b' }], undefined],
    [
      'is not fooled by a URN inside another name',
      [{ type: 'dns', value: 'x, URI:urn:kctl:host:evil' }],
      undefined,
    ],
    [
      'reads the URN beside DNS names and an IP',
      [
        { type: 'dns', value: 'a.example, b' },
        { type: 'ip', value: '10.0.0.1' },
        { type: 'url', value: 'urn:kctl:host:h-9' },
      ],
      'h-9',
    ],
    [
      'gives nothing for a quoted URN with a comma',
      [{ type: 'url', value: 'urn:kctl:host:a, URI:urn:kctl:host:b' }],
      undefined,
    ],
  ])('%s', async (_name, sans, expected) => {
    expect(certificateHostId(await cert({ sans }))).toBe(expected);
  });

  it('gives nothing for text that is not a certificate', () => {
    expect(certificateHostId('not a certificate')).toBeUndefined();
  });
});

describe('certificateExpiry', () => {
  it('is notAfter in milliseconds', async () => {
    const notAfter = Date.UTC(2031, 4, 6, 7, 8, 9);
    expect(certificateExpiry(await cert({ notAfter }))).toBe(notAfter);
  });
});

describe('shouldRotate (S6)', () => {
  const notBefore = Date.UTC(2030, 0, 1);
  const notAfter = notBefore + 30 * DAY_MS;
  let pem: string;
  beforeAll(async () => {
    pem = await cert({ notBefore, notAfter });
  });

  it.each([
    ['does not rotate before the certificate is valid', notBefore - DAY_MS, false],
    ['does not rotate at the start of its life', notBefore, false],
    ['does not rotate half way through', notBefore + 15 * DAY_MS, false],
    ['does not rotate a millisecond before two thirds', notBefore + 20 * DAY_MS - 1, false],
    ['rotates at exactly two thirds of its life', notBefore + 20 * DAY_MS, true],
    ['rotates after two thirds', notBefore + 25 * DAY_MS, true],
    ['rotates once expired', notAfter + 1, true],
  ])('%s', (_name, now, expected) => {
    expect(shouldRotate(pem, now)).toBe(expected);
  });

  it('measures from notBefore, not from the epoch or from notAfter alone', async () => {
    // a one-day certificate: two thirds is 16 h after notBefore
    const short = await cert({ notBefore, notAfter: notBefore + DAY_MS });
    expect(shouldRotate(short, notBefore + 16 * 3_600_000 - 1)).toBe(false);
    expect(shouldRotate(short, notBefore + 16 * 3_600_000)).toBe(true);
    expect(new X509Certificate(short).validFrom).toBe('Jan  1 00:00:00 2030 GMT');
  });
});
