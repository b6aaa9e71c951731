import 'reflect-metadata';
import { X509Certificate, createPrivateKey } from 'node:crypto';
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import { connect, createServer, type Server, type TLSSocket } from 'node:tls';
import * as x509 from '@peculiar/x509';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  certificateExpiry,
  certificateHostId,
  createAgentKeyAndCsr,
  shouldRotate,
} from '../../agent/identity.js';
import {
  createCa,
  identityOfPeer,
  issueAdminCert,
  issueServerCert,
  signAgentCsr,
  type CaKeyPair,
  type PeerIdentity,
} from '../../controller/pki.js';
import { caPinOf, pinMatches } from '../../proto/ca-pin.js';

// The agent side (agent/identity.ts) and the controller side (controller/pki.ts) together, as enrollment uses them.

x509.cryptoProvider.set(globalThis.crypto);
const subtle = globalThis.crypto.subtle;
const DAY_MS = 86_400_000;

let ca: CaKeyPair;
let foreignCa: CaKeyPair;
beforeAll(async () => {
  [ca, foreignCa] = await Promise.all([
    createCa({ commonName: 'kctl test CA' }),
    createCa({ commonName: 'foreign' }),
  ]);
});

describe('enrollment round trip', () => {
  it('turns the agent CSR into a client certificate for the registry host id, verified by the CA', async () => {
    const agent = await createAgentKeyAndCsr();
    const signed = await signAgentCsr(ca, agent.csrPem, { hostId: 'host-1', role: 'agent' });
    const cert = new X509Certificate(signed.certPem);
    const caCert = new X509Certificate(ca.certPem);
    expect(cert.checkIssued(caCert)).toBe(true);
    expect(cert.verify(caCert.publicKey)).toBe(true);
    expect(cert.verify(new X509Certificate(foreignCa.certPem).publicKey)).toBe(false);
    // the key that never left the agent matches the certificate
    expect(cert.checkPrivateKey(createPrivateKey(agent.keyPem))).toBe(true);
    expect(cert.subject).toBe('CN=kctl-host:host-1');
    expect(cert.subjectAltName).toBe('URI:urn:kctl:host:host-1');
    expect(
      new x509.X509Certificate(signed.certPem).getExtension(x509.ExtendedKeyUsageExtension)?.usages,
    ).toEqual([x509.ExtendedKeyUsage.clientAuth]);
    // both ends read the same identity
    expect(certificateHostId(signed.certPem)).toBe('host-1');
    expect(identityOfPeer(signed.certPem)).toEqual({ kind: 'host', hostId: 'host-1' });
    expect(certificateExpiry(signed.certPem)).toBe(signed.notAfter);
    expect(shouldRotate(signed.certPem, Date.now())).toBe(false);
    expect(shouldRotate(signed.certPem, signed.notAfter - 9 * DAY_MS)).toBe(true);
  });

  it('keeps only the registry identity when the CSR asks for another host, an admin and server names (S4)', async () => {
    const alg = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' };
    const keys = await subtle.generateKey(alg, true, ['sign', 'verify']);
    const csr = await x509.Pkcs10CertificateRequestGenerator.create({
      name: 'CN=kctl-host:victim',
      keys,
      signingAlgorithm: alg,
      extensions: [
        new x509.SubjectAlternativeNameExtension([
          { type: 'url', value: 'urn:kctl:host:victim' },
          { type: 'url', value: 'urn:kctl:admin:admin' },
          { type: 'dns', value: 'localhost' },
          { type: 'ip', value: '127.0.0.1' },
        ]),
      ],
    });
    const signed = await signAgentCsr(ca, csr.toString('pem'), { hostId: 'host-2' });
    expect(new X509Certificate(signed.certPem).subjectAltName).toBe('URI:urn:kctl:host:host-2');
    expect(new X509Certificate(signed.certPem).subject).toBe('CN=kctl-host:host-2');
    expect(certificateHostId(signed.certPem)).toBe('host-2');
    expect(identityOfPeer(signed.certPem)).toEqual({ kind: 'host', hostId: 'host-2' });
  });

  it('refuses an agent CSR whose signature was tampered with', async () => {
    const { csrPem } = await createAgentKeyAndCsr();
    const der = Buffer.from(csrPem.replace(/-----[^-]+-----|\s/g, ''), 'base64');
    der[der.length - 2] = (der[der.length - 2] ?? 0) ^ 0x40;
    const tampered = `-----BEGIN CERTIFICATE REQUEST-----\n${der.toString('base64')}\n-----END CERTIFICATE REQUEST-----\n`;
    await expect(signAgentCsr(ca, tampered, { hostId: 'host-3' })).rejects.toMatchObject({
      code: 'csr_invalid',
    });
  });
});

