import { describe, expect, it } from 'vitest';
import { parseAllDocuments } from 'yaml';
import type { ClusterSpec } from '../../proto/cluster-spec.js';
import { KctlError } from '../../proto/errors.js';
import { parseClusterSpec } from '../spec/parse.js';
import {
  apiServerBindPort,
  hostPort,
  renderKubeadmInit,
  renderKubeadmJoin,
  type JoinSecrets,
  type KubeadmNode,
} from './kubeadm.js';

const TOKEN = 'abcdef.0123456789abcdef';
const KEY = 'c0ffee00'.repeat(8);
const HASH = `sha256:${'5ca1ab1e'.repeat(8)}`;
const cp1: KubeadmNode = { name: 'cp-1', role: 'control-plane', address: '198.18.0.11' };
const cp2: KubeadmNode = { name: 'cp-2', role: 'control-plane', address: '198.18.0.12' };
const w1: KubeadmNode = { name: 'w-1', role: 'worker', address: '198.18.0.21' };

function specFor(version: string, extra = ''): ClusterSpec {
  const r = parseClusterSpec(`apiVersion: kctl.dev/v1alpha1
kind: Cluster
name: t
kubernetesVersion: ${version}
controlPlaneEndpoint: {host: 198.18.0.100}
ha: {mode: kube-vip, interface: eth0}
extraArgs:
  apiServer: {audit-log-maxage: "30"}
  controllerManager: {node-cidr-mask-size: "24"}
  scheduler: {bind-address: 0.0.0.0}
  etcd: {quota-backend-bytes: "8589934592"}
  kubelet: {max-pods: "150"}
hosts:
  - {name: cp-1, role: control-plane}
${extra}`);
  if (!r.ok) throw new Error(JSON.stringify(r.errors));
  return r.spec;
}

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

const VERSIONS = [
  ['v1.29.15', 'kubeadm.k8s.io/v1beta3'],
  ['v1.30.14', 'kubeadm.k8s.io/v1beta3'],
  ['v1.31.2', 'kubeadm.k8s.io/v1beta4'],
  ['v1.32.9', 'kubeadm.k8s.io/v1beta4'],
  ['v1.33.4', 'kubeadm.k8s.io/v1beta4'],
  ['v1.34.1', 'kubeadm.k8s.io/v1beta4'],
  ['v1.35.0', 'kubeadm.k8s.io/v1beta4'],
] as const;

