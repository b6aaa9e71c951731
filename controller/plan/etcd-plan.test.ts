import { describe, expect, it } from 'vitest';
import type { Store } from '../store/store.js';
import { resolveCluster } from './resolved-cluster.js';

/** etcd.mode through cluster resolution: external etcd reaches the control planes and kubeadm. */

const HOSTS = [
  { name: 'cp-1', ips: ['198.18.0.11'] },
  { name: 'w-1', ips: ['198.18.0.21'] },
  { name: 'etcd-1', ips: ['198.18.0.31'] },
];
const CERT = '-----BEGIN CERTIFICATE-----\nMIIBca\n-----END CERTIFICATE-----\n';
const CLIENT = '-----BEGIN CERTIFICATE-----\nMIIBclient\n-----END CERTIFICATE-----\n';
const KEY = '-----BEGIN PRIVATE KEY-----\nMIGHkey\n-----END PRIVATE KEY-----\n';

function cluster(etcd: unknown, extraHosts: unknown[] = []) {
  const store = {
    listHosts: () =>
      HOSTS.map((h) => ({
        id: `id-${h.name}`,
        name: h.name,
        labels: {},
        state: 'active',
        facts: { ips: h.ips, kernel: '6.1.0', os: { id: 'debian' } },
      })),
  } as unknown as Store;
  return resolveCluster(
    { store },
    {
      apiVersion: 'kctl.dev/v1alpha1',
      kind: 'Cluster',
      name: 'ext',
      kubernetesVersion: 'v1.31.2',
      controlPlaneEndpoint: { host: '198.18.0.11' },
      cni: { plugin: 'none' },
      etcd,
      hosts: [{ name: 'cp-1', role: 'control-plane' }, { name: 'w-1', role: 'worker' }, ...extraHosts],
    },
    undefined,
  );
}

const external = {
  mode: 'external',
  endpoints: ['https://198.18.0.31:2379'],
  caCert: CERT,
  clientCert: CLIENT,
  clientKey: KEY,
};

describe('etcd.mode through cluster resolution', () => {
  it("puts an external cluster's CA and client pair on the control planes only, the key 0600 and hidden", () => {
    const c = cluster(external);
    const files = c
      .hostSpecFor(c.host('cp-1'))
      .files.filter((f) => f.path.startsWith('/etc/kubernetes/pki/'));
    expect(files.map((f) => [f.path, f.content, f.mode, f.sensitive])).toEqual([
      ['/etc/kubernetes/pki/etcd/ca.crt', CERT, 0o644, false],
      ['/etc/kubernetes/pki/apiserver-etcd-client.crt', CLIENT, 0o644, false],
      ['/etc/kubernetes/pki/apiserver-etcd-client.key', KEY, 0o600, true],
    ]);
    expect(c.hostSpecFor(c.host('w-1')).files.some((f) => f.path.startsWith('/etc/kubernetes/pki/'))).toBe(
      false,
    );
  });

  it('renders kubeadm init with etcd.external for an external cluster', () => {
    const c = cluster(external);
    const init = c.renderers.init(c.host('cp-1'), {
      token: 'abcdef.0123456789abcdef',
      certificateKey: 'a'.repeat(64),
    });
    expect(init).toContain('external:\n    endpoints:\n      - https://198.18.0.31:2379\n');
    expect(init).not.toContain('local:');
  });

  it('gives stacked control planes no etcd client files', () => {
    const c = cluster({ mode: 'stacked' });
    expect(c.hostSpecFor(c.host('cp-1')).files.some((f) => f.path.includes('etcd'))).toBe(false);
  });

  it('refuses managed etcd by name until the engine applies it', () => {
    expect(() => cluster({ mode: 'managed' }, [{ name: 'etcd-1', role: 'etcd' }])).toThrow(
      /etcd.mode: managed etcd is not applied by this kctl yet/,
    );
  });
});
