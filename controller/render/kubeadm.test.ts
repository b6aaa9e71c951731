import { describe, expect, it } from 'vitest';
import { parseAllDocuments } from 'yaml';
import { KctlError } from '../../proto/errors.js';
import { CRI_SOCKET, hostPort, kubeadmApiVersion, renderKubeadmInit, renderKubeadmJoin } from './kubeadm.js';
import type { JoinInput, KubeadmInput } from './types.js';

const TOKEN = 'abcdef.0123456789abcdef';
const KEY = 'a'.repeat(64);
const HASH = `sha256:${'b'.repeat(64)}`;

function input(version: string, overrides: Partial<KubeadmInput> = {}): KubeadmInput {
  return {
    kubernetesVersion: version,
    clusterName: 't',
    controlPlaneEndpoint: { host: '198.18.0.100', port: 6443 },
    nodeName: 'cp-1',
    advertiseAddress: '198.18.0.11',
    bindPort: 6443,
    podSubnet: '10.244.0.0/16',
    serviceSubnet: '10.96.0.0/12',
    dnsDomain: 'cluster.local',
    imageRepository: 'registry.k8s.io',
    certSANs: ['198.18.0.100'],
    extraArgs: {
      apiServer: { 'audit-log-maxage': '30' },
      controllerManager: { 'node-cidr-mask-size': '24' },
      scheduler: { 'bind-address': '0.0.0.0' },
      etcd: { 'quota-backend-bytes': '8589934592' },
      kubelet: { 'max-pods': '150' },
    },
    kubeProxyMode: 'iptables',
    kubeVip: true,
    criSocket: CRI_SOCKET,
    ...overrides,
  };
}
const cp2 = { nodeName: 'cp-2', advertiseAddress: '198.18.0.12' };
const w1 = { nodeName: 'w-1', advertiseAddress: '198.18.0.21' };
const cpJoin: JoinInput = { token: TOKEN, caCertHashes: [HASH], certificateKey: KEY, controlPlane: true };
const workerJoin: JoinInput = { token: TOKEN, caCertHashes: [HASH], controlPlane: false };

type Doc = Record<string, unknown> & { kind: string; apiVersion: string };
function docs(text: string): Doc[] {
  return parseAllDocuments(text).map((d) => {
    expect(d.errors).toEqual([]);
    return d.toJS() as Doc;
  });
}
// parsed YAML read field by field in assertions; the shape is what is under test
// eslint-disable-next-line @typescript-eslint/no-explicit-any
function byKind(all: Doc[], kind: string): any {
  const d = all.find((x) => x.kind === kind);
  expect(d, kind).toBeDefined();
  return d;
}
const init = (i: KubeadmInput): Doc[] => docs(renderKubeadmInit(i, { token: TOKEN, certificateKey: KEY }));

const VERSIONS = [
  ['v1.29.15', 'kubeadm.k8s.io/v1beta3'],
  ['v1.30.14', 'kubeadm.k8s.io/v1beta3'],
  ['v1.31.2', 'kubeadm.k8s.io/v1beta4'],
  ['v1.32.9', 'kubeadm.k8s.io/v1beta4'],
  ['v1.33.4', 'kubeadm.k8s.io/v1beta4'],
  ['v1.34.1', 'kubeadm.k8s.io/v1beta4'],
  ['v1.35.0', 'kubeadm.k8s.io/v1beta4'],
] as const;

/** What each API version expects extraArgs to look like. */
const argsShape = (api: string, m: Record<string, string>): unknown =>
  api.endsWith('v1beta4') ? Object.entries(m).map(([name, value]) => ({ name, value })) : m;

describe('kubeadm API version', () => {
  it.each([
    ['v1.22.0', 'kubeadm.k8s.io/v1beta3'] as const,
    ...VERSIONS,
    ['v1.36.0', 'kubeadm.k8s.io/v1beta4'] as const,
  ])('for %s is %s', (version, api) => {
    expect(kubeadmApiVersion(version)).toBe(api);
  });

  it.each(['v1.21.14', 'latest', '1.31'])('refuses %s', (version) => {
    expect(() => kubeadmApiVersion(version)).toThrow(KctlError);
  });
});

