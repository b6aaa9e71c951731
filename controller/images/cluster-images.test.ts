import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { SUPPORTED_MINORS, type ClusterSpec } from '../../proto/cluster-spec.js';
import { KUBEADM_IMAGE_VERSIONS } from '../../proto/images.js';
import { parseClusterSpec } from '../spec/parse.js';
import { PAUSE_VERSIONS } from '../render/containerd.js';
import { clusterImages, kubeadmImages, kubeadmImageVersions, registryHostOf } from './cluster-images.js';

function spec(extra = '', version = 'v1.31.2'): ClusterSpec {
  const text = readFileSync('test/fixtures/cluster/full.yaml', 'utf8')
    .replace('kubernetesVersion: v1.31.2', `kubernetesVersion: ${version}`)
    .replace(/ {2}manifest: calico.yaml.*\n/, '')
    .replace(/ {2}version: v3.28.2\n/, '')
    .replace('imageRepository: registry.k8s.io\n', extra);
  const r = parseClusterSpec(text);
  if (!r.ok) throw new Error(JSON.stringify(r.errors));
  return r.spec;
}

const images = (s: ClusterSpec, role: 'control-plane' | 'worker'): Record<string, string> =>
  Object.fromEntries(clusterImages(s, role).map((i) => [i.name, i.image]));

describe('kubeadm image versions', () => {
  it.each([
    ['v1.29.0', '3.5.10-0', 'v1.11.1', '3.9'],
    ['v1.29.3', '3.5.12-0', 'v1.11.1', '3.9'],
    ['v1.29.15', '3.5.15-0', 'v1.11.1', '3.9'],
    ['v1.30.4', '3.5.12-0', 'v1.11.1', '3.9'],
    ['v1.30.5', '3.5.15-0', 'v1.11.3', '3.9'],
    ['v1.31.0', '3.5.15-0', 'v1.11.1', '3.10'],
    ['v1.31.2', '3.5.15-0', 'v1.11.3', '3.10'],
    ['v1.32.4', '3.5.16-0', 'v1.11.3', '3.10'],
    ['v1.33.1', '3.5.21-0', 'v1.12.0', '3.10'],
    ['v1.34.0', '3.6.4-0', 'v1.12.1', '3.10.1'],
    ['v1.35.0', '3.6.5-0', 'v1.13.1', '3.10.1'],
  ])('Kubernetes %s runs etcd %s, CoreDNS %s and pause %s', (version, etcd, coredns, pause) => {
    expect(kubeadmImageVersions(version)).toMatchObject({ etcd, coredns, pause });
  });

  it('knows every supported minor, and agrees with the pause image containerd is given', () => {
    for (let minor = SUPPORTED_MINORS.min; minor <= SUPPORTED_MINORS.max; minor++) {
      const ranges = KUBEADM_IMAGE_VERSIONS[minor];
      expect(ranges?.[0]?.fromPatch, `1.${minor}`).toBe(0);
      for (const r of ranges ?? []) expect(r.pause, `1.${minor}`).toBe(PAUSE_VERSIONS[minor]);
    }
  });

  it('refuses a minor it has no list for, naming kubernetesVersion', () => {
    expect(() => kubeadmImageVersions('v1.28.3')).toThrow(/kubernetesVersion: no image list .*1\.28\.3/);
  });

  it('lists what `kubeadm config images list` prints, CoreDNS one level deeper on registry.k8s.io only', () => {
    expect(Object.values(kubeadmImages('v1.31.2', 'registry.k8s.io'))).toEqual([
      'registry.k8s.io/kube-apiserver:v1.31.2',
      'registry.k8s.io/kube-controller-manager:v1.31.2',
      'registry.k8s.io/kube-scheduler:v1.31.2',
      'registry.k8s.io/kube-proxy:v1.31.2',
      'registry.k8s.io/pause:3.10',
      'registry.k8s.io/etcd:3.5.15-0',
      'registry.k8s.io/coredns/coredns:v1.11.3',
    ]);
    expect(kubeadmImages('v1.31.2', 'reg.example:5000/k8s').coredns).toBe(
      'reg.example:5000/k8s/coredns:v1.11.3',
    );
  });
});

