import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { ClusterSpec } from '../../proto/cluster-spec.js';
import { parseClusterSpec } from '../spec/parse.js';
import {
  apiServerBindPort,
  apiServerCertSANs,
  containerdConfigInputFor,
  hostPrepInputFor,
  kubeadmInputFor,
  kubeVipInputFor,
  kubeVipManifestFor,
  packageRepoInputFor,
  prepareFilesInputFor,
} from './cluster-spec-inputs.js';

function specOf(body: string): ClusterSpec {
  const r = parseClusterSpec(`apiVersion: kctl.dev/v1alpha1
kind: Cluster
name: t
${body}
hosts: [{name: cp-1, role: control-plane}]
`);
  if (!r.ok) throw new Error(JSON.stringify(r.errors));
  return r.spec;
}
const full = ((): ClusterSpec => {
  const r = parseClusterSpec(
    readFileSync(join(import.meta.dirname, '../../test/fixtures/cluster/full.yaml'), 'utf8'),
  );
  if (!r.ok) throw new Error(JSON.stringify(r.errors));
  return r.spec;
})();

describe('cluster.yaml -> kubeadm input', () => {
  it('maps the documented example field by field', () => {
    expect(kubeadmInputFor(full, { name: 'cp-1', address: '198.18.0.11' })).toEqual({
      kubernetesVersion: 'v1.31.2',
      clusterName: 'demo',
      controlPlaneEndpoint: { host: 'k8s-api.example.internal', port: 6443 },
      nodeName: 'cp-1',
      advertiseAddress: '198.18.0.11',
      bindPort: 6443,
      podSubnet: '10.244.0.0/16',
      serviceSubnet: '10.96.0.0/12',
      dnsDomain: 'cluster.local',
      imageRepository: 'registry.k8s.io',
      certSANs: ['k8s-api.example.internal', '198.18.0.100'],
      extraArgs: {
        apiServer: { 'audit-log-maxage': '30' },
        controllerManager: { 'node-cidr-mask-size': '24' },
        scheduler: { 'bind-address': '0.0.0.0' },
        etcd: { 'quota-backend-bytes': '8589934592' },
        kubelet: { 'max-pods': '150' },
      },
      kubeProxyMode: 'ipvs',
      kubeVip: true,
      criSocket: 'unix:///var/run/containerd/containerd.sock',
    });
  });

  it.each([
    [
      'kube-vip',
      'controlPlaneEndpoint: {host: 198.18.0.100, port: 8443}\nha: {mode: kube-vip, interface: eth0}',
      8443,
    ],
    ['no HA', 'controlPlaneEndpoint: {host: 198.18.0.11, port: 8443}', 8443],
    [
      'an external load balancer',
      'controlPlaneEndpoint: {host: api.t.example, port: 443}\nha: {mode: external-lb}',
      6443,
    ],
  ])('with %s binds the API server to %s', (_what, body, port) => {
    const spec = specOf(`kubernetesVersion: v1.31.2\n${body}`);
    expect(apiServerBindPort(spec)).toBe(port);
    expect(kubeadmInputFor(spec, { name: 'cp-1' }).bindPort).toBe(port);
  });

  it('puts the endpoint, the VIP, the mapped address and certSANs in the certificate once each', () => {
    const spec = specOf(`kubernetesVersion: v1.31.2
controlPlaneEndpoint: {host: api.t.example, address: 198.18.0.100}
ha: {mode: kube-vip, interface: eth0, vip: 198.18.0.100}
certSANs: [198.18.0.100, other.t.example, api.t.example]`);
    expect(apiServerCertSANs(spec)).toEqual(['api.t.example', '198.18.0.100', 'other.t.example']);
  });
});