describe('kubeadm init config', () => {
  it.each(VERSIONS)('for %s is %s with the extraArgs shape and timeouts of that version', (version, api) => {
    const all = init(input(version));
    expect(all.map((d) => `${d.apiVersion} ${d.kind}`)).toEqual([
      `${api} InitConfiguration`,
      `${api} ClusterConfiguration`,
      'kubelet.config.k8s.io/v1beta1 KubeletConfiguration',
      'kubeproxy.config.k8s.io/v1alpha1 KubeProxyConfiguration',
    ]);
    const initConfig = byKind(all, 'InitConfiguration');
    const cluster = byKind(all, 'ClusterConfiguration');
    expect(initConfig.nodeRegistration.kubeletExtraArgs).toEqual(
      argsShape(api, { 'node-ip': '198.18.0.11', 'max-pods': '150' }),
    );
    expect(cluster.apiServer.extraArgs).toEqual(argsShape(api, { 'audit-log-maxage': '30' }));
    expect(cluster.controllerManager.extraArgs).toEqual(argsShape(api, { 'node-cidr-mask-size': '24' }));
    expect(cluster.scheduler.extraArgs).toEqual(argsShape(api, { 'bind-address': '0.0.0.0' }));
    expect(cluster.etcd.local.extraArgs).toEqual(argsShape(api, { 'quota-backend-bytes': '8589934592' }));
    if (api.endsWith('v1beta4')) {
      expect(initConfig.timeouts).toEqual({ controlPlaneComponentHealthCheck: '5m0s' });
      expect(cluster.apiServer).not.toHaveProperty('timeoutForControlPlane');
    } else {
      expect(initConfig).not.toHaveProperty('timeouts');
      expect(cluster.apiServer.timeoutForControlPlane).toBe('5m0s');
    }
    expect(cluster.kubernetesVersion).toBe(version);
  });

  it('carries the secrets, the node and the cluster settings kubeadm needs', () => {
    const all = docs(
      renderKubeadmInit(input('v1.31.2'), { token: TOKEN, certificateKey: KEY, tokenTtl: '30m' }),
    );
    const initConfig = byKind(all, 'InitConfiguration');
    expect(initConfig.certificateKey).toBe(KEY);
    expect(initConfig.bootstrapTokens).toEqual([
      {
        token: TOKEN,
        description: 'kctl: kubeadm init',
        ttl: '30m',
        usages: ['signing', 'authentication'],
        groups: ['system:bootstrappers:kubeadm:default-node-token'],
      },
    ]);
    expect(initConfig.nodeRegistration.name).toBe('cp-1');
    expect(initConfig.nodeRegistration.criSocket).toBe('unix:///var/run/containerd/containerd.sock');
    expect(initConfig.nodeRegistration).not.toHaveProperty('taints');
    expect(initConfig.localAPIEndpoint).toEqual({ advertiseAddress: '198.18.0.11', bindPort: 6443 });
    expect(byKind(all, 'ClusterConfiguration')).toMatchObject({
      clusterName: 't',
      controlPlaneEndpoint: '198.18.0.100:6443',
      imageRepository: 'registry.k8s.io',
      networking: { podSubnet: '10.244.0.0/16', serviceSubnet: '10.96.0.0/12', dnsDomain: 'cluster.local' },
      apiServer: { certSANs: ['198.18.0.100'] },
      etcd: { local: { dataDir: '/var/lib/etcd' } },
    });
  });

  it('gives the init token a short TTL by default', () => {
    expect(byKind(init(input('v1.33.4')), 'InitConfiguration').bootstrapTokens[0].ttl).toBe('1h0m0s');
  });

  it.each([
    ['v1.29.15', false],
    ['v1.34.1', false],
    ['v1.35.0', true],
  ])('sets the systemd cgroup driver on %s, failCgroupV1 %s', (version, failCgroupV1) => {
    const kubelet = byKind(init(input(version)), 'KubeletConfiguration');
    expect(kubelet.cgroupDriver).toBe('systemd');
    if (failCgroupV1) expect(kubelet.failCgroupV1).toBe(true);
    else expect(kubelet).not.toHaveProperty('failCgroupV1');
  });

  it.each([
    ['iptables', true, { mode: 'iptables' }],
    ['iptables', false, { mode: 'iptables' }],
    ['ipvs', true, { mode: 'ipvs', ipvs: { strictARP: true } }],
    ['ipvs', false, { mode: 'ipvs' }],
    ['nftables', true, { mode: 'nftables' }],
    ['nftables', false, { mode: 'nftables' }],
  ] as const)('sets kube-proxy mode %s with kube-vip=%s as %j', (mode, kubeVip, want) => {
    const proxy = byKind(init(input('v1.33.4', { kubeProxyMode: mode, kubeVip })), 'KubeProxyConfiguration');
    expect(proxy).toEqual({
      apiVersion: 'kubeproxy.config.k8s.io/v1alpha1',
      kind: 'KubeProxyConfiguration',
      ...want,
    });
  });

  it.each([
    ['v1.29.15', { NFTablesProxyMode: true }],
    ['v1.30.14', { NFTablesProxyMode: true }],
    ['v1.31.2', undefined],
  ])('turns on the nftables gate on %s only while nftables mode is alpha', (version, gates) => {
    const proxy = byKind(init(input(version, { kubeProxyMode: 'nftables' })), 'KubeProxyConfiguration');
    expect(proxy.featureGates).toEqual(gates);
  });

  it('leaves the advertise address, node-ip and image repository to kubeadm when not given', () => {
    const all = init(input('v1.29.15', { advertiseAddress: undefined, imageRepository: undefined }));
    const initConfig = byKind(all, 'InitConfiguration');
    expect(initConfig.localAPIEndpoint).toEqual({ bindPort: 6443 });
    expect(initConfig.nodeRegistration.kubeletExtraArgs).toEqual({ 'max-pods': '150' });
    expect(byKind(all, 'ClusterConfiguration')).not.toHaveProperty('imageRepository');
  });

  it('lets the kubelet extra args override the node-ip kctl would set', () => {
    const base = input('v1.29.15');
    const all = init({ ...base, extraArgs: { ...base.extraArgs, kubelet: { 'node-ip': '10.1.1.1' } } });
    expect(byKind(all, 'InitConfiguration').nodeRegistration.kubeletExtraArgs).toEqual({
      'node-ip': '10.1.1.1',
    });
  });

  it('leaves out empty extraArgs and certSANs, and writes each SAN once', () => {
    const none = { apiServer: {}, controllerManager: {}, scheduler: {}, etcd: {}, kubelet: {} };
    const bare = byKind(init(input('v1.31.2', { extraArgs: none, certSANs: [] })), 'ClusterConfiguration');
    expect(bare.apiServer).toEqual({});
    expect(bare).not.toHaveProperty('controllerManager');
    expect(bare).not.toHaveProperty('scheduler');
    expect(bare.etcd).toEqual({ local: { dataDir: '/var/lib/etcd' } });
    const sans = ['api.t.example', '198.18.0.100', 'api.t.example'];
    const cluster = byKind(init(input('v1.31.2', { certSANs: sans })), 'ClusterConfiguration');
    expect(cluster.apiServer.certSANs).toEqual(['api.t.example', '198.18.0.100']);
  });

  it.each([
    ['no taints at all', []],
    ['a taint of its own', [{ key: 'dedicated', value: 'infra', effect: 'NoSchedule' }]],
  ] as const)('writes %s when asked', (_what, taints) => {
    const all = init(input('v1.31.2', { taints }));
    expect(byKind(all, 'InitConfiguration').nodeRegistration.taints).toEqual(taints);
  });

  it('writes an IPv6 endpoint in brackets', () => {
    const cluster = byKind(
      init(input('v1.31.2', { controlPlaneEndpoint: { host: 'fd00::100', port: 6443 } })),
      'ClusterConfiguration',
    );
    expect(cluster.controlPlaneEndpoint).toBe('[fd00::100]:6443');
  });
});

