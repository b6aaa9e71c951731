import 'reflect-metadata';
import { generateKeyPairSync } from 'node:crypto';
import * as x509 from '@peculiar/x509';
import { describe, expect, it } from 'vitest';
import { ecdsaCsrDer, pem } from './csr-der.js';

x509.cryptoProvider.set(globalThis.crypto);

describe('ecdsaCsrDer', () => {
  it.each([
    ['a short subject', 'kctl-agent'],
    ['a subject longer than 127 bytes (long-form DER lengths)', 'x'.repeat(300)],
    ['a subject with non-ASCII characters', 'agent-ü-ß'],
  ])('makes a CSR a full X.509 library reads and verifies, for %s', async (_name, cn) => {
    const { publicKey, privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const csr = new x509.Pkcs10CertificateRequest(
      pem('CERTIFICATE REQUEST', ecdsaCsrDer(cn, publicKey, privateKey)),
    );
    expect(await csr.verify()).toBe(true);
    expect(csr.subjectName.getField('CN')).toEqual([cn]);
    expect(Buffer.from(csr.publicKey.rawData)).toEqual(publicKey.export({ type: 'spki', format: 'der' }));
    expect(csr.signatureAlgorithm).toMatchObject({ name: 'ECDSA', hash: { name: 'SHA-256' } });
  });

  it('makes a CSR whose signature fails once a byte of the request changes', async () => {
    const { publicKey, privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const der = ecdsaCsrDer('kctl-agent', publicKey, privateKey);
    const cn = der.indexOf(Buffer.from('kctl-agent'));
    der[cn] = 'K'.charCodeAt(0);
    expect(await new x509.Pkcs10CertificateRequest(new Uint8Array(der)).verify()).toBe(false);
  });
});
