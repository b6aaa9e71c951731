import { describe, expect, it } from 'vitest';
import { KctlError } from '../../proto/errors.js';
import {
  kubernetesAptKeyUrl,
  kubernetesPackageVersion,
  kubernetesPackages,
  packageFormatFor,
  renderAptSource,
  renderYumRepo,
  type PackageSourceInput,
} from './packages.js';

const upstream = (v: string): PackageSourceInput => ({
  packages: { source: 'upstream' },
  kubernetesVersion: v,
});

describe('Kubernetes package sources', () => {
  it.each([
    [
      upstream('v1.29.15'),
      'deb [signed-by=/etc/apt/keyrings/kubernetes-apt-keyring.gpg] https://pkgs.k8s.io/core:/stable:/v1.29/deb/ /\n',
    ],
    [
      upstream('v1.35.0'),
      'deb [signed-by=/etc/apt/keyrings/kubernetes-apt-keyring.gpg] https://pkgs.k8s.io/core:/stable:/v1.35/deb/ /\n',
    ],
    [
      { packages: { source: 'mirror', url: 'https://m.example/pkgs/' }, kubernetesVersion: 'v1.31.2' },
      'deb [signed-by=/etc/apt/keyrings/kubernetes-apt-keyring.gpg] https://m.example/pkgs/core:/stable:/v1.31/deb/ /\n',
    ],
    [
      {
        packages: { source: 'bundle' },
        kubernetesVersion: 'v1.31.2',
        controllerUrl: 'https://10.0.0.5:8443',
      },
      'deb [signed-by=/etc/apt/keyrings/kctl-bundle-keyring.gpg] https://10.0.0.5:8443/bundle/apt ./\n',
    ],
  ] satisfies Array<[PackageSourceInput, string]>)('apt line for %j', (input, line) => {
    expect(renderAptSource(input)).toBe(line);
  });

  it('fetches the apt key from the same minor repo', () => {
    expect(kubernetesAptKeyUrl(upstream('v1.33.4'))).toBe(
      'https://pkgs.k8s.io/core:/stable:/v1.33/deb/Release.key',
    );
  });

  it('writes a yum repo with the Kubernetes packages excluded from updates', () => {
    const lines = renderYumRepo(upstream('v1.31.2')).trimEnd().split('\n');
    expect(lines).toEqual([
      '[kubernetes]',
      'name=Kubernetes v1.31',
      'baseurl=https://pkgs.k8s.io/core:/stable:/v1.31/rpm/',
      'enabled=1',
      'gpgcheck=1',
      'gpgkey=https://pkgs.k8s.io/core:/stable:/v1.31/rpm/repodata/repomd.xml.key',
      'exclude=kubelet kubeadm kubectl cri-tools kubernetes-cni',
    ]);
  });

  it.each([undefined, 'http://10.0.0.5:8080', 'https://10.0.0.5/evil path'])(
    'refuses the bundle source with controller URL %j',
    (controllerUrl) => {
      const input: PackageSourceInput = {
        packages: { source: 'bundle' },
        kubernetesVersion: 'v1.31.2',
        controllerUrl,
      };
      expect(() => renderAptSource(input)).toThrow(KctlError);
      expect(() => renderYumRepo(input)).toThrow(/controller URL/);
    },
  );
});

describe('Kubernetes package versions', () => {
  it.each([
    ['v1.31.2', 'deb', '1.31.2-1.1'],
    ['v1.31.2', 'rpm', '1.31.2'],
    ['v1.35.0', 'deb', '1.35.0-1.1'],
  ] as const)('%s in %s format is %s', (version, format, want) => {
    expect(kubernetesPackageVersion(version, format)).toBe(want);
  });

  it('pins and holds kubelet, kubeadm and kubectl', () => {
    expect(kubernetesPackages('v1.30.14', 'deb')).toEqual([
      { name: 'kubelet', version: '1.30.14-1.1', hold: true },
      { name: 'kubeadm', version: '1.30.14-1.1', hold: true },
      { name: 'kubectl', version: '1.30.14-1.1', hold: true },
    ]);
  });

  it.each([
    ['debian', 'deb'],
    ['ubuntu', 'deb'],
    ['rocky', 'rpm'],
    ['almalinux', 'rpm'],
    ['fedora', 'rpm'],
    ['arch', undefined],
  ])('os %s uses %s packages', (os, format) => {
    expect(packageFormatFor(os)).toBe(format);
  });
});