describe('kubeadm init config', () => {
  it.each(VERSIONS)('for %s is %s with the extraArgs shape and timeouts of that version', (version, api) => {
    const all = docs(renderKubeadmInit(specFor(version), cp1, { token: TOKEN, certificateKey: KEY }));
    expect(all.map((d) => `${d.apiVersion} ${d.kind}`)).toEqual([
      `${api} InitConfiguration`,
      `${api} ClusterConfiguration`,
      'kubelet.config.k8s.io/v1beta1 KubeletConfiguration',
      'kubeproxy.config.k8s.io/v1alpha1 KubeProxyConfiguration',
    ]);
    const init = byKind(all, 'InitConfiguration');
    const cluster = byKind(all, 'ClusterConfiguration');
    const v4 = api.endsWith('v1beta4');
    const args = (m: Record<string, string>): unknown =>
      v4 ? Object.entries(m).map(([name, value]) => ({ name, value })) : m;
    expect(init.nodeRegistration.kubeletExtraArgs).toEqual(
      args({ 'node-ip': '198.18.0.11', 'max-pods': '150' }),
    );
    expect(cluster.apiServer.extraArgs).toEqual(args({ 'audit-log-maxage': '30' }));
    expect(cluster.controllerManager.extraArgs).toEqual(args({ 'node-cidr-mask-size': '24' }));
    expect(cluster.scheduler.extraArgs).toEqual(args({ 'bind-address': '0.0.0.0' }));
    expect(cluster.etcd.local.extraArgs).toEqual(args({ 'quota-backend-bytes': '8589934592' }));
    if (v4) {
      expect(init.timeouts).toEqual({ controlPlaneComponentHealthCheck: '5m0s' });
      expect(cluster.apiServer.timeoutForControlPlane).toBeUndefined();
    } else {
      expect(init.timeouts).toBeUndefined();
      expect(cluster.apiServer.timeoutForControlPlane).toBe('5m0s');
    }
    expect(cluster.kubernetesVersion).toBe(version);
  });

  it('carries the secrets, the node and the cluster settings kubeadm needs', () => {
    const all = docs(
      renderKubeadmInit(specFor('v1.31.2'), cp1, { token: TOKEN, certificateKey: KEY, tokenTtl: '30m' }),
    );
    const init = byKind(all, 'InitConfiguration');
    expect(init.certificateKey).toBe(KEY);
    expect(init.bootstrapTokens).toEqual([
      {
        token: TOKEN,
        description: 'kctl: kubeadm init',
        ttl: '30m',
        usages: ['signing', 'authentication'],
        groups: ['system:bootstrappers:kubeadm:default-node-token'],
      },
    ]);
    expect(init.nodeRegistration.name).toBe('cp-1');
    expect(init.nodeRegistration.criSocket).toBe('unix:///var/run/containerd/containerd.sock');
    expect(init.localAPIEndpoint).toEqual({ advertiseAddress: '198.18.0.11', bindPort: 6443 });
    const cluster = byKind(all, 'ClusterConfiguration');
    expect(cluster).toMatchObject({
      clusterName: 't',
      controlPlaneEndpoint: '198.18.0.100:6443',
      imageRepository: 'registry.k8s.io',
      networking: { podSubnet: '10.244.0.0/16', serviceSubnet: '10.96.0.0/12', dnsDomain: 'cluster.local' },
      apiServer: { certSANs: ['198.18.0.100'] },
      etcd: { local: { dataDir: '/var/lib/etcd' } },
    });
    expect(byKind(all, 'KubeletConfiguration').cgroupDriver).toBe('systemd');
  });

  it.each([
    ['iptables', 'kube-vip', { mode: 'iptables' }],
    ['ipvs', 'kube-vip', { mode: 'ipvs', ipvs: { strictARP: true } }],
    ['ipvs', 'external-lb', { mode: 'ipvs' }],
    ['nftables', 'kube-vip', { mode: 'nftables' }],
  ])('sets kube-proxy mode %s with %s as %j', (mode, ha, want) => {
    const spec = specFor('v1.33.4', `kubeProxy: {mode: ${mode}}\n`);
    const s: ClusterSpec = ha === 'kube-vip' ? spec : { ...spec, ha: { mode: 'external-lb' } };
    const proxy = byKind(
      docs(renderKubeadmInit(s, cp1, { token: TOKEN, certificateKey: KEY })),
      'KubeProxyConfiguration',
    );
    expect(proxy).toEqual({
      apiVersion: 'kubeproxy.config.k8s.io/v1alpha1',
      kind: 'KubeProxyConfiguration',
      ...want,
    });
  });

  it('turns on the nftables gate where nftables mode is still alpha', () => {
    const proxy = byKind(
      docs(
        renderKubeadmInit(specFor('v1.30.14', 'kubeProxy: {mode: nftables}\n'), cp1, {
          token: TOKEN,
          certificateKey: KEY,
        }),
      ),
      'KubeProxyConfiguration',
    );
    expect(proxy.featureGates).toEqual({ NFTablesProxyMode: true });
  });

  it('leaves the advertise address and node-ip to kubeadm when the node has no address', () => {
    const all = docs(
      renderKubeadmInit(
        specFor('v1.29.15'),
        { name: 'cp-1', role: 'control-plane' },
        { token: TOKEN, certificateKey: KEY },
      ),
    );
    const init = byKind(all, 'InitConfiguration');
    expect(init.localAPIEndpoint).toEqual({ bindPort: 6443 });
    expect(init.nodeRegistration.kubeletExtraArgs).toEqual({ 'max-pods': '150' });
  });

  it('lets cluster.yaml override the node-ip kctl would set', () => {
    const spec = specFor('v1.29.15');
    const s = { ...spec, extraArgs: { ...spec.extraArgs, kubelet: { 'node-ip': '10.1.1.1' } } };
    const init = byKind(
      docs(renderKubeadmInit(s, cp1, { token: TOKEN, certificateKey: KEY })),
      'InitConfiguration',
    );
    expect(init.nodeRegistration.kubeletExtraArgs).toEqual({ 'node-ip': '10.1.1.1' });
  });

  it('puts the endpoint, the VIP, the mapped address and certSANs in the certificate once each', () => {
    const r = parseClusterSpec(`apiVersion: kctl.dev/v1alpha1
kind: Cluster
name: t
kubernetesVersion: v1.31.2
controlPlaneEndpoint: {host: api.t.example, address: 198.18.0.100}
ha: {mode: kube-vip, interface: eth0, vip: 198.18.0.100}
certSANs: [198.18.0.100, other.t.example, api.t.example]
hosts: [{name: cp-1, role: control-plane}]
`);
    if (!r.ok) throw new Error(JSON.stringify(r.errors));
    const cluster = byKind(
      docs(renderKubeadmInit(r.spec, cp1, { token: TOKEN, certificateKey: KEY })),
      'ClusterConfiguration',
    );
    expect(cluster.apiServer.certSANs).toEqual(['api.t.example', '198.18.0.100', 'other.t.example']);
    expect(cluster.controlPlaneEndpoint).toBe('api.t.example:6443');
  });
});

