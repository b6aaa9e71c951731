import { describe, expect, it } from 'vitest';
import { HostSpec } from '../../proto/host-spec.js';
import { KctlError } from '../../proto/errors.js';
import { checkRepoCarries, kubeRepoOf, repoNeeds, type ReadIndex } from './repo-versions.js';
import { KUBERNETES_APT_LIST, KUBERNETES_YUM_REPO } from '../render/packages.js';

const APT = 'https://mirror.example/core:/stable:/v1.32/deb/';
const RPM = 'https://mirror.example/core:/stable:/v1.32/rpm/';

function spec(host: string, format: 'deb' | 'rpm', version: string, extra: Partial<HostSpec> = {}): HostSpec {
  const file =
    format === 'deb'
      ? { path: KUBERNETES_APT_LIST, content: `deb [signed-by=/etc/apt/keyrings/k.gpg] ${APT} /\n` }
      : { path: KUBERNETES_YUM_REPO, content: `[kubernetes]\nbaseurl=${RPM}\nenabled=1\n` };
  return HostSpec.parse({
    hostName: host,
    role: 'worker',
    kubernetesVersion: 'v1.32.0',
    kubeProxyMode: 'iptables',
    files: [file],
    packages: [
      { name: 'kubeadm', version },
      { name: 'kubelet', version },
      { name: 'containerd', version: '1.6.20~ds1-1' },
    ],
    ...extra,
  });
}

describe('repoNeeds', () => {
  it('groups hosts by repository and keeps only pinned kube packages', () => {
    const needs = repoNeeds(
      [
        { host: 'a', spec: spec('a', 'deb', '1.32.0-1.1') },
        { host: 'b', spec: spec('b', 'deb', '1.32.0-1.1') },
        { host: 'c', spec: spec('c', 'rpm', '1.32.0') },
      ],
      'v1.32.0',
    );
    expect(needs.map((n) => [n.format, n.repoUrl, n.hosts])).toEqual([
      ['deb', APT, ['a', 'b']],
      ['rpm', RPM, ['c']],
    ]);
    expect([...(needs[0]?.want.keys() ?? [])]).toEqual(['kubeadm', 'kubelet']);
  });

  it('asks only for the target version: a stage that keeps the kubelet at the version it runs is not checked', () => {
    const stage = spec('a', 'deb', '1.32.0-1.1');
    stage.packages = stage.packages.map((p) => (p.name === 'kubelet' ? { ...p, version: '1.31.3-1.1' } : p));
    const [need] = repoNeeds([{ host: 'a', spec: stage }], 'v1.32.0');
    expect([...(need?.want.entries() ?? [])]).toEqual([['kubeadm', new Set(['1.32.0-1.1'])]]);
  });

  it('skips bundle hosts and repo files that are not https', () => {
    expect(kubeRepoOf(spec('a', 'deb', '1.32.0-1.1', { packagesFrom: 'bundle' }))).toBeUndefined();
    const http = spec('a', 'deb', '1.32.0-1.1');
    http.files[0] = { ...http.files[0]!, content: 'deb http://plain.example/deb/ /\n' };
    expect(kubeRepoOf(http)).toBeUndefined();
  });
});

describe('checkRepoCarries', () => {
  const index =
    (versions: Record<string, string[]>): ReadIndex =>
    (_host, args) =>
      Promise.resolve({ index: `${args.repoUrl}Packages.gz`, versions });

  it('passes when the repository offers every pinned version', async () => {
    const needs = repoNeeds([{ host: 'a', spec: spec('a', 'deb', '1.32.0-1.1') }], 'v1.32.0');
    const read = index({ kubeadm: ['1.31.9-1.1', '1.32.0-1.1'], kubelet: ['1.32.0-1.1'] });
    await expect(checkRepoCarries(needs, read)).resolves.toEqual([]);
  });

  it('refuses a version the repository lacks, naming kubernetesVersion and what it has', async () => {
    const needs = repoNeeds([{ host: 'a', spec: spec('a', 'deb', '1.32.5-1.1') }], 'v1.32.5');
    const read = index({ kubeadm: ['1.31.9-1.1', '1.32.0-1.1', '1.32.1-1.1'], kubelet: ['1.32.0-1.1'] });
    const err = await checkRepoCarries(needs, read).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(KctlError);
    expect((err as KctlError).code).toBe('invalid_spec');
    expect((err as KctlError).message).toBe(
      `kubernetesVersion: the package repository ${APT} does not offer kubeadm 1.32.5-1.1 (it has 1.32.0-1.1, 1.32.1-1.1); kubelet 1.32.5-1.1 (it has 1.32.0-1.1)`,
    );
  });

  it('matches an rpm pin without its release, as dnf does', async () => {
    const needs = repoNeeds([{ host: 'c', spec: spec('c', 'rpm', '1.32.0') }], 'v1.32.0');
    const ok = index({ kubeadm: ['1.32.0-150500.1.1'], kubelet: ['1.32.0-150500.1.1'] });
    await expect(checkRepoCarries(needs, ok)).resolves.toEqual([]);
    const prefixOnly = index({ kubeadm: ['1.32.01-1'], kubelet: ['1.32.0-1'] });
    await expect(checkRepoCarries(needs, prefixOnly)).rejects.toThrow(
      /kubeadm 1\.32\.0 \(it has 1\.32\.01-1\)/,
    );
  });

  it('warns, and does not refuse, when no host can read the index', async () => {
    const needs = repoNeeds([{ host: 'a', spec: spec('a', 'deb', '1.32.0-1.1') }], 'v1.32.0');
    const warnings = await checkRepoCarries(needs, () =>
      Promise.reject(new Error('getaddrinfo ENOTFOUND mirror.example')),
    );
    expect(warnings).toEqual([
      {
        path: 'packages',
        message: `could not read the package index of ${APT} from a (getaddrinfo ENOTFOUND mirror.example); the pinned versions are checked when apt/dnf installs them`,
      },
    ]);
  });
});
