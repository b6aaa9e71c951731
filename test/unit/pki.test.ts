import 'reflect-metadata';
import { describe, expect, it } from 'vitest';
import { X509Certificate } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, writeFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createServer } from 'node:tls';
import { connect } from 'node:tls';
import * as x509 from '@peculiar/x509';
import { webcrypto } from 'node:crypto';
import { caPinOf, pinMatches } from '../../proto/ca-pin.js';
import { createAgentKeyAndCsr, certificateHostId, shouldRotate } from '../../agent/identity.js';
import {
  createCa,
  identityOfPeer,
  issueAdminCert,
  issueServerCert,
  signAgentCsr,
} from '../../controller/pki.js';

function opensslPin(certPem: string): string {
  const dir = mkdtempSync(join(tmpdir(), 'kctl-pin-'));
  try {
    writeFileSync(join(dir, 'ca.crt'), certPem);
    const pub = execFileSync('openssl', ['x509', '-pubkey', '-noout', '-in', join(dir, 'ca.crt')]);
    const der = execFileSync('openssl', ['pkey', '-pubin', '-outform', 'der'], { input: pub });
    const hex = execFileSync('openssl', ['dgst', '-sha256', '-hex'], { input: der })
      .toString()
      .trim()
      .split(' ')
      .pop();
    return `sha256:${hex}`;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

describe('pki', () => {
  it('computes the CA pin exactly as kubeadm/openssl do (SPKI, not the raw EC point)', async () => {
    const ca = await createCa({ commonName: 'test' });
    expect(caPinOf(ca.certPem)).toBe(opensslPin(ca.certPem));
    expect(caPinOf(ca.certPem)).toMatch(/^sha256:[0-9a-f]{64}$/);
    expect(pinMatches(caPinOf(ca.certPem), ['sha256:' + '0'.repeat(64), caPinOf(ca.certPem)])).toBe(true);
    expect(pinMatches(caPinOf(ca.certPem), ['sha256:' + '0'.repeat(64)])).toBe(false);
  });

  it('signs a host CSR with only the registry identity, whatever the CSR asks for (S4)', async () => {
    const ca = await createCa({ commonName: 'test' });
    // a CSR that claims to be an admin and another host
    x509.cryptoProvider.set(webcrypto as unknown as Crypto);
    const alg = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' };
    const keys = await webcrypto.subtle.generateKey(alg, true, ['sign', 'verify']);
    const csr = await x509.Pkcs10CertificateRequestGenerator.create({
      name: 'CN=kctl-admin:admin',
      keys,
      signingAlgorithm: alg,
      extensions: [
        new x509.SubjectAlternativeNameExtension([{ type: 'url', value: 'urn:kctl:admin:admin' }]),
      ],
    });
    const signed = await signAgentCsr(ca, csr.toString('pem'), { hostId: 'h-123', validityDays: 30 });
    const cert = new X509Certificate(signed.certPem);
    expect(cert.subject).toBe('CN=kctl-host:h-123');
    expect(cert.subjectAltName).toBe('URI:urn:kctl:host:h-123');
    expect(cert.checkIssued(new X509Certificate(ca.certPem))).toBe(true);
    expect(cert.verify(new X509Certificate(ca.certPem).publicKey)).toBe(true);
    expect(identityOfPeer(signed.certPem)).toEqual({ kind: 'host', hostId: 'h-123' });
    expect(certificateHostId(signed.certPem)).toBe('h-123');
    const days = (signed.notAfter - Date.now()) / 86_400_000;
    expect(days).toBeGreaterThan(29.9);
    expect(days).toBeLessThanOrEqual(30);
  });

  it('refuses a CSR whose signature does not verify', async () => {
    const ca = await createCa({ commonName: 'test' });
    const { csrPem } = await createAgentKeyAndCsr();
    const der = Buffer.from(csrPem.replace(/-----[^-]+-----|\s/g, ''), 'base64');
    der[der.length - 5] = (der[der.length - 5] ?? 0) ^ 0xff;
    const tampered = `-----BEGIN CERTIFICATE REQUEST-----\n${der.toString('base64')}\n-----END CERTIFICATE REQUEST-----\n`;
    await expect(signAgentCsr(ca, tampered, { hostId: 'h' })).rejects.toMatchObject({ code: 'csr_invalid' });
    await expect(signAgentCsr(ca, 'not a csr', { hostId: 'h' })).rejects.toMatchObject({
      code: 'csr_invalid',
    });
  });

  it('gives admin certificates the admin identity and server certificates none', async () => {
    const ca = await createCa({ commonName: 'test' });
    expect(identityOfPeer((await issueAdminCert(ca, { name: 'ops' })).certPem)).toEqual({
      kind: 'admin',
      name: 'ops',
    });
    const server = await issueServerCert(ca, { sans: ['localhost', '127.0.0.1'] });
    expect(identityOfPeer(server.certPem)).toBeUndefined();
    expect(new X509Certificate(server.certPem).subjectAltName).toBe('DNS:localhost, IP Address:127.0.0.1');
  });

  it('rotates at two thirds of the lifetime (S6)', async () => {
    const ca = await createCa({ commonName: 'test' });
    const { csrPem } = await createAgentKeyAndCsr();
    const { certPem, notAfter } = await signAgentCsr(ca, csrPem, { hostId: 'h', validityDays: 30 });
    expect(shouldRotate(certPem, Date.now())).toBe(false);
    expect(shouldRotate(certPem, notAfter - 9 * 86_400_000)).toBe(true);
  });

  it('completes mutual TLS with an agent certificate from this CA and refuses one from another CA', async () => {
    const ca = await createCa({ commonName: 'test' });
    const server = await issueServerCert(ca, { sans: ['127.0.0.1'] });
    const agent = await createAgentKeyAndCsr();
    const good = await signAgentCsr(ca, agent.csrPem, { hostId: 'h' });
    const foreignCa = await createCa({ commonName: 'foreign' });
    const bad = await signAgentCsr(foreignCa, agent.csrPem, { hostId: 'h' });
    const srv = createServer(
      {
        cert: server.certPem,
        key: server.keyPem,
        ca: [ca.certPem],
        requestCert: true,
        rejectUnauthorized: true,
      },
      (s) => s.end('ok'),
    );
    await new Promise<void>((r) => srv.listen(0, '127.0.0.1', () => r()));
    const port = (srv.address() as { port: number }).port;
    const attempt = (cert: string): Promise<string> =>
      new Promise((resolve) => {
        const s = connect(
          { host: '127.0.0.1', port, ca: [ca.certPem], cert, key: agent.keyPem },
          () => undefined,
        );
        let data = '';
        s.on('data', (d: Buffer) => (data += d.toString()));
        s.on('end', () => resolve(data));
        s.on('error', (e) => resolve(`error: ${e.message}`));
      });
    expect(await attempt(good.certPem)).toBe('ok');
    expect(await attempt(bad.certPem)).toMatch(/error|^$/);
    srv.close();
  });
});
