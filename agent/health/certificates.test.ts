import { afterEach, describe, expect, it } from 'vitest';
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { tempHost, type TempHost } from '../../test/fixtures/temp-host.js';
import { certificateCheck, firstCertificate, judgeCertificate, KUBELET_CLIENT_CERT } from './certificates.js';

const DAY = 86_400_000;
const NOW = Date.parse('2026-12-07T12:00:00Z');

describe('judgeCertificate', () => {
  it.each([
    ['a year left', 365, 'ok'],
    ['30 days left', 30, 'ok'],
    ['29 days left', 29, 'warning'],
    ['7 days left', 7, 'warning'],
    ['6 days left', 6.9, 'critical'],
    ['expired yesterday', -1, 'critical'],
  ] as const)('%s', (_name, days, severity) => {
    const r = judgeCertificate(
      { path: '/etc/kubernetes/pki/apiserver.crt', notAfterMs: NOW + days * DAY },
      NOW,
    );
    expect(r).toMatchObject({ id: 'CertExpiry-/etc/kubernetes/pki/apiserver.crt', severity });
    expect(r.observed).toMatch(days < 0 ? /^expired / : /days left/);
    if (severity !== 'ok') expect(r.remedy).toContain('kubeadm certs renew');
  });

  it("points at the kubelet's own rotation for its client certificate", () => {
    const r = judgeCertificate({ path: KUBELET_CLIENT_CERT, notAfterMs: NOW + DAY }, NOW);
    expect(r.severity).toBe('critical');
    expect(r.remedy).toMatch(/rotates this certificate itself/);
  });

  it('warns about a file that holds no certificate', () => {
    expect(judgeCertificate({ path: '/etc/kubernetes/pki/x.crt', notAfterMs: undefined }, NOW).severity).toBe(
      'warning',
    );
  });
});

describe('certificateCheck over a host root', () => {
  let t: TempHost | undefined;
  let dir: string | undefined;
  afterEach(async () => {
    await t?.cleanup();
    if (dir) await rm(dir, { recursive: true, force: true });
    dir = undefined;
    t = undefined;
  });

  async function cert(days: number): Promise<{ cert: string; key: string }> {
    dir ??= await mkdtemp(join(tmpdir(), 'kctl-cert-'));
    const out = join(dir, `c${days}.pem`);
    const key = join(dir, `k${days}.pem`);
    await promisify(execFile)('openssl', [
      'req',
      '-x509',
      '-newkey',
      'ec',
      '-pkeyopt',
      'ec_paramgen_curve:P-256',
      '-nodes',
      '-keyout',
      key,
      '-out',
      out,
      '-days',
      String(days),
      '-subj',
      `/CN=d${days}`,
    ]);
    return { cert: await readFile(out, 'utf8'), key: await readFile(key, 'utf8') };
  }

  it('judges every .crt under /etc/kubernetes/pki (subdirectories too) and the kubelet client certificate', async () => {
    const long = await cert(400);
    const short = await cert(3);
    const month = await cert(20);
    t = await tempHost({
      files: {
        '/etc/kubernetes/pki/ca.crt': long.cert,
        '/etc/kubernetes/pki/ca.key': long.key,
        '/etc/kubernetes/pki/etcd/server.crt': short.cert,
        '/etc/kubernetes/pki/front-proxy-client.crt': month.cert,
        // the kubelet's file holds the key as well as the certificate
        [KUBELET_CLIENT_CERT]: month.key + month.cert,
      },
    });
    const results = await certificateCheck.run({ host: t.host, now: () => Date.now() });
    expect(Object.fromEntries(results.map((r) => [r.id, r.severity]))).toEqual({
      'CertExpiry-/etc/kubernetes/pki/ca.crt': 'ok',
      'CertExpiry-/etc/kubernetes/pki/etcd/server.crt': 'critical',
      'CertExpiry-/etc/kubernetes/pki/front-proxy-client.crt': 'warning',
      [`CertExpiry-${KUBELET_CLIENT_CERT}`]: 'warning',
    });
  });

  it('finds nothing to judge on a host without certificates', async () => {
    t = await tempHost();
    expect(await certificateCheck.run({ host: t.host, now: () => Date.now() })).toEqual([]);
  });

  it('firstCertificate ignores a key before the certificate and garbage', async () => {
    const c = await cert(10);
    expect(firstCertificate(c.key + c.cert)?.subject).toContain('CN=d10');
    expect(
      firstCertificate('-----BEGIN CERTIFICATE-----\nnot base64\n-----END CERTIFICATE-----'),
    ).toBeUndefined();
  });
});
