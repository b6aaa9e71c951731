import { X509Certificate, createHash } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';

// pass-through spy, so a test can see that every candidate pin goes through timingSafeEqual
const timingSafeEqualCalls = vi.hoisted(() => ({ count: 0 }));
vi.mock('node:crypto', async (importOriginal) => {
  const real = await importOriginal<typeof import('node:crypto')>();
  return {
    ...real,
    timingSafeEqual: (a: NodeJS.ArrayBufferView, b: NodeJS.ArrayBufferView): boolean => {
      timingSafeEqualCalls.count++;
      return real.timingSafeEqual(a, b);
    },
  };
});

const { CA_PIN_PATTERN, caPinOf, caPinOfDer, pinMatches } = await import('./ca-pin.js');

const dir = mkdtempSync(join(tmpdir(), 'kctl-ca-pin-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** kubeadm's documented recipe, stage by stage (no shell): x509 -pubkey | pkey -pubin -outform der | sha256sum. */
function opensslPin(certFile: string): string {
  const pubPem = execFileSync('openssl', ['x509', '-pubkey', '-noout', '-in', certFile]);
  const spkiDer = execFileSync('openssl', ['pkey', '-pubin', '-outform', 'der'], { input: pubPem });
  const sum = execFileSync('sha256sum', [], { input: spkiDer }).toString();
  return `sha256:${sum.split(' ')[0] ?? ''}`;
}

/** A self-signed CA made by openssl itself, so the pin is checked against an independent toolchain. */
function opensslCa(name: string, keyArgs: string[]): string {
  const cert = join(dir, `${name}.crt`);
  const key = join(dir, `${name}.key`);
  execFileSync('openssl', ['genpkey', ...keyArgs, '-out', key], { stdio: 'ignore' });
  execFileSync(
    'openssl',
    ['req', '-x509', '-new', '-key', key, '-subj', `/CN=${name}`, '-days', '1', '-out', cert],
    { stdio: 'ignore' },
  );
  return cert;
}

const cas = {
  'EC P-256': ['-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256'],
  'RSA 2048': ['-algorithm', 'RSA', '-pkeyopt', 'rsa_keygen_bits:2048'],
  Ed25519: ['-algorithm', 'ED25519'],
};
const files: Record<string, string> = {};
beforeAll(() => {
  for (const [name, args] of Object.entries(cas)) files[name] = opensslCa(name.replace(/\s/g, '-'), args);
});
beforeEach(() => {
  timingSafeEqualCalls.count = 0;
});

describe('caPinOf', () => {
  it.each(Object.keys(cas))('equals the openssl SPKI hash for a %s CA', (name) => {
    const file = files[name]!;
    const pem = readFileSync(file, 'utf8');
    const expected = opensslPin(file);
    expect(expected).toMatch(CA_PIN_PATTERN);
    expect(caPinOf(pem)).toBe(expected);
  });

  it.each(Object.keys(cas))('gives the same pin from the DER bytes of a %s CA', (name) => {
    const pem = readFileSync(files[name]!, 'utf8');
    const der = new X509Certificate(pem).raw;
    expect(caPinOfDer(der)).toBe(caPinOf(pem));
  });

  it('differs from a hash of the raw EC point, which is what getPeerCertificate().pubkey holds (S2)', () => {
    const pem = readFileSync(files['EC P-256']!, 'utf8');
    const jwk = new X509Certificate(pem).publicKey.export({ format: 'jwk' });
    const point = Buffer.concat([
      Buffer.from([4]),
      Buffer.from(jwk.x ?? '', 'base64url'),
      Buffer.from(jwk.y ?? '', 'base64url'),
    ]);
    expect(point).toHaveLength(65);
    expect(caPinOf(pem)).not.toBe(`sha256:${createHash('sha256').update(point).digest('hex')}`);
  });

  it('takes the first certificate of a bundle', () => {
    const ec = readFileSync(files['EC P-256']!, 'utf8');
    const rsa = readFileSync(files['RSA 2048']!, 'utf8');
    expect(caPinOf(ec + rsa)).toBe(caPinOf(ec));
  });

  it.each([
    ['an empty string', ''],
    [
      'a PEM block that is not a certificate',
      '-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n',
    ],
  ])('throws on %s', (_what, text) => {
    expect(() => caPinOf(text)).toThrow();
  });
});

describe('pinMatches', () => {
  const a = `sha256:${'a'.repeat(64)}`;
  const b = `sha256:${'b'.repeat(64)}`;
  const c = `sha256:${'c'.repeat(64)}`;

  it.each([
    ['matches the only pin', a, [a], true],
    ['matches one of several pins (CA rotation)', b, [a, b, c], true],
    ['matches the last pin of several', c, [a, b, c], true],
    ['ignores case in the hex', a.toUpperCase(), [a], true],
    ['ignores case in the configured pin', a, [a.toUpperCase()], true],
    ['refuses a pin that is not configured', c, [a, b], false],
    ['refuses everything when no pin is configured', a, [], false],
    ['refuses a pin that differs in the last digit', `sha256:${'a'.repeat(63)}b`, [a], false],
    ['refuses a prefix of a configured pin', a.slice(0, 40), [a], false],
    ['refuses a malformed pin even when it is configured verbatim', 'sha256:abc', ['sha256:abc'], false],
    ['refuses another hash name', `sha1:${'a'.repeat(64)}`, [`sha1:${'a'.repeat(64)}`], false],
    ['refuses an empty pin', '', [''], false],
  ] as const)('%s', (_name, pin, pins, expected) => {
    expect(pinMatches(pin, pins)).toBe(expected);
  });

  it('compares every same-length candidate in constant time, even after a match', () => {
    expect(pinMatches(a, [a, b, c])).toBe(true);
    expect(timingSafeEqualCalls.count).toBe(3);
  });

  it('matches a real CA pin against the pin computed by openssl', () => {
    const file = files['EC P-256']!;
    expect(pinMatches(caPinOf(readFileSync(file, 'utf8')), [b, opensslPin(file)])).toBe(true);
  });
});
