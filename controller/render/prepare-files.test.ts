import { describe, expect, it } from 'vitest';
import { HostFile } from '../../proto/host-spec.js';
import { renderPrepareFiles, type PrepareFilesInput } from './prepare-files.js';

const base: PrepareFilesInput = {
  containerd: {
    containerdMajor: 1,
    pauseImage: 'registry.k8s.io/pause:3.10',
    registryConfigPath: '/etc/containerd/certs.d',
  },
  registries: {
    registryMirrors: {
      'docker.io': ['https://mirror.example.internal'],
      'registry.example:5000': ['https://m.example'],
    },
    registryCAs: { 'mirror.example.internal': '-----BEGIN CERTIFICATE-----\nx\n-----END CERTIFICATE-----\n' },
  },
};

describe('prepare-phase files', () => {
  it.each([
    ['deb', '/etc/apt/sources.list.d/kubernetes.list'],
    ['rpm', '/etc/yum.repos.d/kubernetes.repo'],
  ] as const)('for %s hosts are containerd, registry, crictl and %s', (format, repoPath) => {
    const files = renderPrepareFiles({
      ...base,
      packageRepo: { format, repo: { kubernetesVersion: 'v1.31.2', source: { kind: 'upstream' } } },
    });
    expect(files.map((f) => f.path)).toEqual([
      '/etc/containerd/config.toml',
      '/etc/containerd/certs.d/docker.io/hosts.toml',
      '/etc/containerd/certs.d/mirror.example.internal/hosts.toml',
      '/etc/containerd/certs.d/mirror.example.internal/ca.crt',
      '/etc/containerd/certs.d/registry.example:5000/hosts.toml',
      '/etc/crictl.yaml',
      repoPath,
    ]);
  });

  it('has no repo file when kctl installs no packages', () => {
    expect(renderPrepareFiles(base).map((f) => f.path)).not.toContain(
      '/etc/apt/sources.list.d/kubernetes.list',
    );
    expect(renderPrepareFiles(base).at(-1)?.path).toBe('/etc/crictl.yaml');
  });

  it('produces files the HostSpec schema accepts, a registry with a port included', () => {
    for (const f of renderPrepareFiles(base)) expect(HostFile.safeParse(f).success, f.path).toBe(true);
  });
});
