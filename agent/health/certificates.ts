import { X509Certificate } from 'node:crypto';
import { CERT_CRITICAL_DAYS, CERT_WARNING_DAYS } from '../../proto/certs.js';
import type { HealthResult, HealthSeverity } from '../../proto/health.js';
import type { Host } from '../host/host.js';
import type { HealthCheck } from './health-check.js';
import { finding } from './health-check.js';

export const PKI_DIR = '/etc/kubernetes/pki';
export const KUBELET_CLIENT_CERT = '/var/lib/kubelet/pki/kubelet-client-current.pem';
// one threshold for `kctl health` and `kctl certs check`
export { CERT_CRITICAL_DAYS, CERT_WARNING_DAYS };
const DAY_MS = 86_400_000;

export interface CertificateFile {
  path: string;
  /** notAfter in ms since the epoch; undefined when the file holds no certificate that parses */
  notAfterMs: number | undefined;
  subject?: string;
}

/** The first CERTIFICATE block of a PEM file (kubelet-client-current.pem also holds the key). */
export function firstCertificate(pem: string): X509Certificate | undefined {
  const m = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/.exec(pem);
  if (!m) return undefined;
  try {
    return new X509Certificate(m[0]);
  } catch {
    return undefined;
  }
}

/** Pure judge: expired or < 7 days left is critical, < 30 days a warning. */
export function judgeCertificate(cert: CertificateFile, nowMs: number): HealthResult {
  const id = `CertExpiry-${cert.path}`;
  const title = `certificate ${cert.path} valid`;
  if (cert.notAfterMs === undefined)
    return finding(
      id,
      title,
      'warning',
      'no certificate could be read from the file',
      'check the file; kubeadm certs check-expiration',
    );
  const days = (cert.notAfterMs - nowMs) / DAY_MS;
  const at = new Date(cert.notAfterMs).toISOString();
  let severity: HealthSeverity = 'ok';
  if (days < CERT_CRITICAL_DAYS) severity = 'critical';
  else if (days < CERT_WARNING_DAYS) severity = 'warning';
  const observed = days < 0 ? `expired ${at}` : `expires ${at} (${Math.floor(days)} days left)`;
  const remedy =
    cert.path === KUBELET_CLIENT_CERT
      ? 'the kubelet rotates this certificate itself when rotateCertificates is on: check that the kubelet runs and that its CSRs are approved'
      : 'kctl certs renew -f cluster.yaml (kubeadm certs renew all on each control plane, then its static pods restarted)';
  return { ...finding(id, title, severity, observed, remedy), notAfter: at };
}

export async function certificatePaths(host: Host, dir: string, depth = 0): Promise<string[]> {
  if (depth > 3) return [];
  const out: string[] = [];
  for (const name of (await host.listDir(dir)).sort()) {
    const path = `${dir}/${name}`;
    const st = await host.stat(path);
    if (st?.isDirectory) out.push(...(await certificatePaths(host, path, depth + 1)));
    else if (st?.isFile && name.endsWith('.crt')) out.push(path);
  }
  return out;
}

export const certificateCheck: HealthCheck = {
  id: 'CertExpiry',
  run: async ({ host, now }) => {
    const paths = (await host.exists(PKI_DIR)) ? await certificatePaths(host, PKI_DIR) : [];
    if (await host.exists(KUBELET_CLIENT_CERT)) paths.push(KUBELET_CLIENT_CERT);
    const nowMs = now();
    return Promise.all(
      paths.map(async (path) => {
        const cert = firstCertificate((await host.readFile(path)) ?? '');
        const notAfterMs = cert ? Date.parse(cert.validTo) : undefined;
        return judgeCertificate(
          { path, notAfterMs: Number.isNaN(notAfterMs) ? undefined : notAfterMs },
          nowMs,
        );
      }),
    );
  },
};
