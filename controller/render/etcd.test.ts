import { describe, expect, it } from 'vitest';
import { ClusterSpec } from '../../proto/cluster-spec.js';
import { externalEtcdEndpoints, kubeadmInputFor } from './cluster-spec-inputs.js';
import { renderEtcdDefaults, type EtcdMemberInput } from './etcd.js';
import { clusterConfiguration } from './kubeadm.js';

const members = [
  { name: 'etcd-1', address: 'fd00::21' },
  { name: 'etcd-2', address: 'fd00::22' },
  { name: 'etcd-3', address: 'fd00::23' },
];
const input = (over: Partial<EtcdMemberInput> = {}): EtcdMemberInput => ({
  clusterName: 'demo',
  self: members[1]!,
  members,
  initialClusterState: 'new',
  extraArgs: {},
  ...over,
});
const env = (text: string): Record<string, string> =>
  Object.fromEntries(
    text
      .split('\n')
      .filter((l) => l.startsWith('ETCD_'))
      .map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]),
  );

describe('etcd member config', () => {
  it('brackets IPv6 addresses in every URL and listens on ::1 too', () => {
    const e = env(renderEtcdDefaults(input()));
    expect(e.ETCD_LISTEN_CLIENT_URLS).toBe('https://[fd00::22]:2379,https://[::1]:2379');
    expect(e.ETCD_INITIAL_CLUSTER).toBe(
      'etcd-1=https://[fd00::21]:2380,etcd-2=https://[fd00::22]:2380,etcd-3=https://[fd00::23]:2380',
    );
  });

  it('replaces one of its own flags from extraArgs rather than repeating it (etcd refuses both)', () => {
    const text = renderEtcdDefaults(
      input({ extraArgs: { 'snapshot-count': '5000', 'auto-compaction-retention': '8' } }),
    );
    expect(text.match(/^ETCD_SNAPSHOT_COUNT=/gm)).toHaveLength(1);
    expect(env(text)).toMatchObject({ ETCD_SNAPSHOT_COUNT: '5000', ETCD_AUTO_COMPACTION_RETENTION: '8' });
  });

  it('joins a running cluster as existing', () => {
    expect(
      env(renderEtcdDefaults(input({ initialClusterState: 'existing' }))).ETCD_INITIAL_CLUSTER_STATE,
    ).toBe('existing');
  });

  it.each([
    [
      'a member that is not among the members',
      input({ self: { name: 'etcd-9', address: 'fd00::29' } }),
      /etcd-9/,
    ],
    [
      'an address that is no IP',
      input({ members: [...members, { name: 'etcd-4', address: 'etcd-4.lan' }] }),
      /etcd-4.lan/,
    ],
    ['a member listed twice', input({ members: [...members, members[0]!] }), /twice/],
    ['a value with a newline', input({ extraArgs: { 'log-level': 'info\nETCD_NAME=x' } }), /log-level/],
  ])('refuses %s', (_name, bad, message) => {
    expect(() => renderEtcdDefaults(bad)).toThrow(message);
  });
});

describe("kubeadm's etcd section", () => {
  const spec = (etcd: unknown): ClusterSpec =>
    ClusterSpec.parse({
      apiVersion: 'kctl.dev/v1alpha1',
      kind: 'Cluster',
      name: 'demo',
      kubernetesVersion: 'v1.31.2',
      controlPlaneEndpoint: { host: 'api.example' },
      ha: { mode: 'external-lb' },
      etcd,
      hosts: [{ name: 'cp-1', role: 'control-plane' }],
    });
  const etcdOf = (s: ClusterSpec, m?: typeof members): unknown =>
    (clusterConfiguration(kubeadmInputFor(s, { name: 'cp-1' }, m)) as { etcd: unknown }).etcd;

  it('stays etcd.local with stacked etcd', () => {
    expect(etcdOf(spec({ mode: 'stacked' }))).toEqual({ local: { dataDir: '/var/lib/etcd' } });
  });

  it("points at an external cluster's endpoints with kubeadm's file layout", () => {
    const pem = '-----BEGIN CERTIFICATE-----\nx\n-----END CERTIFICATE-----\n';
    const s = spec({
      mode: 'external',
      endpoints: ['https://10.0.0.5:2379'],
      caCert: pem,
      clientCert: pem,
      clientKey: '-----BEGIN PRIVATE KEY-----\nx\n-----END PRIVATE KEY-----\n',
    });
    expect(etcdOf(s)).toEqual({
      external: {
        endpoints: ['https://10.0.0.5:2379'],
        caFile: '/etc/kubernetes/pki/etcd/ca.crt',
        certFile: '/etc/kubernetes/pki/apiserver-etcd-client.crt',
        keyFile: '/etc/kubernetes/pki/apiserver-etcd-client.key',
      },
    });
  });

  it('names every managed member by its client URL, and refuses to guess without them', () => {
    expect(externalEtcdEndpoints(spec({ mode: 'managed' }), members)).toEqual([
      'https://[fd00::21]:2379',
      'https://[fd00::22]:2379',
      'https://[fd00::23]:2379',
    ]);
    expect(() => etcdOf(spec({ mode: 'managed' }))).toThrow(/no etcd member is resolved/);
    expect(() =>
      externalEtcdEndpoints(spec({ mode: 'managed' }), [{ name: 'etcd-1', address: undefined }]),
    ).toThrow(/"etcd-1" has no address/);
  });
});