describe('cluster.yaml -> kube-vip input', () => {
  const kubeVip = specOf(
    'kubernetesVersion: v1.31.2\ncontrolPlaneEndpoint: {host: api.t.example, port: 8443}\nha: {mode: kube-vip, interface: eth0, vip: 198.18.0.100}',
  );

  it('announces ha.vip when the endpoint is a DNS name, on the endpoint port', () => {
    expect(kubeVipInputFor(kubeVip, true)).toEqual({
      vip: '198.18.0.100',
      interface: 'eth0',
      port: 8443,
      firstControlPlane: true,
      kubernetesVersion: 'v1.31.2',
      image: 'ghcr.io/kube-vip/kube-vip:v1.2.3',
    });
  });

  it.each([
    [true, '/etc/kubernetes/super-admin.conf'],
    [false, '/etc/kubernetes/admin.conf'],
  ])('writes the manifest for a control plane that runs init=%s reading %s', (first, kubeconfig) => {
    const f = kubeVipManifestFor(kubeVip, { role: 'control-plane', first });
    expect(f?.path).toBe('/etc/kubernetes/manifests/kube-vip.yaml');
    expect(f?.content).toContain(`path: ${kubeconfig}`);
  });

  it.each([
    ['a worker', kubeVip, 'worker'],
    [
      'an external load balancer',
      specOf(
        'kubernetesVersion: v1.31.2\ncontrolPlaneEndpoint: {host: api.t.example}\nha: {mode: external-lb}',
      ),
      'control-plane',
    ],
    [
      'no HA',
      specOf('kubernetesVersion: v1.31.2\ncontrolPlaneEndpoint: {host: 198.18.0.11}'),
      'control-plane',
    ],
  ] as const)('is not written for %s', (_what, spec, role) => {
    expect(kubeVipManifestFor(spec, { role, first: true })).toBeUndefined();
  });
});

describe('cluster.yaml -> host files and settings', () => {
  it.each([
    ['1.7', 1],
    ['2.1', 2],
  ] as const)('containerd %s writes a config for major %d with kubeadm pause image', (version, major) => {
    const spec = specOf(
      `kubernetesVersion: v1.35.0\ncontrolPlaneEndpoint: {host: 198.18.0.11}\nruntime: {containerd: {version: "${version}"}}\nimageRepository: registry.example/k8s`,
    );
    expect(containerdConfigInputFor(spec)).toEqual({
      containerdMajor: major,
      pauseImage: 'registry.example/k8s/pause:3.10.1',
      registryConfigPath: '/etc/containerd/certs.d',
    });
  });

  it.each([
    ['upstream', 'deb', { kind: 'upstream' }],
    ['{source: mirror, url: "https://m.example"}', 'rpm', { kind: 'mirror', baseUrl: 'https://m.example' }],
    ['bundle', 'deb', { kind: 'bundle' }],
  ] as const)('packages %s for %s hosts is the %j source', (packages, format, source) => {
    const body = packages.startsWith('{') ? packages : `{source: ${packages}}`;
    const spec = specOf(
      `kubernetesVersion: v1.31.2\ncontrolPlaneEndpoint: {host: 198.18.0.11}\npackages: ${body}`,
    );
    expect(packageRepoInputFor(spec, format)).toEqual({
      kubernetesVersion: 'v1.31.2',
      source,
    });
  });

  it('writes no repo file for preinstalled packages or an unknown package format', () => {
    const pre = specOf(
      'kubernetesVersion: v1.31.2\ncontrolPlaneEndpoint: {host: 198.18.0.11}\npackages: {source: preinstalled}',
    );
    expect(prepareFilesInputFor(pre, { packageFormat: 'deb' }).packageRepo).toBeUndefined();
    expect(prepareFilesInputFor(full, { packageFormat: undefined }).packageRepo).toBeUndefined();
    expect(prepareFilesInputFor(full, { packageFormat: 'deb' }).packageRepo?.format).toBe('deb');
  });

  it('gives rpm hosts the bundle too (its rpm repository, kctl bundle build --format rpm)', () => {
    const spec = specOf(
      'kubernetesVersion: v1.31.2\ncontrolPlaneEndpoint: {host: 198.18.0.11}\npackages: {source: bundle}',
    );
    expect(packageRepoInputFor(spec, 'rpm')).toEqual({
      kubernetesVersion: 'v1.31.2',
      source: { kind: 'bundle' },
    });
  });

  it('passes the version, kube-proxy mode, pod network and kernel to host preparation', () => {
    expect(hostPrepInputFor(full, '6.1.0')).toEqual({
      kubernetesVersion: 'v1.31.2',
      kubeProxyMode: 'ipvs',
      podSubnet: '10.244.0.0/16',
      kernelRelease: '6.1.0',
    });
  });
});