describe('kubeadm join config', () => {
  it.each(VERSIONS)(
    'for a control plane on %s is one %s JoinConfiguration with controlPlane set',
    (version, api) => {
      const all = docs(renderKubeadmJoin(input(version, cp2), cpJoin));
      expect(all).toHaveLength(1);
      const join = byKind(all, 'JoinConfiguration');
      expect(join.apiVersion).toBe(api);
      expect(join.controlPlane).toEqual({
        localAPIEndpoint: { advertiseAddress: '198.18.0.12', bindPort: 6443 },
        certificateKey: KEY,
      });
      expect(join.discovery.bootstrapToken).toEqual({
        token: TOKEN,
        apiServerEndpoint: '198.18.0.100:6443',
        caCertHashes: [HASH],
      });
      expect(join.nodeRegistration.kubeletExtraArgs).toEqual(
        argsShape(api, { 'node-ip': '198.18.0.12', 'max-pods': '150' }),
      );
      if (api.endsWith('v1beta4')) {
        expect(join.timeouts).toEqual({ discovery: '5m0s', controlPlaneComponentHealthCheck: '5m0s' });
        expect(join.discovery).not.toHaveProperty('timeout');
      } else {
        expect(join).not.toHaveProperty('timeouts');
        expect(join.discovery.timeout).toBe('5m0s');
      }
    },
  );

  it.each(VERSIONS)('for a worker on %s has no controlPlane and no certificate key', (version, api) => {
    const text = renderKubeadmJoin(input(version, w1), { ...workerJoin, certificateKey: KEY });
    const join = byKind(docs(text), 'JoinConfiguration');
    expect(join).not.toHaveProperty('controlPlane');
    expect(join.nodeRegistration.name).toBe('w-1');
    if (api.endsWith('v1beta4')) expect(join.timeouts).toEqual({ discovery: '5m0s' });
    expect(text).not.toContain(KEY);
  });

  it('keeps every CA hash it is given', () => {
    const other = `sha256:${'0'.repeat(64)}`;
    const join = byKind(
      docs(renderKubeadmJoin(input('v1.33.4', w1), { ...workerJoin, caCertHashes: [HASH, other] })),
      'JoinConfiguration',
    );
    expect(join.discovery.bootstrapToken.caCertHashes).toEqual([HASH, other]);
  });

  it('joins through the endpoint port while the API server binds its own port', () => {
    const i = input('v1.33.4', { ...cp2, controlPlaneEndpoint: { host: 'api.t.example', port: 443 } });
    const join = byKind(docs(renderKubeadmJoin(i, cpJoin)), 'JoinConfiguration');
    expect(join.discovery.bootstrapToken.apiServerEndpoint).toBe('api.t.example:443');
    expect(join.controlPlane.localAPIEndpoint.bindPort).toBe(6443);
  });
});

