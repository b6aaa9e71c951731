import { describe, expect, it } from 'vitest';
import { KctlError } from '../../proto/errors.js';
import {
  kubePackageVersion,
  kubernetesAptKeyUrl,
  kubernetesPackages,
  kubernetesRepoKey,
  packageFormatFor,
  packageRepoFile,
  renderAptSource,
  renderYumRepo,
} from './packages.js';
import type { PackageRepoInput } from './types.js';

const upstream = (v: string): PackageRepoInput => ({ kubernetesVersion: v, source: { kind: 'upstream' } });

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
      { kubernetesVersion: 'v1.31.2', source: { kind: 'mirror', baseUrl: 'https://m.example/pkgs/' } },
      'deb [signed-by=/etc/apt/keyrings/kubernetes-apt-keyring.gpg] https://m.example/pkgs/core:/stable:/v1.31/deb/ /\n',
    ],
    [
      { kubernetesVersion: 'v1.31.2', source: { kind: 'bundle' } },
      'deb [signed-by=/etc/apt/keyrings/kctl-bundle.gpg] file:/var/lib/kctl/bundle/apt ./\n',
    ],
  ] satisfies Array<[PackageRepoInput, string]>)('apt line for %j', (input, line) => {
    expect(renderAptSource(input)).toBe(line);
  });

  it('fetches the apt key from the same minor repo', () => {
    expect(kubernetesAptKeyUrl(upstream('v1.33.4'))).toBe(
      'https://pkgs.k8s.io/core:/stable:/v1.33/deb/Release.key',
    );
  });

  it('the agent fetches the key into the keyring the apt line names, or where the .repo gpgkey points', () => {
    const fpr = 'DE15B14486CD377B9E876E1A234654DA9A296436';
    const deb = kubernetesRepoKey(upstream('v1.33.4'), 'deb', fpr);
    expect(deb).toEqual({
      url: 'https://pkgs.k8s.io/core:/stable:/v1.33/deb/Release.key',
      path: '/etc/apt/keyrings/kubernetes-apt-keyring.gpg',
      format: 'binary',
      fingerprint: fpr,
      pinnedBy: 'packages.keyFingerprint',
    });
    expect(renderAptSource(upstream('v1.33.4'))).toContain(`[signed-by=${deb?.path}]`);
    const mirror: PackageRepoInput = {
      kubernetesVersion: 'v1.31.2',
      source: { kind: 'mirror', baseUrl: 'https://m.example/k8s/' },
    };
    const rpm = kubernetesRepoKey(mirror, 'rpm');
    expect(rpm).toEqual({
      url: 'https://m.example/k8s/core:/stable:/v1.31/rpm/repodata/repomd.xml.key',
      path: '/etc/pki/rpm-gpg/RPM-GPG-KEY-kubernetes',
      format: 'armored',
    });
    expect(renderYumRepo(mirror)).toContain(`gpgkey=file://${rpm?.path}\n`);
    expect(
      kubernetesRepoKey({ kubernetesVersion: 'v1.31.2', source: { kind: 'bundle' } }, 'deb'),
    ).toBeUndefined();
    expect(() =>
      kubernetesRepoKey({ ...mirror, source: { kind: 'mirror', baseUrl: 'http://m.example' } }, 'deb'),
    ).toThrow(/not an https URL/);
  });

  it.each([
    [upstream('v1.31.2'), 'https://pkgs.k8s.io/core:/stable:/v1.31/rpm/'],
    [
      { kubernetesVersion: 'v1.31.2', source: { kind: 'mirror', baseUrl: 'https://m.example' } },
      'https://m.example/core:/stable:/v1.31/rpm/',
    ],
  ] satisfies Array<[PackageRepoInput, string]>)(
    'writes a yum repo with the Kubernetes packages excluded from updates for %j',
    (input, baseurl) => {
      expect(renderYumRepo(input).trimEnd().split('\n')).toEqual([
        '[kubernetes]',
        'name=Kubernetes v1.31',
        `baseurl=${baseurl}`,
        'enabled=1',
        'gpgcheck=1',
        // the key the agent fetched (and checked against packages.keyFingerprint), not a URL
        'gpgkey=file:///etc/pki/rpm-gpg/RPM-GPG-KEY-kubernetes',
        'exclude=kubelet kubeadm kubectl cri-tools kubernetes-cni',
      ]);
    },
  );

  it.each([
    ['a mirror URL with a newline', { kind: 'mirror', baseUrl: 'https://m.example\ndeb http://evil/ /' }],
    ['a mirror that is not a URL', { kind: 'mirror', baseUrl: 'm.example' }],
  ] as const)('refuses %s', (_what, source) => {
    const input: PackageRepoInput = { kubernetesVersion: 'v1.31.2', source };
    expect(() => renderAptSource(input)).toThrow(KctlError);
    expect(() => renderYumRepo(input)).toThrow(/URL/);
  });

  it('points rpm hosts at the synced bundle directory, trusting the signed bundle manifest rather than a key', () => {
    const repo = renderYumRepo({ kubernetesVersion: 'v1.31.2', source: { kind: 'bundle' } });
    expect(repo).toContain('[kubernetes]\n');
    expect(repo).toContain('baseurl=file:///var/lib/kctl/bundle/rpm\n');
    expect(repo).toContain('gpgcheck=0\n');
    expect(repo).toContain('metadata_expire=0\n');
    expect(repo).toContain('exclude=kubelet kubeadm kubectl cri-tools kubernetes-cni\n');
    expect(repo).not.toMatch(/https?:/);
  });

  it.each([
    ['deb', '/etc/apt/sources.list.d/kubernetes.list'],
    ['rpm', '/etc/yum.repos.d/kubernetes.repo'],
  ] as const)('writes the %s repo file to %s', (format, path) => {
    expect(packageRepoFile(upstream('v1.31.2'), format)).toMatchObject({
      path,
      mode: 0o644,
      sensitive: false,
    });
  });
});

describe('Kubernetes package versions', () => {
  it.each([
    ['v1.31.2', 'deb', '1.31.2-1.1'],
    ['v1.31.2', 'rpm', '1.31.2'],
    ['v1.35.0', 'deb', '1.35.0-1.1'],
    ['1.29.15', 'rpm', '1.29.15'],
  ] as const)('%s in %s format is %s', (version, format, want) => {
    expect(kubePackageVersion(version, format)).toBe(want);
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