describe('mutual TLS with these certificates (S3, S5)', () => {
  type ServerSide =
    | { accepted: true; identity: PeerIdentity | undefined; protocol: string | null }
    | { accepted: false; reason: string };
  let server: Server;
  let port: number;
  /** The server's verdicts in order; attempts run one at a time and each waits for its own. */
  const verdicts: ServerSide[] = [];

  beforeAll(async () => {
    const serving = await issueServerCert(ca, { sans: ['127.0.0.1'] });
    server = createServer({
      cert: serving.certPem,
      key: serving.keyPem,
      ca: [ca.certPem],
      requestCert: true,
      rejectUnauthorized: true,
      minVersion: 'TLSv1.2',
    });
    server.on('secureConnection', (socket: TLSSocket) => {
      const identity = identityOfPeer(socket.getPeerCertificate().raw);
      verdicts.push({ accepted: true, identity, protocol: socket.getProtocol() });
      socket.end(`hello ${JSON.stringify(identity)}`);
    });
    server.on('tlsClientError', (err: Error & { code?: string }, socket: TLSSocket) => {
      // Node verifies the chain itself and destroys the socket; the reason stays on authorizationError
      verdicts.push({ accepted: false, reason: String(socket.authorizationError ?? err.code) });
    });
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    port = (server.address() as AddressInfo).port;
  });
  afterAll(async () => {
    server.close();
    await once(server, 'close');
  });

  /** One connection; resolves with what the server decided and what the client received. */
  async function attempt(client: {
    cert?: string;
    key?: string;
    trust?: string;
  }): Promise<{ server: ServerSide | undefined; clientData: string; clientError: string | undefined }> {
    const before = verdicts.length;
    let clientData = '';
    let clientError: string | undefined;
    const socket = connect({
      host: '127.0.0.1',
      port,
      // the agent trusts our CA and nothing else: no system store (S3)
      ca: [client.trust ?? ca.certPem],
      ...(client.cert ? { cert: client.cert } : {}),
      ...(client.key ? { key: client.key } : {}),
    });
    socket.on('data', (d: Buffer) => (clientData += d.toString()));
    socket.on('error', (e: Error & { code?: string }) => (clientError = e.code ?? e.message));
    await new Promise((resolve) => socket.on('close', resolve));
    // the server's verdict can come a moment after the client sees the connection close
    for (let i = 0; i < 100 && verdicts.length === before; i++) await new Promise((r) => setTimeout(r, 10));
    expect(verdicts.length - before).toBeLessThanOrEqual(1);
    return { server: verdicts[before], clientData, clientError };
  }

  it('accepts an agent certificate signed by this CA and sees its host id', async () => {
    const agent = await createAgentKeyAndCsr();
    const { certPem } = await signAgentCsr(ca, agent.csrPem, { hostId: 'tls-host' });
    const result = await attempt({ cert: certPem, key: agent.keyPem });
    expect(result.server).toEqual({
      accepted: true,
      identity: { kind: 'host', hostId: 'tls-host' },
      protocol: 'TLSv1.3',
    });
    expect(result.clientData).toBe('hello {"kind":"host","hostId":"tls-host"}');
  });

  it('accepts an Ed25519 agent key', async () => {
    const keys = await subtle.generateKey({ name: 'Ed25519' }, true, ['sign', 'verify']);
    const csr = await x509.Pkcs10CertificateRequestGenerator.create({
      name: 'CN=x',
      keys,
      signingAlgorithm: { name: 'Ed25519' },
    });
    const keyPem = createPrivateKey({
      key: Buffer.from(await subtle.exportKey('pkcs8', keys.privateKey)),
      format: 'der',
      type: 'pkcs8',
    }).export({ type: 'pkcs8', format: 'pem' }) as string;
    const { certPem } = await signAgentCsr(ca, csr.toString('pem'), { hostId: 'ed-host' });
    const result = await attempt({ cert: certPem, key: keyPem });
    expect(result.server).toMatchObject({ accepted: true, identity: { kind: 'host', hostId: 'ed-host' } });
  });

  it('accepts the admin certificate and sees the admin', async () => {
    const admin = await issueAdminCert(ca, { name: 'ops' });
    const result = await attempt({ cert: admin.certPem, key: admin.keyPem });
    expect(result.server).toMatchObject({ accepted: true, identity: { kind: 'admin', name: 'ops' } });
  });

  it('refuses an agent certificate signed by a foreign CA', async () => {
    const agent = await createAgentKeyAndCsr();
    const { certPem } = await signAgentCsr(foreignCa, agent.csrPem, { hostId: 'tls-host' });
    const result = await attempt({ cert: certPem, key: agent.keyPem });
    expect(result.server).toEqual({ accepted: false, reason: 'UNABLE_TO_VERIFY_LEAF_SIGNATURE' });
    expect(result.clientData).toBe('');
  });

  it('refuses a client without a certificate', async () => {
    const result = await attempt({});
    expect(result.server).toEqual({ accepted: false, reason: 'ERR_SSL_PEER_DID_NOT_RETURN_A_CERTIFICATE' });
    expect(result.clientError).toBe('ERR_SSL_TLSV13_ALERT_CERTIFICATE_REQUIRED');
    expect(result.clientData).toBe('');
  });

  it('refuses an expired agent certificate from this CA', async () => {
    const agent = await createAgentKeyAndCsr();
    const { certPem } = await signAgentCsr(ca, agent.csrPem, {
      hostId: 'old',
      validityDays: 1,
      now: Date.now() - 2 * DAY_MS,
    });
    const result = await attempt({ cert: certPem, key: agent.keyPem });
    expect(result.server).toEqual({ accepted: false, reason: 'CERT_HAS_EXPIRED' });
    expect(result.clientData).toBe('');
  });

  it('refuses the serving certificate used as a client certificate (EKU serverAuth only)', async () => {
    const serving = await issueServerCert(ca, { sans: ['evil.example'] });
    const result = await attempt({ cert: serving.certPem, key: serving.keyPem });
    expect(result.server).toEqual({ accepted: false, reason: 'INVALID_PURPOSE' });
    expect(result.clientData).toBe('');
  });

  it('lets the agent refuse a controller whose CA it does not trust', async () => {
    const agent = await createAgentKeyAndCsr();
    const { certPem } = await signAgentCsr(ca, agent.csrPem, { hostId: 'tls-host' });
    const result = await attempt({ cert: certPem, key: agent.keyPem, trust: foreignCa.certPem });
    // OpenSSL sends the CA along with the serving certificate, so the client sees a chain it cannot anchor
    expect(['SELF_SIGNED_CERT_IN_CHAIN', 'UNABLE_TO_VERIFY_LEAF_SIGNATURE']).toContain(result.clientError);
    expect(result.server?.accepted).toBe(false);
    expect(result.clientData).toBe('');
  });

  it('pins the CA the agent trusts by its SPKI hash (S2)', () => {
    expect(pinMatches(caPinOf(ca.certPem), [caPinOf(ca.certPem)])).toBe(true);
    expect(pinMatches(caPinOf(foreignCa.certPem), [caPinOf(ca.certPem)])).toBe(false);
  });
});
