import { describe, expect, it } from 'vitest';
import { ClusterSpec } from '../../proto/cluster-spec.js';
import { HostSpec } from '../../proto/host-spec.js';
import { ensureEtcdPki } from '../etcd/pki.js';
import { controlPlaneEtcdFiles, etcdHostSpec } from './etcd-host-spec.js';

const members = [
  { name: 'etcd-1', address: '10.0.0.21' },
  { name: 'etcd-2', address: '10.0.0.22' },
  { name: 'etcd-3', address: '10.0.0.23' },
];
const specWith = (over: Record<string, unknown>): ClusterSpec =>
  ClusterSpec.parse({
    apiVersion: 'kctl.dev/v1alpha1',
    kind: 'Cluster',
    name: 'demo',
    kubernetesVersion: 'v1.31.2',
    controlPlaneEndpoint: { host: 'api.example' },
    ha: { mode: 'external-lb' },
    etcd: { mode: 'managed' },
    hosts: [...members.map((m) => ({ ...m, role: 'etcd' })), { name: 'cp-1', role: 'control-plane' }],
    ...over,
  });
const { pki } = await ensureEtcdPki(undefined, members);

describe('an etcd host spec', () => {
  it('installs etcd-server with its PKI, config and drop-in, and nothing of Kubernetes', () => {
    const hs = etcdHostSpec(specWith({}), members[0]!, {
      members,
      initialClusterState: 'new',
      pki,
      packageFormat: 'deb',
    });
    expect(HostSpec.safeParse(hs).success).toBe(true);
    expect(hs.role).toBe('etcd');
    expect(hs.packages).toEqual([
      { name: 'etcd-server', hold: true, restarts: ['etcd.service'] },
      { name: 'etcd-client', hold: true },
    ]);
    expect(hs.services).toEqual([{ unit: 'etcd.service', start: true }]);
    expect(hs.sysctls).toEqual({});
    expect(hs.swap).toBe('keep');
    expect(hs.files.map((f) => f.path)).toEqual([
      '/etc/kubernetes/pki/etcd/ca.crt',
      '/etc/kubernetes/pki/etcd/server.crt',
      '/etc/kubernetes/pki/etcd/server.key',
      '/etc/kubernetes/pki/etcd/peer.crt',
      '/etc/kubernetes/pki/etcd/peer.key',
      '/etc/kubernetes/pki/etcd/healthcheck-client.crt',
      '/etc/kubernetes/pki/etcd/healthcheck-client.key',
      '/etc/default/etcd',
      '/etc/systemd/system/etcd.service.d/10-kctl.conf',
    ]);
    expect(hs.files.filter((f) => f.sensitive).map((f) => [f.path, f.mode])).toEqual([
      ['/etc/kubernetes/pki/etcd/server.key', 0o600],
      ['/etc/kubernetes/pki/etcd/peer.key', 0o600],
      ['/etc/kubernetes/pki/etcd/healthcheck-client.key', 0o600],
    ]);
    expect(hs.files.every((f) => f.restarts?.includes('etcd.service'))).toBe(true);
    expect(hs.files.find((f) => f.path === '/etc/default/etcd')?.content).toContain('ETCD_NAME=etcd-1\n');
  });

  it('takes the package from the bundle, or installs nothing on preinstalled hosts', () => {
    const opts = { members, initialClusterState: 'new' as const, pki, packageFormat: 'deb' as const };
    expect(etcdHostSpec(specWith({ packages: { source: 'bundle' } }), members[1]!, opts).packagesFrom).toBe(
      'bundle',
    );
    const pre = etcdHostSpec(specWith({ packages: { source: 'preinstalled' } }), members[1]!, opts);
    expect(pre.packages).toEqual([]);
    expect(pre.services).toEqual([{ unit: 'etcd.service', start: true }]);
  });

  it('refuses an rpm host that should get the package', () => {
    expect(() =>
      etcdHostSpec(specWith({}), members[2]!, {
        members,
        initialClusterState: 'new',
        pki,
        packageFormat: 'rpm',
      }),
    ).toThrow(/etcd-3.*etcd-server/);
  });
});

describe("a control plane's etcd client files", () => {
  it('are none with stacked etcd, the PKI client pair with managed etcd', () => {
    expect(
      controlPlaneEtcdFiles(
        specWith({ etcd: { mode: 'stacked' }, hosts: [{ name: 'cp-1', role: 'control-plane' }] }),
        undefined,
      ),
    ).toEqual([]);
    const files = controlPlaneEtcdFiles(specWith({}), pki);
    expect(files.map((f) => f.content)).toEqual([
      pki.ca.certPem,
      pki.apiserverClient.certPem,
      pki.apiserverClient.keyPem,
    ]);
  });

  it("are cluster.yaml's with external etcd", () => {
    const cert = '-----BEGIN CERTIFICATE-----\nx\n-----END CERTIFICATE-----\n';
    const key = '-----BEGIN PRIVATE KEY-----\ny\n-----END PRIVATE KEY-----\n';
    const spec = specWith({
      etcd: {
        mode: 'external',
        endpoints: ['https://10.0.0.5:2379'],
        caCert: cert,
        clientCert: cert,
        clientKey: key,
      },
      hosts: [{ name: 'cp-1', role: 'control-plane' }],
    });
    const files = controlPlaneEtcdFiles(spec, undefined);
    expect(files.map((f) => [f.path, f.mode, f.sensitive])).toEqual([
      ['/etc/kubernetes/pki/etcd/ca.crt', 0o644, false],
      ['/etc/kubernetes/pki/apiserver-etcd-client.crt', 0o644, false],
      ['/etc/kubernetes/pki/apiserver-etcd-client.key', 0o600, true],
    ]);
    expect(files[2]?.content).toBe(key);
  });
});