describe('kubeadm secrets', () => {
  const i = input('v1.31.2');
  const bad = 'NOT-A-SECRET-but-looks-like-one';
  it.each([
    ['a malformed token', () => renderKubeadmInit(i, { token: bad, certificateKey: KEY }), /bootstrap token/],
    [
      'a short certificate key',
      () => renderKubeadmInit(i, { token: TOKEN, certificateKey: bad }),
      /certificate key/,
    ],
    [
      'an upper-case certificate key',
      () => renderKubeadmInit(i, { token: TOKEN, certificateKey: 'A'.repeat(64) }),
      /certificate key/,
    ],
    [
      'a bad token TTL',
      () => renderKubeadmInit(i, { token: TOKEN, certificateKey: KEY, tokenTtl: '1 day' }),
      /duration/,
    ],
    [
      'an empty token TTL',
      () => renderKubeadmInit(i, { token: TOKEN, certificateKey: KEY, tokenTtl: '' }),
      /duration/,
    ],
    [
      'a malformed CA hash',
      () => renderKubeadmJoin(i, { ...workerJoin, caCertHashes: [bad] }),
      /CA certificate hash/,
    ],
    ['no CA hash', () => renderKubeadmJoin(i, { ...workerJoin, caCertHashes: [] }), /At least one/],
    ['a malformed join token', () => renderKubeadmJoin(i, { ...workerJoin, token: bad }), /bootstrap token/],
    [
      'a control plane without a certificate key',
      () => renderKubeadmJoin(i, { ...cpJoin, certificateKey: undefined }),
      /certificate key/,
    ],
    [
      'a control plane with a malformed certificate key',
      () => renderKubeadmJoin(i, { ...cpJoin, certificateKey: bad }),
      /certificate key/,
    ],
  ])('refuses %s without echoing the value', (_what, render, message) => {
    try {
      render();
      expect.unreachable();
    } catch (err) {
      expect(err).toBeInstanceOf(KctlError);
      expect((err as KctlError).message).toMatch(message);
      expect((err as KctlError).message).not.toContain(bad);
    }
  });

  it('puts the token and certificate key into the init config and nowhere else in it', () => {
    const text = renderKubeadmInit(i, { token: TOKEN, certificateKey: KEY });
    expect(text.split(TOKEN)).toHaveLength(2);
    expect(text.split(KEY)).toHaveLength(2);
  });
});

describe('endpoints', () => {
  it.each([
    ['198.18.0.100', 6443, '198.18.0.100:6443'],
    ['api.example', 443, 'api.example:443'],
    ['fd00::100', 6443, '[fd00::100]:6443'],
  ])('writes %s port %d as %s', (host, port, want) => {
    expect(hostPort(host, port)).toBe(want);
  });
});
