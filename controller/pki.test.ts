import 'reflect-metadata';
import { X509Certificate, createPrivateKey, createPublicKey } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as x509 from '@peculiar/x509';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  ADMIN_URI_PREFIX,
  HOST_URI_PREFIX,
  MAX_AGENT_CERT_DAYS,
  certificateNotAfter,
  certificateSerial,
  createCa,
  identityOfPeer,
  issueAdminCert,
  issueServerCert,
  signAgentCsr,
  type CaKeyPair,
} from './pki.js';

x509.cryptoProvider.set(globalThis.crypto);
const subtle = globalThis.crypto.subtle;
const DAY_MS = 86_400_000;
const EC_P256 = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' } as const;
const ED25519 = { name: 'Ed25519' } as const;

type KeyKind = 'EC P-256' | 'Ed25519' | 'EC P-384' | 'RSA 2048';
const keyParams: Record<
  KeyKind,
  {
    gen: EcKeyGenParams | RsaHashedKeyGenParams | Algorithm;
    sign: EcdsaParams | RsaHashedImportParams | Algorithm;
  }
> = {
  'EC P-256': { gen: EC_P256, sign: EC_P256 },
  Ed25519: { gen: ED25519, sign: ED25519 },
  'EC P-384': {
    gen: { name: 'ECDSA', namedCurve: 'P-384' },
    sign: { name: 'ECDSA', hash: 'SHA-384' },
  },
  'RSA 2048': {
    gen: {
      name: 'RSASSA-PKCS1-v1_5',
      modulusLength: 2048,
      publicExponent: new Uint8Array([1, 0, 1]),
      hash: 'SHA-256',
    },
    sign: { name: 'RSASSA-PKCS1-v1_5', hash: 'SHA-256' },
  },
};

/** A CSR made in the test, so it can ask for whatever identity an attacker would like. */
async function makeCsr(
  kind: KeyKind = 'EC P-256',
  options: { name?: string; extensions?: x509.Extension[] } = {},
): Promise<{ csrPem: string; keyPem: string; spkiDer: Buffer }> {
  const { gen, sign } = keyParams[kind];
  // one overload per algorithm family; the table mixes them
  const keys = await subtle.generateKey(gen as EcKeyGenParams, true, ['sign', 'verify']);
  const csr = await x509.Pkcs10CertificateRequestGenerator.create({
    name: options.name ?? 'CN=kctl-agent',
    keys,
    signingAlgorithm: sign,
    ...(options.extensions ? { extensions: options.extensions } : {}),
  });
  const pkcs8 = Buffer.from(await subtle.exportKey('pkcs8', keys.privateKey));
  return {
    csrPem: csr.toString('pem'),
    keyPem: createPrivateKey({ key: pkcs8, format: 'der', type: 'pkcs8' }).export({
      type: 'pkcs8',
      format: 'pem',
    }) as string,
    spkiDer: Buffer.from(await subtle.exportKey('spki', keys.publicKey)),
  };
}

function derOfPem(pem: string): Buffer {
  return Buffer.from(pem.replace(/-----[^-]+-----|\s/g, ''), 'base64');
}

function csrPemOf(der: Buffer): string {
  return `-----BEGIN CERTIFICATE REQUEST-----\n${der.toString('base64')}\n-----END CERTIFICATE REQUEST-----\n`;
}

function ekuOf(certPem: string): string[] {
  return (
    new x509.X509Certificate(certPem).getExtension(x509.ExtendedKeyUsageExtension)?.usages.map(String) ?? []
  );
}

function sanOf(certPem: string): x509.JsonGeneralName[] {
  return (
    new x509.X509Certificate(certPem).getExtension(x509.SubjectAlternativeNameExtension)?.names.toJSON() ?? []
  );
}

const dir = mkdtempSync(join(tmpdir(), 'kctl-pki-'));
let n = 0;
function file(text: string): string {
  const path = join(dir, `f${n++}.pem`);
  writeFileSync(path, text);
  return path;
}