describe('kubeadm join config', () => {
  const secrets: JoinSecrets = { token: TOKEN, caCertHashes: [HASH], certificateKey: KEY };

  it.each(VERSIONS)(
    'for a control plane on %s is one %s JoinConfiguration with controlPlane set',
    (version, api) => {
      const all = docs(renderKubeadmJoin(specFor(version), cp2, secrets));
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
      if (api.endsWith('v1beta4')) {
        expect(join.timeouts).toEqual({ discovery: '5m0s', controlPlaneComponentHealthCheck: '5m0s' });
        expect(join.discovery.timeout).toBeUndefined();
        expect(join.nodeRegistration.kubeletExtraArgs).toEqual([
          { name: 'node-ip', value: '198.18.0.12' },
          { name: 'max-pods', value: '150' },
        ]);
      } else {
        expect(join.timeouts).toBeUndefined();
        expect(join.discovery.timeout).toBe('5m0s');
        expect(join.nodeRegistration.kubeletExtraArgs).toEqual({
          'node-ip': '198.18.0.12',
          'max-pods': '150',
        });
      }
    },
  );

  it.each(VERSIONS)('for a worker on %s has no controlPlane and no certificate key', (version) => {
    const text = renderKubeadmJoin(specFor(version), w1, secrets);
    const join = byKind(docs(text), 'JoinConfiguration');
    expect(join.controlPlane).toBeUndefined();
    expect(join.nodeRegistration.name).toBe('w-1');
    expect(text).not.toContain(KEY);
  });

  it('keeps every CA hash it is given', () => {
    const other = `sha256:${'0'.repeat(64)}`;
    const join = byKind(
      docs(renderKubeadmJoin(specFor('v1.33.4'), w1, { ...secrets, caCertHashes: [HASH, other] })),
      'JoinConfiguration',
    );
    expect(join.discovery.bootstrapToken.caCertHashes).toEqual([HASH, other]);
  });

  it('joins through an external load balancer at its port while the API server binds 6443', () => {
    const spec = specFor('v1.33.4');
    const s: ClusterSpec = {
      ...spec,
      ha: { mode: 'external-lb' },
      controlPlaneEndpoint: { host: 'api.t.example', port: 443 },
    };
    expect(apiServerBindPort(s)).toBe(6443);
    const join = byKind(docs(renderKubeadmJoin(s, cp2, secrets)), 'JoinConfiguration');
    expect(join.discovery.bootstrapToken.apiServerEndpoint).toBe('api.t.example:443');
    expect(join.controlPlane.localAPIEndpoint.bindPort).toBe(6443);
  });
});

describe('kubeadm secrets', () => {
  const spec = specFor('v1.31.2');
  const bad = 'NOT-A-SECRET-but-looks-like-one';
  it.each([
    [
      'a malformed token',
      () => renderKubeadmInit(spec, cp1, { token: bad, certificateKey: KEY }),
      /bootstrap token/,
    ],
    [
      'a short certificate key',
      () => renderKubeadmInit(spec, cp1, { token: TOKEN, certificateKey: bad }),
      /certificate key/,
    ],
    [
      'a bad token TTL',
      () => renderKubeadmInit(spec, cp1, { token: TOKEN, certificateKey: KEY, tokenTtl: '1 day' }),
      /duration/,
    ],
    [
      'a worker running init',
      () => renderKubeadmInit(spec, w1, { token: TOKEN, certificateKey: KEY }),
      /worker/,
    ],
    [
      'a malformed CA hash',
      () => renderKubeadmJoin(spec, w1, { token: TOKEN, caCertHashes: [bad] }),
      /CA certificate hash/,
    ],
    ['no CA hash', () => renderKubeadmJoin(spec, w1, { token: TOKEN, caCertHashes: [] }), /At least one/],
    [
      'a control plane without a certificate key',
      () => renderKubeadmJoin(spec, cp2, { token: TOKEN, caCertHashes: [HASH] }),
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
