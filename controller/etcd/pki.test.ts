import { X509Certificate, createPrivateKey } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import {
  ETCD_LEAF_DAYS,
  apiserverEtcdClientFiles,
  ensureEtcdPki,
  etcdMemberFiles,
  type EtcdPki,
} from './pki.js';
import { ETCD_PKI_FILE, etcdPkiFor, loadEtcdPki } from './pki-store.js';

const members = [
  { name: 'etcd-1', address: '10.0.0.21' },
  { name: 'etcd-2', address: '10.0.0.22' },
  { name: 'etcd-3', address: '10.0.0.23' },
];
const DAY_MS = 24 * 3600_000;
const tmp = mkdtempSync(join(tmpdir(), 'kctl-etcd-pki-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

/** openssl's own verdict: chain and purpose, as etcd's Go TLS would judge them. */
function opensslVerify(ca: string, cert: string, purpose: 'sslserver' | 'sslclient'): string {
  const caFile = join(tmp, 'ca.pem');
  const certFile = join(tmp, `cert-${purpose}.pem`);
  writeFileSync(caFile, ca);
  writeFileSync(certFile, cert);
  return execFileSync('openssl', ['verify', '-purpose', purpose, '-CAfile', caFile, certFile], {
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'pipe'],
  });
}

describe('etcd PKI', () => {
  let first: EtcdPki;

  it('issues a CA, server and peer pairs per member and the API server client pair', async () => {
    const { pki, changed } = await ensureEtcdPki(undefined, members);
    first = pki;
    expect(changed).toBe(true);
    const ca = new X509Certificate(pki.ca.certPem);
    expect(ca.ca).toBe(true);
    expect(ca.subject).toBe('CN=etcd-ca');
    for (const m of members) {
      for (const kind of ['server', 'peer'] as const) {
        const pair = pki.members[m.name]?.[kind];
        if (!pair) throw new Error(`no ${kind} pair for ${m.name}`);
        const cert = new X509Certificate(pair.certPem);
        expect(cert.verify(ca.publicKey)).toBe(true);
        expect(cert.subject).toBe(`CN=${m.name}`);
        expect(cert.subjectAltName).toBe(
          `DNS:${m.name}, DNS:localhost, IP Address:${m.address}, IP Address:127.0.0.1, IP Address:0:0:0:0:0:0:0:1`,
        );
        // peers dial each other with it: both usages
        expect(cert.keyUsage.sort()).toEqual(['1.3.6.1.5.5.7.3.1', '1.3.6.1.5.5.7.3.2']);
        expect(cert.checkPrivateKey(createPrivateKey(pair.keyPem))).toBe(true);
        expect(opensslVerify(pki.ca.certPem, pair.certPem, 'sslserver')).toMatch(/OK/);
        expect(opensslVerify(pki.ca.certPem, pair.certPem, 'sslclient')).toMatch(/OK/);
      }
    }
    const client = new X509Certificate(pki.apiserverClient.certPem);
    expect(client.subject).toBe('CN=kube-apiserver-etcd-client');
    expect(client.keyUsage).toEqual(['1.3.6.1.5.5.7.3.2']);
    expect(opensslVerify(pki.ca.certPem, pki.apiserverClient.certPem, 'sslclient')).toMatch(/OK/);
    expect(() => opensslVerify(pki.ca.certPem, pki.apiserverClient.certPem, 'sslserver')).toThrow();
    for (const m of members) {
      const hc = pki.members[m.name]?.healthcheckClient;
      const cert = new X509Certificate(hc?.certPem ?? '');
      expect(cert.subject).toBe('CN=kube-etcd-healthcheck-client');
      expect(cert.keyUsage).toEqual(['1.3.6.1.5.5.7.3.2']);
      expect(opensslVerify(pki.ca.certPem, hc?.certPem ?? '', 'sslclient')).toMatch(/OK/);
    }
    const days = (Date.parse(client.validTo) - Date.now()) / DAY_MS;
    expect(Math.round(days)).toBe(ETCD_LEAF_DAYS);
  });

  it('keeps everything when asked again for the same members (idempotent plans)', async () => {
    const { pki, changed } = await ensureEtcdPki(first, members);
    expect(changed).toBe(false);
    expect(pki).toEqual(first);
  });

  it('adds a fourth member under the same CA and keeps the others', async () => {
    const grown = [...members, { name: 'etcd-4', address: '10.0.0.24' }];
    const { pki, changed } = await ensureEtcdPki(first, grown);
    expect(changed).toBe(true);
    expect(pki.ca).toEqual(first.ca);
    expect(pki.apiserverClient).toEqual(first.apiserverClient);
    for (const m of members) expect(pki.members[m.name]).toEqual(first.members[m.name]);
    expect(opensslVerify(pki.ca.certPem, pki.members['etcd-4']?.server.certPem ?? '', 'sslserver')).toMatch(
      /OK/,
    );
  });

  it('reissues a member whose address changed, and drops a removed one', async () => {
    const moved = [{ name: 'etcd-1', address: '10.0.0.31' }, members[1]!];
    const { pki, changed } = await ensureEtcdPki(first, moved);
    expect(changed).toBe(true);
    expect(pki.members['etcd-1']).not.toEqual(first.members['etcd-1']);
    expect(new X509Certificate(pki.members['etcd-1']!.server.certPem).subjectAltName).toContain('10.0.0.31');
    expect(pki.members['etcd-2']).toEqual(first.members['etcd-2']);
    expect(Object.keys(pki.members)).toEqual(['etcd-1', 'etcd-2']);
  });

  it('renews leaf certificates within 30 days of expiry, never the CA', async () => {
    const later = Date.now() + (ETCD_LEAF_DAYS - 20) * DAY_MS;
    const { pki, changed } = await ensureEtcdPki(first, members, { now: later });
    expect(changed).toBe(true);
    expect(pki.ca).toEqual(first.ca);
    expect(pki.members['etcd-2']?.peer).not.toEqual(first.members['etcd-2']?.peer);
    expect(pki.apiserverClient).not.toEqual(first.apiserverClient);
  });

  it('refuses a member listed twice', async () => {
    await expect(ensureEtcdPki(first, [members[0]!, members[0]!])).rejects.toThrow(/listed twice/);
  });

  it('lays the files out as kubeadm does, keys 0600 and hidden in plans', () => {
    const files = etcdMemberFiles(first, 'etcd-2');
    expect(files.map((f) => [f.path, f.mode.toString(8), f.sensitive])).toEqual([
      ['/etc/kubernetes/pki/etcd/ca.crt', '644', false],
      ['/etc/kubernetes/pki/etcd/server.crt', '644', false],
      ['/etc/kubernetes/pki/etcd/server.key', '600', true],
      ['/etc/kubernetes/pki/etcd/peer.crt', '644', false],
      ['/etc/kubernetes/pki/etcd/peer.key', '600', true],
      ['/etc/kubernetes/pki/etcd/healthcheck-client.crt', '644', false],
      ['/etc/kubernetes/pki/etcd/healthcheck-client.key', '600', true],
    ]);
    expect(files.some((f) => f.content.includes(first.ca.keyPem))).toBe(false);
    expect(apiserverEtcdClientFiles(first).map((f) => [f.path, f.mode.toString(8), f.sensitive])).toEqual([
      ['/etc/kubernetes/pki/etcd/ca.crt', '644', false],
      ['/etc/kubernetes/pki/apiserver-etcd-client.crt', '644', false],
      ['/etc/kubernetes/pki/apiserver-etcd-client.key', '600', true],
    ]);
    expect(() => etcdMemberFiles(first, 'etcd-9')).toThrow(/etcd-9/);
  });
});

describe('etcd PKI in the data dir', () => {
  it('is created once (0600) and read back unchanged by the next plan', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'kctl-etcd-store-'));
    try {
      expect(await loadEtcdPki(dir)).toBeUndefined();
      const a = await etcdPkiFor(dir, members);
      expect(statSync(join(dir, ETCD_PKI_FILE)).mode & 0o777).toBe(0o600);
      const mtime = statSync(join(dir, ETCD_PKI_FILE)).mtimeMs;
      const b = await etcdPkiFor(dir, members);
      expect(b).toEqual(a);
      expect(statSync(join(dir, ETCD_PKI_FILE)).mtimeMs).toBe(mtime);
      writeFileSync(join(dir, ETCD_PKI_FILE), '{"ca": 1}');
      await expect(loadEtcdPki(dir)).rejects.toThrow(/etcd-pki.json" is not an etcd PKI/);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