/** `openssl verify` with a purpose; returns its first line, or the failure text. */
function opensslVerify(ca: CaKeyPair, certPem: string, purpose: 'sslclient' | 'sslserver'): string {
  try {
    return execFileSync(
      'openssl',
      ['verify', '-CAfile', file(ca.certPem), '-purpose', purpose, file(certPem)],
      {
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    )
      .toString()
      .trim();
  } catch (err) {
    return `failed: ${String((err as { stderr?: Buffer }).stderr ?? err)}`;
  }
}

function opensslExtensions(certPem: string, names: string): string {
  return execFileSync('openssl', ['x509', '-noout', '-ext', names, '-in', file(certPem)]).toString();
}

let ca: CaKeyPair;
let foreignCa: CaKeyPair;
beforeAll(async () => {
  [ca, foreignCa] = await Promise.all([
    createCa({ commonName: 'kctl test CA' }),
    createCa({ commonName: 'foreign' }),
  ]);
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('createCa', () => {
  it('makes a self-signed ECDSA P-256 CA', () => {
    const cert = new X509Certificate(ca.certPem);
    expect(cert.ca).toBe(true);
    expect(cert.subject).toBe('CN=kctl test CA');
    expect(cert.checkIssued(cert)).toBe(true);
    expect(cert.verify(cert.publicKey)).toBe(true);
    expect(cert.publicKey.asymmetricKeyType).toBe('ec');
    expect(cert.publicKey.asymmetricKeyDetails?.namedCurve).toBe('prime256v1');
    expect(cert.checkPrivateKey(createPrivateKey(ca.keyPem))).toBe(true);
  });

  it('marks basicConstraints CA:true critical and keyUsage keyCertSign and cRLSign', () => {
    const text = opensslExtensions(ca.certPem, 'basicConstraints,keyUsage');
    expect(text).toMatch(/Basic Constraints: critical\s+CA:TRUE/);
    expect(text).toMatch(/Key Usage: critical\s+Certificate Sign, CRL Sign\s*$/);
  });

  it('has a subject key identifier', () => {
    expect(
      new x509.X509Certificate(ca.certPem).getExtension(x509.SubjectKeyIdentifierExtension)?.keyId,
    ).toMatch(/^[0-9a-f]{40}$/);
  });

  it('is valid for 3650 days by default', () => {
    const cert = new X509Certificate(ca.certPem);
    const days = (Date.parse(cert.validTo) - Date.now()) / DAY_MS;
    expect(days).toBeGreaterThan(3649.9);
    expect(days).toBeLessThanOrEqual(3650);
  });

  it('honours validityDays and the clock it is given', async () => {
    const now = Date.UTC(2030, 0, 1);
    const short = await createCa({ commonName: 'short', validityDays: 2, now });
    expect(certificateNotAfter(short.certPem)).toBe(now + 2 * DAY_MS);
  });

  it('gives two CAs different keys and serials', () => {
    expect(createPublicKey(ca.keyPem).export({ format: 'jwk' })).not.toEqual(
      createPublicKey(foreignCa.keyPem).export({ format: 'jwk' }),
    );
    expect(certificateSerial(ca.certPem)).not.toBe(certificateSerial(foreignCa.certPem));
  });

  it('refuses a common name with DN syntax in it', async () => {
    await expect(createCa({ commonName: 'x,O=evil' })).rejects.toMatchObject({ code: 'invalid_args' });
  });
});

describe('issueServerCert', () => {
  it('puts each SAN in as an IP address or a DNS name', async () => {
    const server = await issueServerCert(ca, {
      sans: ['localhost', '127.0.0.1', '::1', 'ctl.example.com', '10.0.0.7'],
    });
    expect(sanOf(server.certPem)).toEqual([
      { type: 'dns', value: 'localhost' },
      { type: 'ip', value: '127.0.0.1' },
      { type: 'ip', value: '::1' },
      { type: 'dns', value: 'ctl.example.com' },
      { type: 'ip', value: '10.0.0.7' },
    ]);
    expect(new X509Certificate(server.certPem).checkIP('10.0.0.7')).toBe('10.0.0.7');
    expect(new X509Certificate(server.certPem).checkHost('ctl.example.com')).toBe('ctl.example.com');
  });

  it('is for serverAuth only, signed by the CA, with its own key', async () => {
    const server = await issueServerCert(ca, { sans: ['localhost'] });
    const cert = new X509Certificate(server.certPem);
    expect(ekuOf(server.certPem)).toEqual([x509.ExtendedKeyUsage.serverAuth]);
    expect(cert.ca).toBe(false);
    expect(cert.checkIssued(new X509Certificate(ca.certPem))).toBe(true);
    expect(cert.verify(new X509Certificate(ca.certPem).publicKey)).toBe(true);
    expect(cert.checkPrivateKey(createPrivateKey(server.keyPem))).toBe(true);
    expect(opensslVerify(ca, server.certPem, 'sslserver')).toMatch(/: OK$/);
    expect(opensslVerify(ca, server.certPem, 'sslclient')).toMatch(
      /^failed: .*unsuitable certificate purpose/s,
    );
    expect(identityOfPeer(server.certPem)).toBeUndefined();
  });

  it('is valid for 365 days by default', async () => {
    const now = Date.UTC(2030, 5, 1);
    const server = await issueServerCert(ca, { sans: ['localhost'], now });
    expect(certificateNotAfter(server.certPem)).toBe(now + 365 * DAY_MS);
  });

  it.each([
    ['no SAN', []],
    ['an empty SAN', ['']],
    ['a SAN with a comma', ['a,b']],
    ['a SAN with a space', ['my host']],
    ['a URL as SAN', ['https://ctl']],
  ])('refuses %s', async (_what, sans) => {
    await expect(issueServerCert(ca, { sans })).rejects.toMatchObject({ code: 'invalid_args' });
  });
});

describe('signAgentCsr', () => {
  const greedy = (): Promise<{ csrPem: string; keyPem: string; spkiDer: Buffer }> =>
    makeCsr('EC P-256', {
      name: 'CN=kctl-admin:admin, O=system:masters',
      extensions: [
        new x509.SubjectAlternativeNameExtension([
          { type: 'url', value: `${ADMIN_URI_PREFIX}admin` },
          { type: 'url', value: `${HOST_URI_PREFIX}someone-else` },
          { type: 'dns', value: 'controller.example.com' },
          { type: 'ip', value: '10.0.0.1' },
        ]),
        new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth]),
        new x509.BasicConstraintsExtension(true),
      ],
    });

  it('gives the certificate only the registry identity, whatever the CSR asks for (S4)', async () => {
    const csr = await greedy();
    const signed = await signAgentCsr(ca, csr.csrPem, { hostId: 'h-123', role: 'agent' });
    const cert = new X509Certificate(signed.certPem);
    expect(cert.subject).toBe('CN=kctl-host:h-123');
    expect(cert.subjectAltName).toBe('URI:urn:kctl:host:h-123');
    expect(sanOf(signed.certPem)).toEqual([{ type: 'url', value: 'urn:kctl:host:h-123' }]);
    expect(ekuOf(signed.certPem)).toEqual([x509.ExtendedKeyUsage.clientAuth]);
    expect(cert.ca).toBe(false);
    expect(cert.issuer).toBe('CN=kctl test CA');
    expect(identityOfPeer(signed.certPem)).toEqual({ kind: 'host', hostId: 'h-123' });
  });

  it('certifies exactly the key in the CSR, and the CA signature verifies', async () => {
    const csr = await makeCsr();
    const signed = await signAgentCsr(ca, csr.csrPem, { hostId: 'h-1' });
    const cert = new X509Certificate(signed.certPem);
    expect(cert.publicKey.export({ type: 'spki', format: 'der' })).toEqual(csr.spkiDer);
    expect(cert.checkPrivateKey(createPrivateKey(csr.keyPem))).toBe(true);
    expect(cert.checkIssued(new X509Certificate(ca.certPem))).toBe(true);
    expect(cert.verify(new X509Certificate(ca.certPem).publicKey)).toBe(true);
    expect(cert.verify(new X509Certificate(foreignCa.certPem).publicKey)).toBe(false);
    expect(opensslVerify(ca, signed.certPem, 'sslclient')).toMatch(/: OK$/);
    expect(opensslVerify(ca, signed.certPem, 'sslserver')).toMatch(
      /^failed: .*unsuitable certificate purpose/s,
    );
    expect(opensslVerify(foreignCa, signed.certPem, 'sslclient')).toMatch(/^failed: /);
  });

  it('accepts an Ed25519 key', async () => {
    const csr = await makeCsr('Ed25519');
    const signed = await signAgentCsr(ca, csr.csrPem, { hostId: 'h-ed' });
    const cert = new X509Certificate(signed.certPem);
    expect(cert.publicKey.asymmetricKeyType).toBe('ed25519');
    expect(cert.publicKey.export({ type: 'spki', format: 'der' })).toEqual(csr.spkiDer);
    expect(cert.verify(new X509Certificate(ca.certPem).publicKey)).toBe(true);
    expect(opensslVerify(ca, signed.certPem, 'sslclient')).toMatch(/: OK$/);
  });

  it('returns the serial and notAfter exactly as the certificate holds them', async () => {
    const now = Date.UTC(2031, 2, 3, 4, 5, 6);
    const signed = await signAgentCsr(ca, (await makeCsr()).csrPem, { hostId: 'h-2', validityDays: 30, now });
    expect(signed.serial).toBe(certificateSerial(signed.certPem));
    expect(signed.notAfter).toBe(certificateNotAfter(signed.certPem));
    expect(signed.notAfter).toBe(now + 30 * DAY_MS);
    // a minute of slack for clock skew
    expect(Date.parse(new X509Certificate(signed.certPem).validFrom)).toBe(now - 60_000);
  });

  it('is valid for 30 days by default', async () => {
    const now = Date.UTC(2031, 0, 1);
    const signed = await signAgentCsr(ca, (await makeCsr()).csrPem, { hostId: 'h-3', now });
    expect(MAX_AGENT_CERT_DAYS).toBe(30);
    expect(signed.notAfter).toBe(now + 30 * DAY_MS);
  });

  it('draws a fresh random serial of up to 128 bits each time', async () => {
    const { csrPem } = await makeCsr();
    const serials = await Promise.all(
      Array.from({ length: 20 }, () => signAgentCsr(ca, csrPem, { hostId: 'h-4' }).then((s) => s.serial)),
    );
    expect(new Set(serials).size).toBe(20);
    for (const s of serials) expect(s).toMatch(/^[0-9a-f]{1,32}$/);
    // 20 draws: all of them at most 64 bits long would mean the serial is not 128 bits wide
    expect(serials.some((s) => s.length > 16)).toBe(true);
  });

  it('takes a UUID from the registry as host id', async () => {
    const hostId = '1b4e28ba-2fa1-11d2-883f-0016d3cca427';
    const signed = await signAgentCsr(ca, (await makeCsr()).csrPem, { hostId });
    expect(identityOfPeer(signed.certPem)).toEqual({ kind: 'host', hostId });
  });

  it.each([
    ['an RSA key', 'RSA 2048'],
    ['an ECDSA P-384 key', 'EC P-384'],
  ] as const)('refuses a CSR with %s as csr_invalid', async (_what, kind) => {
    const { csrPem } = await makeCsr(kind);
    await expect(signAgentCsr(ca, csrPem, { hostId: 'h' })).rejects.toMatchObject({
      code: 'csr_invalid',
      message: expect.stringMatching(/must be ECDSA P-256 or Ed25519/) as unknown,
    });
  });

  it('refuses a CSR whose signature was tampered with', async () => {
    const der = derOfPem((await makeCsr()).csrPem);
    der[der.length - 3] = (der[der.length - 3] ?? 0) ^ 0x01;
    await expect(signAgentCsr(ca, csrPemOf(der), { hostId: 'h' })).rejects.toMatchObject({
      code: 'csr_invalid',
    });
  });

  it('refuses a CSR whose signed content was changed after signing', async () => {
    const der = derOfPem((await makeCsr('EC P-256', { name: 'CN=kctl-agent' })).csrPem);
    const at = der.indexOf('kctl-agent');
    expect(at).toBeGreaterThan(0);
    der.write('kctl-agenu', at, 'latin1');
    await expect(signAgentCsr(ca, csrPemOf(der), { hostId: 'h' })).rejects.toMatchObject({
      code: 'csr_invalid',
      message: 'certificate request signature does not verify',
    });
  });

  it.each(['EC P-256', 'Ed25519'] as const)(
    'refuses a %s CSR that carries a key other than the one that signed it',
    async (kind) => {
      const signer = await makeCsr(kind);
      const other = await makeCsr(kind);
      const der = derOfPem(signer.csrPem);
      const at = der.indexOf(signer.spkiDer);
      expect(at).toBeGreaterThan(0);
      other.spkiDer.copy(der, at);
      await expect(signAgentCsr(ca, csrPemOf(der), { hostId: 'h' })).rejects.toMatchObject({
        code: 'csr_invalid',
        message: 'certificate request signature does not verify',
      });
    },
  );

  it.each([
    ['an empty string', ''],
    ['text that is not PEM', 'not a csr'],
    ['a certificate instead of a request', 'CERT'],
    ['random bytes in PEM armour', csrPemOf(Buffer.from('0123456789abcdef'))],
    ['a truncated request', 'TRUNCATED'],
    ['a request larger than 16 KiB', csrPemOf(Buffer.alloc(13_000, 1))],
  ])('refuses %s as csr_invalid', async (_what, text) => {
    const csrPem = (await makeCsr()).csrPem;
    const input =
      text === 'CERT' ? ca.certPem : text === 'TRUNCATED' ? csrPemOf(derOfPem(csrPem).subarray(0, 60)) : text;
    await expect(signAgentCsr(ca, input, { hostId: 'h' })).rejects.toMatchObject({ code: 'csr_invalid' });
  });

  it.each([
    ['DN syntax', 'h,O=system:masters'],
    ['a URN separator', 'h:admin'],
    ['a slash', '../h'],
    ['nothing', ''],
    ['white space', 'h 1'],
  ])('refuses a host id with %s', async (_what, hostId) => {
    const { csrPem } = await makeCsr();
    await expect(signAgentCsr(ca, csrPem, { hostId })).rejects.toMatchObject({ code: 'invalid_args' });
  });

  it.each([31, 0, -1, Number.NaN])('refuses a validity of %s days (S6: at most 30)', async (validityDays) => {
    const { csrPem } = await makeCsr();
    await expect(signAgentCsr(ca, csrPem, { hostId: 'h', validityDays })).rejects.toMatchObject({
      code: 'invalid_args',
    });
  });
});

describe('issueAdminCert', () => {
  it('names the admin with a URI SAN, for clientAuth only', async () => {
    const admin = await issueAdminCert(ca, { name: 'ops' });
    expect(sanOf(admin.certPem)).toEqual([{ type: 'url', value: 'urn:kctl:admin:ops' }]);
    expect(ekuOf(admin.certPem)).toEqual([x509.ExtendedKeyUsage.clientAuth]);
    expect(new X509Certificate(admin.certPem).checkPrivateKey(createPrivateKey(admin.keyPem))).toBe(true);
    expect(opensslVerify(ca, admin.certPem, 'sslclient')).toMatch(/: OK$/);
    expect(identityOfPeer(admin.certPem)).toEqual({ kind: 'admin', name: 'ops' });
  });

  it('is valid for 365 days by default', async () => {
    const now = Date.UTC(2030, 0, 1);
    expect(certificateNotAfter((await issueAdminCert(ca, { name: 'ops', now })).certPem)).toBe(
      now + 365 * DAY_MS,
    );
  });

  it('refuses a name with DN syntax', async () => {
    await expect(issueAdminCert(ca, { name: 'ops,O=x' })).rejects.toMatchObject({ code: 'invalid_args' });
  });
});

describe('identityOfPeer', () => {
  /** A certificate with chosen SANs and EKUs, signed by the test CA key, to probe the reader alone. */
  async function leaf(options: {
    sans: x509.JsonGeneralName[];
    eku?: string[];
    isCa?: boolean;
  }): Promise<string> {
    const caCert = new x509.X509Certificate(ca.certPem);
    const signingKey = await subtle.importKey('pkcs8', new Uint8Array(derOfPem(ca.keyPem)), EC_P256, false, [
      'sign',
    ]);
    const keys = await subtle.generateKey(EC_P256, true, ['sign', 'verify']);
    const cert = await x509.X509CertificateGenerator.create({
      serialNumber: '01',
      subject: 'CN=probe',
      issuer: caCert.subject,
      notBefore: new Date(Date.now() - 60_000),
      notAfter: new Date(Date.now() + DAY_MS),
      signingAlgorithm: EC_P256,
      publicKey: keys.publicKey,
      signingKey,
      extensions: [
        new x509.BasicConstraintsExtension(options.isCa ?? false, undefined, true),
        ...(options.eku ? [new x509.ExtendedKeyUsageExtension(options.eku)] : []),
        ...(options.sans.length > 0 ? [new x509.SubjectAlternativeNameExtension(options.sans)] : []),
      ],
    });
    return cert.toString('pem');
  }
  const clientAuth = [x509.ExtendedKeyUsage.clientAuth];

  it('reads a host certificate in PEM and in DER', async () => {
    const signed = await signAgentCsr(ca, (await makeCsr()).csrPem, { hostId: 'h-9' });
    expect(identityOfPeer(signed.certPem)).toEqual({ kind: 'host', hostId: 'h-9' });
    expect(identityOfPeer(new X509Certificate(signed.certPem).raw)).toEqual({ kind: 'host', hostId: 'h-9' });
  });

  it.each<[string, Parameters<typeof leaf>[0], ReturnType<typeof identityOfPeer>]>([
    [
      'a host URN with clientAuth',
      { sans: [{ type: 'url', value: 'urn:kctl:host:h' }], eku: clientAuth },
      { kind: 'host', hostId: 'h' },
    ],
    [
      'an admin URN with clientAuth',
      { sans: [{ type: 'url', value: 'urn:kctl:admin:a' }], eku: clientAuth },
      { kind: 'admin', name: 'a' },
    ],
    ['a host URN without any EKU', { sans: [{ type: 'url', value: 'urn:kctl:host:h' }] }, undefined],
    [
      'a host URN with serverAuth only',
      { sans: [{ type: 'url', value: 'urn:kctl:host:h' }], eku: [x509.ExtendedKeyUsage.serverAuth] },
      undefined,
    ],
    [
      'a CA certificate with a host URN',
      { sans: [{ type: 'url', value: 'urn:kctl:host:h' }], eku: clientAuth, isCa: true },
      undefined,
    ],
    [
      'two URNs',
      {
        sans: [
          { type: 'url', value: 'urn:kctl:host:h' },
          { type: 'url', value: 'urn:kctl:admin:a' },
        ],
        eku: clientAuth,
      },
      undefined,
    ],
    ['no SAN at all', { sans: [], eku: clientAuth }, undefined],
    [
      'a DNS name that looks like a URN',
      { sans: [{ type: 'dns', value: 'urn.kctl.host.h' }], eku: clientAuth },
      undefined,
    ],
    ['a foreign URN', { sans: [{ type: 'url', value: 'urn:other:host:h' }], eku: clientAuth }, undefined],
    // the SAN text is split on ", ": a value smuggling a separator must not become an identity
    [
      'a DNS name that smuggles a URI after a separator',
      { sans: [{ type: 'dns', value: 'x, URI:urn:kctl:host:h' }], eku: clientAuth },
      undefined,
    ],
    [
      'a URI that smuggles a second URI after a separator',
      { sans: [{ type: 'url', value: 'urn:other:x, URI:urn:kctl:host:h' }], eku: clientAuth },
      undefined,
    ],
    [
      'a host URN next to a DNS name',
      {
        sans: [
          { type: 'dns', value: 'node-1.example' },
          { type: 'url', value: 'urn:kctl:host:h' },
        ],
        eku: clientAuth,
      },
      { kind: 'host', hostId: 'h' },
    ],
    ['an empty host id', { sans: [{ type: 'url', value: 'urn:kctl:host:' }], eku: clientAuth }, undefined],
    [
      'a host id with a colon',
      { sans: [{ type: 'url', value: 'urn:kctl:host:h:admin' }], eku: clientAuth },
      undefined,
    ],
  ])('for %s gives the expected identity', async (_what, options, expected) => {
    expect(identityOfPeer(await leaf(options))).toEqual(expected);
  });

  it.each([
    ['an empty buffer', Buffer.alloc(0)],
    ['random bytes', Buffer.from('not a certificate at all')],
    ['a CSR', 'CSR'],
  ])('gives no identity for %s', async (_what, input) => {
    expect(identityOfPeer(input === 'CSR' ? (await makeCsr()).csrPem : input)).toBeUndefined();
  });

  it('gives no identity for the CA certificate itself', () => {
    expect(identityOfPeer(ca.certPem)).toBeUndefined();
  });
});
