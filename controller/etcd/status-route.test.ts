import { describe, expect, it } from 'vitest';
import { ClusterSpec } from '../../proto/cluster-spec.js';
import { Ops } from '../../proto/ops.js';
import { etcdCandidates, LOCAL_ETCD } from './status-route.js';

const PEM = '-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n';
const spec = (etcd: unknown): ClusterSpec =>
  ClusterSpec.parse({
    apiVersion: 'kctl.dev/v1alpha1',
    kind: 'Cluster',
    name: 'c1',
    kubernetesVersion: 'v1.31.2',
    controlPlaneEndpoint: { host: '10.0.0.10' },
    etcd,
    hosts: [{ name: 'cp-1', role: 'control-plane' }],
  });
const nodes = [
  { name: 'cp-2', role: 'control-plane', first: false },
  { name: 'w-1', role: 'worker', first: false },
  { name: 'cp-1', role: 'control-plane', first: true },
];
const members = [{ name: 'etcd-1' }, { name: 'etcd-2' }];

describe('which hosts kctl etcd asks, and how they reach etcd', () => {
  it('stacked: the control planes, the first one first, through their own member with kubeadm healthcheck-client pair', () => {
    const c = etcdCandidates(spec({ mode: 'stacked' }), nodes, members);
    expect(c.map((x) => x.host)).toEqual(['cp-1', 'cp-2']);
    expect(c[0]?.conn).toEqual({
      endpoints: [LOCAL_ETCD],
      cacert: '/etc/kubernetes/pki/etcd/ca.crt',
      cert: '/etc/kubernetes/pki/etcd/healthcheck-client.crt',
      key: '/etc/kubernetes/pki/etcd/healthcheck-client.key',
    });
  });

  it('managed: the etcd hosts, never a control plane, with the member certificate', () => {
    const c = etcdCandidates(spec({ mode: 'managed' }), nodes, members);
    expect(c.map((x) => x.host)).toEqual(['etcd-1', 'etcd-2']);
    expect(c[0]?.conn.cert).toBe('/etc/kubernetes/pki/etcd/server.crt');
  });

  it("external: the control planes, through cluster.yaml's endpoints with the API server's client pair", () => {
    const endpoints = ['https://10.0.0.21:2379', 'https://10.0.0.22:2379'];
    const c = etcdCandidates(
      spec({
        mode: 'external',
        endpoints,
        caCert: PEM,
        clientCert: PEM,
        clientKey: '-----BEGIN PRIVATE KEY-----\nx\n',
      }),
      nodes,
      members,
    );
    expect(c.map((x) => x.host)).toEqual(['cp-1', 'cp-2']);
    expect(c[0]?.conn).toMatchObject({ endpoints, cert: '/etc/kubernetes/pki/apiserver-etcd-client.crt' });
  });

  it.each(['stacked', 'managed'] as const)(
    '%s: every candidate passes the etcd.status args schema',
    (mode) => {
      for (const c of etcdCandidates(spec({ mode }), nodes, members))
        expect(Ops['etcd.status'].args.safeParse(c.conn).success).toBe(true);
    },
  );
});
