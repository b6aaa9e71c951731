import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFile } from 'node:child_process';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { kctl } from './harness.js';
import { startLab, type Lab } from './ha-lab.js';
import { HealthResponse } from '../../proto/health.js';
import { PreflightResponse } from '../../proto/admin-api.js';

const execFileAsync = promisify(execFile);

/**
 * Issue 13 (2, 3): `kctl health` on a converged lab of 3 control planes and 2 workers (real
 * controller and agents on temp host roots, kubeadm/kubelet/kubectl STAND-INS): healthy after
 * apply; a changed kctl-managed file is drift; a certificate about to expire is found; and
 * `kctl preflight -f` on the running cluster says "already part of the cluster" and exits 0.
 */
describe('kctl health on a converged lab cluster', () => {
  let lab: Lab;
  beforeAll(async () => {
    lab = await startLab();
    const apply = await kctl(['apply', '-f', lab.clusterFile], { env: lab.env });
    expect(apply.code, apply.stdout + apply.stderr).toBe(0);
  }, 240_000);
  afterAll(() => lab.close());

  const health = async (): Promise<{ code: number | null; report: HealthResponse }> => {
    const r = await kctl(['health', '-f', lab.clusterFile, '-o', 'json'], { env: lab.env });
    return { code: r.code, report: HealthResponse.parse(JSON.parse(r.stdout)) };
  };

  it('is healthy after apply: every check ok, exit 0', { timeout: 120_000 }, async () => {
    const { code, report } = await health();
    const findings = report.hosts.flatMap((h) =>
      h.results.filter((r) => r.severity !== 'ok').map((r) => `${h.host} ${r.id}: ${r.observed}`),
    );
    expect(findings).toEqual([]);
    expect(report.worst).toBe('ok');
    expect(code).toBe(0);
    expect(report.hosts.map((h) => h.host).sort()).toEqual(['cp-1', 'cp-2', 'cp-3', 'w-1', 'w-2']);
    for (const h of report.hosts) {
      const ids = h.results.map((r) => r.id);
      expect(ids).toEqual(
        expect.arrayContaining([
          'NodeReady',
          'Service-containerd.service',
          'Service-kubelet.service',
          'Service-kctl-agent.service',
          'Swap',
          'ClockOffset',
          'Drift',
        ]),
      );
    }
    // without -f: no drift check, and the nodes come from whichever host can list them
    const plain = await kctl(['health', '-o', 'json'], { env: lab.env });
    expect(plain.code, plain.stdout + plain.stderr).toBe(0);
    const plainReport = HealthResponse.parse(JSON.parse(plain.stdout));
    for (const h of plainReport.hosts) {
      expect(h.results.find((r) => r.id === 'NodeReady')).toMatchObject({ severity: 'ok' });
      expect(h.results.some((r) => r.id.startsWith('Drift'))).toBe(false);
    }
    const cp1 = report.hosts.find((h) => h.host === 'cp-1')!;
    expect(cp1.results.some((r) => r.id === 'CertExpiry-/etc/kubernetes/pki/ca.crt')).toBe(true);
  });

  it(
    'finds drift in a kctl-managed file and a certificate about to expire',
    { timeout: 120_000 },
    async () => {
      const w1 = lab.agents.find((a) => a.name === 'w-1')!;
      await writeFile(join(w1.hostRoot, 'etc/sysctl.d/99-kctl.conf'), 'net.ipv4.ip_forward = 0\n');
      const cp2 = lab.agents.find((a) => a.name === 'cp-2')!;
      const pki = join(cp2.hostRoot, 'etc/kubernetes/pki');
      await mkdir(pki, { recursive: true });
      const key = join(lab.dir, 'short.key');
      await execFileAsync('openssl', [
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
        join(pki, 'short-lived.crt'),
        '-days',
        '3',
        '-subj',
        '/CN=short-lived',
      ]);

      const text = await kctl(['health', '-f', lab.clusterFile], { env: lab.env });
      expect(text.code, text.stdout + text.stderr).toBe(2);
      expect(text.stdout).toMatch(/== cp-2: critical/);
      expect(text.stdout).toContain('kubeadm certs renew');

      const { code, report } = await health();
      expect(code).toBe(2);
      expect(report.worst).toBe('critical');
      expect(report.hosts[0]!.host).toBe('cp-2'); // worst first
      const cert = report.hosts
        .find((h) => h.host === 'cp-2')!
        .results.find((r) => r.id === 'CertExpiry-/etc/kubernetes/pki/short-lived.crt');
      expect(cert).toMatchObject({ severity: 'critical', observed: expect.stringMatching(/2 days left/) });
      const drift = report.hosts
        .find((h) => h.host === 'w-1')!
        .results.filter((r) => r.id.startsWith('Drift'));
      expect(drift).toEqual([
        expect.objectContaining({
          id: 'Drift-sysctl',
          severity: 'warning',
          observed: expect.stringContaining('file /etc/sysctl.d/99-kctl.conf changed'),
          remedy: expect.stringContaining('kctl apply'),
        }),
      ]);
      // the other hosts stay as they were
      for (const h of report.hosts.filter((x) => x.host !== 'cp-2' && x.host !== 'w-1'))
        expect(h.worst).toBe('ok');

      // apply puts the file back; the drift is gone
      const apply = await kctl(['apply', '-f', lab.clusterFile], { env: lab.env });
      expect(apply.code, apply.stdout + apply.stderr).toBe(0);
      const after = await health();
      expect(after.report.hosts.find((h) => h.host === 'w-1')!.worst).toBe('ok');
    },
  );

  it(
    'kctl preflight on the running cluster: already part of the cluster, exit 0',
    { timeout: 120_000 },
    async () => {
      for (const args of [['-f', lab.clusterFile], []]) {
        const r = await kctl(['preflight', ...args, '-o', 'json'], { env: lab.env });
        expect(r.code, r.stdout + r.stderr).toBe(0);
        const report = PreflightResponse.parse(JSON.parse(r.stdout));
        expect(report.hosts).toHaveLength(5);
        for (const h of report.hosts) {
          expect(h.results).toEqual([
            expect.objectContaining({
              id: 'ClusterMember',
              status: 'skip',
              observed: expect.stringContaining('already part of the cluster'),
            }),
          ]);
          expect(h.spec.kubernetesVersion).not.toBe('v1.33.0');
        }
      }
      const text = await kctl(['preflight', '-f', lab.clusterFile], { env: lab.env });
      expect(text.code).toBe(0);
      expect(text.stdout).toMatch(/cp-1: already part of the cluster as a control-plane/);
      expect(text.stdout).toMatch(/w-1: already part of the cluster as a worker/);
    },
  );
});
