import { describe, expect, it } from 'vitest';
import type { HostSpec } from '../../proto/host-spec.js';
import { checkBundleCarries, debVersionsIn } from './bundle-packages.js';

const BUNDLE = [
  'apt/Packages',
  'apt/kubeadm_1.31.2-1.1_all.deb',
  'apt/kubelet_1.31.2-1.1_all.deb',
  'apt/kubectl_1.31.2-1.1_all.deb',
  'apt/kubeadm_1.31.3-1.1_all.deb',
  'apt/containerd_1.6.20~ds1-1+b1_amd64.deb',
];

const spec = (version: string, from: 'bundle' | 'elsewhere' = 'bundle'): HostSpec =>
  ({
    hostName: 'w-1',
    role: 'worker',
    files: [],
    packages: ['kubeadm', 'kubelet', 'kubectl'].map((name) => ({ name, version, hold: true })),
    ...(from === 'bundle' ? { packagesFrom: from } : {}),
  }) as unknown as HostSpec;

describe('the offline bundle carries what a plan installs', () => {
  it('reads package versions from the bundle paths', () => {
    const v = debVersionsIn(BUNDLE);
    expect([...(v.get('kubeadm') ?? [])].sort()).toEqual(['1.31.2-1.1', '1.31.3-1.1']);
    expect([...(v.get('containerd') ?? [])]).toEqual(['1.6.20~ds1-1+b1']);
  });

  it('accepts a plan whose pinned versions are all in the bundle', () => {
    expect(() => checkBundleCarries([spec('1.31.2-1.1')], BUNDLE)).not.toThrow();
  });

  it('refuses a version the bundle lacks, naming kubernetesVersion and what the bundle has', () => {
    expect(() => checkBundleCarries([spec('1.31.3-1.1')], BUNDLE)).toThrow(
      'kubernetesVersion: the offline bundle does not carry kubelet 1.31.3-1.1 (the bundle has 1.31.2-1.1), needed by worker w-1; kubectl 1.31.3-1.1 (the bundle has 1.31.2-1.1), needed by worker w-1',
    );
  });

  it.each([
    ['1.31.2', true],
    ['1.31.2-150500.1.1', true],
    ['1.31.3', false],
    ['1.31', false],
  ])('judges an rpm pin %s against the bundle rpm repository (carried: %s)', (version, carried) => {
    const rpm = ['kubeadm', 'kubelet', 'kubectl'].map((n) => `rpm/${n}-1.31.2-150500.1.1.noarch.rpm`);
    const check = () => checkBundleCarries([spec(version)], [...rpm, 'rpm/repodata/repomd.xml']);
    if (carried) expect(check).not.toThrow();
    else expect(check).toThrow(`kubeadm ${version} (the bundle has 1.31.2-150500.1.1)`);
  });

  it('does not judge specs whose packages come from elsewhere', () => {
    expect(() => checkBundleCarries([spec('1.99.0-1.1', 'elsewhere')], BUNDLE)).not.toThrow();
  });
});