describe('cluster images', () => {
  it('gives control planes kubeadm images, kube-vip and the CNI from their upstream homes by default', () => {
    expect(images(spec(), 'control-plane')).toEqual({
      'kube-apiserver': 'registry.k8s.io/kube-apiserver:v1.31.2',
      'kube-controller-manager': 'registry.k8s.io/kube-controller-manager:v1.31.2',
      'kube-scheduler': 'registry.k8s.io/kube-scheduler:v1.31.2',
      'kube-proxy': 'registry.k8s.io/kube-proxy:v1.31.2',
      pause: 'registry.k8s.io/pause:3.10',
      etcd: 'registry.k8s.io/etcd:3.5.15-0',
      coredns: 'registry.k8s.io/coredns/coredns:v1.11.3',
      'kube-vip': 'ghcr.io/kube-vip/kube-vip:v1.2.3',
      'calico-cni': 'docker.io/calico/cni:v3.28.2',
      'calico-node': 'docker.io/calico/node:v3.28.2',
      'calico-kube-controllers': 'docker.io/calico/kube-controllers:v3.28.2',
    });
  });

  it('gives workers no control-plane image and no kube-vip', () => {
    expect(Object.keys(images(spec(), 'worker'))).toEqual([
      'kube-proxy',
      'pause',
      'coredns',
      'calico-cni',
      'calico-node',
      'calico-kube-controllers',
    ]);
  });

  it('puts every image, kube-vip and the CNI included, under a private imageRepository', () => {
    const s = spec('imageRepository: registry.example:5000/k8s\n');
    const all = clusterImages(s, 'control-plane');
    expect(all).toHaveLength(11);
    for (const i of all) expect(i.image).toMatch(/^registry\.example:5000\/k8s\//);
    expect(images(s, 'control-plane')['kube-vip']).toBe('registry.example:5000/k8s/kube-vip/kube-vip:v1.2.3');
    expect(images(s, 'worker')['calico-node']).toBe('registry.example:5000/k8s/calico/node:v3.28.2');
  });

  it('takes a per-image override from cluster.yaml, with its digest', () => {
    const digest = `sha256:${'c'.repeat(64)}`;
    const s = spec(
      `imageRepository: registry.example:5000/k8s\nimages:\n  overrides:\n    calico-node: other.example/calico/node:v3.28.2-patched@${digest}\n`,
    );
    const node = clusterImages(s, 'worker').find((i) => i.name === 'calico-node');
    expect(node).toMatchObject({
      image: `other.example/calico/node:v3.28.2-patched@${digest}`,
      overridden: true,
      digest,
      source: 'kctl',
    });
  });

  it('lists flannel for flannel, and no CNI image when cluster.yaml brings its own manifest', () => {
    const flannel = { ...spec(), cni: { plugin: 'flannel' as const } };
    expect(Object.keys(images(flannel, 'worker'))).toEqual([
      'kube-proxy',
      'pause',
      'coredns',
      'flannel-cni-plugin',
      'flannel',
    ]);
    const own = { ...spec(), cni: { plugin: 'calico' as const, manifest: 'calico.yaml' } };
    expect(Object.keys(images(own, 'worker'))).toEqual(['kube-proxy', 'pause', 'coredns']);
  });

  it('names the mirrors containerd pulls an image through', () => {
    const calico = clusterImages(spec(), 'worker').find((i) => i.name === 'calico-node');
    expect(calico?.mirrors).toEqual(['https://mirror.example.internal']);
    expect(clusterImages(spec(), 'worker').find((i) => i.name === 'pause')?.mirrors).toEqual([]);
  });

  it.each([
    ['registry.k8s.io/pause:3.10', 'registry.k8s.io'],
    ['reg.example:5000/k8s/etcd:3.5.15-0', 'reg.example:5000'],
    ['calico/node:v3.28.2', 'docker.io'],
    ['localhost/x:1', 'localhost'],
  ])('finds the registry host of %s', (image, host) => {
    expect(registryHostOf(image)).toBe(host);
  });
});

describe('images.overrides in cluster.yaml', () => {
  it.each([
    [
      'an image kubeadm names (only imageRepository moves those)',
      'kube-apiserver: reg.example/kube-apiserver:v1.31.2',
    ],
    ['a reference without a tag or digest', 'calico-node: reg.example/calico/node'],
    ['an uppercase path', 'calico-node: reg.example/Calico/node:v1'],
    ['a short digest', 'calico-node: reg.example/calico/node@sha256:abc'],
  ])('refuses %s', (_what, line) => {
    const r = parseClusterSpec(
      readFileSync('test/fixtures/cluster/minimal.yaml', 'utf8') + `images:\n  overrides:\n    ${line}\n`,
    );
    expect(r.ok).toBe(false);
    if (r.ok) return;
    expect(r.errors.map((e) => e.path).join(' ')).toMatch(/^images\.overrides/);
  });

  it('accepts a reference with a registry port, a tag and a digest', () => {
    const ref = `reg.example:5000/k8s/calico/node:v3.28.2@sha256:${'a'.repeat(64)}`;
    const r = parseClusterSpec(
      readFileSync('test/fixtures/cluster/minimal.yaml', 'utf8') +
        `images:\n  overrides:\n    calico-node: "${ref}"\n`,
    );
    expect(r.ok, JSON.stringify(r)).toBe(true);
    if (r.ok) expect(r.spec.images.overrides['calico-node']).toBe(ref);
  });
});
